// The pieces both AArch64 int8 translation units share (kernels_neon.cpp, the
// plain Advanced SIMD kernels, and kernels_neon_int8dot.cpp, the ARMv8.2 dot
// product ones): TFLite's requantization of four int32 sums and the narrowing
// stores. Included inside each unit's own (anonymous) namespace, so no inline
// function compiled for the dot product is shared with the baseline unit.

// TFLite's MultiplyByQuantizedMultiplier on 4 lanes, then the output zero point
// and the clamp, exactly as int8_requantize: the left shift wraps (sshl); the
// doubling high multiply is sqrdmulh, which rounds half up as gemmlowp's
// SaturatingRoundingDoublingHighMul does (their one saturating case agrees
// too); RoundingDivideByPOT is gemmlowp's NEON form: subtracting 1 from a
// negative value before the rounding shift (srshl, half up) rounds halves
// away from zero.
inline int32x4_t int8_requantize4(int32x4_t acc, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                                  int32x4_t out_zero_point, int32x4_t act_min, int32x4_t act_max) {
  const int32x4_t zero = vdupq_n_s32(0), s = vld1q_s32(shift);
  int32x4_t x = vaddq_s32(acc, vld1q_s32(bias));
  x = vshlq_s32(x, vmaxq_s32(s, zero));
  x = vqrdmulhq_s32(x, vld1q_s32(multiplier));
  const int32x4_t right = vminq_s32(s, zero);  // minus the right shift
  const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, right), 31);
  x = vrshlq_s32(vqaddq_s32(x, fixup), right);
  x = vaddq_s32(x, out_zero_point);
  return vminq_s32(vmaxq_s32(x, act_min), act_max);
}

// The requantization's per-layer constants, in lanes.
struct Int8NeonOut {
  int32x4_t zero_point, lo, hi;
  explicit Int8NeonOut(const Int8Requant& rq)
      : zero_point(vdupq_n_s32(rq.out_zero_point)), lo(vdupq_n_s32(rq.act_min)), hi(vdupq_n_s32(rq.act_max)) {}
};

// Four vectors of values in [0, 255] as 16 bytes, in order.
inline uint8x16_t int8_narrow16(int32x4_t q0, int32x4_t q1, int32x4_t q2, int32x4_t q3) {
  const int16x8_t lo = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
  const int16x8_t hi = vcombine_s16(vqmovn_s32(q2), vqmovn_s32(q3));
  return vcombine_u8(vqmovun_s16(lo), vqmovun_s16(hi));
}

// The first n (<= 16) bytes of v.
inline void int8_store_n(uint8_t* out, uint8x16_t v, int n) {
  if (n >= 16) {
    vst1q_u8(out, v);
    return;
  }
  alignas(16) uint8_t tmp[16];
  vst1q_u8(tmp, v);
  for (int j = 0; j < n; ++j) out[j] = tmp[j];
}

// One row's 16 sums of a GEMM panel (columns n0..n0+15) requantized and
// stored: plus col_offset times the row's sum where the weights have column
// offsets, plus extra[j] where the kernel's products need a constant (or null).
inline void int8_neon_store_panel(const Int8GemmArgs& g, uint8_t* c, int n0, const int32x4_t (&acc)[4], int32_t row_sum,
                                  const int32_t* extra, const Int8NeonOut& o) {
  int32x4_t q[4];
  for (int v = 0; v < 4; ++v) {
    int32x4_t sum = acc[v];
    if (g.has_col_offset) sum = vmlaq_n_s32(sum, vld1q_s32(g.col_offset + n0 + 4 * v), row_sum);
    if (extra != nullptr) sum = vaddq_s32(sum, vld1q_s32(extra + n0 + 4 * v));
    const int at = n0 + 4 * v;
    q[v] = int8_requantize4(sum, g.rq.bias + at, g.rq.multiplier + at, g.rq.shift + at, o.zero_point, o.lo, o.hi);
  }
  int8_store_n(c + n0, int8_narrow16(q[0], q[1], q[2], q[3]), g.n - n0);
}

inline int32_t int8_neon_row_sum(const Int8GemmArgs& g, int i) {
  const uint8_t* a = g.a + int64_t{i} * g.lda;
  int32_t s = 0;
  for (int kk = 0; kk < g.k; ++kk) s += a[kk];
  return s;
}

// Depthwise 3x3 at one output pixel, channels [c_begin, channels) 16 at a
// time: x - zero point (usubl) times the int16 weights, widened and summed
// in int32 (smlal), over the taps inside the image. Reads whole vectors at
// the channel tail (the buffers' readable slack).
inline void int8_neon_dw_pixel(const Int8ConvArgs& a, int oy, int ox, uint8_t* out, int c_begin, const Int8NeonOut& o) {
  const int channels = a.in_c, cp = a.channels_padded;
  const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
  const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a.in_h - iy0 < 3 ? a.in_h - iy0 : 3;
  const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a.in_w - ix0 < 3 ? a.in_w - ix0 : 3;
  const uint8x16_t zp = vdupq_n_u8(static_cast<uint8_t>(a.in_zero_point));
  for (int c0 = c_begin; c0 < channels; c0 += 16) {
    int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int ky = ky0; ky < ky1; ++ky)
      for (int kx = kx0; kx < kx1; ++kx) {
        const uint8x16_t x = vld1q_u8(a.input + (int64_t{iy0 + ky} * a.in_w + ix0 + kx) * channels + c0);
        const int16x8_t lo = vreinterpretq_s16_u16(vsubl_u8(vget_low_u8(x), vget_low_u8(zp)));
        const int16x8_t hi = vreinterpretq_s16_u16(vsubl_high_u8(x, zp));
        const int16_t* w = a.weights + int64_t{ky * 3 + kx} * cp + c0;
        const int16x8_t w0 = vld1q_s16(w), w1 = vld1q_s16(w + 8);
        acc[0] = vmlal_s16(acc[0], vget_low_s16(lo), vget_low_s16(w0));
        acc[1] = vmlal_high_s16(acc[1], lo, w0);
        acc[2] = vmlal_s16(acc[2], vget_low_s16(hi), vget_low_s16(w1));
        acc[3] = vmlal_high_s16(acc[3], hi, w1);
      }
    int32x4_t q[4];
    for (int v = 0; v < 4; ++v) {
      const int at = c0 + 4 * v;
      q[v] = int8_requantize4(acc[v], a.rq.bias + at, a.rq.multiplier + at, a.rq.shift + at, o.zero_point, o.lo, o.hi);
    }
    int8_store_n(out + c0, int8_narrow16(q[0], q[1], q[2], q[3]), channels - c0);
  }
}
