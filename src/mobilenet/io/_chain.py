"""Turning a framework's list of operations into our layers and parameters.

Every reader (TFLite, ONNX, Keras, PyTorch) walks its file and emits ``Op``s in
execution order, with weights already in our canonical layouts (output channels
last) and padding as explicit (top, left, bottom, right) pixels. ``assemble``
checks that the chain is a MobileNet v1 (a 3x3 stem, depthwise / pointwise
pairs, global average pooling, a classifier) and names the layers the Keras way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from ..graph import MAX_RESOLUTION, Layer, conv_output_size, conv_padding
from ..params import LayerParams, Params
from ..vocabulary import ACTIVATIONS, LAYER_KINDS, MAX_PADDING, STRIDES, Activation, LayerType, Padding

MAX_CHANNELS = 1 << 16

# What every reader returns: the layers, their unfolded params, and the attributes the network
# takes from the file (preprocessing, labels, source, alpha, ...).
ModelData = Tuple[Tuple[Layer, ...], Params, Dict[str, Any]]


@dataclass
class Op:
    """One convolution-like operation, kind a LayerType.

    A pointwise kind (CONV1X1 or FC) says what the framework called the
    operation; where it sits in the chain decides the layer it becomes (see
    ``assemble``): a 1x1 convolution can be the classifier, a fully connected
    layer before the pooling a 1x1 convolution.
    """

    kind: LayerType
    where: str  # the framework's name for it, for error messages
    weight: Optional[np.ndarray] = None
    bias: Optional[np.ndarray] = None
    bn: Optional[Dict[str, Any]] = None
    stride: int = 1
    padding: Tuple[int, int, int, int] = (0, 0, 0, 0)
    activation: Activation = Activation.NONE
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def pointwise(self) -> bool:
        kind = LAYER_KINDS.get(self.kind)
        return kind is not None and kind.pointwise


def same_padding(height: int, width: int, stride: int) -> Tuple[int, int, int, int]:
    """TensorFlow's 'SAME' (ONNX's SAME_UPPER) for a 3x3 kernel: the odd pixel goes bottom/right."""
    top, bottom = conv_padding(height, stride, Padding.SAME)
    left, right = conv_padding(width, stride, Padding.SAME)
    return top, left, bottom, right


def check_resolution(height: object, width: object, where: str) -> Tuple[int, int]:
    pair: List[int] = []
    for value in (height, width):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{where}: input size must be integers, got {height!r} x {width!r}")
        pair.append(int(value))
    h, w = pair
    if not (32 <= h <= MAX_RESOLUTION and 32 <= w <= MAX_RESOLUTION):
        raise ValueError(f"{where}: input size {height}x{width} is outside 32..{MAX_RESOLUTION}")
    return h, w


def as_float32(array: npt.ArrayLike, where: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """A weight as contiguous float32. Its values are checked (NaN, Inf) once, by params.check_params."""
    arr = np.asarray(array)
    if arr.dtype.kind != "f":
        raise ValueError(f"{where}: expected floating-point values, got dtype {arr.dtype}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{where}: shape {tuple(arr.shape)}, expected {tuple(shape)}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def assemble(ops: Sequence[Op], height: int, width: int, source: str, *,
             features_only: bool = False) -> Tuple[Tuple[Layer, ...], Params]:
    """Layers and unfolded params from a chain of Ops on a (height, width, 3) input.

    Layer names: conv1, conv_dw_<k>, conv_pw_<k>, avgpool, fc (the last linear
    layer after pooling) and conv_head for any other pointwise layer (timm's
    head convolution). Raises ValueError naming what does not fit MobileNet v1.
    features_only: the chain may end at the pooling (a feature extractor; its output is the embedding).
    """
    height, width = check_resolution(height, width, source)
    if not ops:
        raise ValueError(f"{source}: the model has no layers")
    if ops[0].kind != LayerType.CONV3X3:
        raise ValueError(f"{source}: a MobileNet v1 starts with a 3x3 convolution over the RGB image, "
                         f"found {ops[0].kind} at {ops[0].where}")
    pool_at = [i for i, op in enumerate(ops) if op.kind == LayerType.AVGPOOL]
    if len(pool_at) != 1:
        raise ValueError(f"{source}: a MobileNet v1 has exactly one global average pooling, found {len(pool_at)}")
    pool = pool_at[0]
    if features_only and pool == len(ops) - 1:
        pass
    elif pool == len(ops) - 1 or not ops[-1].pointwise:
        raise ValueError(f"{source}: no classifier (a fully connected or 1x1 layer) after the global pooling")
    if not any(op.kind == LayerType.DWCONV3X3 for op in ops[:pool]):
        raise ValueError(f"{source}: no depthwise convolution: not a MobileNet v1")

    layers: List[Layer] = []
    params: Params = {}
    shape = (height, width, 3)
    block = 0
    for index, op in enumerate(ops):
        h, w, c = shape
        if op.kind == LayerType.AVGPOOL:
            layers.append(Layer("avgpool", LayerType.AVGPOOL, shape, (1, 1, c)))
            shape = (1, 1, c)
            continue
        if op.kind == LayerType.CONV3X3:
            if index != 0:
                raise ValueError(f"{source}: {op.where}: a full 3x3 convolution is only supported as the stem")
            name, type_ = "conv1", LayerType.CONV3X3
            cout = op.weight.shape[3] if op.weight is not None and op.weight.ndim == 4 else -1
            expected: Tuple[int, ...] = (3, 3, c, cout)
        elif op.kind == LayerType.DWCONV3X3:
            if index > pool:
                raise ValueError(f"{source}: {op.where}: depthwise convolution after the global pooling")
            block += 1
            name, type_, cout = f"conv_dw_{block}", LayerType.DWCONV3X3, c
            expected = (3, 3, c)
        elif op.pointwise:
            cout = op.weight.shape[1] if op.weight is not None and op.weight.ndim == 2 else -1
            expected = (c, cout)
            if index == len(ops) - 1:
                name, type_ = "fc", LayerType.FC
            elif index < pool and ops[index - 1].kind == LayerType.DWCONV3X3 and f"conv_pw_{block}" not in params:
                name, type_ = f"conv_pw_{block}", LayerType.CONV1X1
            else:
                name, type_ = "conv_head", LayerType.CONV1X1
                if name in params:
                    raise ValueError(f"{source}: {op.where}: more than one extra 1x1 layer: not a MobileNet v1")
        else:
            raise ValueError(f"{source}: {op.where}: unsupported operation {op.kind!r}")
        if op.weight is None or tuple(op.weight.shape) != expected:
            got = None if op.weight is None else tuple(op.weight.shape)
            raise ValueError(f"{source}: {op.where}: weight shape {got} does not fit input channels {c} "
                             f"(expected {expected})")
        if not 1 <= cout <= MAX_CHANNELS:
            raise ValueError(f"{source}: {op.where}: {cout} output channels is out of range")
        if op.activation not in ACTIVATIONS:
            raise ValueError(f"{source}: {op.where}: unsupported activation {op.activation!r}")
        spatial = LAYER_KINDS[type_].spatial
        if spatial:
            if op.stride not in STRIDES:
                raise ValueError(f"{source}: {op.where}: stride {op.stride} is not 1 or 2")
            top, left, bottom, right = op.padding
            if not all(0 <= p <= MAX_PADDING for p in op.padding):
                raise ValueError(f"{source}: {op.where}: padding {op.padding} is outside 0..{MAX_PADDING}")
            oh = conv_output_size(h, op.stride, top, bottom)
            ow = conv_output_size(w, op.stride, left, right)
            if oh < 1 or ow < 1:
                raise ValueError(f"{source}: {op.where}: the input {h}x{w} is too small for this layer")
            out = (oh, ow, cout)
        else:
            if op.stride != 1 or any(op.padding):
                raise ValueError(f"{source}: {op.where}: a 1x1 layer must have stride 1 and no padding")
            out = (h, w, cout)
        layers.append(Layer(name, type_, shape, out, op.stride if spatial else 1,
                            (top, left, bottom, right) if spatial else (0, 0, 0, 0), op.activation))
        p: LayerParams = {"weight": as_float32(op.weight, f"{source}: {op.where} weight")}
        if op.bias is not None:
            p["bias"] = as_float32(op.bias, f"{source}: {op.where} bias", (cout,))
        if op.bn is not None:
            bn: Dict[str, Any] = {key: as_float32(op.bn[key], f"{source}: {op.where} batch norm {key}", (cout,))
                                  for key in ("gamma", "beta", "mean", "var")}
            bn["eps"] = float(op.bn["eps"])  # its value is checked with the tensors', by params.check_params
            p["bn"] = bn
        params[name] = p
        shape = out
    return tuple(layers), params
