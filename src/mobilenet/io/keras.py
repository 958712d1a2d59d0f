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

import io
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..graph import TABLE1_BLOCKS
from ..params import BN_EPSILON
from ..preprocess import TENSORFLOW
from ._chain import Op, assemble, same_padding

_BN_ORDER = ("gamma", "beta", "moving_mean", "moving_variance")


def _import_h5py():
    try:
        import h5py
    except ImportError as e:
        raise ImportError("reading Keras .h5 weights needs h5py: pip install 'mobilenet[keras]' "
                          "(or pip install h5py)") from e
    return h5py


_MAX_ELEMENTS = 1 << 26  # far above any MobileNet v1 tensor; a damaged header must not make us allocate


def _read_dataset(dataset, where: str) -> np.ndarray:
    if dataset.size > _MAX_ELEMENTS:
        raise ValueError(f"{where}: shape {dataset.shape} is too large for a MobileNet v1 weight")
    return dataset[()]


def _datasets(group, h5py) -> List:
    found = []
    group.visititems(lambda name, obj: found.append((name, obj)) if isinstance(obj, h5py.Dataset) else None)
    return found


class _Weights:
    """The arrays of each Keras layer, by the weight's short name (kernel, gamma, ...)."""

    def __init__(self, f, h5py):
        self.h5py = h5py
        root = f["model_weights"] if "model_weights" in f else f
        self.keras3 = "layers" in root and isinstance(root["layers"], h5py.Group) and "conv1" in root["layers"]
        self.root = root["layers"] if self.keras3 else root

    def has(self, layer: str) -> bool:
        return layer in self.root and isinstance(self.root[layer], self.h5py.Group)

    def layer(self, layer: str, names) -> Dict[str, np.ndarray]:
        if not self.has(layer):
            raise ValueError(f"missing layer {layer!r}")
        group = self.root[layer]
        if self.keras3:
            vars_group = group["vars"] if "vars" in group else group
            arrays = [_read_dataset(vars_group[str(i)], f"layer {layer!r}") for i in range(len(names))
                      if str(i) in vars_group]
            if len(arrays) != len(names):
                raise ValueError(f"layer {layer!r} has {len(arrays)} variables, expected {len(names)} ({names})")
            return dict(zip(names, arrays))
        out = {}
        for path, dataset in _datasets(group, self.h5py):
            short = path.rsplit("/", 1)[-1].split(":")[0]
            out[short] = _read_dataset(dataset, f"layer {layer!r}")
        missing = [n for n in names if n not in out]
        if missing:
            raise ValueError(f"layer {layer!r} lacks {missing} (has {sorted(out)})")
        return {n: out[n] for n in names}


def _bn(weights: _Weights, layer: str) -> dict:
    arrays = weights.layer(layer, _BN_ORDER)
    return {"gamma": arrays["gamma"], "beta": arrays["beta"], "mean": arrays["moving_mean"],
            "var": arrays["moving_variance"], "eps": BN_EPSILON}


def _kernel(weights: _Weights, layer: str, name: str, ndim: int = 4) -> np.ndarray:
    kernel = np.asarray(weights.layer(layer, (name,))[name])
    if kernel.ndim != ndim:
        raise ValueError(f"layer {layer!r}: {name} has shape {kernel.shape}, expected {ndim} dimensions")
    return kernel


def read(data: bytes, source: str, resolution: Optional[Tuple[int, int]] = None):
    h5py = _import_h5py()
    with h5py.File(io.BytesIO(data), "r") as f:
        weights = _Weights(f, h5py)
        if not weights.has("conv1"):
            raise ValueError("no 'conv1' layer: not Keras MobileNet weights (keras.applications.MobileNet naming)")
        blocks = 0
        while weights.has(f"conv_dw_{blocks + 1}"):
            blocks += 1
        if blocks != len(TABLE1_BLOCKS):
            raise ValueError(f"found {blocks} depthwise blocks (conv_dw_1..), keras.applications.MobileNet has "
                             f"{len(TABLE1_BLOCKS)}")
        if not weights.has("conv_preds"):
            raise ValueError("no 'conv_preds' classifier: include_top=False weights are not supported")
        stem = _kernel(weights, "conv1", "kernel")
        if stem.shape[:3] != (3, 3, 3):
            raise ValueError(f"layer 'conv1': kernel shape {stem.shape} is not [3, 3, 3, C]")
        height, width = (224, 224) if resolution is None else resolution
        ops = [Op("conv3x3", "conv1", stem, bn=_bn(weights, "conv1_bn"), stride=2,
                  padding=same_padding(height, width, 2), activation="relu6")]
        for k, (_, stride) in enumerate(TABLE1_BLOCKS, start=1):
            dw = _kernel(weights, f"conv_dw_{k}", "depthwise_kernel")
            if dw.shape[:2] != (3, 3) or dw.shape[3] != 1:
                raise ValueError(f"layer 'conv_dw_{k}': depthwise_kernel shape {dw.shape} is not [3, 3, C, 1]")
            # Keras: stride 1 is 'same'; stride 2 is ZeroPadding2D(((0, 1), (0, 1))) then 'valid'.
            padding = (1, 1, 1, 1) if stride == 1 else (0, 0, 1, 1)
            ops.append(Op("dwconv3x3", f"conv_dw_{k}", dw[:, :, :, 0], bn=_bn(weights, f"conv_dw_{k}_bn"),
                          stride=stride, padding=padding, activation="relu6"))
            pw = _kernel(weights, f"conv_pw_{k}", "kernel")
            if pw.shape[:2] != (1, 1):
                raise ValueError(f"layer 'conv_pw_{k}': kernel shape {pw.shape} is not [1, 1, Cin, Cout]")
            ops.append(Op("pointwise", f"conv_pw_{k}", pw[0, 0], bn=_bn(weights, f"conv_pw_{k}_bn"),
                          activation="relu6"))
        ops.append(Op("avgpool", "global_average_pooling2d"))
        preds = weights.layer("conv_preds", ("kernel", "bias"))
        kernel = np.asarray(preds["kernel"])
        if kernel.ndim != 4 or kernel.shape[:2] != (1, 1):
            raise ValueError(f"layer 'conv_preds': kernel shape {kernel.shape} is not [1, 1, C, classes]")
        ops.append(Op("pointwise", "conv_preds", kernel[0, 0], np.asarray(preds["bias"])))
    layers, params = assemble(ops, height, width, "Keras weights")
    return layers, params, {"alpha": stem.shape[3] / 32.0, "preprocessing": TENSORFLOW, "labels": None,
                            "source": "keras"}
