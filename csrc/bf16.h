// bfloat16 as the engine rounds it: the top 16 bits of a float32, rounded to
// nearest even, with denormals flushed to zero and NaN kept quiet. This is
// what AVX512_BF16's vcvtne2ps2bf16 does, so the packing, the scalar reference
// kernel and the tests round every value the same way the hardware does.
#pragma once
#include <cstdint>
#include <cstring>

namespace mobilenet {

inline uint16_t bf16_from_float(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);  // zero or denormal: signed zero
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN stays NaN, quiet
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);  // nearest, ties to even (overflow: Inf)
}

inline float float_from_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Two bf16 values in one 32-bit word, the first in the low half: the unit a
// bf16 dot product instruction (vdpbf16ps, bfdot) multiplies pairwise.
inline uint32_t bf16_pair(float first, float second) {
  return uint32_t{bf16_from_float(first)} | (uint32_t{bf16_from_float(second)} << 16);
}

}  // namespace mobilenet
