"""The model formats ``mobilenet.load`` reads: one entry per format, recognizing it and reading it.

A format is recognized by its first bytes (the extension only breaks a tie:
ONNX has no magic number). Adding a format means adding one ``ModelFormat``
to ``REGISTRY``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Tuple

from ._chain import ModelData
from ._limits import HEAD_BYTES, Data, as_stream, size_of

_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


class Head:
    """What sniffers look at: a file's first bytes, its size and its path, and for a zip its member names."""

    def __init__(self, stream: BinaryIO, path: str = "") -> None:
        self.stream = stream
        stream.seek(0)
        self.bytes = stream.read(HEAD_BYTES)
        self.size = size_of(stream)
        self.path = path
        self._zip_names: Optional[List[str]] = None

    @property
    def is_zip(self) -> bool:
        return self.bytes[:4] == b"PK\x03\x04"

    @property
    def zip_names(self) -> List[str]:
        """The members of a zip archive (only its directory is read), [] for anything else."""
        if not self.is_zip:
            return []
        if self._zip_names is None:
            from .npz import zip_names
            try:
                self._zip_names = zip_names(self.stream)
            except Exception as e:  # zipfile raises many kinds on a damaged archive
                raise ValueError(f"a damaged zip archive ({type(e).__name__}: {e})") from e
        return self._zip_names


def _is_tflite(head: Head) -> bool:
    from .tflite import is_tflite
    return is_tflite(head.bytes)


def _is_keras(head: Head) -> bool:
    # HDF5 (Keras 2 .h5, Keras 3 .h5 / .weights.h5), or a Keras 3 .keras zip (config.json + model.weights.h5)
    if head.is_zip:
        from .keras import is_keras_zip
        return is_keras_zip(head.zip_names)
    return head.bytes[:8] == b"\x89HDF\r\n\x1a\n"


def _is_npz(head: Head) -> bool:
    from .npz import is_npz
    return head.is_zip and is_npz(head.zip_names)


def _is_torch(head: Head) -> bool:
    # torch.save's zip (an archive/data.pkl inside; a mobilenet .npz is never one), or its legacy
    # (pre-1.6) pickle
    if head.is_zip:
        return any(name.endswith("data.pkl") for name in head.zip_names) and not _is_npz(head)
    return head.bytes[:2] in _PICKLE_PROTOCOLS


def _is_safetensors(head: Head) -> bool:
    # an 8-byte little-endian header length, then the JSON header
    if head.is_zip or head.size < 10 or head.bytes[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head.bytes[:8], "little") <= head.size - 8


def _is_onnx(head: Head) -> bool:
    # a protobuf ModelProto starts with field 1 (ir_version), a varint
    return not head.is_zip and (head.bytes[:1] == b"\x08" or head.path.lower().endswith(".onnx"))


@dataclass(frozen=True)
class ModelFormat:
    """One format: how its bytes are recognized and which reader reads it.

    The reader is ``<module>.<function>(data, path, resolution)`` in this
    package, imported only when a file of the format is read (readers import
    their optional package). ``streaming`` readers take the open file and
    read only what they need; the others are given the file's bytes.
    """

    name: str
    sniff: Callable[[Head], bool]
    reader: Tuple[str, str]
    streaming: bool = False
    options: Tuple[str, ...] = ()  # the keyword options of load() that this reader takes

    def read(self, data: Data, path: str, resolution: Optional[Tuple[int, int]], **options: Any) -> ModelData:
        module, function = self.reader
        reader = getattr(importlib.import_module(f".{module}", __package__), function)
        return reader(data, path, resolution, **options)


# Sniffing tries them in this order. Each recognizes only its own bytes, except ONNX, which has
# no magic number and takes any file named .onnx that no format before it claims; a zip archive
# is an npz or a torch.save checkpoint, or refused (see sniff).
REGISTRY: Tuple[ModelFormat, ...] = (
    ModelFormat("tflite", _is_tflite, ("tflite", "read")),
    ModelFormat("keras", _is_keras, ("keras", "read"), streaming=True),
    ModelFormat("torch", _is_torch, ("torch_state", "read"), options=("ema",)),
    ModelFormat("safetensors", _is_safetensors, ("torch_state", "read_safetensors")),
    ModelFormat("onnx", _is_onnx, ("onnx_reader", "read")),
    ModelFormat("npz", _is_npz, ("npz", "read"), streaming=True),
)
BY_NAME: Dict[str, ModelFormat] = {f.name: f for f in REGISTRY}
FORMATS = tuple(BY_NAME)


def sniff(data: Data, path: str = "") -> str:
    """The format of a model file from its first bytes (the extension only breaks ties).

    data: the file's bytes, or a seekable binary file, of which only the first
    few kilobytes (and, for a zip archive, its directory) are read.
    """
    head = Head(as_stream(data), path)
    for model_format in REGISTRY:
        if model_format.sniff(head):
            return model_format.name
    if head.is_zip:
        names = head.zip_names
        if names and all(name.endswith(".npy") for name in names):
            raise ValueError("an .npz without mobilenet metadata (not written by net.save); "
                             "other .npz layouts are not supported")
        raise ValueError("a zip archive that is neither a mobilenet .npz, a torch.save checkpoint nor a Keras 3 .keras "
                         "archive")
    raise ValueError("unrecognized model format: not TFLite, Keras HDF5, PyTorch, safetensors, ONNX or mobilenet .npz")


def read(name: str, f: BinaryIO, path: str, resolution: Optional[Tuple[int, int]],
         options: Optional[Dict[str, Any]] = None) -> ModelData:
    """(layers, params, attributes) of the open file f, read as format ``name``.

    options: load()'s format-specific keywords that were given (not None); one that the format
    does not take is refused, naming the formats that do.
    """
    model_format = BY_NAME.get(name)
    if model_format is None:
        raise ValueError(f"unknown format {name!r}; one of {FORMATS}")
    options = dict(options or {})
    for key in options:
        if key not in model_format.options:
            takers = [f.name for f in REGISTRY if key in f.options]
            raise ValueError(f"{key}= applies to {' and '.join(takers)} files only, not to a {name} file")
    f.seek(0)
    return model_format.read(f if model_format.streaming else f.read(), path, resolution, **options)
