// The int8 kernels on AVX-512. The GEMM: vpdpbusd (AVX512-VNNI) where the CPU has it, the
// portable loop otherwise. A tile is kVnniRows rows x kVnniPanels panels of
// 16 columns: 24 zmm accumulators, each vpdpbusd adding 4 products (u8 x s8)
// per lane; the sums are exact in int32 (|a * b| <= 255 * 128, k < 2^16).
// The epilogue requantizes 16 columns at a time with TFLite's rounding.

constexpr int kVnniRows = 6, kVnniPanels = 4;

// TFLite's requantization of 16 int32 sums (columns n0..n0+15), vectorized:
// SaturatingRoundingDoublingHighMul through 64-bit products of the even and odd
// lanes, then RoundingDivideByPOT; the multiplier is never INT32_MIN (it is >= 0),
// so the one saturating case cannot occur.
inline __m512i int8_requantize16(__m512i acc, const Int8Requant& rq, int n0) {
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
  const __m512i shift = _mm512_loadu_si512(rq.shift + n0);
  const __m512i multiplier = _mm512_loadu_si512(rq.multiplier + n0);
  __m512i x = _mm512_add_epi32(acc, _mm512_loadu_si512(rq.bias + n0));
  x = _mm512_sllv_epi32(x, _mm512_max_epi32(shift, zero));
  const __m512i right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
  auto high_half = [&](__m512i product) {  // (product + nudge) / 2^31, truncated toward zero
    const __mmask8 negative = _mm512_cmplt_epi64_mask(product, zero);
    __m512i t = _mm512_add_epi64(product, _mm512_mask_blend_epi64(negative, _mm512_set1_epi64(int64_t{1} << 30),
                                                                  _mm512_set1_epi64(1 - (int64_t{1} << 30))));
    t = _mm512_mask_add_epi64(t, _mm512_cmplt_epi64_mask(t, zero), t, _mm512_set1_epi64((int64_t{1} << 31) - 1));
    return _mm512_srai_epi64(t, 31);
  };
  const __m512i even = high_half(_mm512_mul_epi32(x, multiplier));
  const __m512i odd = high_half(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(multiplier, 32)));
  const __m512i high = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
  const __m512i remainder = _mm512_and_si512(high, mask);
  __m512i threshold = _mm512_srai_epi32(mask, 1);
  threshold = _mm512_mask_add_epi32(threshold, _mm512_cmplt_epi32_mask(high, zero), threshold, one);
  __m512i r = _mm512_srav_epi32(high, right);
  r = _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(remainder, threshold), r, one);
  r = _mm512_add_epi32(r, _mm512_set1_epi32(rq.out_zero_point));
  r = _mm512_max_epi32(r, _mm512_set1_epi32(rq.act_min));
  return _mm512_min_epi32(r, _mm512_set1_epi32(rq.act_max));
}

template <int MR, int NP>
__attribute__((target("avx512vnni"))) void int8_vnni_tile(const Int8GemmArgs& g, int i0, int p0, int k4,
                                                          const int32_t* row_sums) {
  __m512i acc[MR][NP];
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_setzero_si512();
  const int8_t* b = g.packed_b + int64_t{p0} * k4 * 64;
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  for (int grp = 0; grp < k4; ++grp) {
    __m512i bv[NP];
    for (int p = 0; p < NP; ++p) bv[p] = _mm512_loadu_si512(b + (int64_t{p} * k4 + grp) * 64);
    for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);  // beyond k: times zero weights
      const __m512i av = _mm512_set1_epi32(quad);
      for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], av, bv[p]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    uint8_t* c = g.c + int64_t{i0 + r} * g.ldc;
    for (int p = 0; p < NP; ++p) {
      const int n0 = (p0 + p) * kInt8PanelWidth;
      __m512i sum = acc[r][p];
      if (g.has_col_offset)
        sum = _mm512_add_epi32(
            sum, _mm512_mullo_epi32(_mm512_loadu_si512(g.col_offset + n0), _mm512_set1_epi32(row_sums[r])));
      const __m512i q = int8_requantize16(sum, g.rq, n0);
      const int left = g.n - n0;
      const __mmask16 store = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
      _mm_mask_storeu_epi8(c + n0, store, _mm512_cvtepi32_epi8(q));
    }
  }
}

template <int MR>
void int8_vnni_rows(const Int8GemmArgs& g, int i0, int panels, int k4, const int32_t* row_sums) {
  int p0 = 0;
  for (; p0 + kVnniPanels <= panels; p0 += kVnniPanels) int8_vnni_tile<MR, kVnniPanels>(g, i0, p0, k4, row_sums);
  switch (panels - p0) {
    case 3: int8_vnni_tile<MR, 3>(g, i0, p0, k4, row_sums); break;
    case 2: int8_vnni_tile<MR, 2>(g, i0, p0, k4, row_sums); break;
    case 1: int8_vnni_tile<MR, 1>(g, i0, p0, k4, row_sums); break;
    default: break;
  }
}

void int8_gemm_vnni(const Int8GemmArgs& g, int m_begin, int m_end) {
  const int k4 = (g.k + 3) / 4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  int32_t row_sums[kVnniRows] = {};
  for (int i0 = m_begin; i0 < m_end; i0 += kVnniRows) {
    const int rows = m_end - i0 < kVnniRows ? m_end - i0 : kVnniRows;
    if (g.has_col_offset)
      for (int r = 0; r < rows; ++r) {
        const uint8_t* a = g.a + int64_t{i0 + r} * g.lda;
        int32_t s = 0;
        for (int kk = 0; kk < g.k; ++kk) s += a[kk];
        row_sums[r] = s;
      }
    switch (rows) {
      case 6: int8_vnni_rows<6>(g, i0, panels, k4, row_sums); break;
      case 5: int8_vnni_rows<5>(g, i0, panels, k4, row_sums); break;
      case 4: int8_vnni_rows<4>(g, i0, panels, k4, row_sums); break;
      case 3: int8_vnni_rows<3>(g, i0, panels, k4, row_sums); break;
      case 2: int8_vnni_rows<2>(g, i0, panels, k4, row_sums); break;
      default: int8_vnni_rows<1>(g, i0, panels, k4, row_sums); break;
    }
  }
}

void int8_gemm(const Int8GemmArgs& g, int m_begin, int m_end) {
  if (int8_dot_product(Isa::Avx512)) return int8_gemm_vnni(g, m_begin, m_end);
  int8_gemm_portable(g, m_begin, m_end);
}

const char* int8_gemm_variant(const Int8GemmArgs&) { return int8_dot_product(Isa::Avx512) ? "vnni6x64" : "gemm_u8s8"; }

// ------------------------------------------------------------------ stem and depthwise
// 16 channels a vector: uint8 inputs and int16 weights widened to int32, exact
// products (|x - zp| <= 255, |w| <= 255), summed over the taps inside the image.

inline __mmask16 int8_channel_mask(int left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

// TFLite's requantization of 16 sums with their own per-lane parameters (the
// dot-product depthwise layout keeps them in its lane order).
inline __m512i int8_requantize16_at(__m512i acc, const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                                    const Int8Requant& rq) {
  const Int8Requant lanes{bias, multiplier, shift, rq.out_zero_point, rq.act_min, rq.act_max};
  return int8_requantize16(acc, lanes, 0);
}

// Depthwise on 64 channels at a time with vpdpbusd: 4 taps' pixels interleaved
// byte by byte and word by word give each channel its 4 taps in one int32 lane
// (in the lane order of pack_int8_dwconv_dot), against 4 int8 weights; taps in
// the padding read the zero point row, which the packed bias corrects for.
__attribute__((target("avx512vnni"))) void int8_dwconv3x3_dot(const Int8ConvArgs& a, int oy, int ox, uint8_t* out) {
  const int channels = a.in_c;
  const uint8_t* tap[12];
  for (int t = 0; t < 9; ++t) {
    const int iy = oy * a.stride + t / 3 - a.pad.top, ix = ox * a.stride + t % 3 - a.pad.left;
    tap[t] = iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w ? a.zero_point_row
                                                              : a.input + (int64_t{iy} * a.in_w + ix) * channels;
  }
  tap[9] = tap[10] = tap[11] = tap[8];  // their weights are zero
  const __m512i ones[3] = {_mm512_set1_epi32(0x01010101), _mm512_set1_epi32(0x01010101), _mm512_set1_epi32(0x00000001)};
  for (int b = 0; b < a.dot_blocks; ++b) {
    const int8_t* w = a.dot + int64_t{b} * kInt8DwDotBlockBytes;
    const int32_t* params = reinterpret_cast<const int32_t*>(w + 3 * 4 * 64);
    __m512i acc[4], sums[4];
    for (int v = 0; v < 4; ++v) acc[v] = sums[v] = _mm512_setzero_si512();
    for (int g = 0; g < 3; ++g) {
      const int c0 = 64 * b;
      const __m512i t0 = _mm512_loadu_si512(tap[4 * g] + c0), t1 = _mm512_loadu_si512(tap[4 * g + 1] + c0);
      const __m512i t2 = _mm512_loadu_si512(tap[4 * g + 2] + c0), t3 = _mm512_loadu_si512(tap[4 * g + 3] + c0);
      const __m512i lo01 = _mm512_unpacklo_epi8(t0, t1), hi01 = _mm512_unpackhi_epi8(t0, t1);
      const __m512i lo23 = _mm512_unpacklo_epi8(t2, t3), hi23 = _mm512_unpackhi_epi8(t2, t3);
      const __m512i quads[4] = {_mm512_unpacklo_epi16(lo01, lo23), _mm512_unpackhi_epi16(lo01, lo23),
                                _mm512_unpacklo_epi16(hi01, hi23), _mm512_unpackhi_epi16(hi01, hi23)};
      for (int v = 0; v < 4; ++v) {
        acc[v] = _mm512_dpbusd_epi32(acc[v], quads[v], _mm512_loadu_si512(w + (g * 4 + v) * 64));
        sums[v] = _mm512_dpbusd_epi32(sums[v], quads[v], ones[g]);
      }
    }
    __m512i q[4];
    for (int v = 0; v < 4; ++v) {
      // sum (w - offset) x + offset sum x = sum w x; the bias holds -zero_point sum w.
      const __m512i sum =
          _mm512_add_epi32(acc[v], _mm512_mullo_epi32(_mm512_loadu_si512(params + 192 + 16 * v), sums[v]));
      q[v] = int8_requantize16_at(sum, params + 16 * v, params + 64 + 16 * v, params + 128 + 16 * v, a.rq);
    }
    // Packing back to bytes undoes the interleaves: channels in order.
    const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
    _mm512_storeu_si512(out + 64 * b, bytes);
  }
}

void int8_dwconv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int channels = a.in_c, cp = a.channels_padded;
  const bool dot = a.dot != nullptr && a.dot_blocks > 0 && int8_dot_product(Isa::Avx512);
  const int c_begin = dot ? 64 * a.dot_blocks : 0;
  const __m512i zp = _mm512_set1_epi32(a.in_zero_point);
  for (int oy = row_begin; oy < row_end; ++oy) {
    const int iy0 = oy * a.stride - a.pad.top;
    const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a.in_h - iy0 < 3 ? a.in_h - iy0 : 3;
    for (int ox = 0; ox < a.out_w; ++ox) {
      const int ix0 = ox * a.stride - a.pad.left;
      const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a.in_w - ix0 < 3 ? a.in_w - ix0 : 3;
      uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * channels;
      if (dot) int8_dwconv3x3_dot(a, oy, ox, out);
      for (int c0 = c_begin; c0 < channels; c0 += 16) {
        const __mmask16 mask = int8_channel_mask(channels - c0);
        __m512i acc = _mm512_setzero_si512();
        for (int ky = ky0; ky < ky1; ++ky)
          for (int kx = kx0; kx < kx1; ++kx) {
            const uint8_t* x = a.input + (int64_t{iy0 + ky} * a.in_w + ix0 + kx) * channels + c0;
            const __m512i xv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, x)), zp);
            const __m512i wv = _mm512_cvtepi16_epi32(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.weights + int64_t{ky * 3 + kx} * cp + c0)));
            acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, wv));
          }
        _mm_mask_storeu_epi8(out + c0, mask, _mm512_cvtepi32_epi8(int8_requantize16(acc, a.rq, c0)));
      }
    }
  }
}

// vpdpbusd on the packed blocks of 64 channels (execute.cpp passes them where
// the layer has any) where the CPU has AVX512-VNNI, else 32-bit multiplies.
const char* int8_dwconv3x3_variant(const Int8ConvArgs& a) {
  return int8_dwconv_dot_blocks(a.in_c) > 0 && int8_dot_product(Isa::Avx512) ? "vnni" : "mullo";
}

void int8_conv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int cp = a.channels_padded;
  for (int oy = row_begin; oy < row_end; ++oy) {
    const int iy0 = oy * a.stride - a.pad.top;
    const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a.in_h - iy0 < 3 ? a.in_h - iy0 : 3;
    for (int ox = 0; ox < a.out_w; ++ox) {
      const int ix0 = ox * a.stride - a.pad.left;
      const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a.in_w - ix0 < 3 ? a.in_w - ix0 : 3;
      uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * a.out_c;
      for (int c0 = 0; c0 < a.out_c; c0 += 16) {
        __m512i acc = _mm512_setzero_si512();
        for (int ky = ky0; ky < ky1; ++ky)
          for (int kx = kx0; kx < kx1; ++kx) {
            const uint8_t* x = a.input + (int64_t{iy0 + ky} * a.in_w + ix0 + kx) * a.in_c;
            const int16_t* w = a.weights + int64_t{(ky * 3 + kx) * a.in_c} * cp + c0;
            for (int ci = 0; ci < a.in_c; ++ci) {
              const __m512i xv = _mm512_set1_epi32(int32_t{x[ci]} - a.in_zero_point);
              const __m512i wv =
                  _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + int64_t{ci} * cp)));
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, wv));
            }
          }
        _mm_mask_storeu_epi8(out + c0, int8_channel_mask(a.out_c - c0),
                             _mm512_cvtepi32_epi8(int8_requantize16(acc, a.rq, c0)));
      }
    }
  }
}
