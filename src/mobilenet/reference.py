"""The oracle: a plain NumPy float64 forward pass, batch norm kept as batch norm, and
`forward_int8`, TFLite's integer arithmetic (mobilenet.quantization) written plainly.

Used by the tests to check every kernel and whole networks; never on the fast path.

`forward(..., precision="bfloat16")` is the plain bf16 version: what the engine
rounds, rounded the same way (to nearest even, from float32), and the rest in
float64. The 1x1 convolutions, the classifier and the stem (where the engine
runs it in bf16: on AMX tiles; pass the network's `layer_precisions`) multiply
bf16 inputs by bf16 weights (batch norm folded first, as the engine folds it);
the depthwise layers and the pooling stay float32 in the engine and exact here.

`forward(..., precision="float16")` is the plain fp16 version: the stem, the
depthwise and the 1x1 layers (the ones the engine runs in fp16) take fp16
inputs, weights and biases (batch norm folded first) and round their output to
fp16; the sums are exact. The engine rounds every fp16 product and sum as well,
which this version does not: the two agree within fp16's rounding of the sums.
The pooling and the classifier stay float32 in the engine and exact here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from .graph import Layer
from .params import LayerParams, Params, fold_batch_norm
from .vocabulary import Activation, LayerType, Layout

if TYPE_CHECKING:
    from .quantization import QParams, Quantization, QuantizedLayer


def activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == Activation.RELU:
        return np.maximum(x, 0.0)
    if activation == Activation.RELU6:
        return np.clip(x, 0.0, 6.0)
    if activation == Activation.NONE:
        return x
    raise ValueError(f"unknown activation {activation!r}")


def _taps(x: np.ndarray, stride: int, padding: Tuple[int, int, int, int],
          out_hw: Tuple[int, int]) -> Iterator[Tuple[int, int, np.ndarray]]:
    """Yields (ky, kx, window) where window[n, oy, ox, c] = padded x at the tap."""
    top, left, bottom, right = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh, ow = out_hw
    for ky in range(3):
        for kx in range(3):
            yield ky, kx, xp[:, ky:ky + stride * (oh - 1) + 1:stride, kx:kx + stride * (ow - 1) + 1:stride, :]


def _out_hw(x: np.ndarray, stride: int, padding: Tuple[int, int, int, int]) -> Tuple[int, int]:
    top, left, bottom, right = padding
    return ((x.shape[1] + top + bottom - 3) // stride + 1, (x.shape[2] + left + right - 3) // stride + 1)


def conv3x3(x: ArrayLike, weight: ArrayLike, stride: int, padding: Tuple[int, int, int, int]) -> np.ndarray:
    """x [N,H,W,Cin], weight [3,3,Cin,Cout]."""
    xs = np.asarray(x, np.float64)
    weight = np.asarray(weight, np.float64)
    oh, ow = _out_hw(xs, stride, padding)
    out = np.zeros((xs.shape[0], oh, ow, weight.shape[3]))
    for ky, kx, window in _taps(xs, stride, padding, (oh, ow)):
        out += window @ weight[ky, kx]
    return out


def dwconv3x3(x: ArrayLike, weight: ArrayLike, stride: int, padding: Tuple[int, int, int, int]) -> np.ndarray:
    """x [N,H,W,C], weight [3,3,C]."""
    xs = np.asarray(x, np.float64)
    weight = np.asarray(weight, np.float64)
    oh, ow = _out_hw(xs, stride, padding)
    out = np.zeros((xs.shape[0], oh, ow, xs.shape[3]))
    for ky, kx, window in _taps(xs, stride, padding, (oh, ow)):
        out += window * weight[ky, kx]
    return out


def batch_norm(x: np.ndarray, bn: LayerParams) -> np.ndarray:
    return ((x - np.asarray(bn["mean"], np.float64)) / np.sqrt(np.asarray(bn["var"], np.float64) + float(bn["eps"]))
            * np.asarray(bn["gamma"], np.float64) + np.asarray(bn["beta"], np.float64))


def round_to_bfloat16(x: ArrayLike) -> np.ndarray:
    """x rounded to float32, then to bfloat16 (nearest, ties to even; denormals to
    signed zero, as AVX512_BF16 does), returned as float64."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    exponent = bits & 0x7F800000
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF
    rounded = np.where(nan, (bits >> 16) | 0x40, rounded)
    rounded = np.where(exponent == 0, (bits >> 16) & 0x8000, rounded)
    return (rounded.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def layer_forward_bfloat16(layer: Layer, p: LayerParams, x: np.ndarray) -> np.ndarray:
    """One layer as the engine's bfloat16 precision runs it: bf16 inputs and weights
    (batch norm folded) for the GEMMs and the stem, exact sums, the bias as it is;
    the other layers as in float32."""
    if layer.type not in (LayerType.CONV1X1, LayerType.FC, LayerType.CONV3X3):
        return layer_forward(layer, p, x)
    weight, bias = fold_batch_norm(layer, p)
    y = apply_weights(layer, round_to_bfloat16(x), round_to_bfloat16(weight)) + np.asarray(bias, np.float64)
    return activate(y, layer.activation)


def round_to_float16(x: ArrayLike) -> np.ndarray:
    """x rounded to float32, then to IEEE half precision (nearest, ties to even;
    subnormals kept, beyond 65504 to Inf), returned as float64."""
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).astype(np.float16).astype(np.float64)


def layer_forward_float16(layer: Layer, p: LayerParams, x: np.ndarray) -> np.ndarray:
    """One layer as the engine's float16 precision runs it: fp16 inputs, weights and
    bias (batch norm folded) for the stem, the depthwise and the 1x1 layers, exact
    sums, the output rounded to fp16; the other layers as in float32."""
    if layer.type not in (LayerType.CONV3X3, LayerType.DWCONV3X3, LayerType.CONV1X1):
        return layer_forward(layer, p, x)
    weight, bias = fold_batch_norm(layer, p)
    y = apply_weights(layer, round_to_float16(x), round_to_float16(weight)) + round_to_float16(bias)
    return round_to_float16(activate(y, layer.activation))


def apply_weights(layer: Layer, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A weighted layer's convolution or matrix product, before bias and activation
    (float and integer passes alike: float64 holds the integer sums exactly)."""
    if layer.type == LayerType.CONV3X3:
        return conv3x3(x, weight, layer.stride, layer.padding)
    if layer.type == LayerType.DWCONV3X3:
        return dwconv3x3(x, weight, layer.stride, layer.padding)
    if layer.type in (LayerType.CONV1X1, LayerType.FC):
        return x @ weight
    raise ValueError(f"unknown layer type {layer.type!r}")


def layer_forward(layer: Layer, p: LayerParams, x: np.ndarray) -> np.ndarray:
    """One layer of the network on an NHWC float64 batch."""
    if layer.type == LayerType.AVGPOOL:
        return x.mean(axis=(1, 2), keepdims=True)
    y = apply_weights(layer, x, np.asarray(p["weight"], np.float64))
    if p.get("bias") is not None:
        y = y + np.asarray(p["bias"], np.float64)
    if p.get("bn") is not None:
        y = batch_norm(y, p["bn"])
    return activate(y, layer.activation)


def forward(layers: Sequence[Layer], params: Params, x: ArrayLike, layout: str = Layout.NHWC,
            precision: Union[str, Sequence[str]] = "float32") -> np.ndarray:
    """Logits [N, classes] (or the last layer's flattened output) in float64.
    precision: "float32" (exact arithmetic), "bfloat16" or "float16" (the plain bf16 and fp16
    versions), or one of those per layer (a network's `layer_precisions`: the plan may keep a
    layer float32)."""
    layout = Layout.parse(layout, "layout")
    per_layer = [precision] * len(layers) if isinstance(precision, str) else list(precision)
    if len(per_layer) != len(layers):
        raise ValueError(f"precision: {len(per_layer)} values for {len(layers)} layers")
    for p in per_layer:
        if p not in _ONE_LAYER:
            raise ValueError(f"the oracle has no {p!r} version (float32, bfloat16 or float16)")
    y = np.asarray(x, np.float64)
    if layout == Layout.NCHW:
        y = y.transpose(0, 2, 3, 1)
    for layer, p in zip(layers, per_layer):
        y = _ONE_LAYER[p](layer, params.get(layer.name, {}), y)
    return y.reshape(y.shape[0], -1)


_ONE_LAYER = {"float32": layer_forward, "bfloat16": layer_forward_bfloat16, "float16": layer_forward_float16}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------ integer arithmetic (TFLite's)

def layer_forward_int8(layer: Layer, q: QuantizedLayer, x: np.ndarray, x_q: QParams) -> np.ndarray:
    """One layer in TFLite's integer arithmetic (its reference kernels) on an NHWC batch of
    quantized values x (x_q's type); returns the output in q.output's type."""
    from . import quantization as qz
    out = q.output
    xi = np.asarray(x, np.int64)
    if layer.type == LayerType.AVGPOOL:
        n = xi.shape[1] * xi.shape[2]
        if q.mean:
            # MEAN: the sum of the values less their zero point, rescaled to the output's scale
            # with the division by n folded into the multiplier.
            acc = (xi - x_q.zero_point).sum(axis=(1, 2), keepdims=True)
            rescale, exponent = qz.mean_multiplier(x_q.scale, out.scale, n)
            mean: np.ndarray = qz.multiply_by_quantized_multiplier(acc, rescale, exponent) + out.zero_point
        else:
            # AVERAGE_POOL_2D: the sum of the values themselves (pooling keeps the scale and zero
            # point), divided rounding half away from zero (uint8: half up, every sum being positive).
            acc = xi.sum(axis=(1, 2), keepdims=True)
            mean = np.where(acc >= 0, (acc + n // 2) // n, -((-acc + n // 2) // n))
        return np.clip(mean, out.qmin, out.qmax).astype(out.numpy_dtype)
    assert q.weight is not None and q.weight_zero_point is not None and q.weight_scale is not None
    # int32 sums of (x - x_zp) * (w - w_zp); float64 holds these integers exactly.
    xs = (xi - x_q.zero_point).astype(np.float64)
    w = (np.asarray(q.weight, np.int64) - q.weight_zero_point.astype(np.int64)).astype(np.float64)
    acc_i: np.ndarray = apply_weights(layer, xs, w).astype(np.int64)
    if q.bias is not None:
        acc_i = acc_i + np.asarray(q.bias, np.int64)
    multiplier, shift = qz.conv_multipliers(x_q.scale, q.weight_scale, out.scale, x_q.dtype)
    y: np.ndarray = qz.multiply_by_quantized_multiplier(acc_i, multiplier, shift) + out.zero_point
    lo, hi = qz.activation_range(layer.activation, out)
    return np.clip(y, lo, hi).astype(out.numpy_dtype)


def forward_int8(layers: Sequence[Layer], quantization: Quantization, x: ArrayLike,
                 intermediates: bool = False) -> np.ndarray | list[np.ndarray]:
    """The whole network in TFLite's integer arithmetic on a quantized NHWC batch (the input's type).

    Returns the quantized output, [N, classes] (the softmax's where the network has one), or with
    intermediates=True every layer's output in order, then the softmax's."""
    from . import quantization as qz
    x_q = quantization.input
    y: np.ndarray = np.asarray(x)
    io_in = quantization.io_input
    if io_in is not None and y.dtype == io_in.numpy_dtype:  # the file's QUANTIZE: the zero point moves
        y = (y.astype(np.int64) - io_in.zero_point + x_q.zero_point).astype(x_q.numpy_dtype)
    if y.dtype != x_q.numpy_dtype:
        raise TypeError(f"input must be {x_q.dtype} (the model's quantized input), got {y.dtype}")
    outputs = []
    for layer in layers:
        q = quantization.layers[layer.name]
        y = layer_forward_int8(layer, q, y, x_q)
        x_q = q.output
        outputs.append(y)
    y = y.reshape(y.shape[0], -1)
    if quantization.softmax is not None:
        y = qz.softmax(y, x_q.scale, quantization.softmax)
        io_out = quantization.io_output
        if io_out is not None:
            y = (y.astype(np.int64) - quantization.softmax.zero_point + io_out.zero_point).astype(io_out.numpy_dtype)
        outputs.append(y)
    return outputs if intermediates else y
