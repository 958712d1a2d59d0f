// One vector type per instruction set, with the handful of operations the
// kernels need. Included only from a kernels_<isa>.cpp translation unit, inside
// that ISA's own namespace, after it defines exactly one MBN_VEC_* macro, so
// the same kernel templates compile once per ISA without ODR clashes.

#if defined(MBN_VEC_AVX512)

struct Vec {
  static constexpr int width = 16;
  __m512 v;
  static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static Vec broadcast(float x) { return {_mm512_set1_ps(x)}; }
  static Vec zero() { return {_mm512_setzero_ps()}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v); }
};
inline Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec add(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
inline Vec mul(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
// max/min return their second operand when either is NaN: x goes second so a
// NaN activation propagates instead of being clamped away.
inline Vec clamp(Vec x, Vec lo, Vec hi) { return {_mm512_min_ps(hi.v, _mm512_max_ps(lo.v, x.v))}; }
inline Vec clamp_below(Vec x, Vec lo) { return {_mm512_max_ps(lo.v, x.v)}; }

#elif defined(MBN_VEC_AVX2)

struct Vec {
  static constexpr int width = 8;
  __m256 v;
  static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec broadcast(float x) { return {_mm256_set1_ps(x)}; }
  static Vec zero() { return {_mm256_setzero_ps()}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const {
    alignas(32) static const int32_t mask_source[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask_source + 8 - n));
    _mm256_maskstore_ps(p, mask, v);
  }
};
inline Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec add(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Vec mul(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vec clamp(Vec x, Vec lo, Vec hi) { return {_mm256_min_ps(hi.v, _mm256_max_ps(lo.v, x.v))}; }
inline Vec clamp_below(Vec x, Vec lo) { return {_mm256_max_ps(lo.v, x.v)}; }

#elif defined(MBN_VEC_NEON)

struct Vec {
  static constexpr int width = 4;
  float32x4_t v;
  static Vec load(const float* p) { return {vld1q_f32(p)}; }
  static Vec broadcast(float x) { return {vdupq_n_f32(x)}; }
  static Vec zero() { return {vdupq_n_f32(0.0f)}; }
  void store(float* p) const { vst1q_f32(p, v); }
  void store_partial(float* p, int n) const {
    if (n > 0) vst1q_lane_f32(p, v, 0);
    if (n > 1) vst1q_lane_f32(p + 1, v, 1);
    if (n > 2) vst1q_lane_f32(p + 2, v, 2);
  }
};
inline Vec fmadd(Vec a, Vec b, Vec c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
inline Vec add(Vec a, Vec b) { return {vaddq_f32(a.v, b.v)}; }
inline Vec mul(Vec a, Vec b) { return {vmulq_f32(a.v, b.v)}; }
// vmaxq/vminq propagate NaN from either operand.
inline Vec clamp(Vec x, Vec lo, Vec hi) { return {vminq_f32(hi.v, vmaxq_f32(lo.v, x.v))}; }
inline Vec clamp_below(Vec x, Vec lo) { return {vmaxq_f32(lo.v, x.v)}; }

#elif defined(MBN_VEC_SCALAR)

struct Vec {
  static constexpr int width = 1;
  float v;
  static Vec load(const float* p) { return {*p}; }
  static Vec broadcast(float x) { return {x}; }
  static Vec zero() { return {0.0f}; }
  void store(float* p) const { *p = v; }
  void store_partial(float* p, int n) const {
    if (n > 0) *p = v;
  }
};
inline Vec fmadd(Vec a, Vec b, Vec c) { return {a.v * b.v + c.v}; }
inline Vec add(Vec a, Vec b) { return {a.v + b.v}; }
inline Vec mul(Vec a, Vec b) { return {a.v * b.v}; }
inline Vec clamp(Vec x, Vec lo, Vec hi) {
  // Written so that a NaN x propagates, like the SIMD versions.
  float y = x.v < lo.v ? lo.v : x.v;
  return {y > hi.v ? hi.v : y};
}
inline Vec clamp_below(Vec x, Vec lo) { return {x.v < lo.v ? lo.v : x.v}; }

#else
#error "define one MBN_VEC_* macro before including simd_vec.h"
#endif
