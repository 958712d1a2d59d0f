"""Keras HDF5 weights in the layout of ``keras.applications.MobileNet``, read with h5py.

Layers: ``conv1`` (3x3 stride 2, 'same', no bias) + ``conv1_bn``; for k = 1..13
``conv_dw_k`` (DepthwiseConv2D, kernel [3, 3, C, 1]) + ``conv_dw_k_bn`` and
``conv_pw_k`` (kernel [1, 1, Cin, Cout]) + ``conv_pw_k_bn``; ``conv_preds``
(1x1 conv with bias, the classifier). ReLU6 after every batch norm, epsilon
1e-3. Keras pads stride-2 depthwise layers explicitly (ZeroPadding2D
((0, 1), (0, 1)) then 'valid'), which this reader reproduces; the stem is
'same' (TensorFlow's rule). alpha = conv1's filters / 32; classes from
conv_preds.

Files: ``model.save_weights("x.h5")`` / ``model.save("x.h5")`` (Keras 2
layout: groups per layer with a ``weight_names`` attribute) and Keras 3
``.weights.h5`` (``layers/<name>/vars/<i>``).
"""
from __future__ import annotations

import math
import types
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .._optional import require
from ..graph import TABLE1_BLOCKS
from ..preprocess import TENSORFLOW
from ..vocabulary import BN_EPSILON, Activation, LayerType
from ._chain import ModelData, Op, assemble, same_padding
from ._limits import MAX_TENSOR_ELEMENTS, Budget, Data, as_stream, size_of

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


class _Weights:
    """The arrays of each Keras layer, by the weight's short name (kernel, gamma, ...).

    Only the datasets that the architecture needs are read, each after its
    shape, type and storage are checked; nothing else in the file is touched.
    """

    def __init__(self, f: Any, h5py: types.ModuleType, budget: Budget) -> None:
        self.h5py = h5py
        self.budget = budget
        root = _child(f, "model_weights", h5py, "the file") or f
        layers = _child(root, "layers", h5py, "the file")
        self.keras3 = isinstance(layers, h5py.Group) and _child(layers, "conv1", h5py, "layers") is not None
        self.root = layers if self.keras3 else root

    def group(self, layer: str) -> Any:
        obj = _child(self.root, layer, self.h5py, f"layer {layer!r}")
        return obj if isinstance(obj, self.h5py.Group) else None

    def has(self, layer: str) -> bool:
        return self.group(layer) is not None

    def layer(self, layer: str, names: Sequence[str], shapes: Sequence[Shape]) -> Dict[str, np.ndarray]:
        """{name: array} for names, each of the matching shape in shapes (None: any size on that axis)."""
        group = self.group(layer)
        if group is None:
            raise ValueError(f"missing layer {layer!r}")
        where = f"layer {layer!r}"
        if self.keras3:
            vars_group = _child(group, "vars", self.h5py, where) or group
            found = {n: _child(vars_group, str(i), self.h5py, where) for i, n in enumerate(names)}
            found = {n: d for n, d in found.items() if isinstance(d, self.h5py.Dataset)}
            if len(found) != len(names):
                raise ValueError(f"layer {layer!r} has {len(found)} variables, expected {len(names)} ({names})")
        else:
            found = _datasets(group, self.h5py, where)
            missing = [n for n in names if n not in found]
            if missing:
                raise ValueError(f"layer {layer!r} lacks {missing} (has {sorted(found)})")
        return {n: self._read(found[n], f"{where}: {n}", shape) for n, shape in zip(names, shapes)}

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


def _bn(weights: _Weights, layer: str, channels: int) -> Dict[str, Any]:
    arrays = weights.layer(layer, _BN_ORDER, [(channels,)] * len(_BN_ORDER))
    return {"gamma": arrays["gamma"], "beta": arrays["beta"], "mean": arrays["moving_mean"],
            "var": arrays["moving_variance"], "eps": BN_EPSILON}


def _kernel(weights: _Weights, layer: str, name: str, shape: Shape) -> np.ndarray:
    return weights.layer(layer, (name,), (shape,))[name]


def read(data: Data, source: str, resolution: Optional[Tuple[int, int]] = None) -> ModelData:
    """(layers, params, attributes) from Keras weights: the file's bytes or the open file."""
    h5py = require("h5py", "reading Keras .h5 weights")
    stream = as_stream(data)
    budget = Budget(size_of(stream))
    with h5py.File(stream, "r") as f:
        weights = _Weights(f, h5py, budget)
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
        # Each shape follows from the previous layer's channels; only output widths are free.
        stem = _kernel(weights, "conv1", "kernel", (3, 3, 3, None))
        channels = stem.shape[3]
        height, width = (224, 224) if resolution is None else resolution
        ops = [Op(LayerType.CONV3X3, "conv1", stem, bn=_bn(weights, "conv1_bn", channels), stride=2,
                  padding=same_padding(height, width, 2), activation=Activation.RELU6)]
        for k, (_, stride) in enumerate(TABLE1_BLOCKS, start=1):
            dw = _kernel(weights, f"conv_dw_{k}", "depthwise_kernel", (3, 3, channels, 1))
            # Keras: stride 1 is 'same'; stride 2 is ZeroPadding2D(((0, 1), (0, 1))) then 'valid'.
            padding = (1, 1, 1, 1) if stride == 1 else (0, 0, 1, 1)
            ops.append(Op(LayerType.DWCONV3X3, f"conv_dw_{k}", dw[:, :, :, 0],
                          bn=_bn(weights, f"conv_dw_{k}_bn", channels), stride=stride, padding=padding,
                          activation=Activation.RELU6))
            pw = _kernel(weights, f"conv_pw_{k}", "kernel", (1, 1, channels, None))
            channels = pw.shape[3]
            ops.append(Op(LayerType.CONV1X1, f"conv_pw_{k}", pw[0, 0], bn=_bn(weights, f"conv_pw_{k}_bn", channels),
                          activation=Activation.RELU6))
        ops.append(Op(LayerType.AVGPOOL, "global_average_pooling2d"))
        preds = weights.layer("conv_preds", ("kernel", "bias"), ((1, 1, channels, None), (None,)))
        ops.append(Op(LayerType.CONV1X1, "conv_preds", preds["kernel"][0, 0], preds["bias"]))
    layers, params = assemble(ops, height, width, "Keras weights")
    return layers, params, {"alpha": stem.shape[3] / 32.0, "preprocessing": TENSORFLOW, "labels": None,
                            "source": "keras"}
