"""The project's own .npz: net.save(path) and mobilenet.load(path) round-trip exactly."""
import numpy as np
import pytest

import mobilenet
from mobilenet.preprocess import Preprocessing


@pytest.mark.parametrize("kwargs", [
    dict(alpha=0.25, resolution=96, num_classes=10),
    dict(alpha=0.5, resolution=65, shallow=True, activation="relu6", padding="symmetric", num_classes=3),
    dict(alpha=0.75, resolution=64, channel_rounding="multiple_of_8", padding="same", num_classes=1001),
])
def test_save_load_round_trip_is_exact(tmp_path, kwargs):
    net = mobilenet.MobileNetV1(seed=5, threads=1, **kwargs)
    net.labels = [f"label {i}" for i in range(net.num_classes)]
    net.preprocessing = Preprocessing(crop=0.875, interpolation="bicubic", note="test")
    path = tmp_path / "net.npz"
    net.save(path)
    back = mobilenet.load(path, threads=1)
    assert back.format == "npz" and back.layers == net.layers
    assert back.labels == net.labels and back.preprocessing == net.preprocessing
    assert (back.alpha, back.shallow, back.padding, back.seed) == (net.alpha, net.shallow, net.padding, net.seed)
    for name, p in net.params.items():
        np.testing.assert_array_equal(back.params[name]["weight"], p["weight"])
        assert back.params[name].get("bn", {}).get("eps") == p.get("bn", {}).get("eps")
    x = np.random.default_rng(0).standard_normal((2,) + net.input_shape).astype(np.float32)
    np.testing.assert_array_equal(back.logits(x), net.logits(x))


def test_loaded_models_round_trip_with_their_conventions(tmp_path):
    pytest.importorskip("h5py")
    from model_files import keras_mobilenet_arrays, write_keras_h5
    write_keras_h5(tmp_path / "k.h5", keras_mobilenet_arrays(alpha=0.25, num_classes=4))
    net = mobilenet.load(tmp_path / "k.h5", resolution=97, labels=["a", "b", "c", "d"])
    net.save(tmp_path / "k.npz")
    back = mobilenet.load(tmp_path / "k.npz")
    assert back.layers == net.layers and back.source == "keras" and back.labels == ["a", "b", "c", "d"]
    x = np.random.default_rng(1).uniform(-1, 1, (1, 97, 97, 3)).astype(np.float32)
    np.testing.assert_array_equal(back(x), net(x))


def test_npz_without_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match=r"plain\.npz.*not written by net\.save"):
        mobilenet.load(path)
