// The stem's 3x3 windows as rows of bf16 pairs (AVX512_BF16), for the stem as
// a GEMM over them: an output pixel is a row of A holding its window's
// k = 9 * in_c <= 32 inputs in the order of the weights ([ky][kx][ci]), rounded
// to bf16 as the bf16 GEMMs round A and zero past k and outside the image: 16
// words (one cache line) a row. Included inside the anonymous namespace of the
// two kernels that multiply them, on AMX tiles (kernels_amx.cpp) and by
// vdpbf16ps (kernels_avx512_bf16.cpp), both compiled with AVX512_BF16.
//
// For dense RGB (in_c 3, NHWC) a kernel row of the window is 9 contiguous
// floats: masked loads place the 3 rows in 32 lanes (row 0 in lanes 0-8, row 1
// in 9-17, row 2 in 18-26), masks leaving out the columns and rows outside the
// image; other layouts gather the values one by one. At stride 1 or 2 two
// neighbouring pixels' windows lie within 16 floats of each row: one load a
// row serves both, rounded to bf16 before the words are placed.

constexpr int kStemWindowWords = 16;
// Output pixels a call lays out at once (16 KB of rows, in L1).
constexpr int kStemChunkPixels = 256;

__attribute__((always_inline)) inline void stem_window_inside(const float* r0, int64_t row_stride, uint32_t* dst) {
  const __m512 x0 = _mm512_maskz_loadu_ps(0x1ff, r0);
  const __m512 x1 = _mm512_maskz_loadu_ps(0x1ff, r0 + row_stride);
  const __m512 x2 = _mm512_maskz_loadu_ps(0x1ff, r0 + 2 * row_stride);
  // Lanes 9-15 of x1 are zero: the padding of k from 27 to 32.
  const __m512i lo_index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 18, 19, 20, 21, 22);
  const __m512i hi_index = _mm512_setr_epi32(7, 8, 16, 17, 18, 19, 20, 21, 22, 23, 24, 9, 9, 9, 9, 9);
  const __m512 lo = _mm512_permutex2var_ps(x0, lo_index, x1), hi = _mm512_permutex2var_ps(x1, hi_index, x2);
  _mm512_store_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

// Two neighbouring pixels' windows (stride 1 or 2) from one masked load of each
// input row: rows 0 and 1 rounded into words 0-31, row 2 into words 32-47 (48-63
// zero), each window's words then picked by StemWindows::pair_index.
__attribute__((always_inline)) inline void stem_windows_inside_pair(const float* r0, int64_t row_stride, __mmask16 mask,
                                                                    const __m512i* index, uint32_t* dst) {
  const __m512 x0 = _mm512_maskz_loadu_ps(mask, r0);
  const __m512 x1 = _mm512_maskz_loadu_ps(mask, r0 + row_stride);
  const __m512 x2 = _mm512_maskz_loadu_ps(mask, r0 + 2 * row_stride);
  const __m512i rows01 = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
  const __m512i row2 = _mm512_zextsi256_si512((__m256i)_mm512_cvtneps_pbh(x2));
  _mm512_store_si512(dst, _mm512_permutex2var_epi16(rows01, index[0], row2));
  _mm512_store_si512(dst + kStemWindowWords, _mm512_permutex2var_epi16(rows01, index[1], row2));
}

// The stem reads the caller's image in place, which may have left the caches
// since the last pass: before output row oy it fetches into L2 the input rows
// that output row oy + 2 adds (each channel's plane of them where planar):
// 0.93x the bf16 stem's time at 1.0/224, about 0.8x with the image flushed.
// The float32 stems gained nothing from it (1.0/224 and 0.25/128: 1.00x).
inline void prefetch_stem_rows(const Conv3x3Args& a, int oy) {
  const int first = oy * a.stride - a.pad.top + 3 + a.stride, end = first + a.stride;
  const bool planar = a.in_channel_stride != 1;
  const int64_t row_bytes = int64_t{a.in_w} * (planar ? 1 : a.in_col_stride) * int64_t{sizeof(float)};
  for (int iy = first < 0 ? 0 : first; iy < end && iy < a.in_h; ++iy)
    for (int c = 0; c < (planar ? a.in_c : 1); ++c) {
      const char* row = reinterpret_cast<const char*>(a.input + iy * a.in_row_stride + c * a.in_channel_stride);
      for (int64_t off = 0; off < row_bytes; off += 64) __builtin_prefetch(row + off, 0, 2);
    }
}

inline bool stem_dense_rgb(const Conv3x3Args& a) {
  return a.in_c == 3 && a.in_col_stride == 3 && a.in_channel_stride == 1;
}

// Any pixel of any stem layout (the image's border, NCHW input, in_c < 3).
inline void stem_window(const Conv3x3Args& a, int oy, int ox, uint32_t* dst) {
  const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
  const int kx_begin = ix0 < 0 ? -ix0 : 0, kx_end = a.in_w - ix0 < 3 ? a.in_w - ix0 : 3;
  if (stem_dense_rgb(a)) {
    uint32_t cols = kx_end > kx_begin ? ((1u << (3 * kx_end)) - 1u) & ~((1u << (3 * kx_begin)) - 1u) : 0u;
    uint32_t m[3];
    for (int ky = 0; ky < 3; ++ky) m[ky] = iy0 + ky >= 0 && iy0 + ky < a.in_h ? cols : 0u;
    // Addresses of masked-off lanes are never read, so they may lie outside the input.
    const auto at = [&](int ky, int lane0) {
      return reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(a.input) +
                                            static_cast<uintptr_t>(((iy0 + ky) * a.in_row_stride + ix0 * 3 - lane0) *
                                                                   static_cast<int64_t>(sizeof(float))));
    };
    __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m[0]), at(0, 0));
    lo = _mm512_mask_loadu_ps(lo, static_cast<__mmask16>(m[1] << 9), at(1, 9));
    __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m[1] >> 7), at(1, -7));
    hi = _mm512_mask_loadu_ps(hi, static_cast<__mmask16>(m[2] << 2), at(2, 2));
    _mm512_store_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    return;
  }
  alignas(64) float window[32] = {};
  for (int ky = 0; ky < 3; ++ky) {
    if (iy0 + ky < 0 || iy0 + ky >= a.in_h) continue;
    for (int kx = kx_begin; kx < kx_end; ++kx)
      for (int ci = 0; ci < a.in_c; ++ci)
        window[(ky * 3 + kx) * a.in_c + ci] =
            a.input[(iy0 + ky) * a.in_row_stride + (ix0 + kx) * a.in_col_stride + ci * a.in_channel_stride];
  }
  _mm512_store_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(_mm512_load_ps(window + 16), _mm512_load_ps(window)));
}

// The windows of `count` pixels of a band, from pixel p0 of it (pixels numbered
// from the first of output row row_begin), as rows kStemWindowWords apart.
struct StemWindows {
  const Conv3x3Args& a;
  bool dense_rgb;
  int inside_first, inside_last;  // output columns whose window lies inside the image's columns
  bool pairs;                     // stem_windows_inside_pair serves this stride
  __mmask16 pair_mask;            // the columns of a pair's windows in a row: 3 * stride + 9
  __m512i pair_index[2];
  explicit StemWindows(const Conv3x3Args& args) : a(args), dense_rgb(stem_dense_rgb(args)) {
    pairs = dense_rgb && a.stride <= 2;
    pair_mask = pairs ? static_cast<__mmask16>((1u << (3 * a.stride + 9)) - 1u) : 0;
    alignas(64) uint16_t index[2][32];
    for (int p = 0; p < 2; ++p)
      for (int j = 0; j < 32; ++j)  // window word j: row j / 9, column j % 9; past 27 a zero word
        index[p][j] = static_cast<uint16_t>(j < 27 ? 16 * (j / 9) + p * 3 * a.stride + j % 9 : 48);
    pair_index[0] = _mm512_load_si512(index[0]), pair_index[1] = _mm512_load_si512(index[1]);
    inside_first = (a.pad.left + a.stride - 1) / a.stride;
    inside_first = inside_first < a.out_w ? inside_first : a.out_w;
    const int last_window = a.in_w - 3 + a.pad.left;  // in padded input columns
    inside_last = inside_first;
    if (last_window >= 0) {
      const int past = last_window / a.stride + 1 < a.out_w ? last_window / a.stride + 1 : a.out_w;
      inside_last = past > inside_first ? past : inside_first;
    }
  }
  void build(int row_begin, int64_t p0, int count, uint32_t* rows) const {
    int oy = row_begin + static_cast<int>(p0 / a.out_w), ox = static_cast<int>(p0 % a.out_w);
    uint32_t* dst = rows;
    for (int r = 0; r < count; ox = 0, ++oy) {
      // This output row's pixels [ox, end) of the chunk; those whose window lies inside the image
      // (columns [inside_begin, inside_end)) straight from dense RGB.
      const int end = ox + (count - r) < a.out_w ? ox + (count - r) : a.out_w, iy0 = oy * a.stride - a.pad.top;
      const bool rows_inside = dense_rgb && iy0 >= 0 && iy0 + 3 <= a.in_h;
      const int inside_begin = rows_inside ? (ox > inside_first ? ox : inside_first) : end;
      int inside_end = end;
      if (rows_inside) {
        inside_end = end < inside_last ? end : inside_last;
        inside_end = inside_end > inside_begin ? inside_end : inside_begin;
      }
      if (ox == 0) prefetch_stem_rows(a, oy);
      for (int x = ox; x < inside_begin; ++x, ++r, dst += kStemWindowWords) stem_window(a, oy, x, dst);
      if (inside_begin < inside_end) {
        const float* r0 = a.input + iy0 * a.in_row_stride + (inside_begin * a.stride - a.pad.left) * 3;
        int x = inside_begin;
        if (pairs) {
          for (; x + 2 <= inside_end; x += 2, r += 2, r0 += 6 * a.stride, dst += 2 * kStemWindowWords)
            stem_windows_inside_pair(r0, a.in_row_stride, pair_mask, pair_index, dst);
        }
        for (; x < inside_end; ++x, ++r, r0 += 3 * a.stride, dst += kStemWindowWords)
          stem_window_inside(r0, a.in_row_stride, dst);
      }
      for (int x = inside_end; x < end; ++x, ++r, dst += kStemWindowWords) stem_window(a, oy, x, dst);
    }
  }
};
