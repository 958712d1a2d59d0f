"""Files that Keras 3 itself writes: the full-model .h5, .weights.h5 and .keras, against model.predict.

CI runs this file twice: with the Keras the test extra pins (3.15), and with Keras 3.3, whose
.weights.h5 keeps no layer names beside its class-named groups.

The shared files (../shared/models/converted, Keras 3.15 on the torch backend) come from a random 0.5/160
MobileNet with calibrated batch norms; more are built here with Keras 3 on the torch backend (its file
layout does not depend on the backend) for other widths, non-square inputs and class counts.
"""
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

import mobilenet
from mobilenet import reference

from conftest import max_rel_error
from model_files import shared_models

h5py = pytest.importorskip("h5py")
# Keras 3.15's own warnings under NumPy 2 (its Variable.__array__ lacks copy=) and about the legacy .h5 format.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:keras"),
              pytest.mark.filterwarnings("ignore::UserWarning:keras")]

KINDS = (".h5", ".weights.h5", ".keras")


def shared(name):
    path = shared_models() / "converted" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing (made by ../shared/models/converted/make_converted.py)")
    return path


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on the torch backend (keras==3.15.* in the test extra); skipped where it is not installed."""
    if os.environ.setdefault("KERAS_BACKEND", "torch") != "torch":
        pytest.skip(f"KERAS_BACKEND={os.environ['KERAS_BACKEND']}: these tests build with the torch backend")
    pytest.importorskip("torch")
    return pytest.importorskip("keras", reason="Keras 3 is not installed (pip install 'keras==3.15.*')")


def build(keras, tmp_path, alpha, size, classes, seed):
    """keras.applications.MobileNet with random weights and batch-norm statistics, saved three ways."""
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNet(weights=None, alpha=alpha, input_shape=(*size, 3), classes=classes,
                                         classifier_activation=None)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.2, c),
                               rng.uniform(0.5, 1.5, c)])
    x = rng.uniform(-1, 1, (3, *size, 3)).astype(np.float32)
    logits = np.asarray(model.predict(x, verbose=0))
    paths = {}
    for kind in KINDS:
        paths[kind] = tmp_path / f"mobilenet{kind}"
        if kind == ".weights.h5":
            model.save_weights(paths[kind])
        else:
            model.save(paths[kind])
    return paths, x, logits


@pytest.mark.parametrize("alpha, size, classes", [(0.25, (96, 128), 7), (0.5, (128, 128), 1000),
                                                  (0.75, (160, 96), 3)])
def test_keras3_files_match_model_predict(keras, tmp_path, alpha, size, classes):
    paths, x, logits = build(keras, tmp_path, alpha, size, classes, seed=int(alpha * 100))
    for kind, path in paths.items():
        # A weights-only file does not record the input size: it is passed; the others record it.
        net = mobilenet.load(path, resolution=size if kind == ".weights.h5" else None)
        assert net.format == "keras" and net.alpha == alpha and net.num_classes == classes, kind
        assert net.input_shape == (*size, 3), kind
        assert max_rel_error(net.logits(x), logits) <= 1e-5, kind


def test_keras3_weights_without_layer_names_are_found_by_order(keras, tmp_path):
    # Keras 3 versions that keep no layer name beside the class-named groups: found by Keras' numbering.
    paths, x, logits = build(keras, tmp_path, 0.25, (96, 96), 5, seed=3)
    with h5py.File(paths[".weights.h5"], "r+") as f:
        for group in f["layers"].values():
            for holder in (group, group.get("vars")):
                if holder is not None and "name" in holder.attrs:
                    del holder.attrs["name"]
    net = mobilenet.load(paths[".weights.h5"], resolution=96)
    assert max_rel_error(net.logits(x), logits) <= 1e-5


def test_keras_config_records_relu_and_input_size(keras, tmp_path):
    # The config is read as JSON: ReLU layers without max_value make a ReLU network.
    paths, _, _ = build(keras, tmp_path, 0.25, (96, 128), 4, seed=5)
    with h5py.File(paths[".h5"], "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "ReLU":
                layer["config"]["max_value"] = None
        f.attrs["model_config"] = json.dumps(config)
    net = mobilenet.load(paths[".h5"])
    assert net.input_shape == (96, 128, 3)
    assert {layer.activation for layer in net.layers if layer.type not in ("avgpool", "fc")} == {"relu"}


@pytest.mark.parametrize("kind", KINDS)
def test_shared_keras3_files_match_model_predict(kind):
    e = np.load(shared("keras3_mobilenet_0.5_160.expected.npz"))
    net = mobilenet.load(shared(f"keras3_mobilenet_0.5_160{kind}"), resolution=160 if kind == ".weights.h5" else None)
    assert net.alpha == 0.5 and net.num_classes == 1000 and net.input_shape == (160, 160, 3)
    got, want = net.logits(e["x"]), e["logits"]
    # This calibrated random network amplifies float32 rounding: Keras' own outputs are 0.9e-5 (relative)
    # from the float64 oracle with the same weights, ours 1.2e-5 (measured); each must stay within 2e-5
    # (a misread layer moves them by far more), and they agree on every top-1.
    oracle = reference.forward(net.layers, net.params, e["x"])
    assert max_rel_error(got, oracle) <= 2e-5 and max_rel_error(want, oracle) <= 2e-5
    assert max_rel_error(got, want) <= 4e-5
    assert (got.argmax(1) == want.argmax(1)).all()


def test_keras_archive_config_is_capped(tmp_path):
    # A config.json that inflates past the cap is refused before it is parsed.
    source = shared("keras3_mobilenet_0.5_160.keras")
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("config.json", b" " * (17 << 20))
        out.writestr("model.weights.h5", z.read("model.weights.h5"))
    with pytest.raises(ValueError, match="config.json, decompressed, is larger than"):
        mobilenet.load(bomb)


def test_keras_archive_config_is_json_only(tmp_path):
    source = shared("keras3_mobilenet_0.5_160.keras")
    broken = tmp_path / "broken.keras"
    shutil.copy(source, broken)
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(broken, "w") as out:
        out.writestr("config.json", b"{'not': json}")
        out.writestr("model.weights.h5", z.read("model.weights.h5"))
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        mobilenet.load(broken)


@pytest.mark.filterwarnings("ignore")  # the torch exporter's TracerWarnings about Keras' shape code
@pytest.mark.parametrize("size", [(96, 128), (97, 97)])
def test_keras3_onnx_export_matches_model_predict(keras, tmp_path, size):
    # model.export(format="onnx") on the torch backend: leading Casts, a transpose pair around every
    # convolution, 'same' padding computed from the data's shape, batch norm as (x - mean) * scale + beta.
    pytest.importorskip("onnx")
    keras.utils.set_random_seed(7)
    model = keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(*size, 3), classes=6,
                                         classifier_activation=None)
    x = np.random.default_rng(7).uniform(-1, 1, (2, *size, 3)).astype(np.float32)
    logits = np.asarray(model.predict(x, verbose=0))
    path = tmp_path / "mobilenet.onnx"
    try:
        model.export(str(path), format="onnx", verbose=False)
    except Exception as e:  # older Keras 3 (CI also reads files of 3.3) exports through TensorFlow only
        if tuple(int(v) for v in keras.__version__.split(".")[:2]) >= (3, 15):
            raise
        pytest.skip(f"Keras {keras.__version__} cannot export ONNX on the torch backend ({type(e).__name__}: {e})")
    net = mobilenet.load(path)
    assert net.format == "onnx" and net.input_shape == (*size, 3) and net.num_classes == 6
    same = (1, 1, 1, 1) if size[0] % 2 else (0, 0, 1, 1)  # the stem's 'same' padding, computed in the graph
    assert net.layers[0].padding == same
    assert max_rel_error(net.logits(x), logits) <= 1e-5


def test_keras_archive_weights_are_capped(tmp_path):
    # model.weights.h5 that inflates far past what a file of this size may expand to (64 MB + 16x):
    # refused as it inflates, before h5py sees it.
    bomb = tmp_path / "weights_bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("config.json", b"{}")
        with out.open("model.weights.h5", "w") as member:
            chunk = bytes(1 << 20)
            for _ in range(80):
                member.write(chunk)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match="model.weights.h5, decompressed, is larger than"):
        mobilenet.load(bomb)
