"""Real weights: ``mobilenet.load(path)`` reads a MobileNet v1 from the file's content.

Formats (recognized by their bytes, not only their extension):

- TFLite flatbuffers (``TFL3`` identifier), float32 or uint8/int8 quantized;
- Keras HDF5 weights in the layout of ``keras.applications.MobileNet``;
- PyTorch state_dicts in timm's mobilenetv1 naming (``torch.save`` zip or
  legacy pickle, or ``.safetensors``);
- ONNX graphs of MobileNet v1 structure;
- the project's own ``.npz`` (written by ``net.save``), which round-trips exactly.

Every reader returns layers (padding and activation per layer, as data),
unfolded parameters and the source framework's conventions
(``net.preprocessing``, ``net.labels``, ``net.source``, ``net.alpha``).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Tuple, Union

from ..graph import resolution_pair
from ..preprocess import Preprocessing
from .._files import existing_file

FORMATS = ("tflite", "keras", "torch", "safetensors", "onnx", "npz")
_MAX_BYTES = 1 << 31


def sniff(data: bytes, path: str = "") -> str:
    """The format of a model file from its first bytes (the extension only breaks ties)."""
    from . import npz, tflite
    head = data[:16]
    if tflite.is_tflite(head):
        return "tflite"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "keras"
    if npz.looks_like_zip(head):
        try:
            names = npz.zip_names(data)
        except Exception as e:  # zipfile raises many kinds on a damaged archive
            raise ValueError(f"a damaged zip archive ({type(e).__name__}: {e})") from e
        if npz.is_npz(names):
            return "npz"
        if any(name.endswith("data.pkl") for name in names):
            return "torch"
        if names and all(name.endswith(".npy") for name in names):
            raise ValueError("an .npz without mobilenet metadata (not written by net.save); "
                             "other .npz layouts are not supported")
        raise ValueError("a zip archive that is neither a mobilenet .npz nor a torch.save checkpoint")
    if head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        return "torch"  # a pickle: torch.save's legacy (pre-1.6) format
    if len(data) >= 10 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 2 <= header_len <= len(data) - 8:
            return "safetensors"
    if head[:1] == b"\x08" or path.lower().endswith(".onnx"):
        return "onnx"  # a protobuf ModelProto starts with field 1 (ir_version), a varint
    raise ValueError("unrecognized model format: not TFLite, Keras HDF5, PyTorch, safetensors, ONNX or mobilenet .npz")


def _read(kind: str, data: bytes, path: str, resolution: Optional[Tuple[int, int]]):
    if kind == "tflite":
        from . import tflite
        return tflite.read(data, path)
    if kind == "keras":
        from . import keras
        return keras.read(data, path, resolution)
    if kind in ("torch", "safetensors"):
        from . import torch_state
        return torch_state.read(data, path, resolution, kind)
    if kind == "onnx":
        from . import onnx_reader
        return onnx_reader.read(data, path, resolution)
    if kind == "npz":
        from . import npz
        return npz.read(data, path)
    raise ValueError(f"unknown format {kind!r}; one of {FORMATS}")


def read_labels(path) -> list:
    """Class names from a text file, one per line (blank lines at the end are dropped)."""
    path = existing_file(path, "labels file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\r\n") for line in f]
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: labels file is not UTF-8 text ({e})") from e
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{path}: labels file is empty")
    return lines


def fit_labels(labels: Sequence[str], num_classes: int, where: str) -> list:
    """Labels checked against the class count; a 1000-line ImageNet list gains 'background' for 1001 classes."""
    labels = [str(label) for label in labels]
    if len(labels) == num_classes - 1 and num_classes == 1001:
        labels = ["background"] + labels
    if len(labels) != num_classes:
        raise ValueError(f"{where}: {len(labels)} labels for a network with {num_classes} classes")
    return labels


def load(path, *, resolution: Union[None, int, Tuple[int, int]] = None, format: Optional[str] = None,
         preprocessing: Optional[Preprocessing] = None, labels: Union[None, str, os.PathLike, Sequence[str]] = None,
         threads: Optional[int] = None, backend: str = "gemm", isa: Optional[str] = None):
    """A ready MobileNetV1 from a model file, choosing the reader from the file's content.

    resolution: input size for formats that do not fix it (Keras and PyTorch
    weights, ONNX with dynamic sizes; default 224): an integer, or a
    (height, width) pair. format: force a reader
    (one of FORMATS). preprocessing, labels (a list or a text file): override
    what the file records. threads, backend, isa: as for MobileNetV1.

    Raises FileNotFoundError for a missing file, ValueError (naming the file and
    the problem) for anything that is not a readable MobileNet v1, and
    ImportError naming the package to install when a format needs one.
    """
    from ..model import MobileNetV1
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    path = existing_file(path, "model file")
    pair = None if resolution is None else resolution_pair(resolution)
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(f"{path}: the file is empty")
    if size > _MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes is too large for a MobileNet v1 model")
    with open(path, "rb") as f:
        data = f.read()
    kind = format
    try:
        if kind is None:
            kind = sniff(data, path)
        layers, params, attributes = _read(kind, data, path, pair)
        fixed = tuple(layers[0].in_shape[:2]) if layers else None
        if pair is not None and fixed != pair:
            raise ValueError(f"the model's input size is fixed at {fixed[0]}x{fixed[1]}; "
                             f"resolution={resolution} cannot change it")
        net = MobileNetV1.from_layers(layers, params, threads=threads, backend=backend, isa=isa)
    except ImportError:
        raise
    except ValueError as e:
        message = str(e)
        raise ValueError(message if message.startswith(path) else f"{path}: {message}") from e
    except Exception as e:  # any parser failure on a damaged file (MemoryError too) becomes a clear ValueError
        what = f"{kind} " if kind else ""
        error = type(e).__qualname__
        if type(e).__module__ != "builtins":
            error = f"{type(e).__module__}.{error}"
        raise ValueError(f"{path}: not a readable {what}model, damaged or truncated ({error}: {e})") from e
    attributes = dict(attributes)
    if preprocessing is not None:
        if isinstance(preprocessing, dict):
            preprocessing = Preprocessing.from_dict(preprocessing)
        if not isinstance(preprocessing, Preprocessing):
            raise TypeError(f"preprocessing must be a Preprocessing, got {type(preprocessing).__name__}")
        attributes["preprocessing"] = preprocessing
    if labels is not None:
        attributes["labels"] = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else list(labels)
    if attributes.get("labels") is not None:
        attributes["labels"] = fit_labels(attributes["labels"], net.num_classes, path)
    attributes.setdefault("format", kind)
    for key, value in attributes.items():
        setattr(net, key, value)
    return net


__all__ = ["load", "sniff", "read_labels", "fit_labels", "FORMATS"]
