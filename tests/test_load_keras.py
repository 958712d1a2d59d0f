"""Keras HDF5 weights in keras.applications.MobileNet's layout, against an independent NumPy Keras forward."""
import numpy as np
import pytest

import mobilenet

from model_files import keras_forward, keras_mobilenet_arrays, max_rel_error, write_keras_h5

pytest.importorskip("h5py")


@pytest.mark.parametrize("keras3", [False, True], ids=["keras2-h5", "keras3-weights-h5"])
def test_keras_weights_match_keras_forward(tmp_path, keras3):
    arrays = keras_mobilenet_arrays(alpha=0.5, num_classes=10, seed=1)
    path = tmp_path / ("mobilenet.weights.h5" if keras3 else "mobilenet.h5")
    write_keras_h5(path, arrays, keras3=keras3)
    net = mobilenet.load(path, resolution=128)
    assert net.format == "keras" and net.alpha == 0.5 and net.num_classes == 10
    assert net.params["conv1"]["bn"]["eps"] == 1e-3 and net.preprocessing.mean == (0.5,) * 3
    x = np.random.default_rng(0).uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32)
    assert max_rel_error(net.logits(x), keras_forward(arrays, x)) <= 1e-4


def test_keras_explicit_padding_differs_from_same_on_odd_sizes(tmp_path):
    # Keras pads stride-2 depthwise layers ((0, 1), (0, 1)) then 'valid': on odd sizes that is
    # one row less than TensorFlow's 'SAME'; the reader must follow Keras.
    arrays = keras_mobilenet_arrays(alpha=0.25, num_classes=7, seed=2)
    path = tmp_path / "mobilenet.h5"
    write_keras_h5(path, arrays)
    net = mobilenet.load(path, resolution=161)
    assert net.layers[0].padding == (1, 1, 1, 1)  # 'same' stride 2 on 161: one pixel each side
    dw2 = next(layer for layer in net.layers if layer.name == "conv_dw_2")
    assert dw2.in_shape[:2] == (81, 81) and dw2.padding == (0, 0, 1, 1) and dw2.out_shape[:2] == (40, 40)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 161, 161, 3)).astype(np.float32)
    assert max_rel_error(net.logits(x), keras_forward(arrays, x)) <= 1e-4


def test_keras_full_model_file_with_model_weights_group(tmp_path):
    h5py = pytest.importorskip("h5py")
    arrays = keras_mobilenet_arrays(alpha=0.25, num_classes=5, seed=3)
    inner = tmp_path / "inner.h5"
    write_keras_h5(inner, arrays)
    path = tmp_path / "model.h5"  # model.save("x.h5"): weights under /model_weights
    with h5py.File(inner, "r") as src, h5py.File(path, "w") as dst:
        src.copy(src["/"], dst, "model_weights")
        dst.attrs["model_config"] = b"{}"
    net = mobilenet.load(path)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    assert max_rel_error(net.logits(x), keras_forward(arrays, x)) <= 1e-4


def test_keras_weights_at_a_non_square_size(tmp_path):
    arrays = keras_mobilenet_arrays(alpha=0.25, num_classes=7, seed=2)
    path = tmp_path / "mobilenet.h5"
    write_keras_h5(path, arrays)
    net = mobilenet.load(path, resolution=(97, 128))
    assert net.input_shape == (97, 128, 3) and net.resolution == (97, 128)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 97, 128, 3)).astype(np.float32)
    assert max_rel_error(net.logits(x), keras_forward(arrays, x)) <= 1e-4
