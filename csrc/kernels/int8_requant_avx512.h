// TFLite's requantization on AVX-512, shared by the int8 kernels of the AVX-512
// table (int8_avx512.h) and the AMX int8 GEMM (kernels_amx_int8.cpp), so every
// kernel on this CPU ends with the same epilogue. Included inside each one's namespace.

// TFLite's MultiplyByQuantizedMultiplier on 16 columns, prepared once per
// column: with x the (left-shifted) sum, p = x * multiplier (64-bit) and
// r = max(-shift, 0), gemmlowp's SaturatingRoundingDoublingHighMul is
// h = floor((p + 2^30) / 2^31) (its nudge 1 - 2^30 for p < 0, truncated toward
// zero, is that floor; the saturating case needs multiplier = INT32_MIN, never
// a Q31 multiplier >= 0), and RoundingDivideByPOT rounds h / 2^r half away from
// zero: floor((h + 2^(r-1) - [h < 0]) / 2^r) for r > 0. Nested floors of
// integers by powers of two are one floor, so the result is
// floor((p + 2^30 + 2^(30+r) - [p < 0] 2^31) / 2^(31+r)): one add, one
// conditional subtract, one arithmetic shift of the 64-bit product. ([p < 0]
// for [h < 0]: they differ only where h = 0, and there both give 0.) The
// output zero point joins the add as zp 2^(31+r) where that cannot overflow.
struct alignas(64) Int8Rq16 {
  __m512i left;                   // 32-bit lanes: max(shift, 0)
  __m512i mul_even, mul_odd;      // multiplier of lanes 2i / 2i + 1, in the low half of qword i
  __m512i off_even, off_odd;      // qwords: 2^30 (+ 2^(30+r) + zp 2^(31+r))
  __m512i delta_even, delta_odd;  // qwords: 2^31 where r > 0, else 0
  __m512i shift_even, shift_odd;  // qwords: 31 + r
  bool any_left, zero_point_folded;
};

inline void int8_rq_prepare(const int32_t* multiplier, const int32_t* shift, int out_zero_point, Int8Rq16& c) {
  alignas(64) int32_t left[16], mul_odd[16] = {};
  alignas(64) int64_t off[16], delta[16], total[16];
  bool any_left = false, fold = true;
  for (int j = 0; j < 16; ++j) {
    const int r = shift[j] > 0 ? 0 : -shift[j];
    left[j] = shift[j] > 0 ? shift[j] : 0;
    any_left |= left[j] > 0;
    fold &= r <= 21;  // |p| < 2^62: the sum stays below 2^63
    off[j] = (int64_t{1} << 30) + (r > 0 ? int64_t{1} << (30 + r) : 0);
    delta[j] = r > 0 ? int64_t{1} << 31 : 0;
    total[j] = 31 + r;
  }
  if (fold)
    for (int j = 0; j < 16; ++j) off[j] += int64_t{out_zero_point} << total[j];
  for (int i = 0; i < 8; ++i) mul_odd[2 * i] = multiplier[2 * i + 1];
  auto qwords = [](const int64_t* v, int parity) {
    return _mm512_set_epi64(v[14 + parity], v[12 + parity], v[10 + parity], v[8 + parity], v[6 + parity], v[4 + parity],
                            v[2 + parity], v[parity]);
  };
  c.left = _mm512_load_si512(left);
  c.mul_even = _mm512_loadu_si512(multiplier);
  c.mul_odd = _mm512_load_si512(mul_odd);
  c.off_even = qwords(off, 0), c.off_odd = qwords(off, 1);
  c.delta_even = qwords(delta, 0), c.delta_odd = qwords(delta, 1);
  c.shift_even = qwords(total, 0), c.shift_odd = qwords(total, 1);
  c.any_left = any_left, c.zero_point_folded = fold;
}

// x: 16 sums with the bias in; the result: out_zero_point + the requantized sums (not clamped).
inline __m512i int8_rq_apply(__m512i x, const Int8Rq16& c, __m512i zero_point) {
  if (c.any_left) x = _mm512_sllv_epi32(x, c.left);  // wraps as TFLite's int32 does
  const __m512i pe = _mm512_mul_epi32(x, c.mul_even);
  const __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), c.mul_odd);
  __m512i te = _mm512_add_epi64(pe, c.off_even), to = _mm512_add_epi64(po, c.off_odd);
  te = _mm512_mask_sub_epi64(te, _mm512_movepi64_mask(pe), te, c.delta_even);
  to = _mm512_mask_sub_epi64(to, _mm512_movepi64_mask(po), to, c.delta_odd);
  te = _mm512_srav_epi64(te, c.shift_even);
  to = _mm512_srav_epi64(to, c.shift_odd);
  const __m512i interleave = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
  const __m512i r = _mm512_permutex2var_epi32(te, interleave, to);
  return c.zero_point_folded ? r : _mm512_add_epi32(r, zero_point);
}

// TFLite's requantization of 16 int32 sums (columns n0..n0+15), clamped.
inline __m512i int8_requantize16(__m512i acc, const Int8Requant& rq, int n0) {
  Int8Rq16 c;
  int8_rq_prepare(rq.multiplier + n0, rq.shift + n0, rq.out_zero_point, c);
  const __m512i x = _mm512_add_epi32(acc, _mm512_loadu_si512(rq.bias + n0));
  const __m512i r = int8_rq_apply(x, c, _mm512_set1_epi32(rq.out_zero_point));
  return _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(rq.act_min)), _mm512_set1_epi32(rq.act_max));
}

// 4 vectors of 16 requantized columns (unclamped int32) to 64 bytes in column
// order, clamped: the saturating packs keep the order of values, so clamping
// the bytes afterwards is the same as clamping the int32s ([act_min, act_max]
// lies in [0, 255]).
inline __m512i int8_pack64(__m512i q0, __m512i q1, __m512i q2, __m512i q3, __m512i act_min, __m512i act_max) {
  const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
  // Dword 4l + s holds columns 4l..4l+3 of q_s: transpose the 4 x 4 dwords.
  const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  return _mm512_min_epu8(_mm512_max_epu8(_mm512_permutexvar_epi32(order, bytes), act_min), act_max);
}
