// Depthwise 3x3 convolution, vectorized over channels (NHWC). Included by
// kernels_impl.h inside one instruction set's namespace.

inline int dw_in_stride(const DwConvArgs& a) { return a.in_pixel_stride > 0 ? a.in_pixel_stride : a.channels; }
inline int dw_out_stride(const DwConvArgs& a) { return a.out_pixel_stride > 0 ? a.out_pixel_stride : a.channels; }
// The same for bf16 rows of pairs (DwBf16RowsOut), in 32-bit words.
inline int dw_bf16_out_words(const DwConvArgs& a) {
  return a.out_pixel_stride > 0 ? a.out_pixel_stride : a.channels / 2;
}

// Input row iy, the zero row for padding rows; a ring of in_ring_rows rows keeps row iy at slot iy % in_ring_rows.
inline const float* dw_input_row(const DwConvArgs& a, int iy) {
  if (iy < 0 || iy >= a.in_h) return a.zero_row;
  const int slot = a.in_ring_rows > 0 ? iy % a.in_ring_rows : iy;
  return a.input + static_cast<int64_t>(slot) * a.in_w * dw_in_stride(a);
}

// Where the kernels below store output pixels: float32 NHWC rows, pixels CO
// floats apart. An Out has a Row (a handle on output row y, counted from
// output_row_offset) and stores n channels from c0 of pixel ox of a row; the
// bf16 outputs (DwBf16RowsOut below, the A tiles of kernels_avx512_bf16.cpp) are the others.
struct DwFloatOut {
  float* base;
  int64_t row_floats;
  int CO;
  using Row = float*;
  explicit DwFloatOut(const DwConvArgs& a)
      : base(a.output), row_floats(static_cast<int64_t>(a.out_w) * dw_out_stride(a)), CO(dw_out_stride(a)) {}
  Row row(int y) const { return base + y * row_floats; }
  void store(Row r, int ox, int c0, Vec v, int n) const { store_n(v, r + static_cast<int64_t>(ox) * CO + c0, n); }
};

// One output pixel near the left or right border from its three input rows
// (rows[0..2], pixels CI floats apart): only the taps inside the row count.
inline Vec dw_border_sum(const float* const* rows, int ix0, int in_w, int CI, int c0, const Vec* w, Vec bias) {
  Vec acc = bias;
  for (int kx = 0; kx < 3; ++kx) {
    const int ix = ix0 + kx;
    if (ix < 0 || ix >= in_w) continue;
    for (int ky = 0; ky < 3; ++ky) acc = fmadd(Vec::load(rows[ky] + ix * CI + c0), w[ky * 3 + kx], acc);
  }
  return acc;
}

// One output pixel (ox) of R rows for the channel tile at c0: each input vector
// loaded (one tap column of one of the (R-1)*S+3 input rows) feeds every output
// row whose window covers that input row. Pixels are CI floats apart in the
// input rows; `out` stores them.
template <int R, int S, class Out>
inline void dw_interior_pixel(const float* const* rows, const Out& out, const typename Out::Row* out_rows, int CI,
                              int pl, int ox, int c0, int n, const Vec* w, Vec bias, Vec lo, Vec hi) {
  constexpr int NR = (R - 1) * S + 3;
  const int64_t off = static_cast<int64_t>(ox * S - pl) * CI + c0;
  Vec acc[R];
  MBN_UNROLL
  for (int r = 0; r < R; ++r) acc[r] = bias;
  MBN_UNROLL
  for (int kx = 0; kx < 3; ++kx) {
    MBN_UNROLL
    for (int j = 0; j < NR; ++j) {
      const Vec x = Vec::load(rows[j] + off + kx * CI);
      MBN_UNROLL
      for (int r = 0; r < R; ++r) {
        const int ky = j - r * S;
        if (ky >= 0 && ky < 3) acc[r] = fmadd(x, w[ky * 3 + kx], acc[r]);
      }
    }
  }
  MBN_UNROLL
  for (int r = 0; r < R; ++r) out.store(out_rows[r], ox, c0, clamp(acc[r], lo, hi), n);
}

// R output rows starting at oy0. Each channel tile sweeps the rows with its
// weights held in registers.
template <int R, int S, class Out>
void dwconv3x3_block(const DwConvArgs& a, const Out& out, int oy0) {
  constexpr int NR = (R - 1) * S + 3;  // input rows the block reads
  const int C = a.channels, CI = dw_in_stride(a), pl = a.pad.left;
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  const InteriorColumns interior = interior_columns(a.in_w, a.out_w, pl, S);

  const float* rows[NR];
  for (int j = 0; j < NR; ++j) {
    const int iy = oy0 * S - a.pad.top + j;
    rows[j] = dw_input_row(a, iy);
  }
  typename Out::Row out_rows[R];
  for (int r = 0; r < R; ++r) out_rows[r] = out.row(oy0 + r - a.output_row_offset);

  for (int c0 = 0; c0 < C; c0 += W) {
    const int n = imin(W, C - c0);
    Vec w[9];
    MBN_UNROLL
    for (int k = 0; k < 9; ++k) w[k] = Vec::load(a.weights + k * a.channels_padded + c0);
    const Vec bias = Vec::load(a.bias + c0);
    auto border_pixel = [&](int ox) {
      for (int r = 0; r < R; ++r)
        out.store(out_rows[r], ox, c0, clamp(dw_border_sum(rows + r * S, ox * S - pl, a.in_w, CI, c0, w, bias), lo, hi),
                  n);
    };
    for (int ox = 0; ox < interior.begin; ++ox) border_pixel(ox);
    for (int ox = interior.begin; ox < interior.end; ++ox)
      dw_interior_pixel<R, S>(rows, out, out_rows, CI, pl, ox, c0, n, w, bias, lo, hi);
    for (int ox = interior.end; ox < a.out_w; ++ox) border_pixel(ox);
  }
}

// 4-row blocks need 9 weight + 4 accumulator registers and the loads in
// flight, and sliding columns 9 more: only ISAs with 32 vector registers have
// room (AVX2 spills).
#if defined(MBN_VEC_AVX512) || defined(MBN_VEC_NEON)
constexpr int kDwBlockRows = 4;
constexpr bool kDwSlidingColumns = true;
#else
constexpr int kDwBlockRows = 2;
constexpr bool kDwSlidingColumns = false;
#endif

template <int S, class Out>
void dwconv3x3_blocks(const DwConvArgs& a, const Out& out, int row_begin, int row_end) {
  int oy = row_begin;
  for (; oy + kDwBlockRows <= row_end; oy += kDwBlockRows) dwconv3x3_block<kDwBlockRows, S>(a, out, oy);
  if (row_end - oy >= 2) {
    dwconv3x3_block<2, S>(a, out, oy);
    oy += 2;
  }
  if (oy < row_end) dwconv3x3_block<1, S>(a, out, oy);
}

// Output pixels [ox_lo, ox_hi) of one row for the channel tile at ch, from its
// three input rows (r[ky] points at the tile's channels), with one accumulator chain
// per kernel row. With 32 vector registers the window's columns slide along
// in registers: a pixel loads only its new columns, 3 vectors at stride 1 and
// 6 at stride 2 instead of 9 (left to itself, the compiler reloads all nine,
// since the output store might alias them). Same arithmetic either way.
template <int S, class Out>
inline void dw_row_interior(const float* const* r, const Out& out, typename Out::Row out_row, int ch, int CI, int pl,
                            int ox_lo, int ox_hi, int n, const Vec* w, Vec bias, Vec lo, Vec hi) {
  auto pixel = [&](int ox, const Vec* c0, const Vec* c1, const Vec* c2) {
    Vec acc0 = fmadd(c0[0], w[0], bias);
    Vec acc1 = mul(c0[1], w[3]);
    Vec acc2 = mul(c0[2], w[6]);
    acc0 = fmadd(c1[0], w[1], acc0);
    acc1 = fmadd(c1[1], w[4], acc1);
    acc2 = fmadd(c1[2], w[7], acc2);
    acc0 = fmadd(c2[0], w[2], acc0);
    acc1 = fmadd(c2[1], w[5], acc1);
    acc2 = fmadd(c2[2], w[8], acc2);
    out.store(out_row, ox, ch, clamp(add(add(acc0, acc1), acc2), lo, hi), n);
  };
  auto column = [&](int64_t off, Vec* c) { MBN_UNROLL for (int ky = 0; ky < 3; ++ky) c[ky] = Vec::load(r[ky] + off); };
  if (ox_lo >= ox_hi) return;
  if constexpr (kDwSlidingColumns) {
    int64_t off = static_cast<int64_t>(ox_lo * S - pl) * CI;
    Vec c0[3], c1[3], c2[3];
    column(off, c0);
    if (S == 1) column(off + CI, c1);
    for (int ox = ox_lo; ox < ox_hi; ++ox, off += S * CI) {
      if (S == 2) column(off + CI, c1);
      column(off + 2 * CI, c2);
      pixel(ox, c0, c1, c2);
      MBN_UNROLL for (int ky = 0; ky < 3; ++ky) {
        c0[ky] = S == 1 ? c1[ky] : c2[ky];
        if (S == 1) c1[ky] = c2[ky];
      }
    }
  } else {
    for (int ox = ox_lo; ox < ox_hi; ++ox) {
      const int64_t off = static_cast<int64_t>(ox * S - pl) * CI;
      Vec c0[3], c1[3], c2[3];
      column(off, c0);
      column(off + CI, c1);
      column(off + 2 * CI, c2);
      pixel(ox, c0, c1, c2);
    }
  }
}

// One output row at a time, three accumulator chains per pixel (one per
// kernel row): the fastest order while three input rows fit in L1.
template <class Out>
void dwconv3x3_rows(const DwConvArgs& a, const Out& out, int row_begin, int row_end) {
  const int C = a.channels, CI = dw_in_stride(a), s = a.stride, pl = a.pad.left;
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  // The interior columns take the branch-free path.
  const InteriorColumns interior = interior_columns(a.in_w, a.out_w, pl, s);

  for (int oy = row_begin; oy < row_end; ++oy) {
    const float* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = oy * s - a.pad.top + ky;
      rows[ky] = dw_input_row(a, iy);
    }
    const typename Out::Row out_row = out.row(oy - a.output_row_offset);
    for (int c0 = 0; c0 < C; c0 += W) {
      const int n = imin(W, C - c0);
      Vec w[9];
      for (int k = 0; k < 9; ++k) w[k] = Vec::load(a.weights + k * a.channels_padded + c0);
      const Vec bias = Vec::load(a.bias + c0);
      auto border_pixel = [&](int ox) {
        out.store(out_row, ox, c0, clamp(dw_border_sum(rows, ox * s - pl, a.in_w, CI, c0, w, bias), lo, hi), n);
      };
      for (int ox = 0; ox < interior.begin; ++ox) border_pixel(ox);
      const float* in_rows[3] = {rows[0] + c0, rows[1] + c0, rows[2] + c0};
      if (s == 1)
        dw_row_interior<1>(in_rows, out, out_row, c0, CI, pl, interior.begin, interior.end, n, w, bias, lo, hi);
      else
        dw_row_interior<2>(in_rows, out, out_row, c0, CI, pl, interior.begin, interior.end, n, w, bias, lo, hi);
      for (int ox = interior.end; ox < a.out_w; ++ox) border_pixel(ox);
    }
  }
}

// Fewer channels than a vector holds, at stride 1 (0.25's first depthwise layer
// has 8): one vector covers the W / C neighbouring pixels whose channels lie
// side by side in NHWC, with every weight repeated every C lanes. `out` must
// store them side by side too (dense pixels).
template <class Out>
void dwconv3x3_packed_pixels(const DwConvArgs& a, const Out& out, int row_begin, int row_end) {
  const int C = a.channels, P = W / C, pl = a.pad.left;
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  float lanes[W];
  Vec w[9];
  for (int k = 0; k < 9; ++k) {
    for (int l = 0; l < W; ++l) lanes[l] = a.weights[k * a.channels_padded + l % C];
    w[k] = Vec::load(lanes);
  }
  for (int l = 0; l < W; ++l) lanes[l] = a.bias[l % C];
  const Vec bias = Vec::load(lanes);
  const InteriorColumns interior = interior_columns(a.in_w, a.out_w, pl, 1);
  for (int oy = row_begin; oy < row_end; ++oy) {
    const float* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = oy - a.pad.top + ky;
      rows[ky] = dw_input_row(a, iy);
    }
    const typename Out::Row out_row = out.row(oy - a.output_row_offset);
    // One pixel's C lanes: the first C lanes of the repeated weights are the weights.
    auto single_pixel = [&](int ox) {
      out.store(out_row, ox, 0, clamp(dw_border_sum(rows, ox - pl, a.in_w, C, 0, w, bias), lo, hi), C);
    };
    int ox = 0;
    for (; ox < interior.begin; ++ox) single_pixel(ox);
    for (; ox + P <= interior.end; ox += P) {
      const int64_t off = static_cast<int64_t>(ox - pl) * C;
      Vec acc0 = fmadd(Vec::load(rows[0] + off), w[0], bias);
      Vec acc1 = mul(Vec::load(rows[1] + off), w[3]);
      Vec acc2 = mul(Vec::load(rows[2] + off), w[6]);
      acc0 = fmadd(Vec::load(rows[0] + off + C), w[1], acc0);
      acc1 = fmadd(Vec::load(rows[1] + off + C), w[4], acc1);
      acc2 = fmadd(Vec::load(rows[2] + off + C), w[7], acc2);
      acc0 = fmadd(Vec::load(rows[0] + off + 2 * C), w[2], acc0);
      acc1 = fmadd(Vec::load(rows[1] + off + 2 * C), w[5], acc1);
      acc2 = fmadd(Vec::load(rows[2] + off + 2 * C), w[8], acc2);
      out.store(out_row, ox, 0, clamp(add(add(acc0, acc1), acc2), lo, hi), W);  // P pixels
    }
    for (; ox < a.out_w; ++ox) single_pixel(ox);
  }
}

// The variant dwconv3x3 runs, by the layer's shape and pixel strides alone:
// never by how many rows a call asks for (the variants round differently, and
// a pixel must come out the same whichever band, and so whichever thread
// count, computes it) nor by whether the input is a ring of rows.
enum class DwVariant { PackedPixels, Rows, Blocks };

// Wider rows have left L1 by the time the next output row reads them again:
// blocks of output rows read each input row from L2 once instead of 3 times.
// Narrow maps gain nothing (their border columns dominate): measured slower
// below 8 output columns at stride 1 (7x7x1024) and 16 at stride 2 (14x14x256).
constexpr int64_t kL1Bytes = 48 * 1024;
constexpr int kMinBlockColumnsStride1 = 8, kMinBlockColumnsStride2 = 16;

// dense_output: the output's pixels lie side by side (DwFloatOut: a pixel
// stride of channels floats; DwBf16RowsOut: channels / 2 words).
inline DwVariant dw_variant(const DwConvArgs& a, bool dense_output) {
  const int CI = dw_in_stride(a);
  if (a.stride == 1 && a.channels < W && W % a.channels == 0 && CI == a.channels && dense_output)
    return DwVariant::PackedPixels;
  const bool rows_fit_l1 = int64_t{3} * a.in_w * CI * int64_t{sizeof(float)} <= kL1Bytes;
  const int min_block_columns = a.stride == 1 ? kMinBlockColumnsStride1 : kMinBlockColumnsStride2;
  if (rows_fit_l1 || a.out_w < min_block_columns) return DwVariant::Rows;
  return DwVariant::Blocks;
}
inline DwVariant dw_variant(const DwConvArgs& a) { return dw_variant(a, dw_out_stride(a) == a.channels); }

// The rows and blocks variants into `out` (callers run PackedPixels themselves,
// where the output is dense).
template <class Out>
void dwconv3x3_to(const DwConvArgs& a, const Out& out, int row_begin, int row_end) {
  if (dw_variant(a) == DwVariant::Rows) return dwconv3x3_rows(a, out, row_begin, row_end);
  if (a.stride == 1)
    dwconv3x3_blocks<1>(a, out, row_begin, row_end);
  else
    dwconv3x3_blocks<2>(a, out, row_begin, row_end);
}

#if defined(MBN_VEC_SCALAR) || (defined(MBN_VEC_AVX512) && defined(__AVX512BF16__)) || \
    (defined(MBN_VEC_NEON) && defined(MBN_BF16_NEON))
// The depthwise output as rows of bf16 pairs (kernels.h), pixels
// dw_bf16_out_words apart, each value rounded as the bf16 GEMM rounds A
// (bf16_from_float: nearest even, denormals to signed zero, NaN kept quiet),
// so the GEMM reading them computes what it would from the float32 outputs.
struct DwBf16RowsOut {
  uint16_t* base;
  int64_t pixel_elements;
  int64_t row_elements;
  using Row = uint16_t*;
  explicit DwBf16RowsOut(const DwConvArgs& a)
      : base(reinterpret_cast<uint16_t*>(a.output)),
        pixel_elements(2 * int64_t{dw_bf16_out_words(a)}),
        row_elements(a.out_w * pixel_elements) {}
  Row row(int y) const { return base + y * row_elements; }
  void store(Row r, int ox, int c0, Vec v, int n) const {
    uint16_t* dst = r + ox * pixel_elements + c0;
#if defined(MBN_VEC_SCALAR)
    (void)n;
    dst[0] = bf16_from_float(v.v);
#elif defined(MBN_VEC_NEON)
    // One at a time, by the function the bf16 GEMM rounds its A with (gemm_bf16.h).
    float lanes[W];
    v.store(lanes);
    for (int i = 0; i < n; ++i) dst[i] = static_cast<uint16_t>(neon_bf16_round(lanes[i]));
#else
    const __m256i h = (__m256i)_mm512_cvtneps_pbh(v.v);
    if (n >= W)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), h);
    else
      _mm256_mask_storeu_epi16(dst, static_cast<__mmask16>((1u << n) - 1u), h);
#endif
  }
};

// KernelTable::dwconv3x3_bf16_rows: the variant dwconv3x3 runs with dense
// float32 output where these rows are dense.
void dwconv3x3_bf16_rows(const DwConvArgs& a, int row_begin, int row_end) {
  MBN_CHECK(bf16_rows_channels(a.channels),
            "internal error: the bf16 rows depthwise kernel needs an even channel count");
  if (dw_variant(a, 2 * dw_bf16_out_words(a) == a.channels) == DwVariant::PackedPixels)
    return dwconv3x3_packed_pixels(a, DwBf16RowsOut(a), row_begin, row_end);
  dwconv3x3_to(a, DwBf16RowsOut(a), row_begin, row_end);
}
#endif

#if !defined(MBN_DW_TEMPLATES_ONLY)
const char* dwconv3x3_variant(const DwConvArgs& a) {
  switch (dw_variant(a)) {
    case DwVariant::PackedPixels: return "packed";
    case DwVariant::Rows: return "rows";
    case DwVariant::Blocks: break;
  }
  return "blocks";
}

void dwconv3x3(const DwConvArgs& a, int row_begin, int row_end) {
  if (dw_variant(a) == DwVariant::PackedPixels) return dwconv3x3_packed_pixels(a, DwFloatOut(a), row_begin, row_end);
  dwconv3x3_to(a, DwFloatOut(a), row_begin, row_end);
}
#endif
