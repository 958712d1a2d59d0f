"""Post-training quantization (`MobileNetV1.quantize`): a float network's int8 version in
TFLite's full-integer scheme, its activation ranges calibrated on images.

The scheme (what TFLiteConverter writes with a representative dataset, and what
`mobilenet.load` reads back as "per-channel int8"):

- weights: int8 per output channel, symmetric (zero point 0), scale = max|w| / 127 of the
  channel (batch norm folded first; an all-zero channel gets scale 1);
- activations: int8 per tensor, asymmetric: scale and zero point from the calibrated range
  [lo, hi], widened to contain 0 (TFLite's nudged zero point, `activation_qparams`);
- biases: int32 with scale input_scale * weight_scale and zero point 0 (a weight scale is
  enlarged where a bias would not fit in int32, as TFLite's quantizer does); by default
  bias-corrected: each bias less the mean shift that rounding the layer's weights causes on
  the calibration images (Nagel et al. 2019, "Data-Free Quantization Through Weight
  Equalization and Bias Correction", with the layers' measured mean inputs). Small networks
  need it: on the real 0.25/224, rounding the weights alone moves the top-1 of two of the four
  test images, and with the correction none;
- ReLU / ReLU6 stay fused: they are clamps in the quantized domain (the ranges are those of
  the layers' outputs, after their activation), computed when the engine is built;
- the global pooling is TFLite's quantized MEAN, with a range of its own; a network with a
  classifier ends in the integer softmax (scale 1/256, zero point -128), and the classifier's
  range (the softmax's input) is widened by `logit_headroom` (1.5): calibration images rarely
  reach the logits of a confident prediction, and logits clamped at the top of the range tie
  the top classes (on the real 0.25/224, the cat photo's three cat classes at 63/256 each).

bias_correction=False and logit_headroom=1 calibrate as TFLiteConverter does.

Calibration runs the float network one layer at a time on the engine (float32, each layer a
network of its own) and records every layer's output range: "minmax" keeps the extremes,
"percentile" the `percentile`-th percentile at the top and the (100 - percentile)-th at the
bottom, from histograms of each tensor's values that widen as larger values arrive.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

import mobilenet._core as _core

from .graph import Layer
from .params import Params, fold_batch_norm
from .quantization import INT32_MAX, QParams, Quantization, QuantizedLayer, round_half_away
from .vocabulary import LayerType, Layout

if TYPE_CHECKING:
    from .model import MobileNetV1

METHODS = ("minmax", "percentile")
DEFAULT_PERCENTILE = 99.999
CALIBRATION_BATCH = 16  # images per engine call while calibrating
HISTOGRAM_BINS = 2048  # per sign, for the percentile method
# The classifier's range, widened: calibration images rarely reach the logits of a confident
# prediction, and a saturated top logit ties the top classes.
DEFAULT_LOGIT_HEADROOM = 1.5
SCHEME = "per-channel int8"
SOFTMAX_OUTPUT = QParams(1.0 / 256, -128, "int8")  # TFLite's int8 softmax output, fixed by its kernels


# ------------------------------------------------------------------ the scheme's arithmetic

def activation_qparams(lo: float, hi: float, dtype: str = "int8") -> QParams:
    """An activation's scale and zero point for the real range [lo, hi] (TFLite's calibration:
    the range widened to contain 0, scale (hi - lo) / 255, the zero point nudged to an integer
    from whichever end is closer to representable; a range of a single point, 0, gets scale 1)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"activation range [{lo}, {hi}] is not a finite interval")
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    qmin, qmax = (-128, 127) if dtype == "int8" else (0, 255)
    if hi - lo < np.finfo(np.float64).eps:
        return QParams(1.0, qmin, dtype)
    scale = (hi - lo) / (qmax - qmin)
    from_min, from_max = qmin - lo / scale, qmax - hi / scale
    from_min_error, from_max_error = abs(qmin) + abs(lo / scale), abs(qmax) + abs(hi / scale)
    zero_point = from_min if from_min_error < from_max_error else from_max
    nudged = qmin if zero_point < qmin else qmax if zero_point > qmax else int(round_half_away(zero_point))
    scale32 = float(np.float32(scale))
    if scale32 <= 0 or not math.isfinite(scale32):
        raise ValueError(f"activation range [{lo:g}, {hi:g}] has no float32 scale")
    return QParams(scale32, nudged, dtype)


def weight_scales(weight: np.ndarray) -> np.ndarray:
    """Per output channel (the last axis): max|w| / 127 as float32; 1 for an all-zero channel."""
    w = np.asarray(weight, np.float64)
    peak = np.abs(w.reshape(-1, w.shape[-1])).max(axis=0)
    scales = (peak / 127.0).astype(np.float32)
    scales[scales == 0] = 1.0  # a channel of zeros: any positive scale represents it
    return scales


def quantize_weights(weight: np.ndarray, scales: npt.ArrayLike) -> np.ndarray:
    """Symmetric int8 per output channel: round(w / scale), halves away from zero, in [-127, 127]."""
    q = round_half_away(np.asarray(weight, np.float64) / np.asarray(scales, np.float32).astype(np.float64))
    return np.clip(q, -127, 127).astype(np.int8)


def bias_scales(input_scale: float, weight_scale: npt.ArrayLike) -> np.ndarray:
    """An int32 bias's scale per channel, input_scale * weight_scale, as float32 (the file's)."""
    return (float(np.float32(input_scale)) * np.asarray(weight_scale, np.float32).astype(np.float64)).astype(np.float32)


def quantize_layer(weight: np.ndarray, bias: np.ndarray, input_scale: float
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(int8 weight, float32 weight scales, int32 bias, float32 bias scales) of a folded layer
    whose input has `input_scale`. A weight scale grows where the bias would overflow int32."""
    scales = weight_scales(weight)
    b = np.asarray(bias, np.float64)
    # The smallest weight scale whose bias scale keeps |bias| / bias_scale within int32 (with a margin
    # for the float32 rounding of the scales).
    needed = np.abs(b) / (float(np.float32(input_scale)) * (INT32_MAX / 2.0))
    scales = np.maximum(scales, needed.astype(np.float32)).astype(np.float32)
    b_scales = bias_scales(input_scale, scales)
    q_bias = round_half_away(b / b_scales.astype(np.float64))
    return quantize_weights(weight, scales), scales, q_bias.astype(np.int32), b_scales


def dequantized(values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """real = q * scale per output channel (the last axis), computed as the TFLite reader does:
    float64 products of the stored integers and float32 scales, rounded to float32."""
    return (np.asarray(values, np.float64) * np.asarray(scales, np.float32).astype(np.float64)).astype(np.float32)


# ------------------------------------------------------------------ ranges

class _Magnitudes:
    """A histogram of non-negative values over [0, top] in HISTOGRAM_BINS bins; `top` doubles
    (merging pairs of bins) when a larger value arrives, so one pass over the data suffices."""

    def __init__(self) -> None:
        self.top = 0.0
        self.counts: np.ndarray = np.zeros(HISTOGRAM_BINS, np.int64)
        self.total = 0

    def add(self, values: np.ndarray, peak: float) -> None:
        """values: float32, none negative, the largest `peak`."""
        if values.size == 0:
            return
        self.total += values.size
        if peak <= 0.0:
            self.counts[0] += values.size
            return
        if self.top == 0.0:
            self.top = peak
        while peak > self.top:
            merged = self.counts.reshape(-1, 2).sum(axis=1)
            self.counts = np.concatenate([merged, np.zeros(HISTOGRAM_BINS // 2, np.int64)])
            self.top *= 2.0
        # Bin i holds [i, i + 1) * top / bins, and the last one top itself (np.histogram's bins,
        # several times faster; float32 rounding may move a value at an edge by one bin).
        index = values * np.float32(HISTOGRAM_BINS / self.top)
        np.minimum(index, HISTOGRAM_BINS - 1, out=index)
        self.counts += np.bincount(index.astype(np.intp), minlength=HISTOGRAM_BINS)

    def quantile(self, rank: int) -> float:
        """An upper bound of the rank-th smallest value (1-based): the top edge of its bin."""
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        return (index + 1) * self.top / HISTOGRAM_BINS


class RangeObserver:
    """One tensor's calibrated range: its extremes ("minmax") or its percentiles ("percentile")."""

    def __init__(self, method: str = "minmax", percentile: float = DEFAULT_PERCENTILE) -> None:
        self.method, self.percentile = method, percentile
        self.lo, self.hi = math.inf, -math.inf
        self.count = 0
        if method == "percentile":
            # values >= 0, and the magnitudes of the negative ones
            self.positive, self.negative = _Magnitudes(), _Magnitudes()

    def update(self, values: np.ndarray) -> None:
        flat = np.asarray(values, np.float32).reshape(-1)
        if flat.size == 0:
            return
        lo, hi = float(flat.min()), float(flat.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError("non-finite values")
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)
        self.count += flat.size
        if self.method == "percentile":
            if lo >= 0.0:  # after a ReLU: no mask to take
                self.positive.add(flat, hi)
            else:
                negative = flat < 0
                self.positive.add(flat[~negative], max(hi, 0.0))
                self.negative.add(-flat[negative], -lo)

    def range(self) -> Tuple[float, float]:
        """(lo, hi) of the values seen (not yet widened to contain 0)."""
        if self.count == 0:
            raise ValueError("no values observed")
        if self.method == "minmax":
            return self.lo, self.hi
        # The values at rank `keep` from either end: the top and bottom (100 - percentile)% are clipped.
        keep = math.ceil(self.percentile / 100.0 * self.count)
        hi = lo = 0.0
        rank = keep - (self.count - self.positive.total)  # among the values >= 0, ascending
        if rank > 0:
            hi = min(self.hi, self.positive.quantile(rank))
        rank = keep - (self.count - self.negative.total)  # among the negative values, by magnitude
        if rank > 0:
            lo = max(self.lo, -self.negative.quantile(rank))
        return lo, hi


# ------------------------------------------------------------------ calibration data

Calibration = Union[npt.ArrayLike, Iterable[npt.ArrayLike]]


def calibration_batches(calibration: Calibration, check: Callable[[np.ndarray], np.ndarray],
                        batch_size: int = CALIBRATION_BATCH) -> Iterator[np.ndarray]:
    """float32 NHWC batches of batch_size images (the last one may be smaller) from an array
    (N, H, W, 3) or an iterable of images (H, W, 3) or batches, regrouped, so that the batches
    (and the engine's float32 roundings, which may depend on the batch size) do not depend on
    how the images were grouped. `check` validates and converts one 4-D batch (the network's
    input check). Raises TypeError / ValueError naming the item that is wrong."""
    what = "calibration must be an array of images or an iterable of images or batches"
    if isinstance(calibration, (str, bytes)) or calibration is None:
        raise TypeError(f"{what}, got {type(calibration).__name__}")
    items: Iterable[Any]
    if isinstance(calibration, np.ndarray):
        items, single = [calibration], True
    else:
        try:
            items, single = iter(calibration), False
        except TypeError:
            raise TypeError(f"{what}, got {type(calibration).__name__}") from None
    pending: List[np.ndarray] = []
    count = 0
    for index, item in enumerate(items):
        where = "calibration" if single else f"calibration item {index}"
        arr = np.asarray(item)
        if not single and arr.ndim == 3:
            arr = arr[None]  # one image
        try:
            batch = np.asarray(check(arr), dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{where}: {e}") from None
        if not np.isfinite(batch).all():
            bad = sorted({int(i) for i in np.argwhere(~np.isfinite(batch))[:, 0]})
            raise ValueError(f"{where}: image{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad[:5]))} "
                             "hold NaN or Inf")
        pending.append(batch)
        count += batch.shape[0]
        while count >= batch_size:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield np.ascontiguousarray(joined[:batch_size])
            pending, count = [joined[batch_size:]], count - batch_size
    if count:
        yield np.ascontiguousarray(np.concatenate(pending))


class Calibrated:
    """What calibration measured: `ranges`, the input's then each layer's output (lo, hi);
    `mean_inputs`, each weighted layer's mean input image (H, W, C) over the calibration images
    (None for the pooling); `images`, how many there were."""

    def __init__(self, ranges: List[Tuple[float, float]], mean_inputs: List[Optional[np.ndarray]],
                 images: int) -> None:
        self.ranges, self.mean_inputs, self.images = ranges, mean_inputs, images


def calibrate(layers: Tuple[Layer, ...], params: Params, batches: Iterable[np.ndarray], *,
              method: str = "minmax", percentile: float = DEFAULT_PERCENTILE, isa: Optional[str] = None,
              threads: int = 1) -> Calibrated:
    """The float network run one layer at a time (float32, on the engine) over the batches: the
    ranges of its tensors and the mean inputs of its layers (see Calibrated)."""
    from .model import engine_specs
    engines = [_core.Network([spec], isa=isa, threads=threads) for spec in engine_specs(layers, params)]
    observers = [RangeObserver(method, percentile) for _ in range(len(layers) + 1)]
    sums: List[Optional[np.ndarray]] = [np.zeros(layer.in_shape) if layer.type != LayerType.AVGPOOL else None
                                        for layer in layers]
    images = 0
    for batch in batches:
        images += batch.shape[0]
        observers[0].update(batch)
        x = batch
        for layer, engine, observer, total in zip(layers, engines, observers[1:], sums):
            if total is not None:
                total += x.sum(axis=0, dtype=np.float64)
            x = engine.forward(x, "NHWC", False, False).reshape((x.shape[0],) + layer.out_shape)
            try:
                observer.update(x)
            except ValueError:
                raise ValueError(f"calibration: layer {layer.name!r} overflows float32 (its output holds NaN or "
                                 "Inf): are the images preprocessed as the network expects?") from None
    if images == 0:
        raise ValueError("calibration data is empty: quantize needs at least one image")
    means = [None if total is None else total / images for total in sums]
    return Calibrated([observer.range() for observer in observers], means, images)


def weight_error_bias(layer: Layer, mean_input: np.ndarray, error: np.ndarray) -> np.ndarray:
    """The mean, over the calibration images and the layer's output pixels, of what the weights'
    rounding `error` (dequantized - float) adds to each output channel before the activation:
    by linearity, the layer applied to the mean input image (padding included), averaged."""
    from .reference import apply_weights
    shifted = apply_weights(layer, np.asarray(mean_input, np.float64)[None], np.asarray(error, np.float64))
    return np.asarray(shifted.reshape(-1, shifted.shape[-1]).mean(axis=0))


# ------------------------------------------------------------------ the int8 network

def check_method(method: object, percentile: object) -> Tuple[str, float]:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float, np.integer, np.floating)):
        raise TypeError(f"percentile must be a number, got {type(percentile).__name__}")
    if not 50.0 < float(percentile) <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    return str(method), float(percentile)


def quantized_scheme(layers: Tuple[Layer, ...], params: Params, calibrated: Calibrated, *,
                     bias_correction: bool = True, logit_headroom: float = 1.0) -> Tuple[Quantization, Params]:
    """The int8 scheme (mobilenet.quantization.Quantization) of a float network from its calibration,
    and its parameters dequantized (the weights the int8 network computes with, as real numbers, as
    `mobilenet.load` reads them from the written file). bias_correction: subtract from each bias the
    mean shift its weights' rounding causes on the calibration images (Nagel et al. 2019, "Data-Free
    Quantization Through Weight Equalization and Bias Correction", with measured means).
    logit_headroom: the classifier's range (the softmax's input) is this many times the calibrated one."""
    ranges = list(calibrated.ranges)
    if layers[-1].type == LayerType.FC:
        lo, hi = ranges[-1]
        ranges[-1] = (lo * logit_headroom, hi * logit_headroom)
    input_q = x_q = activation_qparams(*ranges[0])
    quantized: Dict[str, QuantizedLayer] = {}
    dequantized_params: Params = {}
    for layer, (lo, hi), mean_input in zip(layers, ranges[1:], calibrated.mean_inputs):
        out_q = activation_qparams(lo, hi)
        if layer.type == LayerType.AVGPOOL:
            quantized[layer.name] = QuantizedLayer(output=out_q, mean=True)
        else:
            weight, bias = fold_batch_norm(layer, params[layer.name])
            q_weight, w_scales, q_bias, b_scales = quantize_layer(weight, bias, x_q.scale)
            if bias_correction and mean_input is not None:
                shift = weight_error_bias(layer, mean_input, dequantized(q_weight, w_scales).astype(np.float64)
                                          - weight.astype(np.float64))
                corrected = (bias.astype(np.float64) - shift).astype(np.float32)
                q_weight, w_scales, q_bias, b_scales = quantize_layer(weight, corrected, x_q.scale)
            quantized[layer.name] = QuantizedLayer(output=out_q, weight=q_weight, weight_scale=w_scales,
                                                   weight_zero_point=np.zeros(w_scales.size, np.int32), bias=q_bias)
            dequantized_params[layer.name] = {"weight": dequantized(q_weight, w_scales),
                                              "bias": dequantized(q_bias, b_scales)}
        x_q = out_q
    softmax = SOFTMAX_OUTPUT if layers[-1].type == LayerType.FC else None
    return Quantization(SCHEME, input_q, quantized, softmax=softmax), dequantized_params


def quantize(net: MobileNetV1, calibration: Calibration, *, method: str = "minmax",
             percentile: float = DEFAULT_PERCENTILE, bias_correction: bool = True,
             logit_headroom: float = DEFAULT_LOGIT_HEADROOM, layout: str = "NHWC",
             batch_size: int = CALIBRATION_BATCH) -> MobileNetV1:
    """The int8 network of a float one; see MobileNetV1.quantize."""
    from .model import MobileNetV1
    if net.precision == "int8":
        raise ValueError("this network is already int8 (its scheme: net.quantization); quantize a float network")
    method, percentile = check_method(method, percentile)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    def check(x: np.ndarray) -> np.ndarray:
        x = net._check_input(x, layout)
        return x.transpose(0, 2, 3, 1) if layout == Layout.NCHW else x

    batches = calibration_batches(calibration, check, int(batch_size))
    if not isinstance(bias_correction, (bool, np.bool_)):
        raise TypeError(f"bias_correction must be True or False, got {bias_correction!r}")
    calibrated = calibrate(net.layers, net.params, batches, method=method, percentile=percentile,
                           isa=net.isa, threads=net.threads)
    if isinstance(logit_headroom, bool) or not isinstance(logit_headroom, (int, float, np.integer, np.floating)):
        raise TypeError(f"logit_headroom must be a number, got {type(logit_headroom).__name__}")
    if not 1.0 <= float(logit_headroom) <= 16.0:
        raise ValueError(f"logit_headroom must be between 1 and 16, got {logit_headroom}")
    quant, params = quantized_scheme(net.layers, net.params, calibrated, bias_correction=bool(bias_correction),
                                     logit_headroom=float(logit_headroom))
    quant.extra.update({"calibration": method, "percentile": percentile if method == "percentile" else None,
                        "calibration_images": calibrated.images, "bias_correction": bool(bias_correction),
                        "logit_headroom": float(logit_headroom)})
    skip = {"layers", "params", "precision", "quantization", "num_classes", "activation", "_engine"}
    attributes = {key: value for key, value in vars(net).items() if key not in skip}
    try:
        return MobileNetV1.from_layers(net.layers, params, threads=net.threads, backend=net.backend, isa=net.isa,
                                       precision="int8", quantization=quant, **attributes)
    except ValueError as e:
        raise ValueError(f"the calibrated ranges give no int8 network: {e}") from e
