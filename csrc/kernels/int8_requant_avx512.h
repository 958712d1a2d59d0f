// TFLite's requantization on AVX-512, shared by the int8 kernels of the AVX-512
// table (int8_avx512.h) and the AMX int8 GEMM (kernels_amx_int8.cpp), so every
// kernel on this CPU ends with the same epilogue. Included inside each one's namespace.
//
// TFLite's MultiplyByQuantizedMultiplier with multiplier M in [0, 2^31) (Q31:
// [2^30, 2^31), or 0) and shift in [-31, 30]: with x the (left-shifted) sum,
// p = x * M (64-bit) and r = max(-shift, 0), gemmlowp's
// SaturatingRoundingDoublingHighMul is h = floor((p + 2^30) / 2^31) (its
// nudge 1 - 2^30 for p < 0, truncated toward zero, is that floor; the
// saturating case needs M = INT32_MIN, never a Q31 multiplier >= 0), and
// RoundingDivideByPOT rounds h / 2^r half away from zero:
// floor((h + 2^(r-1) - [h < 0]) / 2^r) for r > 0. Nested floors of integers
// by powers of two are one floor, so with K = 2^30 + 2^(30+r) (r > 0; 2^30
// for r = 0) the result is
//   q = floor((p + K - c 2^31) / 2^(31+r)),   c = [p < 0] (r > 0; c = 0 for r = 0)
// and the output zero point joins the offset as zp 2^(31+r) where that cannot
// overflow. ([p < 0] for [h < 0]: they differ only where p is in [-2^30, 0),
// where the numerator lies in [0, 2^(31+r)) either way and q = 0.) Two
// evaluations of it, one chosen per 16 columns when their constants are prepared:
//
// The 32-bit one (every column with r >= 1; a column with M = 0 gives q = 0
// under any r >= 1 and takes r = 1): c = [x < 0] (equal to [p < 0] where
// M > 0; where M = 0 the numerator K - c 2^31 lies in [0, 2^(31+r)) either
// way). With T = p + K (+ zp 2^(31+r)), |T| < 2^63 (|p| < 2^62, the offset
// < 2^61 with r <= 21 and |zp| < 2^8; < 2^62 without the zero point), split
// into H = floor(T / 2^32) (its high dword) and L = T mod 2^32 (its low dword):
//   floor((T - c 2^31) / 2^32) = H - c [L < 2^31] = H - c (1 - bit 31 of L)
//   q (+ zp) = floor((H - c (1 - bit 31 of L)) / 2^(r-1))
// (nested floors again). Per 16 columns: vpmuldq on the even lanes and on the
// odd ones (moved down by a dword shuffle, port 5), two 64-bit adds, one
// vpermt2d gathering the high dwords back into column order (port 5), and one
// vpsravd; the correction c (1 - bit 31 of L) is a second vpermt2d (the low
// dwords), an and-not with x, an arithmetic shift by 31 and an add. Where the
// caller clamps the result at or above the zero point (act_min >= zp: every
// layer with a fused ReLU or ReLU6), the correction is left out: it lowers q
// only where x < 0, and there p <= 0 so T < K + zp 2^(31+r) <= (zp + 1)
// 2^(31+r) and both q + zp and the uncorrected value are <= zp, which the
// clamp turns into act_min alike. 7 instructions per 16 outputs then, 11 with
// the correction, against 12 for the 64-bit one.
//
// The 64-bit one (left shifts, r = 0, or r = 0 and r > 0 mixed): x shifted
// left (wrapping as TFLite's int32 does), then one add, a conditional
// subtract of 2^31 where p < 0 and r > 0, and one arithmetic shift by 31 + r
// of each 64-bit product. Tested against the scalar formula over extreme
// inputs in tests/cpp/kernel_tests.cpp (int8 requantize).

constexpr int kInt8RqNoClampMin = -(1 << 30);  // int8_rq_prepare: no clamp known

struct alignas(64) Int8Rq16 {
  __m512i mul_even, mul_odd;  // multiplier of lanes 2i / 2i + 1, in the low dword of qword i
  __m512i off_even, off_odd;  // qwords: K (+ zp 2^(31+r)) of lanes 2i / 2i + 1
  __m512i shift;              // 32-bit: dwords r - 1; 64-bit: unused
  // The 64-bit evaluation only:
  __m512i left;                   // dwords: max(shift, 0)
  __m512i delta_even, delta_odd;  // qwords: 2^31 where r > 0, else 0
  __m512i shift_even, shift_odd;  // qwords: 31 + r
  bool dword, correct;            // the 32-bit evaluation; with the sign correction
  bool any_left, zero_point_folded;
};

// The constants of 16 columns. act_min: the least value the caller keeps
// (clamps to) after int8_rq_apply, if it is known; at or above the zero point
// int8_rq_apply may then return values below the zero point that differ from
// the exact ones (never one at or above it).
inline void int8_rq_prepare(const int32_t* multiplier, const int32_t* shift, int out_zero_point, Int8Rq16& c,
                            int act_min = kInt8RqNoClampMin) {
  alignas(64) int32_t left[16], mul_odd[16] = {}, dword_shift[16];
  alignas(64) int64_t off[16], delta[16], total[16];
  bool any_left = false, fold = out_zero_point > -256 && out_zero_point < 256, dword = true;
  for (int j = 0; j < 16; ++j) {
    int r = shift[j] > 0 ? 0 : -shift[j];
    left[j] = shift[j] > 0 ? shift[j] : 0;
    if (multiplier[j] == 0) r = 1, left[j] = 0;  // q = 0 whatever the shift
    any_left |= left[j] > 0;
    dword &= r >= 1;
    fold &= r <= 21;  // |p| < 2^62: the sum stays below 2^63
    off[j] = (int64_t{1} << 30) + (r > 0 ? int64_t{1} << (30 + r) : 0);
    delta[j] = r > 0 ? int64_t{1} << 31 : 0;
    total[j] = 31 + r;
    dword_shift[j] = r - 1;
  }
  if (fold)
    for (int j = 0; j < 16; ++j) off[j] += int64_t{out_zero_point} * (int64_t{1} << total[j]);
  for (int i = 0; i < 8; ++i) mul_odd[2 * i] = multiplier[2 * i + 1];
  auto qwords = [](const int64_t* v, int parity) {
    return _mm512_set_epi64(v[14 + parity], v[12 + parity], v[10 + parity], v[8 + parity], v[6 + parity], v[4 + parity],
                            v[2 + parity], v[parity]);
  };
  c.mul_even = _mm512_loadu_si512(multiplier);
  c.mul_odd = _mm512_load_si512(mul_odd);
  c.off_even = qwords(off, 0), c.off_odd = qwords(off, 1);
  c.shift = _mm512_load_si512(dword_shift);
  c.left = _mm512_load_si512(left);
  c.delta_even = qwords(delta, 0), c.delta_odd = qwords(delta, 1);
  c.shift_even = qwords(total, 0), c.shift_odd = qwords(total, 1);
  c.dword = dword;
  c.correct = act_min < out_zero_point;
  c.any_left = any_left, c.zero_point_folded = fold;
}

// The 32-bit evaluation (Int8Rq16::dword), with the sign correction or without.
inline __m512i int8_rq_dword(__m512i x, const Int8Rq16& c, bool correct) {
  const __m512i te = _mm512_add_epi64(_mm512_mul_epi32(x, c.mul_even), c.off_even);
  const __m512i to = _mm512_add_epi64(_mm512_mul_epi32(_mm512_shuffle_epi32(x, _MM_PERM_DDBB), c.mul_odd), c.off_odd);
  const __m512i high = _mm512_set_epi32(31, 15, 29, 13, 27, 11, 25, 9, 23, 7, 21, 5, 19, 3, 17, 1);
  __m512i h = _mm512_permutex2var_epi32(te, high, to);
  if (correct) {
    const __m512i low = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
    const __m512i l = _mm512_permutex2var_epi32(te, low, to);
    h = _mm512_add_epi32(h, _mm512_srai_epi32(_mm512_andnot_si512(l, x), 31));  // - c (1 - bit 31 of L)
  }
  return _mm512_srav_epi32(h, c.shift);
}

// The evaluation int8_rq_apply takes: chosen per call at run time (Any), or
// fixed at compile time where a kernel dispatches once on int8_rq_eval. In a
// loop, Any's tests and its untaken 64-bit path cost GCC registers, copies and
// branches in every iteration: the depthwise pixel loop ran about 190
// instructions a pixel, 72-79 with Dword.
enum class RqEval { Any, Dword, DwordCorrect };

// Dword(Correct) where every one of `count` column sets takes the 32-bit
// evaluation with the zero point folded in (DwordCorrect if any needs the
// sign correction), else Any.
inline RqEval int8_rq_eval(const Int8Rq16* c, int count) {
  bool dword = true, correct = false;
  for (int i = 0; i < count; ++i) dword &= c[i].dword && c[i].zero_point_folded, correct |= c[i].correct;
  return !dword ? RqEval::Any : correct ? RqEval::DwordCorrect : RqEval::Dword;
}

// x: 16 sums with the bias in; the result: out_zero_point + the requantized
// sums (not clamped; see int8_rq_prepare's act_min).
template <RqEval E = RqEval::Any>
inline __m512i int8_rq_apply(__m512i x, const Int8Rq16& c, __m512i zero_point) {
  if constexpr (E != RqEval::Any) return int8_rq_dword(x, c, E == RqEval::DwordCorrect);
  __m512i r;
  if (c.dword) {
    r = int8_rq_dword(x, c, c.correct);
  } else {
    if (c.any_left) x = _mm512_sllv_epi32(x, c.left);  // wraps as TFLite's int32 does
    const __m512i pe = _mm512_mul_epi32(x, c.mul_even);
    const __m512i po = _mm512_mul_epi32(_mm512_shuffle_epi32(x, _MM_PERM_DDBB), c.mul_odd);
    __m512i te = _mm512_add_epi64(pe, c.off_even), to = _mm512_add_epi64(po, c.off_odd);
    const __m512i zero = _mm512_setzero_si512();
    te = _mm512_mask_sub_epi64(te, _mm512_cmplt_epi64_mask(pe, zero), te, c.delta_even);
    to = _mm512_mask_sub_epi64(to, _mm512_cmplt_epi64_mask(po, zero), to, c.delta_odd);
    te = _mm512_srav_epi64(te, c.shift_even);
    to = _mm512_srav_epi64(to, c.shift_odd);
    const __m512i interleave = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
    r = _mm512_permutex2var_epi32(te, interleave, to);
  }
  return c.zero_point_folded ? r : _mm512_add_epi32(r, zero_point);
}

// TFLite's requantization of 16 int32 sums (columns n0..n0+15), clamped.
inline __m512i int8_requantize16(__m512i acc, const Int8Requant& rq, int n0) {
  Int8Rq16 c;
  int8_rq_prepare(rq.multiplier + n0, rq.shift + n0, rq.out_zero_point, c, rq.act_min);
  const __m512i x = _mm512_add_epi32(acc, _mm512_loadu_si512(rq.bias + n0));
  const __m512i r = int8_rq_apply(x, c, _mm512_set1_epi32(rq.out_zero_point));
  return _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(rq.act_min)), _mm512_set1_epi32(rq.act_max));
}

// 4 vectors of 16 requantized columns (unclamped int32) to 64 bytes in column
// order, clamped (unless clamp is false: see int8_clamps): the saturating packs
// keep the order of values, so clamping the bytes afterwards is the same as
// clamping the int32s ([act_min, act_max] lies in [0, 255]).
inline __m512i int8_pack64(__m512i q0, __m512i q1, __m512i q2, __m512i q3, __m512i act_min, __m512i act_max,
                           bool clamp = true) {
  const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
  // Dword 4l + s holds columns 4l..4l+3 of q_s: transpose the 4 x 4 dwords.
  const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  const __m512i ordered = _mm512_permutexvar_epi32(order, bytes);
  return clamp ? _mm512_min_epu8(_mm512_max_epu8(ordered, act_min), act_max) : ordered;
}

// Whether [act_min, act_max] leaves any byte out: ReLU6 with the output range [0, 6] (scale
// 6 / 255, zero point 0) clamps to [0, 255], which the saturating packs already do.
inline bool int8_clamps(const Int8Requant& rq) { return rq.act_min > 0 || rq.act_max < 255; }
