// TFLite's reference quantized softmax (beta 1, 5 integer bits of scaled
// difference, 12 of accumulation): gemmlowp's fixed-point exp and reciprocal,
// scalar. Values are the engine's uint8 storage (see kernels.h): differences
// from the row maximum, and the output (the unsaturated result plus the
// type's minimum, stored + 128 for int8), do not depend on the type.
#include "softmax_int8.h"

#include <cstdint>

namespace mobilenet {

namespace {

// Wrapping int32 arithmetic, as gemmlowp's on int32 (no undefined overflow here).
int32_t add(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
int32_t sub(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)); }

int32_t srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = int64_t{a} * b;
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30);
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// RoundingDivideByPOT in 64 bits (the oracle's; exponents above 31 only for near-uniform rows).
int64_t rounding_divide(int64_t x, int exponent) {
  const int64_t mask = (int64_t{1} << exponent) - 1, remainder = x & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// SaturatingRoundingMultiplyByPOT<exponent>.
int32_t multiply_by_pot(int32_t x, int exponent) {
  if (exponent < 0) return static_cast<int32_t>(rounding_divide(x, -exponent));
  if (exponent == 0) return x;
  const int32_t threshold = static_cast<int32_t>((int64_t{1} << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

// exp(a) for a in [-1/4, 0), Q0.31.
int32_t exp_on_interval(int32_t a) {
  const int32_t constant_term = 1895147668, one_third = 715827883;
  const int32_t x = add(a, 1 << 28);
  const int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
  const int32_t poly = multiply_by_pot(add(srdhm(add(multiply_by_pot(x4, -2), x3), one_third), x2), -1);
  return add(constant_term, srdhm(constant_term, add(x, poly)));
}

constexpr int kDiffIntegerBits = 5, kAccumulationIntegerBits = 12;

// exp(a) for a <= 0 in Q5.26, as Q0.31.
int32_t exp_on_negative_values(int32_t a) {
  constexpr int fractional = 31 - kDiffIntegerBits;
  const int32_t one_quarter = 1 << (fractional - 2);
  const int32_t a_mod_quarter_minus_one_quarter = sub(a & (one_quarter - 1), one_quarter);
  int32_t result = exp_on_interval(multiply_by_pot(a_mod_quarter_minus_one_quarter, kDiffIntegerBits));
  const int32_t remainder = sub(a_mod_quarter_minus_one_quarter, a);
  const struct {
    int exponent;
    int32_t multiplier;
  } barrel[] = {{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308},
                {2, 39332535},    {3, 720401},      {4, 242}};
  for (const auto& b : barrel)
    if (remainder & (int32_t{1} << (fractional + b.exponent))) result = srdhm(result, b.multiplier);
  return a == 0 ? INT32_MAX : result;
}

// 1 / (1 + a) for a in [0, 1), Q0.31: Newton-Raphson in Q2.29.
int32_t one_over_one_plus_x(int32_t a) {
  const int64_t sum = int64_t{a} + INT32_MAX;
  const int32_t half_denominator = static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = add(1515870810, srdhm(half_denominator, -1010580540));
  for (int i = 0; i < 3; ++i) {
    const int32_t one_minus = sub(1 << 29, srdhm(half_denominator, x));
    x = add(x, multiply_by_pot(srdhm(x, one_minus), 2));
  }
  return multiply_by_pot(x, 1);
}

}  // namespace

void softmax_int8_rows(const uint8_t* in, int rows, int64_t cols, int32_t input_multiplier, int input_left_shift,
                       int diff_min, uint8_t* out) {
  // Every value depends only on its distance d = top - x from the row's maximum, and d < 256:
  // the fixed-point exp and the output are computed once per distance that occurs, then looked up.
  int32_t exp_of[256];
  uint8_t out_of[256];
  for (int r = 0; r < rows; ++r) {
    const uint8_t* x = in + r * cols;
    uint8_t* y = out + r * cols;
    int32_t top = 0;
    for (int64_t c = 0; c < cols; ++c) top = x[c] > top ? x[c] : top;
    uint32_t count[256] = {};  // wraps as the reference's sum does
    for (int64_t c = 0; c < cols; ++c) ++count[top - x[c]];
    int32_t sum = 0;
    for (int32_t d = 0; d <= top; ++d) {
      exp_of[d] = 0;
      if (count[d] == 0 || -d < diff_min) continue;  // d >= -diff_min: the shifted product fits int32
      exp_of[d] = exp_on_negative_values(srdhm(-d * (int32_t{1} << input_left_shift), input_multiplier));
      // the sum in the reference's order: wrapping adds commute
      const int32_t term = multiply_by_pot(exp_of[d], -kAccumulationIntegerBits);
      sum = add(sum, static_cast<int32_t>(static_cast<uint32_t>(term) * count[d]));
    }
    const int headroom = sum == 0 ? 32 : __builtin_clz(static_cast<uint32_t>(sum));
    const int bits_over_unit = kAccumulationIntegerBits - headroom;
    const int32_t shifted_sum_minus_one =
        static_cast<int32_t>((headroom >= 32 ? 0u : static_cast<uint32_t>(sum) << headroom) - (uint32_t{1} << 31));
    const int32_t scale = one_over_one_plus_x(shifted_sum_minus_one);
    for (int32_t d = 0; d <= top; ++d) {
      int64_t v = 0;
      if (count[d] != 0 && -d >= diff_min) v = rounding_divide(srdhm(scale, exp_of[d]), bits_over_unit + 31 - 8);
      out_of[d] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
    for (int64_t c = 0; c < cols; ++c) y[c] = out_of[top - x[c]];
  }
}

}  // namespace mobilenet
