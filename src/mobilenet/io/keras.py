"""Keras HDF5 weights in the layout of ``keras.applications.MobileNet``, read with h5py.

Layers: ``conv1`` (3x3 stride 2, 'same', no bias) + ``conv1_bn``; for k = 1..13
``conv_dw_k`` (DepthwiseConv2D, kernel [3, 3, C, 1]) + ``conv_dw_k_bn`` and
``conv_pw_k`` (kernel [1, 1, Cin, Cout]) + ``conv_pw_k_bn``; ``conv_preds``
(1x1 conv with bias, the classifier). ReLU6 after every batch norm, epsilon
1e-3. Keras pads stride-2 depthwise layers explicitly (ZeroPadding2D
((0, 1), (0, 1)) then 'valid'), which this reader reproduces; the stem is
'same' (TensorFlow's rule). alpha = conv1's filters / 32; classes from
conv_preds.

Files: ``model.save_weights("x.h5")`` / ``model.save("x.h5")`` (Keras 2, and
Keras 3's legacy full-model .h5: groups per layer with a ``weight_names``
attribute), Keras 3 ``.weights.h5`` (``layers/<class>_<k>/vars/<i>``, the
layer's name in an attribute) and Keras 3 ``.keras`` archives (a zip of
``config.json`` and that ``model.weights.h5``). A full model's config (JSON,
never deserialized) gives the input size, ReLU or ReLU6 and the batch norms'
epsilon; a weights-only file records none of them.
"""
from __future__ import annotations

import io
import json
import math
import types
import zipfile
from typing import Any, BinaryIO, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._optional import require
from ..graph import TABLE1_BLOCKS
from ..preprocess import TENSORFLOW
from ..vocabulary import BN_EPSILON, Activation, LayerType
from ._chain import ModelData, Op, assemble, same_padding
from ._limits import MAX_CONFIG_BYTES, MAX_TENSOR_ELEMENTS, Budget, Data, as_stream, read_at_most, size_of

# h5py ships no types (and is imported through _optional.require): its files, groups, links and
# datasets are Any here. A shape wanted of a dataset: None on an axis accepts any size.
Shape = Sequence[Optional[int]]

_BN_ORDER = ("gamma", "beta", "moving_mean", "moving_variance")


_MAX_DEPTH = 4  # Keras nests a layer's weights at most <layer>/<model>/<layer>/<name>
_MAX_ENTRIES = 1000  # links visited in one layer's group: hard-link cycles and floods stop here


def _child(group: Any, name: str, h5py: types.ModuleType, where: str) -> Any:
    """group[name] without following a soft or external link (None if absent).

    HDF5 can point anywhere: an external link opens another file, a soft link
    another path of this one. Keras writes neither, so both are refused.
    """
    link = group.get(name, getlink=True)
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise ValueError(f"{where}: {name!r} is an external link to {link.filename!r}; links are not followed")
    if isinstance(link, h5py.SoftLink):
        raise ValueError(f"{where}: {name!r} is a soft link to {link.path!r}; links are not followed")
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"{where}: {name!r} is a link of unknown kind ({type(link).__name__})")
    return group[name]


def _datasets(group: Any, h5py: types.ModuleType, where: str) -> Dict[str, object]:
    """The datasets under a layer's group by their short name (kernel, gamma, ...), none of them read."""
    found: Dict[str, object] = {}
    pending = [(group, 0)]
    entries = 0
    while pending:
        node, depth = pending.pop()
        for name in node.keys():
            entries += 1
            if entries > _MAX_ENTRIES:
                raise ValueError(f"{where}: more than {_MAX_ENTRIES} entries (or a cycle of links)")
            obj = _child(node, name, h5py, where)
            if isinstance(obj, h5py.Dataset):
                found.setdefault(name.split(":")[0], obj)
            elif isinstance(obj, h5py.Group) and depth < _MAX_DEPTH:
                pending.append((obj, depth + 1))
    return found


# Keras 3's .weights.h5 (and the one inside a .keras) names each layer's group after its class, numbered in
# the model's layer order (conv2d, conv2d_1, ...), with the layer's name in an attribute of its "vars" group
# where the Keras version writes one. Without that attribute, the group is found from the layer order: the
# config's where the file has one, else keras.applications.MobileNet's.
_KERAS3_GROUPS = {"Conv2D": "conv2d", "DepthwiseConv2D": "depthwise_conv2d",
                  "BatchNormalization": "batch_normalization"}


def _mobilenet_layer_order() -> List[Tuple[str, str]]:
    """(class, name) of keras.applications.MobileNet's weighted layers, in model order."""
    order = [("Conv2D", "conv1"), ("BatchNormalization", "conv1_bn")]
    for k in range(1, len(TABLE1_BLOCKS) + 1):
        order += [("DepthwiseConv2D", f"conv_dw_{k}"), ("BatchNormalization", f"conv_dw_{k}_bn"),
                  ("Conv2D", f"conv_pw_{k}"), ("BatchNormalization", f"conv_pw_{k}_bn")]
    return order + [("Conv2D", "conv_preds")]


def _class_group_names(order: Sequence[Tuple[str, str]]) -> Dict[str, str]:
    """{layer name: Keras 3 group name} from (class, name) in model order (Keras' own numbering per class)."""
    used: Dict[str, int] = {}
    groups: Dict[str, str] = {}
    for class_name, name in order:
        base = _KERAS3_GROUPS.get(class_name)
        if base is None:
            continue
        count = used.get(base, -1) + 1
        used[base] = count
        groups[name] = base if count == 0 else f"{base}_{count}"
    return groups


class _Weights:
    """The arrays of each Keras layer, by the weight's short name (kernel, gamma, ...).

    Only the datasets that the architecture needs are read, each after its
    shape, type and storage are checked; nothing else in the file is touched.
    """

    def __init__(self, f: Any, h5py: types.ModuleType, budget: Budget,
                 order: Optional[Sequence[Tuple[str, str]]] = None) -> None:
        self.h5py = h5py
        self.budget = budget
        root = _child(f, "model_weights", h5py, "the file") or f
        layers = _child(root, "layers", h5py, "the file")
        self.keras3 = isinstance(layers, h5py.Group) and _child(root, "conv1", h5py, "the file") is None
        self.root = layers if self.keras3 else root
        self.groups: Dict[str, str] = {}  # Keras 3: layer name -> its group
        if self.keras3:
            self.groups = self._keras3_groups(order)

    def _keras3_groups(self, order: Optional[Sequence[Tuple[str, str]]]) -> Dict[str, str]:
        names = list(self.root.keys())
        if len(names) > _MAX_ENTRIES:
            raise ValueError(f"'layers' has more than {_MAX_ENTRIES} entries")
        groups: Dict[str, str] = {}
        for group_name in names:
            group = _child(self.root, group_name, self.h5py, "layers")
            if not isinstance(group, self.h5py.Group):
                continue
            vars_group = _child(group, "vars", self.h5py, f"layers/{group_name}")
            recorded = None
            for holder in (vars_group, group):
                if isinstance(holder, self.h5py.Group) and "name" in holder.attrs:
                    recorded = holder.attrs["name"]
                    break
            if isinstance(recorded, bytes):
                recorded = recorded.decode("utf-8", "replace")
            if isinstance(recorded, str):
                groups.setdefault(recorded, group_name)
        by_order = _class_group_names(order if order is not None else _mobilenet_layer_order())
        for name, group_name in by_order.items():
            if name not in groups and group_name in names and group_name not in groups.values():
                groups[name] = group_name
        for group_name in names:  # a group named after its layer (no class naming)
            groups.setdefault(group_name, group_name)
        return groups

    def group(self, layer: str) -> Any:
        obj = _child(self.root, self.groups.get(layer, layer), self.h5py, f"layer {layer!r}")
        return obj if isinstance(obj, self.h5py.Group) else None

    def has(self, layer: str) -> bool:
        return self.group(layer) is not None

    def layer(self, layer: str, names: Sequence[Sequence[str]], shapes: Sequence[Shape]) -> Dict[str, np.ndarray]:
        """{name: array} for names (each a list of the names a Keras version may give it; the first is
        the key), each of the matching shape in shapes (None: any size on that axis)."""
        group = self.group(layer)
        if group is None:
            raise ValueError(f"missing layer {layer!r}")
        where = f"layer {layer!r}"
        keys = [n[0] for n in names]
        if self.keras3:
            vars_group = _child(group, "vars", self.h5py, where) or group
            found = {key: _child(vars_group, str(i), self.h5py, where) for i, key in enumerate(keys)}
            found = {key: d for key, d in found.items() if isinstance(d, self.h5py.Dataset)}
            if len(found) != len(keys):
                raise ValueError(f"layer {layer!r} has {len(found)} variables, expected {len(keys)} ({keys})")
        else:
            datasets = _datasets(group, self.h5py, where)
            found = {}
            for choices in names:
                present = [c for c in choices if c in datasets]
                if present:
                    found[choices[0]] = datasets[present[0]]
            missing = [key for key in keys if key not in found]
            if missing:
                raise ValueError(f"layer {layer!r} lacks {missing} (has {sorted(datasets)})")
        return {key: self._read(found[key], f"{where}: {key}", shape) for key, shape in zip(keys, shapes)}

    def _read(self, dataset: Any, where: str, shape: Shape) -> np.ndarray:
        if dataset.external:
            raise ValueError(f"{where} is stored in external files {[e[0] for e in dataset.external]}; "
                             "external storage is not read")
        if dataset.is_virtual:
            raise ValueError(f"{where} is a virtual dataset (data mapped from other files); not read")
        if dataset.dtype.kind != "f":
            raise ValueError(f"{where} has dtype {dataset.dtype}, not floating point")
        got = tuple(dataset.shape) if dataset.shape is not None else ()
        if len(got) != len(shape) or any(e is not None and g != e for g, e in zip(got, shape)):
            wanted = ", ".join("*" if e is None else str(e) for e in shape)
            raise ValueError(f"{where} has shape {got}, expected ({wanted})")
        if math.prod(got) > MAX_TENSOR_ELEMENTS:
            raise ValueError(f"{where}: shape {got} is too large for a MobileNet v1 weight")
        # Compressed, or never written (fill value): the bytes read may far exceed the file's size.
        self.budget.take(math.prod(got) * dataset.dtype.itemsize, where)
        return dataset[()]


def _bn(weights: _Weights, layer: str, channels: int, eps: float) -> Dict[str, Any]:
    arrays = weights.layer(layer, [(n,) for n in _BN_ORDER], [(channels,)] * len(_BN_ORDER))
    return {"gamma": arrays["gamma"], "beta": arrays["beta"], "mean": arrays["moving_mean"],
            "var": arrays["moving_variance"], "eps": eps}


def _kernel(weights: _Weights, layer: str, names: Sequence[str], shape: Shape) -> np.ndarray:
    return weights.layer(layer, (names,), (shape,))[names[0]]


class _Config:
    """What a Keras model's config (JSON: an .h5's model_config attribute, a .keras' config.json) records that
    the weights do not: the input size, ReLU or ReLU6, the batch norms' epsilon, and the layer order.

    Parsed with json only: nothing in it is deserialized, imported or called.
    """

    def __init__(self, text: Optional[str], where: str) -> None:
        self.order: Optional[List[Tuple[str, str]]] = None
        self.input_size: Optional[Tuple[int, int]] = None
        self.activation: Optional[Activation] = None
        self.epsilon: Optional[float] = None
        if text is None:
            return
        try:
            config = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise ValueError(f"{where} is not valid JSON ({e})") from e
        inner = config.get("config") if isinstance(config, dict) else None
        layers = inner.get("layers") if isinstance(inner, dict) else None
        if not isinstance(layers, list):
            return  # not a Functional / Sequential config: the weights alone decide
        order: List[Tuple[str, str]] = []
        relu_max, epsilons = set(), set()
        for entry in layers:
            cfg = entry.get("config") if isinstance(entry, dict) else None
            if not isinstance(cfg, dict):
                raise ValueError(f"{where}: a layer entry without a config")
            class_name, name = str(entry.get("class_name", "")), str(cfg.get("name", entry.get("name", "")))
            order.append((class_name, name))
            if cfg.get("data_format") == "channels_first":
                raise ValueError(f"{where}: layer {name!r} is channels_first; only channels_last Keras models "
                                 "are read")
            if class_name == "InputLayer" and self.input_size is None:
                shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
                if isinstance(shape, list) and len(shape) == 4:
                    h, w = shape[1], shape[2]
                    if isinstance(h, int) and isinstance(w, int) and not isinstance(h, bool):
                        self.input_size = (h, w)
            elif class_name == "ReLU":
                value = cfg.get("max_value")
                relu_max.add(None if value is None else float(value))
            elif class_name == "BatchNormalization" and isinstance(cfg.get("epsilon"), (int, float)):
                epsilons.add(float(cfg["epsilon"]))
        self.order = order
        if relu_max == {6.0}:
            self.activation = Activation.RELU6
        elif relu_max == {None}:
            self.activation = Activation.RELU
        elif relu_max:
            raise ValueError(f"{where}: ReLU layers with max_value {sorted(map(str, relu_max))}: "
                             "MobileNet v1 uses one, ReLU or ReLU6")
        if len(epsilons) == 1:
            self.epsilon = epsilons.pop()
        elif epsilons:
            raise ValueError(f"{where}: batch norms with different epsilons {sorted(epsilons)}")


def _h5_config(f: Any) -> Optional[str]:
    """The model_config attribute of a full-model .h5 (Keras 2, or Keras 3's legacy save), within a cap."""
    if "model_config" not in f.attrs:
        return None
    size = f.attrs.get_id("model_config").get_storage_size()
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"the model_config attribute is {size} bytes, more than {MAX_CONFIG_BYTES}")
    value = f.attrs["model_config"]
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return value if isinstance(value, str) else None


def is_keras_zip(names: Sequence[str]) -> bool:
    """A Keras 3 .keras archive: config.json and model.weights.h5 (and metadata.json)."""
    return "config.json" in names and "model.weights.h5" in names


def _open_keras_zip(stream: BinaryIO) -> Tuple[str, BinaryIO]:
    """(config.json's text, model.weights.h5 as a stream) of a .keras archive, each read through a cap:
    the members' declared sizes are a zip bomb's to choose, so the bytes are counted as they inflate."""
    budget = Budget(size_of(stream))
    with zipfile.ZipFile(stream) as archive:
        names = archive.namelist()
        if not is_keras_zip(names):
            raise ValueError("a zip archive without config.json and model.weights.h5: not a .keras file")
        with archive.open("config.json") as member:
            config = read_at_most(member, MAX_CONFIG_BYTES, "config.json, decompressed,")
        with archive.open("model.weights.h5") as member:
            weights = read_at_most(member, budget.limit, "model.weights.h5, decompressed,")
    budget.take(len(weights), "model.weights.h5")
    try:
        text = config.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"config.json is not UTF-8 ({e})") from e
    return text, io.BytesIO(weights)


def read(data: Data, source: str, resolution: Optional[Tuple[int, int]] = None) -> ModelData:
    """(layers, params, attributes) from Keras files: a .h5 (weights or full model, Keras 2 or 3), a Keras 3
    .weights.h5, or a .keras archive; the file's bytes or the open file."""
    h5py = require("h5py", "reading Keras .h5 / .keras files")
    stream = as_stream(data)
    stream.seek(0)
    kind = "keras"
    config_text: Optional[str] = None
    if stream.read(4) == b"PK\x03\x04":
        stream.seek(0)
        config_text, stream = _open_keras_zip(stream)
        kind, where = "keras (.keras archive)", "config.json"
    stream.seek(0)
    budget = Budget(size_of(stream))
    with h5py.File(stream, "r") as f:
        if config_text is None:
            config_text, where = _h5_config(f), "the model_config attribute"
        config = _Config(config_text, where)
        weights = _Weights(f, h5py, budget, config.order)
        if not weights.has("conv1"):
            raise ValueError("no 'conv1' layer: not Keras MobileNet weights (keras.applications.MobileNet naming)")
        blocks = 0
        while blocks < len(TABLE1_BLOCKS) + 1 and weights.has(f"conv_dw_{blocks + 1}"):
            blocks += 1
        if blocks != len(TABLE1_BLOCKS):
            raise ValueError(f"found {blocks} depthwise blocks (conv_dw_1..), keras.applications.MobileNet has "
                             f"{len(TABLE1_BLOCKS)}")
        if not weights.has("conv_preds"):
            raise ValueError("no 'conv_preds' classifier: include_top=False weights are not supported")
        act = config.activation or Activation.RELU6
        eps = BN_EPSILON if config.epsilon is None else config.epsilon
        # Each shape follows from the previous layer's channels; only output widths are free.
        stem = _kernel(weights, "conv1", ("kernel",), (3, 3, 3, None))
        channels = stem.shape[3]
        height, width = resolution or config.input_size or (224, 224)
        ops = [Op(LayerType.CONV3X3, "conv1", stem, bn=_bn(weights, "conv1_bn", channels, eps), stride=2,
                  padding=same_padding(height, width, 2), activation=act)]
        for k, (_, stride) in enumerate(TABLE1_BLOCKS, start=1):
            # Keras 2 names the depthwise kernel depthwise_kernel, Keras 3's full-model .h5 kernel.
            dw = _kernel(weights, f"conv_dw_{k}", ("depthwise_kernel", "kernel"), (3, 3, channels, 1))
            # Keras: stride 1 is 'same'; stride 2 is ZeroPadding2D(((0, 1), (0, 1))) then 'valid'.
            padding = (1, 1, 1, 1) if stride == 1 else (0, 0, 1, 1)
            ops.append(Op(LayerType.DWCONV3X3, f"conv_dw_{k}", dw[:, :, :, 0],
                          bn=_bn(weights, f"conv_dw_{k}_bn", channels, eps), stride=stride, padding=padding,
                          activation=act))
            pw = _kernel(weights, f"conv_pw_{k}", ("kernel",), (1, 1, channels, None))
            channels = pw.shape[3]
            ops.append(Op(LayerType.CONV1X1, f"conv_pw_{k}", pw[0, 0],
                          bn=_bn(weights, f"conv_pw_{k}_bn", channels, eps), activation=act))
        ops.append(Op(LayerType.AVGPOOL, "global_average_pooling2d"))
        preds = weights.layer("conv_preds", (("kernel",), ("bias",)), ((1, 1, channels, None), (None,)))
        ops.append(Op(LayerType.CONV1X1, "conv_preds", preds["kernel"][0, 0], preds["bias"]))
    layers, params = assemble(ops, height, width, "Keras weights")
    return layers, params, {"alpha": stem.shape[3] / 32.0, "preprocessing": TENSORFLOW, "labels": None,
                            "source": kind, "activation_recorded": config.activation is not None}
