"""The one message for a missing optional package."""
import sys

import numpy as np
import pytest

from mobilenet import _optional


@pytest.mark.parametrize("module, purpose, expected", [
    ("onnx.numpy_helper", "reading ONNX models",
     "reading ONNX models needs the 'onnx' package: pip install 'mobilenet[onnx]' (or pip install onnx)"),
    ("PIL.Image", "image preprocessing",
     "image preprocessing needs the 'Pillow' package: pip install 'mobilenet[image]' (or pip install Pillow)"),
    ("matplotlib.figure", "--plot",
     "--plot needs the 'matplotlib' package: pip install 'mobilenet[plot]' (or pip install matplotlib)"),
    ("torch", "reading a PyTorch checkpoint",
     "reading a PyTorch checkpoint needs the 'torch' package: pip install torch==2.13.0 "
     "(or save the state_dict as .safetensors and pip install safetensors)"),
    ("safetensors.numpy", "reading .safetensors",
     "reading .safetensors needs the 'safetensors' package: pip install safetensors"),
])
def test_missing_package_message_names_the_package_and_the_extra(module, purpose, expected):
    assert _optional.missing_package_message(module, purpose) == expected


def test_every_extra_named_is_one_of_the_project():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from pathlib import Path
    project = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extras = tomllib.loads(project.read_text())["project"]["optional-dependencies"]
    assert {p.extra for p in _optional.PACKAGES.values() if p.extra} <= set(extras)


def test_require_raises_the_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import fails as if not installed
    assert not _optional.is_installed("h5py")
    with pytest.raises(ImportError, match=r"^reading Keras \.h5 weights needs the 'h5py' package: "
                                          r"pip install 'mobilenet\[keras\]'"):
        _optional.require("h5py", "reading Keras .h5 weights")
    assert _optional.require("numpy", "anything") is np
    assert _optional.is_installed("numpy")
