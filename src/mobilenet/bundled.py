"""The model and photo shipped inside the package, so a fresh install classifies out of the box.

- ``mobilenet_v1_0.25_224_1_default_1.tflite``: TensorFlow's float MobileNet v1
  0.25/224 as Google published it (TF Hub ``tensorflow/lite-model/mobilenet_v1_0.25_224/1/default/1``),
  unmodified; Apache-2.0. It has no TFLite metadata, so its labels ship beside it.
- ``imagenet_labels.txt``: its 1001 class names (``background`` first), from
  google-coral/test_data; Apache-2.0.
- ``chelsea.jpg``: scikit-image's ``chelsea`` photo (Stefan van der Walt, CC0),
  saved as a JPEG.

The NOTICE file at the repository root (in the wheel's ``.dist-info``) has the attributions.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .vocabulary import Backend

if TYPE_CHECKING:
    from .model import MobileNetV1

DATA = Path(__file__).resolve().parent / "data"
MODEL_FILE = "mobilenet_v1_0.25_224_1_default_1.tflite"
LABELS_FILE = "imagenet_labels.txt"
SAMPLE_FILE = "chelsea.jpg"


def _data_file(name: str) -> str:
    path = DATA / name
    if not path.is_file():  # only an installation with its package data stripped gets here
        raise FileNotFoundError(f"the bundled file {name} is missing from {DATA}; reinstall mobilenet")
    return str(path)


def model_path() -> str:
    """The bundled .tflite file (float MobileNet v1 0.25/224, 1001 classes)."""
    return _data_file(MODEL_FILE)


def labels_path() -> str:
    """The bundled model's class names, one per line, ``background`` first."""
    return _data_file(LABELS_FILE)


def sample_image() -> str:
    """The path of the bundled sample photo: scikit-image's ``chelsea``, an Egyptian cat (CC0)."""
    return _data_file(SAMPLE_FILE)


def pretrained(*, threads: Optional[int] = None, backend: str = Backend.GEMM, isa: Optional[str] = None,
               precision: Optional[str] = None) -> MobileNetV1:
    """TensorFlow's ImageNet-trained MobileNet v1 0.25/224, bundled with the package, ready to run.

    It goes through ``mobilenet.load`` like any .tflite, so it carries TF's
    conventions: 1001 classes (``background`` at 0), ReLU6, 'SAME' padding, and
    ``net.preprocessing`` for ``mobilenet.preprocess``; ``net.labels`` names the
    classes. threads, backend, isa, precision: as for mobilenet.load.
    """
    from .io import load
    return load(model_path(), labels=labels_path(), threads=threads, backend=backend, isa=isa, precision=precision)


__all__ = ["pretrained", "sample_image", "model_path", "labels_path"]
