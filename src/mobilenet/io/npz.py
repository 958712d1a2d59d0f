"""The project's own format: ``net.save(path)`` writes it, ``mobilenet.load(path)`` reads it back exactly.

An uncompressed NumPy ``.npz`` (read with allow_pickle=False): the key
``__mobilenet__`` holds a JSON document (format name and version, the layers
with their padding and activation, batch-norm epsilons, and the network's
attributes: alpha, preprocessing, labels, source, ...); every tensor is stored
under ``<layer>/weight``, ``<layer>/bias`` or ``<layer>/bn/<gamma|beta|mean|var>``,
float32, unfolded, in the canonical layouts of ``mobilenet.params``.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._files import FilePath
from ..graph import MAX_RESOLUTION, Layer
from ..params import LayerParams, Params
from ..preprocess import Preprocessing
from ..vocabulary import BN_EPSILON, MAX_PADDING, STRIDES
from ._chain import MAX_CHANNELS, ModelData
from ._limits import Budget, Data, as_stream, size_of

if TYPE_CHECKING:
    from ..model import MobileNetV1

FORMAT = "mobilenet-npz"
VERSION = 1
META_KEY = "__mobilenet__"
_ATTRIBUTES = ("alpha", "resolution", "shallow", "padding", "channel_rounding", "seed", "labels", "source")
_BN_KEYS = ("gamma", "beta", "mean", "var")


def is_npz(names: Sequence[str]) -> bool:
    return META_KEY + ".npy" in names


def save(net: MobileNetV1, path: FilePath) -> None:
    """Writes ``net`` (layers, unfolded params, attributes) to ``path`` (.npz)."""
    layers: List[Dict[str, Any]] = []
    # Any, not ndarray: np.savez's **kwds share the call with its allow_pickle: bool keyword,
    # which mypy would match them against.
    arrays: Dict[str, Any] = {}
    for layer in net.layers:
        entry: Dict[str, Any] = {"name": layer.name, "type": str(layer.type), "in_shape": list(layer.in_shape),
                 "out_shape": list(layer.out_shape), "stride": layer.stride, "padding": list(layer.padding),
                 "activation": str(layer.activation)}
        p = net.params.get(layer.name)
        if p is not None and layer.weight_shape is not None:
            arrays[f"{layer.name}/weight"] = np.asarray(p["weight"], np.float32)
            if p.get("bias") is not None:
                arrays[f"{layer.name}/bias"] = np.asarray(p["bias"], np.float32)
            if p.get("bn") is not None:
                for key in _BN_KEYS:
                    arrays[f"{layer.name}/bn/{key}"] = np.asarray(p["bn"][key], np.float32)
                entry["bn_eps"] = float(p["bn"].get("eps", BN_EPSILON))
        layers.append(entry)
    attributes: Dict[str, Any] = {}
    for key in _ATTRIBUTES:
        value = getattr(net, key, None)
        if value is not None:
            attributes[key] = list(value) if key == "labels" else value
    pre = getattr(net, "preprocessing", None)
    if pre is not None:
        attributes["preprocessing"] = pre.to_dict() if isinstance(pre, Preprocessing) else dict(pre)
    meta = {"format": FORMAT, "version": VERSION, "layers": layers, "attributes": attributes}
    arrays[META_KEY] = np.array(json.dumps(meta))
    path = os.fspath(path)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _int(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{where} must be an integer in {low}..{high}, got {value!r}")
    return value


class _Archive:
    """The arrays of an .npz, each checked before it is read.

    The .npy header is read from the member's (decompressed) stream, never
    trusted from the zip directory, and checked against the shape that the
    metadata's layers call for and against the file's expansion budget.
    """

    def __init__(self, data: Data) -> None:
        stream = as_stream(data)
        self.budget = Budget(size_of(stream))
        self.zip = zipfile.ZipFile(stream)
        self.members = {info.filename[:-4]: info for info in self.zip.infolist() if info.filename.endswith(".npy")}
        self.files = set(self.members)

    def get(self, name: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
        """The array stored as name; shape: the one the network needs (None for the metadata)."""
        info = self.members[name]
        fmt = np.lib.format
        with self.zip.open(info) as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                found, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                found, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise ValueError(f"array {name!r}: unsupported .npy version {version}")
            if dtype.hasobject:
                raise ValueError(f"array {name!r} holds Python objects")
            count = math.prod(found)
            size = count * dtype.itemsize
            if size > info.file_size:  # a damaged header must not make us allocate
                raise ValueError(f"array {name!r}: shape {found} needs more data than the file holds")
            if shape is not None:
                if tuple(found) != tuple(shape):
                    raise ValueError(f"array {name!r}: shape {found} in its header, the layer needs {tuple(shape)}")
                if dtype.kind != "f":
                    raise ValueError(f"array {name!r}: dtype {dtype} is not floating point")
            self.budget.take(size, f"array {name!r}")
            raw = f.read(size)
        if len(raw) != size:
            raise ValueError(f"array {name!r} is truncated")
        return np.frombuffer(raw, dtype).reshape(found, order="F" if fortran else "C").copy()

    def close(self) -> None:
        self.zip.close()


def read(data: Data, source: str, resolution: Optional[Tuple[int, int]] = None) -> ModelData:
    """(layers, params, attributes) from a file written by ``save`` (its bytes or the open file); the
    file fixes the input size (resolution is not used)."""
    archive = _Archive(data)
    try:
        files = archive.files
        if META_KEY not in files:
            raise ValueError("an .npz without mobilenet metadata (not written by net.save)")
        meta_array = archive.get(META_KEY)
        if meta_array.dtype.kind != "U" or meta_array.shape != ():
            raise ValueError("the mobilenet metadata is not a JSON string")
        meta = json.loads(str(meta_array[()]))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError("the metadata does not name the mobilenet-npz format")
        if meta.get("version") != VERSION:
            raise ValueError(f"unsupported mobilenet-npz version {meta.get('version')!r} (this reads {VERSION})")
        entries = meta.get("layers")
        if not isinstance(entries, list) or not entries:
            raise ValueError("the metadata lists no layers")
        layers: List[Layer] = []
        params: Params = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"layer entry {i} is not an object")
            where = f"layer {i}"
            name = entry.get("name")
            if not isinstance(name, str) or not name or name in params:
                raise ValueError(f"{where}: missing or duplicate name {name!r}")
            shapes = []
            for key in ("in_shape", "out_shape"):
                shape = entry.get(key)
                if not isinstance(shape, list) or len(shape) != 3:
                    raise ValueError(f"{where} ({name}): {key} must be [height, width, channels]")
                shapes.append((_int(shape[0], f"{name} {key}", 1, MAX_RESOLUTION),
                               _int(shape[1], f"{name} {key}", 1, MAX_RESOLUTION),
                               _int(shape[2], f"{name} {key}", 1, MAX_CHANNELS)))
            padding = entry.get("padding")
            if not isinstance(padding, list) or len(padding) != 4:
                raise ValueError(f"{where} ({name}): padding must be 4 integers")
            stride = _int(entry.get("stride"), f"{name} stride", min(STRIDES), max(STRIDES))
            top, left, bottom, right = (_int(p, f"{name} padding", 0, MAX_PADDING) for p in padding)
            layer = Layer(name, str(entry.get("type")), shapes[0], shapes[1], stride, (top, left, bottom, right),
                          str(entry.get("activation")))
            layers.append(layer)
            if layer.weight_shape is None:
                continue
            channels = (layer.out_shape[2],)
            if f"{name}/weight" not in files:
                raise ValueError(f"layer {name!r}: missing weight")
            p: LayerParams = {"weight": archive.get(f"{name}/weight", layer.weight_shape)}
            if f"{name}/bias" in files:
                p["bias"] = archive.get(f"{name}/bias", channels)
            if "bn_eps" in entry:
                eps = entry["bn_eps"]
                if isinstance(eps, bool) or not isinstance(eps, (int, float)):
                    raise ValueError(f"layer {name!r}: batch-norm epsilon is not a number")
                bn: Dict[str, Any] = {"eps": float(eps)}
                for key in _BN_KEYS:
                    if f"{name}/bn/{key}" not in files:
                        raise ValueError(f"layer {name!r}: missing batch norm {key}")
                    bn[key] = archive.get(f"{name}/bn/{key}", channels)
                p["bn"] = bn
            params[name] = p
    finally:
        archive.close()
    attributes = meta.get("attributes", {})
    if not isinstance(attributes, dict):
        raise ValueError("the metadata's attributes are not an object")
    attributes = {k: v for k, v in attributes.items() if k in _ATTRIBUTES + ("preprocessing",)}
    if "preprocessing" in attributes:
        attributes["preprocessing"] = Preprocessing.from_dict(attributes["preprocessing"])
    if isinstance(attributes.get("resolution"), list):  # JSON keeps a (height, width) pair as a list
        attributes["resolution"] = tuple(attributes["resolution"])
    labels = attributes.get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(s, str) for s in labels)):
        raise ValueError("labels must be a list of strings")
    return tuple(layers), params, attributes


def zip_names(data: Data) -> List[str]:
    with zipfile.ZipFile(as_stream(data)) as z:
        return z.namelist()
