"""Optional packages: imported where a feature needs them, with one message when one is missing.

The message names what needed it, the package, and how to install it, in one
format: "reading ONNX models needs the 'onnx' package: pip install
'mobilenet[onnx]' (or pip install onnx)".
"""
from __future__ import annotations

import importlib
import importlib.util
import types
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class OptionalPackage:
    distribution: str              # what pip installs
    extra: Optional[str] = None    # the mobilenet extra that brings it
    install: Optional[str] = None  # the command, where no extra brings it
    alternative: Optional[str] = None  # another way, in parentheses after the command

    def how_to_install(self) -> str:
        alternative: Optional[str]
        if self.extra is not None:
            command = f"pip install 'mobilenet[{self.extra}]'"
            alternative = self.alternative or f"or pip install {self.distribution}"
        else:
            command, alternative = self.install or f"pip install {self.distribution}", self.alternative
        return f"{command} ({alternative})" if alternative else command


# By top-level module name. Extras are those of pyproject.toml.
PACKAGES = {
    "onnx": OptionalPackage("onnx", extra="onnx"),
    "tflite": OptionalPackage("tflite", extra="tflite"),
    "flatbuffers": OptionalPackage("flatbuffers", extra="tflite"),
    "h5py": OptionalPackage("h5py", extra="keras"),
    "matplotlib": OptionalPackage("matplotlib", extra="plot"),
    "PIL": OptionalPackage("Pillow", extra="image"),
    # A plain `pip install torch` pulls a CUDA build: the version the tests pin, or no torch at all.
    "torch": OptionalPackage("torch", install="pip install torch==2.13.0",
                             alternative="or save the state_dict as .safetensors and pip install safetensors"),
    "safetensors": OptionalPackage("safetensors"),
    # Ray Data needs the [data] extra's packages (pyarrow, pandas) besides ray itself.
    "ray": OptionalPackage("ray", extra="ray", alternative="or pip install 'ray[data]'"),
}


def missing_package_message(module: str, purpose: str) -> str:
    """'<purpose> needs the '<package>' package: <how to install it>' for an importable name like 'onnx.helper'."""
    top = module.split(".")[0]
    package = PACKAGES.get(top, OptionalPackage(top))
    return f"{purpose} needs the '{package.distribution}' package: {package.how_to_install()}"


def require(module: str, purpose: str) -> types.ModuleType:
    """The module, imported; ImportError naming the package and its extra if it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(missing_package_message(module, purpose)) from e


def is_installed(module: str) -> bool:
    """Whether the module can be imported, without importing it (a None entry in sys.modules counts as no)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
