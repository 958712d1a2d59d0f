"""ONNX external data is read by our own checks, whatever the onnx version: nothing outside the model's
folder, no links, no special files, no offsets past the end. CI also runs this file with the oldest onnx allowed."""
import re

import numpy as np
import pytest

import mobilenet

from hostile import make_corpus
from hostile.capped import load_capped

onnx = pytest.importorskip("onnx")


def _model(tmp_path, variant):
    return make_corpus.onnx_external(tmp_path / "model", variant)


def test_external_data_beside_the_model_loads(tmp_path):
    net = mobilenet.load(_model(tmp_path, "valid"))
    want = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1, seed=1)
    x = np.random.default_rng(0).random((2, 32, 32, 3), np.float32)
    np.testing.assert_allclose(net(x), want(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant, message", [
    ("symlink", r"external data 'weights\.bin': 'weights\.bin' is a symbolic link; links are not followed"),
    ("symlinked_folder", r"external data 'data/secret\.bin': 'data' is a symbolic link"),
    ("absolute", r"external data '/.*secret\.bin': the location must be a relative path inside the model's folder"),
    ("dotdot", r"external data '\.\./outside/secret\.bin': the location must be a relative path inside"),
    ("directory", r"external data 'sub': not a regular file"),
    ("past_end", r"external data 'weights\.bin': offset \d+ and length \d+ are past the file's end"),
    ("attribute_symlink", r"external data 'constant\.bin': 'constant\.bin' is a symbolic link"),
])
def test_hostile_external_data_is_refused(tmp_path, variant, message):
    with pytest.raises(ValueError, match=r"model\.onnx: tensor '[^']*': " + message):
        mobilenet.load(_model(tmp_path, variant))


@pytest.mark.parametrize("variant, message", [
    ("fifo", r"external data 'pipe': not a regular file"),  # never opened: reading it would block
    ("huge_length", r"external data 'weights\.bin': offset 0 and length 1099511627776 are past the file's end"),
])
def test_hostile_external_data_is_refused_without_blocking_or_allocating(tmp_path, variant, message):
    code, output = load_capped(_model(tmp_path, variant), modules=("onnx",), timeout=60)
    assert code == 0 and output.startswith("ValueError: ") and "MemoryError" not in output, output
    assert re.search(message, output), output
