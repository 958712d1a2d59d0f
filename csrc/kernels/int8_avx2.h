// The int8 GEMM on AVX2 (the stem and depthwise layers: int8_avx2_conv.h,
// included at the end). Two formulations, both exact:
//  - AVX-VNNI (the VEX vpdpbusd on ymm, where the CPU has it): 6 rows x 16
//    columns a tile, 4 products (u8 x s8) summed into each int32 lane;
//  - plain AVX2: vpmaddwd on int16, never vpmaddubsw. vpmaddubsw adds two
//    u8 x s8 products into an int16 with saturation (255 * 127 * 2 > 32767),
//    so it is wrong for the full uint8 range; widened to int16, each pair of
//    products (at most 2 * 255 * 128) sums exactly into an int32 lane.

// TFLite's requantization of 8 int32 sums (columns n0..n0+7), as int8_requantize
// but 8 lanes at a time: 64-bit products of the even and odd lanes (AVX2 has no
// 64-bit arithmetic shift: the low 32 bits of a logical shift are the same).
inline __m256i int8_requantize8(__m256i acc, const Int8Requant& rq, int n0) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.shift + n0));
  const __m256i multiplier = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.multiplier + n0));
  __m256i x = _mm256_add_epi32(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.bias + n0)));
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
  r = _mm256_add_epi32(r, _mm256_set1_epi32(rq.out_zero_point));
  r = _mm256_max_epi32(r, _mm256_set1_epi32(rq.act_min));
  return _mm256_min_epi32(r, _mm256_set1_epi32(rq.act_max));
}

// One panel's 16 sums of one row (lo: columns 0-7, hi: 8-15) requantized and stored.
inline void int8_store_panel(const Int8GemmArgs& g, uint8_t* c, int n0, __m256i lo, __m256i hi, int32_t row_sum) {
  if (g.has_col_offset) {
    const __m256i s = _mm256_set1_epi32(row_sum);
    lo = _mm256_add_epi32(
        lo, _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.col_offset + n0)), s));
    hi = _mm256_add_epi32(
        hi, _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.col_offset + n0 + 8)), s));
  }
  const __m256i q0 = int8_requantize8(lo, g.rq, n0), q1 = int8_requantize8(hi, g.rq, n0 + 8);
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
                                                           const int32_t* row_sums) {
  __m256i lo[MR], hi[MR];
  for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
  const int8_t* b = g.packed_b + int64_t{p} * k4 * 64;
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  for (int grp = 0; grp < k4; ++grp) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + grp * 64));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + grp * 64 + 32));
    for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);  // beyond k: times zero weights
      const __m256i av = _mm256_set1_epi32(quad);
      lo[r] = _mm256_dpbusd_avx_epi32(lo[r], av, b0);
      hi[r] = _mm256_dpbusd_avx_epi32(hi[r], av, b1);
    }
  }
  for (int r = 0; r < MR; ++r)
    int8_store_panel(g, g.c + int64_t{i0 + r} * g.ldc, p * kInt8PanelWidth, lo[r], hi[r], row_sums[r]);
}

// Plain AVX2: 2 rows x 16 columns, each row's sums in 4 vectors of (column, half of the group of 4).
template <int MR>
void int8_avx2_madd_tile(const Int8GemmArgs& g, int i0, int p, int k4, const int32_t* row_sums) {
  __m256i acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = _mm256_setzero_si256();
  const int8_t* b = g.packed_b + int64_t{p} * k4 * 64;
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  for (int grp = 0; grp < k4; ++grp) {
    __m256i bw[4];  // columns 4v..4v+3, their 4 weights as int16
    for (int v = 0; v < 4; ++v)
      bw[v] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + grp * 64 + 16 * v)));
    for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);
      const __m256i av = _mm256_cvtepu8_epi16(_mm_set1_epi32(quad));  // (a0, a1, a2, a3) x 4 as int16
      for (int v = 0; v < 4; ++v) acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(bw[v], av));
    }
  }
  for (int r = 0; r < MR; ++r) {
    // Lanes hold (column, first or second pair of the group): add the pairs, columns back in order.
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][0], acc[r][1]), 0xD8);
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][2], acc[r][3]), 0xD8);
    int8_store_panel(g, g.c + int64_t{i0 + r} * g.ldc, p * kInt8PanelWidth, lo, hi, row_sums[r]);
  }
}

template <int MR, bool Vnni>
void int8_avx2_rows(const Int8GemmArgs& g, int i0, int panels, int k4, const int32_t* row_sums) {
  for (int p = 0; p < panels; ++p) {
    if constexpr (Vnni)
      int8_avx_vnni_tile<MR>(g, i0, p, k4, row_sums);
    else
      int8_avx2_madd_tile<MR>(g, i0, p, k4, row_sums);
  }
}

template <bool Vnni>
void int8_gemm_avx2(const Int8GemmArgs& g, int m_begin, int m_end) {
  constexpr int rows = Vnni ? kAvxVnniRows : 2;
  const int k4 = (g.k + 3) / 4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  int32_t row_sums[kAvxVnniRows] = {};
  for (int i0 = m_begin; i0 < m_end; i0 += rows) {
    const int mr = m_end - i0 < rows ? m_end - i0 : rows;
    for (int r = 0; r < mr; ++r) row_sums[r] = g.has_col_offset ? int8_row_sum(g, i0 + r) : 0;
    if constexpr (Vnni) {
      switch (mr) {
        case 6: int8_avx2_rows<6, true>(g, i0, panels, k4, row_sums); break;
        case 5: int8_avx2_rows<5, true>(g, i0, panels, k4, row_sums); break;
        case 4: int8_avx2_rows<4, true>(g, i0, panels, k4, row_sums); break;
        case 3: int8_avx2_rows<3, true>(g, i0, panels, k4, row_sums); break;
        case 2: int8_avx2_rows<2, true>(g, i0, panels, k4, row_sums); break;
        default: int8_avx2_rows<1, true>(g, i0, panels, k4, row_sums); break;
      }
    } else {
      if (mr == 2)
        int8_avx2_rows<2, false>(g, i0, panels, k4, row_sums);
      else
        int8_avx2_rows<1, false>(g, i0, panels, k4, row_sums);
    }
  }
}

#include "int8_avx2_conv.h"

void int8_gemm(const Int8GemmArgs& g, int m_begin, int m_end) {
  if (int8_dot_product(Isa::Avx2)) return int8_gemm_avx2<true>(g, m_begin, m_end);
  int8_gemm_avx2<false>(g, m_begin, m_end);
}

const char* int8_gemm_variant(const Int8GemmArgs&) { return int8_dot_product(Isa::Avx2) ? "avxvnni6x16" : "madd2x16"; }
