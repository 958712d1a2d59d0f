// The int8 GEMM on AVX2 (the stem and depthwise layers: int8_avx2_conv.h,
// included at the end). Two formulations, both exact:
//  - AVX-VNNI (the VEX vpdpbusd on ymm, where the CPU has it): 6 rows x 16
//    columns a tile, 4 products (u8 x s8) summed into each int32 lane;
//  - plain AVX2: vpmaddwd on int16, never vpmaddubsw. vpmaddubsw adds two
//    u8 x s8 products into an int16 with saturation (255 * 127 * 2 > 32767),
//    so it is wrong for the full uint8 range; widened to int16, each pair of
//    products (at most 2 * 255 * 128) sums exactly into an int32 lane.

// AVX-VNNI's vpdpbusd acc += a (u8) x b (s8), in asm for the reason of the
// AVX-512 one (int8_avx512.h's dpbusd): GCC 12 spills the intrinsic's accumulators.
__attribute__((target("avxvnni"))) inline __m256i dpbusd_vex(__m256i acc, __m256i a, __m256i b) {
  asm("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(a), "xm"(b));
  return acc;
}

// TFLite's requantization of 8 int32 sums (columns n0..n0+7), as int8_requantize
// but 8 lanes at a time: 64-bit products of the even and odd lanes (AVX2 has no
// 64-bit arithmetic shift: the low 32 bits of a logical shift are the same).
// x: the sums with the bias in; multiplier, shift: 8 columns' (any values).
inline __m256i int8_requantize8_sum(__m256i x, const int32_t* multiplier_at, const int32_t* shift_at,
                                    int out_zero_point, int act_min, int act_max) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(shift_at));
  const __m256i multiplier = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(multiplier_at));
  x = _mm256_sllv_epi32(x, _mm256_max_epi32(shift, zero));
  const __m256i right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
  auto high_half = [&](__m256i product) {  // (product + nudge) / 2^31, truncated toward zero
    const __m256i negative = _mm256_cmpgt_epi64(zero, product);
    __m256i t = _mm256_add_epi64(product, _mm256_blendv_epi8(_mm256_set1_epi64x(int64_t{1} << 30),
                                                             _mm256_set1_epi64x(1 - (int64_t{1} << 30)), negative));
    t = _mm256_add_epi64(t, _mm256_and_si256(_mm256_cmpgt_epi64(zero, t), _mm256_set1_epi64x((int64_t{1} << 31) - 1)));
    return _mm256_srli_epi64(t, 31);
  };
  const __m256i even = high_half(_mm256_mul_epi32(x, multiplier));
  const __m256i odd = high_half(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(multiplier, 32)));
  const __m256i high = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
  const __m256i remainder = _mm256_and_si256(high, mask);
  const __m256i threshold =
      _mm256_add_epi32(_mm256_srai_epi32(mask, 1), _mm256_and_si256(_mm256_cmpgt_epi32(zero, high), one));
  __m256i r =
      _mm256_add_epi32(_mm256_srav_epi32(high, right), _mm256_and_si256(_mm256_cmpgt_epi32(remainder, threshold), one));
  r = _mm256_add_epi32(r, _mm256_set1_epi32(out_zero_point));
  r = _mm256_max_epi32(r, _mm256_set1_epi32(act_min));
  return _mm256_min_epi32(r, _mm256_set1_epi32(act_max));
}

inline __m256i int8_requantize8(__m256i acc, const Int8Requant& rq, int n0) {
  const __m256i x = _mm256_add_epi32(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.bias + n0)));
  return int8_requantize8_sum(x, rq.multiplier + n0, rq.shift + n0, rq.out_zero_point, rq.act_min, rq.act_max);
}

// The same with 8 columns' constants prepared once (int8_rq8_prepare), for
// kernels that requantize the same columns many times (stem, depthwise): the
// AVX-512 epilogue's 32-bit evaluation (int8_requant_avx512.h derives it)
// where every column shifts right (r >= 1): with p = x M (64-bit), K = 2^30 +
// 2^(30+r) (+ zp 2^(31+r) where that cannot overflow) and T = p + K,
// q = floor((H - [x < 0] (1 - bit 31 of L)) / 2^(r-1)) for H, L the high and
// low dwords of T; the sign correction left out where the clamp is at or
// above the zero point. Other columns (left shifts, r = 0) take the general
// form above.
struct alignas(32) Int8Rq8 {
  __m256i mul_even, mul_odd;  // multipliers of lanes 2i / 2i + 1 in the low dword of qword i
  __m256i off_even, off_odd;  // qwords: K (+ zp 2^(31+r)) of lanes 2i / 2i + 1
  __m256i shift;              // dwords r - 1
  __m256i zero_point, act_min, act_max;
  const int32_t *multiplier, *shift_at;  // the general form's
  int zp, lo, hi;
  bool dword, correct, zero_point_folded;
};

inline void int8_rq8_prepare(const int32_t* multiplier, const int32_t* shift, int out_zero_point, int act_min,
                             int act_max, Int8Rq8& c) {
  alignas(32) int32_t dword_shift[8];
  alignas(32) int64_t off_even[4], off_odd[4];
  int64_t off[8];
  int total[8];
  bool dword = true, fold = out_zero_point > -256 && out_zero_point < 256;
  for (int j = 0; j < 8; ++j) {
    int r = shift[j] > 0 ? 0 : -shift[j];
    if (multiplier[j] == 0) r = shift[j] > 0 ? 0 : 1;  // q = 0 under any right shift
    dword &= r >= 1 && shift[j] <= 0;
    fold &= r <= 21;  // |p| < 2^62: the sum stays below 2^63
    off[j] = (int64_t{1} << 30) + (r > 0 ? int64_t{1} << (30 + r) : 0);
    total[j] = 31 + r;
    dword_shift[j] = r - 1;
  }
  if (fold)
    for (int j = 0; j < 8; ++j) off[j] += int64_t{out_zero_point} * (int64_t{1} << total[j]);
  for (int i = 0; i < 4; ++i) off_even[i] = off[2 * i], off_odd[i] = off[2 * i + 1];
  const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(multiplier));
  c.mul_even = m;
  c.mul_odd = _mm256_srli_epi64(m, 32);
  c.off_even = _mm256_load_si256(reinterpret_cast<const __m256i*>(off_even));
  c.off_odd = _mm256_load_si256(reinterpret_cast<const __m256i*>(off_odd));
  c.shift = _mm256_load_si256(reinterpret_cast<const __m256i*>(dword_shift));
  c.zero_point = _mm256_set1_epi32(out_zero_point);
  c.act_min = _mm256_set1_epi32(act_min), c.act_max = _mm256_set1_epi32(act_max);
  c.multiplier = multiplier, c.shift_at = shift;
  c.zp = out_zero_point, c.lo = act_min, c.hi = act_max;
  c.dword = dword, c.correct = act_min < out_zero_point, c.zero_point_folded = fold;
}

// x: 8 sums with the bias in; the result requantized and clamped.
inline __m256i int8_rq8_apply(__m256i x, const Int8Rq8& c) {
  if (!c.dword) {
    return int8_requantize8_sum(x, c.multiplier, c.shift_at, c.zp, c.lo, c.hi);
  }
  const __m256i te = _mm256_add_epi64(_mm256_mul_epi32(x, c.mul_even), c.off_even);
  const __m256i to = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), c.mul_odd), c.off_odd);
  __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(te, 32), to, 0xAA);  // the high dwords, in lane order
  if (c.correct) {
    const __m256i l = _mm256_blend_epi32(te, _mm256_slli_epi64(to, 32), 0xAA);  // the low dwords
    h = _mm256_add_epi32(h, _mm256_srai_epi32(_mm256_andnot_si256(l, x), 31));  // - c (1 - bit 31 of L)
  }
  __m256i r = _mm256_srav_epi32(h, c.shift);
  if (!c.zero_point_folded) r = _mm256_add_epi32(r, c.zero_point);
  return _mm256_min_epi32(_mm256_max_epi32(r, c.act_min), c.act_max);
}

// int8_rq8_apply where the constants take its shortest form (every column
// shifts right, the zero point folded, no sign correction: a clamp at or
// above the zero point, as ReLU and ReLU6 give).
inline bool int8_rq8_short(const Int8Rq8& c) { return c.dword && !c.correct && c.zero_point_folded; }

inline __m256i int8_rq8_apply_short(__m256i x, const Int8Rq8& c) {
  const __m256i te = _mm256_add_epi64(_mm256_mul_epi32(x, c.mul_even), c.off_even);
  const __m256i to = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), c.mul_odd), c.off_odd);
  const __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(te, 32), to, 0xAA);
  return _mm256_min_epi32(_mm256_max_epi32(_mm256_srav_epi32(h, c.shift), c.act_min), c.act_max);
}

// One panel's 16 sums of one row (lo: columns 0-7, hi: 8-15) requantized and stored.
// rq8: the columns' constants prepared (int8_rq8_prepare, 8 columns each), or null.
inline void int8_store_panel(const Int8GemmArgs& g, uint8_t* c, int n0, __m256i lo, __m256i hi, int32_t row_sum,
                             const Int8Rq8* rq8) {
  if (g.has_col_offset) {
    const __m256i s = _mm256_set1_epi32(row_sum);
    lo = _mm256_add_epi32(
        lo, _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.col_offset + n0)), s));
    hi = _mm256_add_epi32(
        hi, _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.col_offset + n0 + 8)), s));
  }
  __m256i q0, q1;
  if (rq8 != nullptr) {
    q0 = int8_rq8_apply(_mm256_add_epi32(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.rq.bias + n0))),
                        rq8[n0 / 8]);
    q1 = int8_rq8_apply(_mm256_add_epi32(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.rq.bias + n0 + 8))),
                        rq8[n0 / 8 + 1]);
  } else {
    q0 = int8_requantize8(lo, g.rq, n0), q1 = int8_requantize8(hi, g.rq, n0 + 8);
  }
  // In range already: the packs keep the values; the permutes undo their lane order.
  const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
  const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(words, words), 0x08);
  alignas(16) uint8_t out[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(bytes));
  const int left = g.n - n0 < kInt8PanelWidth ? g.n - n0 : kInt8PanelWidth;
  for (int j = 0; j < left; ++j) c[n0 + j] = out[j];
}

inline int32_t int8_row_sum(const Int8GemmArgs& g, int i) {
  const uint8_t* a = g.a + int64_t{i} * g.lda;
  int32_t s = 0;
  for (int kk = 0; kk < g.k; ++kk) s += a[kk];
  return s;
}

constexpr int kAvxVnniRows = 6;

template <int MR>
__attribute__((target("avxvnni"))) void int8_avx_vnni_tile(const Int8GemmArgs& g, int i0, int p, int k4,
                                                           const int32_t* row_sums, const Int8Rq8* rq8) {
  __m256i lo[MR], hi[MR];
  for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
  const int8_t* b = g.packed_b + int64_t{p} * k4 * 64;
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  for (int grp = 0; grp < k4; ++grp) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + grp * 64));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + grp * 64 + 32));
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);  // beyond k: times zero weights
      const __m256i av = _mm256_set1_epi32(quad);
      lo[r] = dpbusd_vex(lo[r], av, b0);
      hi[r] = dpbusd_vex(hi[r], av, b1);
    }
  }
  for (int r = 0; r < MR; ++r)
    int8_store_panel(g, g.c + int64_t{i0 + r} * g.ldc, p * kInt8PanelWidth, lo[r], hi[r], row_sums[r], rq8);
}

template <int MR>
void int8_avx2_vnni_rows(const Int8GemmArgs& g, int i0, int panels, int k4, const int32_t* row_sums,
                         const Int8Rq8* rq8) {
  for (int p = 0; p < panels; ++p) int8_avx_vnni_tile<MR>(g, i0, p, k4, row_sums, rq8);
}

// rq8: every column's requantization constants prepared (int8_rq8_prepare), or null.
void int8_gemm_avx_vnni(const Int8GemmArgs& g, int m_begin, int m_end, const Int8Rq8* rq8 = nullptr) {
  const int k4 = (g.k + 3) / 4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  int32_t row_sums[kAvxVnniRows] = {};
  for (int i0 = m_begin; i0 < m_end; i0 += kAvxVnniRows) {
    const int mr = m_end - i0 < kAvxVnniRows ? m_end - i0 : kAvxVnniRows;
    for (int r = 0; r < mr; ++r) row_sums[r] = g.has_col_offset ? int8_row_sum(g, i0 + r) : 0;
    switch (mr) {
      case 6: int8_avx2_vnni_rows<6>(g, i0, panels, k4, row_sums, rq8); break;
      case 5: int8_avx2_vnni_rows<5>(g, i0, panels, k4, row_sums, rq8); break;
      case 4: int8_avx2_vnni_rows<4>(g, i0, panels, k4, row_sums, rq8); break;
      case 3: int8_avx2_vnni_rows<3>(g, i0, panels, k4, row_sums, rq8); break;
      case 2: int8_avx2_vnni_rows<2>(g, i0, panels, k4, row_sums, rq8); break;
      default: int8_avx2_vnni_rows<1>(g, i0, panels, k4, row_sums, rq8); break;
    }
  }
}

// Plain AVX2: vpmaddwd on int16 copies of A and B, made once per block of rows
// (A) and once per panel in it (B) in the thread's scratch, so that the inner
// loop only loads, multiplies and adds. A tile is kMaddRows rows x 8 columns:
// each row's sums in 2 vectors of (column, first or second pair of a group of
// 4 k), one broadcast of the row's 4 int16 per group. Zen 3 runs at most about
// 1.5 vpmaddwd + vpaddd pairs a cycle (bench/peak): this loop is bound by them.
constexpr int kMaddRows = 4;            // 8 accumulators: with 5 rows GCC 12 kept half of them on the stack
constexpr int kMaddBlockBytes = 65536;  // A's int16 rows of a block (read from L2 once per 8 columns)

// 8 sums per row of rows [0, MR) in column order, from A's int16 rows (stride
// a_stride int16) and a panel half's int16 groups (16 int16 each: 4 columns x 4 k).
template <int MR>
inline void int8_madd_tile(const int16_t* a, int64_t a_stride, const int16_t* b, int k4, __m256i* sums) {
  __m256i acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
  for (int grp = 0; grp < k4; ++grp) {
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + grp * 32));
    const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + grp * 32 + 16));
    for (int r = 0; r < MR; ++r) {
      // (a0, a1, a2, a3) x 4
      const __m256i av =
          _mm256_castpd_si256(_mm256_broadcast_sd(reinterpret_cast<const double*>(a + r * a_stride + grp * 4)));
      acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(av, b0));
      acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(av, b1));
    }
  }
  // Lanes hold (column, first or second pair): add the pairs, columns back in order.
  for (int r = 0; r < MR; ++r) sums[r] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc0[r], acc1[r]), 0xD8);
}

// One row's 8 sums (columns n0..n0+7) requantized and stored (those below n).
// Short: the constants take int8_rq8_apply_short's form (the caller checked int8_rq8_short).
template <bool Short = false>
inline void int8_madd_store8(const Int8GemmArgs& g, uint8_t* c, int n0, __m256i x, int32_t row_sum,
                             const Int8Rq8& rq8) {
  if (g.has_col_offset)
    x = _mm256_add_epi32(x, _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.col_offset + n0)),
                                               _mm256_set1_epi32(row_sum)));
  x = _mm256_add_epi32(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.rq.bias + n0)));
  const __m256i q = Short ? int8_rq8_apply_short(x, rq8) : int8_rq8_apply(x, rq8);
  // In range already: the packs keep the values.
  const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  const __m128i bytes = _mm_packus_epi16(words, words);
  if (g.n - n0 >= 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(c + n0), bytes);
  } else {
    alignas(16) uint8_t out[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(out), bytes);
    for (int j = 0; j < g.n - n0; ++j) c[n0 + j] = out[j];
  }
}

template <int MR>
void int8_madd_rows(const Int8GemmArgs& g, int i0, const int16_t* a, int64_t a_stride, const int16_t* b, int k4, int n0,
                    const int32_t* row_sums, const Int8Rq8& rq8) {
  __m256i sums[MR];
  int8_madd_tile<MR>(a, a_stride, b, k4, sums);
  // The epilogue's form chosen once, not per vector (its run-time tests cost as much as its arithmetic).
  if (int8_rq8_short(rq8))
    for (int r = 0; r < MR; ++r)
      int8_madd_store8<true>(g, g.c + int64_t{i0 + r} * g.ldc, n0, sums[r], row_sums[r], rq8);
  else
    for (int r = 0; r < MR; ++r) int8_madd_store8(g, g.c + int64_t{i0 + r} * g.ldc, n0, sums[r], row_sums[r], rq8);
}

// One row against B as packed (int8), widened in registers: for calls of fewer
// rows than a tile (the classifier's one), where the int16 copy of B would
// cost more than it saves. row16: the row as int16, zeros past k.
void int8_madd_row_direct(const Int8GemmArgs& g, const int16_t* row16, int k4, int32_t row_sum, const Int8Rq8* rq8,
                          uint8_t* c) {
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  for (int p = 0; p < panels; ++p) {
    const int8_t* b = g.packed_b + int64_t{p} * k4 * 64;
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int grp = 0; grp < k4; ++grp) {
      const __m256i av = _mm256_castpd_si256(_mm256_broadcast_sd(reinterpret_cast<const double*>(row16 + grp * 4)));
      for (int v = 0; v < 4; ++v)  // columns 4v..4v+3, their 4 weights as int16
        acc[v] = _mm256_add_epi32(
            acc[v],
            _mm256_madd_epi16(
                av, _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + grp * 64 + 16 * v)))));
    }
    for (int h = 0; h < 2 && p * kInt8PanelWidth + 8 * h < g.n; ++h) {
      const int n0 = p * kInt8PanelWidth + 8 * h;
      int8_madd_store8(g, c, n0, _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[2 * h], acc[2 * h + 1]), 0xD8), row_sum,
                       rq8[n0 / 8]);
    }
  }
}

void int8_gemm_madd(const Int8GemmArgs& g, int m_begin, int m_end) {
  if (m_begin >= m_end) return;
  const int k4 = (g.k + 3) / 4, a_stride = 4 * k4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth, octets = (g.n + 7) / 8;
  const int block_rows = std::max(kMaddRows, kMaddBlockBytes / (2 * a_stride) / kMaddRows * kMaddRows);
  const int most_rows = std::min(block_rows, m_end - m_begin);
  // The thread's scratch: the requantization constants, a panel's int16 B, a block's int16 A, its row sums.
  const int64_t rq_bytes = int64_t{octets} * sizeof(Int8Rq8);
  const int64_t b_bytes = m_end - m_begin < kMaddRows ? 0 : int64_t{k4} * 128;
  const int64_t a_bytes = (int64_t{most_rows} * a_stride * 2 + 63) / 64 * 64;
  thread_local Scratch scratch;
  uint8_t* base = scratch.get<uint8_t>(rq_bytes + b_bytes + a_bytes + int64_t{4} * most_rows);
  Int8Rq8* rq8 = reinterpret_cast<Int8Rq8*>(base);
  int16_t* b16 = reinterpret_cast<int16_t*>(base + rq_bytes);
  int16_t* a16 = reinterpret_cast<int16_t*>(base + rq_bytes + b_bytes);
  int32_t* row_sums = reinterpret_cast<int32_t*>(base + rq_bytes + b_bytes + a_bytes);
  // Reads up to 8 columns past n: the constants are padded to the panels.
  for (int o = 0; o < octets; ++o)
    int8_rq8_prepare(g.rq.multiplier + 8 * o, g.rq.shift + 8 * o, g.rq.out_zero_point, g.rq.act_min, g.rq.act_max,
                     rq8[o]);
  for (int m0 = m_begin; m0 < m_end; m0 += block_rows) {
    const int rows = std::min(block_rows, m_end - m0);
    for (int r = 0; r < rows; ++r) {  // A's rows as int16, zeros past k; their sums
      const uint8_t* src = g.a + int64_t{m0 + r} * g.lda;
      int16_t* dst = a16 + int64_t{r} * a_stride;
      __m128i total = _mm_setzero_si128();
      int kk = 0;
      for (; kk + 16 <= g.k; kk += 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + kk));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + kk), _mm256_cvtepu8_epi16(x));
        total = _mm_add_epi64(total, _mm_sad_epu8(x, _mm_setzero_si128()));
      }
      int32_t sum = _mm_cvtsi128_si32(total) + _mm_extract_epi32(total, 2);
      for (; kk < g.k; ++kk) dst[kk] = src[kk], sum += src[kk];
      for (; kk < a_stride; ++kk) dst[kk] = 0;
      row_sums[r] = sum;
    }
    if (rows < kMaddRows) {
      for (int r = 0; r < rows; ++r)
        int8_madd_row_direct(g, a16 + int64_t{r} * a_stride, k4, row_sums[r], rq8, g.c + int64_t{m0 + r} * g.ldc);
      continue;
    }
    for (int p = 0; p < panels; ++p) {
      // The panel's B as int16: its two halves of 8 columns, each k4 groups of (4 columns x 4 k) x 2.
      const int8_t* src = g.packed_b + int64_t{p} * k4 * 64;
      for (int grp = 0; grp < k4; ++grp)
        for (int v = 0; v < 4; ++v)
          _mm256_store_si256(
              reinterpret_cast<__m256i*>(b16 + (v / 2) * int64_t{k4} * 32 + grp * 32 + (v % 2) * 16),
              _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + grp * 64 + 16 * v))));
      for (int h = 0; h < 2 && p * kInt8PanelWidth + 8 * h < g.n; ++h) {
        const int n0 = p * kInt8PanelWidth + 8 * h;
        const int16_t* b = b16 + h * int64_t{k4} * 32;
        int r = 0;
        for (; r + kMaddRows <= rows; r += kMaddRows)
          int8_madd_rows<kMaddRows>(g, m0 + r, a16 + int64_t{r} * a_stride, a_stride, b, k4, n0, row_sums + r,
                                    rq8[n0 / 8]);
        const int16_t* a = a16 + int64_t{r} * a_stride;
        switch (rows - r) {
          case 3: int8_madd_rows<3>(g, m0 + r, a, a_stride, b, k4, n0, row_sums + r, rq8[n0 / 8]); break;
          case 2: int8_madd_rows<2>(g, m0 + r, a, a_stride, b, k4, n0, row_sums + r, rq8[n0 / 8]); break;
          case 1: int8_madd_rows<1>(g, m0 + r, a, a_stride, b, k4, n0, row_sums + r, rq8[n0 / 8]); break;
          default: break;
        }
      }
    }
  }
}

// Plain AVX2 on B split for vpmaddubsw (Int8GemmArgs::bounded, pack_int8_bounded):
// A's bytes as they lie, 4 rows x 16 columns a tile; each group of 4 k is a
// vpmaddubsw (two products into an int16, which the bound keeps from
// saturating), a vpmaddwd by ones (the two int16 into the column's int32) and
// a vpaddd: 3 instructions per 32 multiply-adds, where the int16 form takes 4,
// and no copies of A or B. The panel's few remainders beyond the bound are
// added to the sums before the requantization.
constexpr int kBoundedRows = 4;
constexpr int kBoundedBlockBytes = 65536;  // A's rows of a block, read once per panel

template <int MR>
void int8_bounded_tile(const Int8GemmArgs& g, int i0, int p, int k4, const char* panel, const int32_t* row_sums,
                       const Int8Rq8* rq8) {
  __m256i acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
  const int8_t* b = reinterpret_cast<const int8_t*>(panel);
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int grp = 0; grp < k4; ++grp) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + grp * 64));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + grp * 64 + 32));
    for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);  // beyond k: times zero weights
      const __m256i av = _mm256_set1_epi32(quad);
      acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
      acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
    }
  }
  const int32_t* header = reinterpret_cast<const int32_t*>(panel + int64_t{k4} * 64);
  if (header[0] > 0) {
    alignas(32) int32_t sums[MR][kInt8PanelWidth];
    for (int r = 0; r < MR; ++r) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(sums[r]), acc0[r]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sums[r] + 8), acc1[r]);
    }
    const uint32_t* list = reinterpret_cast<const uint32_t*>(panel + header[1]);
    for (int e = 0; e < header[0]; ++e) {
      const int kk = static_cast<int>(list[e] >> 16), j = static_cast<int>(list[e] >> 8 & 0xFF);
      const int remainder = static_cast<int8_t>(list[e] & 0xFF);
      for (int r = 0; r < MR; ++r) sums[r][j] += a[r * g.lda + kk] * remainder;
    }
    for (int r = 0; r < MR; ++r) {
      acc0[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(sums[r]));
      acc1[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(sums[r] + 8));
    }
  }
  const int n0 = p * kInt8PanelWidth;
  const bool both = n0 + 8 < g.n;
  auto store = [&](auto short_form) {  // std::bool_constant: the epilogue's form, chosen once
    for (int r = 0; r < MR; ++r) {
      uint8_t* c = g.c + int64_t{i0 + r} * g.ldc;
      int8_madd_store8<short_form>(g, c, n0, acc0[r], row_sums[r], rq8[n0 / 8]);
      if (both) int8_madd_store8<short_form>(g, c, n0 + 8, acc1[r], row_sums[r], rq8[n0 / 8 + 1]);
    }
  };
  if (int8_rq8_short(rq8[n0 / 8]) && (!both || int8_rq8_short(rq8[n0 / 8 + 1])))
    store(std::true_type{});
  else
    store(std::false_type{});
}

void int8_gemm_bounded(const Int8GemmArgs& g, int m_begin, int m_end) {
  if (m_begin >= m_end) return;
  const int k4 = (g.k + 3) / 4, octets = (g.n + 7) / 8;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  const int64_t panel_bytes = int8_bounded_panel_bytes(g.k);
  const int block_rows = std::max(kBoundedRows, kBoundedBlockBytes / (4 * k4) / kBoundedRows * kBoundedRows);
  const int most_rows = std::min(block_rows, m_end - m_begin);
  // The thread's scratch: the requantization constants, a block's row sums.
  const int64_t rq_bytes = int64_t{octets} * sizeof(Int8Rq8);
  thread_local Scratch scratch;
  uint8_t* base = scratch.get<uint8_t>(rq_bytes + int64_t{4} * most_rows);
  Int8Rq8* rq8 = reinterpret_cast<Int8Rq8*>(base);
  int32_t* row_sums = reinterpret_cast<int32_t*>(base + rq_bytes);
  // Reads up to 8 columns past n: the constants are padded to the panels.
  for (int o = 0; o < octets; ++o)
    int8_rq8_prepare(g.rq.multiplier + 8 * o, g.rq.shift + 8 * o, g.rq.out_zero_point, g.rq.act_min, g.rq.act_max,
                     rq8[o]);
  for (int m0 = m_begin; m0 < m_end; m0 += block_rows) {
    const int rows = std::min(block_rows, m_end - m0);
    for (int r = 0; r < rows; ++r) row_sums[r] = g.has_col_offset ? int8_row_sum(g, m0 + r) : 0;
    for (int p = 0; p < panels; ++p) {
      const char* panel = static_cast<const char*>(g.bounded) + p * panel_bytes;
      int r = 0;
      for (; r + kBoundedRows <= rows; r += kBoundedRows)
        int8_bounded_tile<kBoundedRows>(g, m0 + r, p, k4, panel, row_sums + r, rq8);
      switch (rows - r) {
        case 3: int8_bounded_tile<3>(g, m0 + r, p, k4, panel, row_sums + r, rq8); break;
        case 2: int8_bounded_tile<2>(g, m0 + r, p, k4, panel, row_sums + r, rq8); break;
        case 1: int8_bounded_tile<1>(g, m0 + r, p, k4, panel, row_sums + r, rq8); break;
        default: break;
      }
    }
  }
}

#include "int8_avx2_conv.h"

void int8_gemm(const Int8GemmArgs& g, int m_begin, int m_end) {
  if (int8_dot_product(Isa::Avx2)) return int8_gemm_avx_vnni(g, m_begin, m_end);
  if (g.bounded != nullptr) return int8_gemm_bounded(g, m_begin, m_end);
  int8_gemm_madd(g, m_begin, m_end);
}

const char* int8_gemm_variant(const Int8GemmArgs& g) {
  if (int8_dot_product(Isa::Avx2)) return "avxvnni6x16";
  return g.bounded != nullptr ? "maddubs4x16" : "madd4x8";
}
