"""Real weights: ``mobilenet.load(path)`` reads a MobileNet v1 from the file's content.

Formats (recognized by their bytes, not only their extension):

- TFLite flatbuffers (``TFL3`` identifier), float32 or uint8/int8 quantized;
- Keras files of ``keras.applications.MobileNet``: Keras 2 / 3 ``.h5``, Keras 3
  ``.weights.h5`` and ``.keras``;
- PyTorch state_dicts in timm's mobilenetv1 naming (``torch.save`` zip or
  legacy pickle, or ``.safetensors``);
- ONNX graphs of MobileNet v1 structure;
- the project's own ``.npz`` (written by ``net.save``), which round-trips exactly.

Every reader returns layers (padding and activation per layer, as data),
unfolded parameters and the source framework's conventions
(``net.preprocessing``, ``net.labels``, ``net.source``, ``net.alpha``).
"""
from __future__ import annotations

import dataclasses
import os
import re
import stat
from typing import TYPE_CHECKING, Any, BinaryIO, Dict, List, Optional, Sequence, Tuple, Union

from .._files import FilePath, existing_file
from ..graph import Layer, resolution_pair
from ..precision import PrecisionNotAvailable, check_precision, runnable_precision
from ..preprocess import Preprocessing
from ..vocabulary import Activation, Backend
from ._formats import FORMATS, read as _read, sniff
from ._limits import MAX_FILE_BYTES

if TYPE_CHECKING:
    from ..model import MobileNetV1

_SPECIAL_FILES = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
# Kernel filesystems whose files report size 0 however much they hold (and may block when read).
_PSEUDO_FILESYSTEMS = {"proc": "/proc", "sysfs": "/sys", "debugfs": "debugfs", "tracefs": "tracefs",
                       "securityfs": "securityfs", "configfs": "configfs", "cgroup": "cgroup",
                       "cgroup2": "cgroup", "efivarfs": "efivarfs", "bpf": "bpf", "pstore": "pstore"}


def _filesystem_type(path: str) -> Optional[str]:
    """The type of the filesystem holding path, from /proc/self/mountinfo (None where there is none)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, kind = "", None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):  # the last of equal mount points is the one on top
            best, kind = mount, right.split()[0]
    return kind


def _open_model_file(path: str) -> BinaryIO:
    """The model file opened for reading, after refusing what is not a regular file with data.

    Nothing but a regular file is opened: reading a FIFO would block, and a
    device or a kernel pseudo-file is never a model.
    """
    mode = os.stat(path).st_mode
    for test, what in _SPECIAL_FILES:
        if test(mode):
            raise ValueError(f"{path} is {what}, not a model file")
    # O_NONBLOCK: should the path be swapped for a FIFO after the stat, open must not block.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    f = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file, not a model file")
        if st.st_size == 0:
            fs = _filesystem_type(path)
            if fs in _PSEUDO_FILESYSTEMS:
                raise ValueError(f"{path} is a file of the kernel's {_PSEUDO_FILESYSTEMS[fs]} filesystem "
                                 "(its size is not known ahead), not a model file")
            raise ValueError(f"{path}: the file is empty")
        if st.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path}: {st.st_size} bytes is too large for a MobileNet v1 model")
    except BaseException:
        f.close()
        raise
    return f


def read_labels(path: FilePath) -> List[str]:
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


def fit_labels(labels: Sequence[str], num_classes: int, where: str) -> List[str]:
    """Labels checked against the class count; a 1000-line ImageNet list gains 'background' for 1001 classes."""
    labels = [str(label) for label in labels]
    if len(labels) == num_classes - 1 and num_classes == 1001:
        labels = ["background"] + labels
    if len(labels) != num_classes:
        raise ValueError(f"{where}: {len(labels)} labels for a network with {num_classes} classes")
    return labels


def _with_activation(layers: Sequence[Layer], activation: Optional[Activation], recorded: bool) -> Tuple[Layer, ...]:
    """The layers with every activation set to ``activation`` (None: as read). A file that records its
    activation keeps it: asking for another is refused, since the weights were trained with the file's."""
    if activation is None:
        return tuple(layers)
    found = {str(layer.activation) for layer in layers if layer.activation != Activation.NONE}
    if recorded and found and found != {str(activation)}:
        raise ValueError(f"the file records its activation ({', '.join(sorted(found))}); activation="
                         f"{str(activation)!r} cannot change it (it is for files that do not record one)")
    return tuple(dataclasses.replace(layer, activation=activation) if layer.activation != Activation.NONE else layer
                 for layer in layers)


def load(path: FilePath, *, resolution: Union[None, int, Tuple[int, int]] = None, format: Optional[str] = None,
         preprocessing: Union[None, Preprocessing, Dict[str, Any]] = None,
         labels: Union[None, str, os.PathLike[str], Sequence[str]] = None,
         threads: Optional[int] = None, backend: str = Backend.GEMM, isa: Optional[str] = None,
         precision: Optional[str] = None, activation: Optional[str] = None,
         ema: Optional[bool] = None, head: Optional[FilePath] = None) -> MobileNetV1:
    """A ready MobileNetV1 from a model file, choosing the reader from the file's content.

    resolution: input size for formats that do not fix it (Keras and PyTorch
    weights, ONNX with dynamic sizes; default 224): an integer, or a
    (height, width) pair. format: force a reader
    (one of FORMATS). preprocessing, labels (a list or a text file): override
    what the file records. threads, backend, isa: as for MobileNetV1.
    precision: "int8" by default for quantized files, else "float32"; a
    quantized file loaded as float32 (or bfloat16) runs with its weights
    dequantized (mobilenet.precision).
    head: a second TFLite file continuing `path`, a feature extractor that ends
    at the global pooling (as Coral ships the 1.0/224 uint8 model: an embedding
    extractor and its head layers); the two load as one network. Without a
    head, such a feature extractor loads as a network whose output is the
    embedding.
    activation: "relu" or "relu6", for files that do not record it (PyTorch
    state_dicts and safetensors: timm's act_layer; Keras weights-only files);
    ReLU6 is assumed there otherwise. A file that records a different one is
    refused rather than changed. ema: for training checkpoints (timm's
    train.py), None takes the EMA weights where present (as timm's
    load_checkpoint(use_ema=True)), False the trained ones, True requires EMA.

    Raises FileNotFoundError for a missing file, ValueError (naming the file and
    the problem) for anything that is not a readable MobileNet v1, and
    ImportError naming the package to install when a format needs one.
    """
    from ..model import MobileNetV1
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    path = existing_file(path, "model file")
    if head is not None:
        if not isinstance(head, (str, bytes, os.PathLike)):
            raise TypeError(f"head must be a file path, got {type(head).__name__}")
        head = existing_file(head, "head model file")
    pair = None if resolution is None else resolution_pair(resolution)
    check_precision(precision)
    override = None if activation is None else Activation.parse(activation, "activation")
    if override == Activation.NONE:
        raise ValueError("activation must be 'relu' or 'relu6', got 'none'")
    if ema is not None and not isinstance(ema, bool):
        raise TypeError(f"ema must be None, True or False, got {type(ema).__name__}")
    options = {"ema": ema} if ema is not None else {}
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    kind = format
    f = _open_model_file(path)
    try:
        with f:
            if kind is None:
                kind = sniff(f, path)
            if head is None:
                layers, params, attributes = _read(kind, f, path, pair, options)
            else:
                layers, params, attributes = _read_with_head(kind, f, path, head)
        attributes = dict(attributes)
        layers = _with_activation(layers, override, attributes.pop("activation_recorded", True))
        fixed = tuple(layers[0].in_shape[:2]) if layers else None
        if pair is not None and fixed != pair:
            assert fixed is not None  # every reader returns at least one layer or raises
            raise ValueError(f"the model's input size is fixed at {fixed[0]}x{fixed[1]}; "
                             f"resolution={resolution} cannot change it")
        quantization = attributes.pop("quantization", None)  # the file's integer scheme, if any
        chosen = runnable_precision(precision, quantized_file=quantization is not None)
        net = MobileNetV1.from_layers(layers, params, threads=threads, backend=backend, isa=isa, precision=chosen,
                                      quantization=quantization if chosen == "int8" else None)
    except (ImportError, PrecisionNotAvailable):
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
    if preprocessing is not None:
        if isinstance(preprocessing, dict):
            preprocessing = Preprocessing.from_dict(preprocessing)
        if not isinstance(preprocessing, Preprocessing):
            raise TypeError(f"preprocessing must be a Preprocessing, got {type(preprocessing).__name__}")
        attributes["preprocessing"] = preprocessing
    if labels is not None:
        if not isinstance(labels, (str, os.PathLike, Sequence)):
            raise TypeError(f"labels must be a labels file or a list of class names, got {type(labels).__name__}")
        attributes["labels"] = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else list(labels)
    if attributes.get("labels") is not None:
        attributes["labels"] = fit_labels(attributes["labels"], net.num_classes, path)
    attributes.setdefault("format", kind)
    attributes["quantization"] = quantization if chosen == "int8" else None
    for key, value in attributes.items():
        setattr(net, key, value)
    return net


def _read_with_head(kind: str, f: BinaryIO, path: str, head_path: str) -> Tuple[Any, Any, Dict[str, Any]]:
    """A TFLite feature extractor (f) and its head file (an existing file), read as one network."""
    from . import tflite
    if kind != "tflite":
        raise ValueError(f"head= joins two TFLite files; {path} is {kind}")
    with _open_model_file(head_path) as h:
        if sniff(h, head_path) != "tflite":
            raise ValueError(f"{head_path}: head= must be a TFLite file")
        h.seek(0)
        head_data = h.read()
    f.seek(0)
    try:
        return tflite.read(f.read(), path, None, head=head_data)
    except ValueError as e:
        raise ValueError(f"{path} + head {head_path}: {e}") from e


__all__ = ["load", "sniff", "read_labels", "fit_labels", "FORMATS"]
