"""TFLite's integer scheme: what an int8 network's tensors and layers are quantized with, and the
fixed-point arithmetic of TFLite's reference kernels that turns int32 sums back into 8 bits.

real = (q - zero_point) * scale for every tensor. Activations are uint8 (per-tensor, TF1
quantization-aware training) or int8 (TF2 post-training quantization); weights are uint8 per
tensor or int8 per output channel (zero point 0); biases are int32 with scale input_scale *
weight_scale and zero point 0.

The integer arithmetic (as TFLite's reference kernels, tensorflow/lite/kernels/internal):
  - a layer sums (x - x_zp) * (w - w_zp) in int32, adds the bias, then rescales by
    input_scale * weight_scale / output_scale, a "quantized multiplier": a Q31 integer and a
    power-of-two exponent (`quantize_multiplier`), applied by `multiply_by_quantized_multiplier`
    (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT); for per-tensor uint8 layers
    the scale product input_scale * weight_scale is rounded to float32 first, as TFLite's
    GetQuantizedConvolutionMultipler does (in double, 1 output in 10^4 differs);
  - it adds the output zero point and clamps to the activation's range in the quantized domain
    (`activation_range`: ReLU6 is [zp, zp + round(6 / scale)] within the type's range);
  - the average pool rounds half away from zero (uint8: half up); MEAN rescales its sum with
    the division folded into the multiplier (`mean_multiplier`);
  - the softmax is gemmlowp's fixed-point exp and reciprocal (`softmax`).

The functions work on NumPy int64 arrays holding int32 values, written plainly: they are
the oracle's, and the engine takes the multipliers, shifts and ranges computed here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
import numpy.typing as npt

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
DTYPES = {"uint8": (0, 255), "int8": (-128, 127)}


@dataclass(frozen=True)
class QParams:
    """One tensor's quantization: real = (q - zero_point) * scale, q of `dtype` ("uint8" or "int8").

    `scale` holds a float32 value (TFLite stores float32 scales; the arithmetic promotes them to double)."""

    scale: float
    zero_point: int
    dtype: str

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"quantized type must be uint8 or int8, got {self.dtype!r}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"quantization scale {self.scale} is not a positive finite number")
        lo, hi = DTYPES[self.dtype]
        if not lo <= self.zero_point <= hi:
            raise ValueError(f"zero point {self.zero_point} is out of the {self.dtype} range {lo}..{hi}")

    @property
    def qmin(self) -> int:
        return DTYPES[self.dtype][0]

    @property
    def qmax(self) -> int:
        return DTYPES[self.dtype][1]

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def storage_offset(self) -> int:
        """What the engine's uint8 storage adds to a value: 128 for int8, 0 for uint8."""
        return 128 if self.dtype == "int8" else 0

    def quantize(self, x: npt.ArrayLike) -> np.ndarray:
        """TFLite's QUANTIZE (reference kernel): zero_point + round(x / scale), half away from zero, clamped."""
        scaled = np.asarray(x, np.float32) / np.float32(self.scale)
        # beyond +-512 every zero point clamps; clipping first keeps huge values off int64's edge
        scaled = np.clip(scaled, np.float32(-512), np.float32(512))
        q: np.ndarray = round_half_away(scaled).astype(np.int64) + self.zero_point
        return np.clip(q, self.qmin, self.qmax).astype(self.numpy_dtype)

    def dequantize(self, q: npt.ArrayLike) -> np.ndarray:
        """TFLite's DEQUANTIZE: (q - zero_point) * scale in float32."""
        return ((np.asarray(q, np.int32) - np.int32(self.zero_point)).astype(np.float32)
                * np.float32(self.scale))


@dataclass
class QuantizedLayer:
    """One layer's integer parameters, weights in our layouts (output channels last).

    weight: the stored integers (uint8 or int8 array); weight_scale / weight_zero_point: one
    value, or one per output channel; bias: int32 or None. output: the layer's output tensor;
    the input is the previous layer's output (or the network's input)."""

    output: QParams
    weight: Optional[np.ndarray] = None
    weight_scale: Optional[np.ndarray] = None
    weight_zero_point: Optional[np.ndarray] = None
    bias: Optional[np.ndarray] = None
    # Where the layer's output lives in the source file (a TFLite tensor index), for tests.
    tensor: Optional[int] = None
    # A pooling layer read from MEAN, which rescales (input to output scale) and averages
    # values less their zero point; AVERAGE_POOL_2D keeps the scale and averages the values.
    mean: bool = False


@dataclass
class Quantization:
    """A network's integer scheme: `scheme` is "per-tensor uint8" or "per-channel int8".

    input: the network input's quantization (its type is what `net(x)` accepts besides float32);
    layers: per layer name; softmax: the quantized softmax's output, None where the network
    ends without one (an embedding, or logits)."""

    scheme: str
    input: QParams
    layers: Dict[str, QuantizedLayer]
    softmax: Optional[QParams] = None
    softmax_tensor: Optional[int] = None
    input_tensor: Optional[int] = None
    # The file's own input / output types where they differ from the layers' by a QUANTIZE
    # (uint8 <-> int8, the same values): net(x) takes and returns those.
    io_input: Optional[QParams] = None
    io_output: Optional[QParams] = None
    extra: Dict[str, object] = field(default_factory=dict)

    @property
    def output(self) -> QParams:
        """The network output's quantization (the softmax's, or the last layer's; the file's type)."""
        if self.io_output is not None:
            return self.io_output
        if self.softmax is not None:
            return self.softmax
        return list(self.layers.values())[-1].output

    def __repr__(self) -> str:
        return (f"Quantization({self.scheme!r}, input {self.input.dtype} scale {self.input.scale:g} "
                f"zp {self.input.zero_point}, output {self.output.dtype}, {len(self.layers)} layers)")


# ------------------------------------------------------------------ the fixed-point arithmetic

def round_half_away(x: npt.ArrayLike) -> np.ndarray:
    """std::round: halves away from zero (NumPy's round goes to even). The fraction x - trunc(x) is
    exact, so this also keeps 0.49999997 at 0 and 2^23 + 1 odd, where floor(|x| + 0.5) does not."""
    x = np.asarray(x)
    whole = np.trunc(x)
    return whole + np.sign(x) * (np.abs(x - whole) >= 0.5)


def quantize_multiplier(real: float) -> Tuple[int, int]:
    """TFLite's QuantizeMultiplier: (q, shift) with real ~= q * 2^(shift - 31), q a Q31 in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    if not (math.isfinite(real) and real > 0):
        raise ValueError(f"quantized multiplier {real} is not a positive finite number")
    mantissa, shift = math.frexp(real)
    q = int(np.sign(mantissa) * math.floor(abs(mantissa) * (1 << 31) + 0.5))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"quantized multiplier {real} is too large")
    return q, shift


def _c_div_pow2_31(x: npt.ArrayLike) -> np.ndarray:
    """x / 2^31 with C's truncation toward zero."""
    return np.where(x >= 0, x >> 31, -((-x) >> 31))


def saturating_rounding_doubling_high_mul(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    result = _c_div_pow2_31(ab + nudge)
    return np.where((a == b) & (a == INT32_MIN), INT32_MAX, result)


def rounding_divide_by_pot(x: npt.ArrayLike, exponent: npt.ArrayLike) -> np.ndarray:
    """x / 2^exponent rounded to nearest, halves away from zero (exponent 0..31)."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: npt.ArrayLike, multiplier: npt.ArrayLike, shift: npt.ArrayLike) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (per tensor or, broadcast, per channel):
    SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT (halves away from zero)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(np.asarray(x, np.int64) * (np.int64(1) << left))
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def wrap_int32(x: npt.ArrayLike) -> np.ndarray:
    """Two's complement int32 wrap-around of int64 values."""
    return ((np.asarray(x, np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def activation_range(activation: str, out: QParams) -> Tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized: the fused activation as a clamp in the quantized domain."""
    def quantize(f: float) -> int:
        return out.zero_point + int(round_half_away(np.float32(f) / np.float32(out.scale)))

    if activation == "relu":
        return max(out.qmin, quantize(0.0)), out.qmax
    if activation == "relu6":
        return max(out.qmin, quantize(0.0)), min(out.qmax, quantize(6.0))
    if activation == "none":
        return out.qmin, out.qmax
    raise ValueError(f"unsupported fused activation {activation!r} in an integer network")


def mean_multiplier(input_scale: float, output_scale: float, pixels: int) -> Tuple[int, int]:
    """TFLite's quantized MEAN over `pixels` values: the input-to-output rescale with the division
    folded in (QuantizedMeanOrSum: the multiplier shifted left by floor(log2(pixels)), at most 32
    and 31 + shift, then divided by pixels, truncating)."""
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    bits = min(pixels.bit_length() - 1, 32, 31 + shift)
    return (multiplier << bits) // pixels, shift - bits


def conv_multipliers(input_scale: float, weight_scale: npt.ArrayLike, output_scale: float,
                     dtype: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per output channel (or one): the quantized multiplier and shift of input * weight / output scale
    as TFLite computes them from the float32 scales: for uint8 layers the product in float32
    (GetQuantizedConvolutionMultipler), for int8 ones in double (PopulateConvolutionQuantizationParams,
    per channel, or one scale broadcast). dtype: the activations' type; None decides by the count of
    weight scales (one: uint8's rule)."""
    mults, shifts = [], []
    scales = np.asarray(weight_scale, np.float32).reshape(-1)
    float32_product = dtype == "uint8" if dtype is not None else scales.size == 1
    for ws in scales:
        if float32_product:
            product = float(np.float32(input_scale) * ws)
        else:
            product = float(np.float32(input_scale)) * float(ws)
        q, s = quantize_multiplier(product / float(np.float32(output_scale)))
        mults.append(q)
        shifts.append(s)
    return np.array(mults, np.int64), np.array(shifts, np.int64)


# ------------------------------------------------------------------ gemmlowp fixed point (softmax)

def _srdhm(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(a, b)


def _mul_by_pot(x: npt.ArrayLike, exponent: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> on int32 raw values."""
    x = np.asarray(x, np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    result = wrap_int32(x << exponent)
    result = np.where(x > threshold, INT32_MAX, result)
    return np.where(x < -threshold, INT32_MIN, result)


def _rescale(x: npt.ArrayLike, src_bits: int, dst_bits: int) -> np.ndarray:
    return _mul_by_pot(x, src_bits - dst_bits)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: npt.ArrayLike) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap_int32(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _mul_by_pot(x4, -2)
    poly = _mul_by_pot(wrap_int32(_srdhm(wrap_int32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return wrap_int32(constant_term + _srdhm(constant_term, wrap_int32(x + poly)))


def exp_on_negative_values(a: npt.ArrayLike, integer_bits: int) -> np.ndarray:
    """gemmlowp's exp_on_negative_values: exp(a) for a <= 0 given with `integer_bits`, as Q0.31."""
    a = np.asarray(a, np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = wrap_int32((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    barrel = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
              (3, 720401), (4, 242))
    for exponent, multiplier in barrel:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, _srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _one_over_one_plus_x_for_x_in_0_1(a: npt.ArrayLike) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: Newton-Raphson in Q2.29."""
    a = np.asarray(a, np.int64)
    s: np.ndarray = a + INT32_MAX  # RoundingHalfSum(a, One): (sum + sign) / 2 truncated
    half_denominator = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    one_q2 = 1 << 29
    x = wrap_int32(constant_48_over_17 + _srdhm(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = _srdhm(half_denominator, x)
        one_minus = wrap_int32(one_q2 - half_denominator_times_x)
        x = wrap_int32(x + _rescale(_srdhm(x, one_minus), 4, 2))
    # ExactMulByPot<-1> (Q2 -> Q1, same raw), then Rescale<0> from 1 integer bit.
    return _rescale(x, 1, 0)


def _count_leading_zeros_u32(x: npt.ArrayLike) -> np.ndarray:
    """Leading zero bits of x as a uint32 (values below 2^32 are exact in float64)."""
    x = np.asarray(x, np.int64) & 0xFFFFFFFF
    _, bit_length = np.frexp(x.astype(np.float64))
    return 32 - bit_length.astype(np.int64)


SOFTMAX_DIFF_INTEGER_BITS = 5
SOFTMAX_ACCUMULATION_INTEGER_BITS = 12


def softmax_parameters(input_scale: float, beta: float = 1.0) -> Tuple[int, int, int]:
    """(input multiplier, input left shift, diff_min) as TFLite's softmax Prepare computes them
    (PreprocessSoftmaxScaling, CalculateInputRadius) for 5 integer bits of scaled difference."""
    bits = SOFTMAX_DIFF_INTEGER_BITS
    real = min(beta * float(np.float32(input_scale)) * (1 << (31 - bits)), (1 << 31) - 1.0)
    multiplier, shift = quantize_multiplier(real)  # QuantizeMultiplierGreaterThanOne
    if shift < 0:
        raise ValueError(f"softmax input scale {input_scale} is too small for TFLite's integer softmax")
    radius = math.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << shift))
    return multiplier, shift, -radius


def softmax(q: npt.ArrayLike, input_scale: float, out: QParams, beta: float = 1.0) -> np.ndarray:
    """TFLite's reference quantized softmax over the last axis of q (uint8 or int8), into out's type."""
    multiplier, left_shift, diff_min = softmax_parameters(input_scale, beta)
    x = np.asarray(q, np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    valid = diff >= diff_min
    rescaled = saturating_rounding_doubling_high_mul(wrap_int32(diff * (1 << left_shift)), multiplier)
    exps = exp_on_negative_values(np.where(valid, rescaled, 0), SOFTMAX_DIFF_INTEGER_BITS)
    acc_bits = SOFTMAX_ACCUMULATION_INTEGER_BITS
    terms = np.where(valid, _rescale(exps, 0, acc_bits), 0)
    sum_of_exps = wrap_int32(terms.sum(axis=-1, keepdims=True))
    headroom_plus_one = _count_leading_zeros_u32(sum_of_exps)
    num_bits_over_unit: np.ndarray = acc_bits - headroom_plus_one
    shifted_sum_minus_one = wrap_int32(((sum_of_exps << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    shifted_scale = _one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    out_bits = 8
    unsat = rounding_divide_by_pot(_srdhm(shifted_scale, exps), num_bits_over_unit + 31 - out_bits)
    shifted: np.ndarray = unsat + out.qmin
    result = np.where(valid, np.clip(shifted, out.qmin, out.qmax), out.qmin)
    return result.astype(out.numpy_dtype)
