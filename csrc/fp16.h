// IEEE half precision (float16) as the engine rounds it: to nearest, ties to
// even, subnormals kept (FPCR.FZ16 = 0, Linux's default), as Armv8.2's FP16
// arithmetic and FCVTN do. The scalar reference kernels compute each fp16
// operation here exactly in double and round once: a product of two halves
// is exact in double, and so is a half plus such a product wherever the sum
// is finite in fp16 (its bits span at most 41 places), so fp16_fma rounds
// once, as FMLA does.
#pragma once
#include <cstdint>
#include <cstring>

namespace mobilenet {

// x rounded to the nearest half (ties to even); beyond 65520 in magnitude: Inf.
inline uint16_t fp16_from_double(double x) {
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  const uint16_t sign = static_cast<uint16_t>((u >> 48) & 0x8000u);
  const uint64_t a = u & 0x7fffffffffffffffull;
  if (a >= 0x7ff0000000000000ull)  // Inf, or NaN (kept quiet, with its top payload bits)
    return static_cast<uint16_t>(sign | 0x7c00u | (a > 0x7ff0000000000000ull ? 0x0200u | ((a >> 42) & 0x3ffu) : 0u));
  const int exponent = static_cast<int>(a >> 52) - 1023;
  if (exponent >= 16) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exponent < -25) return sign;  // below half the smallest subnormal: zero
  const uint64_t significand = (a & 0xfffffffffffffull) | (1ull << 52);
  const int shift = 42 + (exponent < -14 ? -14 - exponent : 0);
  uint64_t r = significand >> shift;
  const uint64_t rest = significand & ((1ull << shift) - 1), half = 1ull << (shift - 1);
  if (rest > half || (rest == half && (r & 1u))) ++r;
  // r holds the implicit bit at 1024 for normal results, so a carry moves into the exponent (and up to Inf).
  if (exponent < -14) return static_cast<uint16_t>(sign | r);
  return static_cast<uint16_t>(sign | ((static_cast<uint64_t>(exponent + 14) << 10) + r));
}

inline uint16_t fp16_from_float(float x) { return fp16_from_double(static_cast<double>(x)); }

inline double double_from_fp16(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  double v;
  if (exponent == 0)
    v = mantissa * (1.0 / 16777216.0);  // subnormal: m * 2^-24
  else if (exponent == 31)
    v = mantissa ? __builtin_nan("") : __builtin_inf();
  else
    v = __builtin_ldexp(static_cast<double>(1024 + mantissa), exponent - 25);
  return (h & 0x8000u) ? -v : v;
}

inline float float_from_fp16(uint16_t h) { return static_cast<float>(double_from_fp16(h)); }

// c + a * b, rounded once; a * b; a + b.
inline uint16_t fp16_fma(uint16_t a, uint16_t b, uint16_t c) {
  return fp16_from_double(double_from_fp16(c) + double_from_fp16(a) * double_from_fp16(b));
}
inline uint16_t fp16_mul(uint16_t a, uint16_t b) { return fp16_from_double(double_from_fp16(a) * double_from_fp16(b)); }
inline uint16_t fp16_add(uint16_t a, uint16_t b) { return fp16_from_double(double_from_fp16(a) + double_from_fp16(b)); }

}  // namespace mobilenet
