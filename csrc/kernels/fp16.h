// The float16 kernels (Precision::Float16): the stem, the depthwise layers
// and the 1x1 GEMM in half-precision arithmetic, written once over `H8`, a
// vector of 8 halves. Included inside one instruction set's namespace after
// shared.h: by kernels_impl.h for the scalar reference (H8 emulated lane by
// lane, each operation rounded once as fp16.h does), and by
// kernels_neon_fp16.cpp (compiled with +fp16) on Armv8.2 FP16 arithmetic.
// Both run the same operations in the same order, so they agree bit for bit.
//
// Activations stay float32 between layers, holding fp16 values: each kernel
// rounds its inputs to fp16 as it reads them (exact for every layer after the
// stem, whose inputs are fp16 values already), multiplies and sums in fp16
// (one rounding per FMA), and widens its output back to float32. Weights and
// biases are packed once in fp16 (pack.cpp). The classifier and the pooling
// stay float32 (plan.cpp): a sum of 1024 products in fp16 costs accuracy in
// the logits, and both are a few microseconds.

#if defined(MBN_FP16_NEON)

// No fp16 vector constants built from integer bit patterns: Debian 12's
// aarch64 g++ 12 miscompiles some half-precision constants (see
// gemm_bf16.h); zero and the clamp bounds are converted from floats.
struct H8 {
  float16x8_t v;
  static H8 load(const uint16_t* p) { return {vreinterpretq_f16_u16(vld1q_u16(p))}; }
  void store(uint16_t* p) const { vst1q_u16(p, vreinterpretq_u16_f16(v)); }
  // 8 floats, rounded to fp16 (FCVTN: nearest, ties to even).
  static H8 from_floats(const float* p) {
    return {vcombine_f16(vcvt_f16_f32(vld1q_f32(p)), vcvt_f16_f32(vld1q_f32(p + 4)))};
  }
  static H8 broadcast_float(float x) {
    const float16x4_t h = vcvt_f16_f32(vdupq_n_f32(x));
    return {vcombine_f16(h, h)};
  }
  static H8 zero() { return broadcast_float(0.0f); }
  // The first n lanes, widened to float32.
  void store_floats(float* p, int n) const {
    const float32x4_t lo = vcvt_f32_f16(vget_low_f16(v)), hi = vcvt_high_f32_f16(v);
    if (n == 8) {
      vst1q_f32(p, lo);
      vst1q_f32(p + 4, hi);
      return;
    }
    // The tail lane by lane: a copy loop became a memcpy call, and around it GCC
    // reloaded the depthwise row's weights from the stack for every pixel.
    float32x4_t part = lo;
    if (n >= 4) {
      vst1q_f32(p, lo);
      part = hi;
      p += 4;
      n -= 4;
    }
    if (n > 0) vst1q_lane_f32(p, part, 0);
    if (n > 1) vst1q_lane_f32(p + 1, part, 1);
    if (n > 2) vst1q_lane_f32(p + 2, part, 2);
  }
};
// acc + a * b, rounded once (FMLA).
inline H8 hfma(H8 acc, H8 a, H8 b) { return {vfmaq_f16(acc.v, a.v, b.v)}; }
// acc + b * a[J] (FMLA by element), in asm: GCC 12 turned most of the
// intrinsics into a DUP of the lane and a vector FMLA, and copied and spilled
// accumulators of the 8x16 tile. volatile keeps the source order (GCC's pre-RA
// scheduler would interleave the k steps past the 32 registers). a must be in
// v0-v15 ("x").
template <int J>
inline H8 hfma_lane(H8 acc, H8 b, H8 a) {
  asm volatile("fmla %0.8h, %1.8h, %2.h[%3]" : "+w"(acc.v) : "w"(b.v), "x"(a.v), "i"(J));
  return acc;
}
inline H8 hmul(H8 a, H8 b) { return {vmulq_f16(a.v, b.v)}; }
inline H8 hadd(H8 a, H8 b) { return {vaddq_f16(a.v, b.v)}; }
inline H8 hclamp(H8 x, H8 lo, H8 hi) { return {vminq_f16(hi.v, vmaxq_f16(lo.v, x.v))}; }

#elif defined(MBN_VEC_SCALAR)

struct H8 {
  uint16_t h[8];
  static H8 load(const uint16_t* p) {
    H8 r;
    for (int i = 0; i < 8; ++i) r.h[i] = p[i];
    return r;
  }
  void store(uint16_t* p) const {
    for (int i = 0; i < 8; ++i) p[i] = h[i];
  }
  static H8 from_floats(const float* p) {
    H8 r;
    for (int i = 0; i < 8; ++i) r.h[i] = fp16_from_float(p[i]);
    return r;
  }
  static H8 broadcast_float(float x) {
    H8 r;
    for (int i = 0; i < 8; ++i) r.h[i] = fp16_from_float(x);
    return r;
  }
  static H8 zero() { return broadcast_float(0.0f); }
  void store_floats(float* p, int n) const {
    for (int i = 0; i < n; ++i) p[i] = float_from_fp16(h[i]);
  }
};
inline H8 hfma(H8 acc, H8 a, H8 b) {
  H8 r;
  for (int i = 0; i < 8; ++i) r.h[i] = fp16_fma(a.h[i], b.h[i], acc.h[i]);
  return r;
}
template <int J>
inline H8 hfma_lane(H8 acc, H8 b, H8 a) {
  H8 r;
  for (int i = 0; i < 8; ++i) r.h[i] = fp16_fma(b.h[i], a.h[J], acc.h[i]);
  return r;
}
inline H8 hmul(H8 a, H8 b) {
  H8 r;
  for (int i = 0; i < 8; ++i) r.h[i] = fp16_mul(a.h[i], b.h[i]);
  return r;
}
inline H8 hadd(H8 a, H8 b) {
  H8 r;
  for (int i = 0; i < 8; ++i) r.h[i] = fp16_add(a.h[i], b.h[i]);
  return r;
}
// As FMAX and FMIN: NaN from either operand; of two zeros, max is +0 unless
// both are -0, min is -0 if either is.
inline uint16_t fp16_max(uint16_t a, uint16_t b) {
  const double x = double_from_fp16(a), y = double_from_fp16(b);
  if (x != x) return a;
  if (y != y) return b;
  if (x == y) return static_cast<uint16_t>(a & b);
  return x > y ? a : b;
}
inline uint16_t fp16_min(uint16_t a, uint16_t b) {
  const double x = double_from_fp16(a), y = double_from_fp16(b);
  if (x != x) return a;
  if (y != y) return b;
  if (x == y) return static_cast<uint16_t>(a | b);
  return x < y ? a : b;
}
inline H8 hclamp(H8 x, H8 lo, H8 hi) {
  H8 r;
  for (int i = 0; i < 8; ++i) r.h[i] = fp16_min(hi.h[i], fp16_max(lo.h[i], x.h[i]));
  return r;
}

#else
#error "no float16 kernels for this instruction set"
#endif

// The first n (< 8) floats at p rounded, the other lanes zero.
inline H8 h8_from_floats_n(const float* p, int n) {
  float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i) tmp[i] = p[i];
  return H8::from_floats(tmp);
}

// ------------------------------------------------------------------ the GEMM

// Rows of a tile, and panels (of kFp16PanelWidth columns) it covers at once:
// MR x NP accumulators, MR vectors of A's halves, NP of B.
#if defined(MBN_FP16_NEON)
constexpr int kFp16MR = 8;
#else
constexpr int kFp16MR = 2;
#endif
constexpr int kFp16NP = 2;
static_assert(kFp16PanelWidth == 8, "a panel is one vector of halves");
// Halves of A's rounded rows a call holds on its stack at once (64 KB).
constexpr int kFp16ChunkHalves = 32 * 1024;
static_assert(kGemmFp16MaxK + 64 <= kFp16ChunkHalves, "a chunk holds a row of the widest k");

inline int fp16_k_padded(int k) { return (k + 7) / 8 * 8; }

template <int MR, int NP, int J>
MBN_ALWAYS_INLINE inline void fp16_gemm_step(H8 (&acc)[MR][NP], const H8 (&x)[MR], const uint16_t* const (&b)[NP],
                                             int row) {
  H8 w[NP];
  MBN_UNROLL for (int v = 0; v < NP; ++v) w[v] = H8::load(b[v] + (row + J) * kFp16PanelWidth);
  MBN_UNROLL for (int r = 0; r < MR; ++r) MBN_UNROLL for (int v = 0; v < NP; ++v) acc[r][v] =
      hfma_lane<J>(acc[r][v], w[v], x[r]);
}

// MR rows x NP panels of C from MR rounded rows of A (a_stride halves apart):
// each output is the bias plus one FMA per k, in order of k.
template <int MR, int NP>
void fp16_tile(const GemmFp16Args& g, const uint16_t* a, int a_stride, int m0, int panel, int kpad, H8 lo, H8 hi) {
  H8 acc[MR][NP];
  const uint16_t* b[NP];
  MBN_UNROLL for (int v = 0; v < NP; ++v) {
    const H8 bias = H8::load(g.bias + (panel + v) * kFp16PanelWidth);
    MBN_UNROLL for (int r = 0; r < MR; ++r) acc[r][v] = bias;
    b[v] = g.packed_b + static_cast<int64_t>(panel + v) * kpad * kFp16PanelWidth;
  }
  for (int k8 = 0; k8 < kpad; k8 += 8) {
    H8 x[MR];
    MBN_UNROLL for (int r = 0; r < MR; ++r) x[r] = H8::load(a + r * a_stride + k8);
    fp16_gemm_step<MR, NP, 0>(acc, x, b, k8);
    fp16_gemm_step<MR, NP, 1>(acc, x, b, k8);
    fp16_gemm_step<MR, NP, 2>(acc, x, b, k8);
    fp16_gemm_step<MR, NP, 3>(acc, x, b, k8);
    fp16_gemm_step<MR, NP, 4>(acc, x, b, k8);
    fp16_gemm_step<MR, NP, 5>(acc, x, b, k8);
    fp16_gemm_step<MR, NP, 6>(acc, x, b, k8);
    fp16_gemm_step<MR, NP, 7>(acc, x, b, k8);
  }
  MBN_UNROLL for (int v = 0; v < NP; ++v) {
    const int n0 = (panel + v) * kFp16PanelWidth, cols = imin(kFp16PanelWidth, g.n - n0);
    if (cols <= 0) continue;
    MBN_UNROLL for (int r = 0; r < MR; ++r) hclamp(acc[r][v], lo, hi).store_floats(g.c + (m0 + r) * g.ldc + n0, cols);
  }
}

template <int MR, int NP>
void fp16_tile_rows(const GemmFp16Args& g, const uint16_t* a, int a_stride, int m0, int rows, int panel, int kpad,
                    H8 lo, H8 hi) {
  if constexpr (MR > 1) {
    if (rows < MR) return fp16_tile_rows<MR - 1, NP>(g, a, a_stride, m0, rows, panel, kpad, lo, hi);
  }
  fp16_tile<MR, NP>(g, a, a_stride, m0, panel, kpad, lo, hi);
}

// A rounded row's halves: k padded to a multiple of 8 (zeros), rounded up to
// a cache line, plus one where that is a multiple of 1 KB (rows that far
// apart share L1 sets).
inline int fp16_row_halves(int k) {
  const int halves = (fp16_k_padded(k) + 31) / 32 * 32;
  return halves % 512 == 0 ? halves + 32 : halves;
}

void fp16_gemm(const GemmFp16Args& g, int m_begin, int m_end, int panel_begin, int panel_end) {
  const H8 lo = H8::broadcast_float(g.clamp.lo), hi = H8::broadcast_float(g.clamp.hi);
  const int kpad = fp16_k_padded(g.k), a_stride = fp16_row_halves(g.k);
  alignas(64) uint16_t chunk[kFp16ChunkHalves];
  const int chunk_rows = imax(1, kFp16ChunkHalves / a_stride);
  for (int m0 = m_begin; m0 < m_end; m0 += chunk_rows) {
    const int rows = imin(chunk_rows, m_end - m0);
    for (int r = 0; r < rows; ++r) {
      const float* src = g.a + (m0 + r) * g.lda;
      uint16_t* dst = chunk + r * a_stride;
      int kk = 0;
      for (; kk + 8 <= g.k; kk += 8) H8::from_floats(src + kk).store(dst + kk);
      if (kk < kpad) h8_from_floats_n(src + kk, g.k - kk).store(dst + kk);
    }
    for (int p = panel_begin; p < panel_end; p += kFp16NP) {
      const bool pair = p + 1 < panel_end;
      for (int r0 = 0; r0 < rows; r0 += kFp16MR) {
        const int height = imin(kFp16MR, rows - r0);
        const uint16_t* a = chunk + r0 * a_stride;
        if (pair)
          fp16_tile_rows<kFp16MR, kFp16NP>(g, a, a_stride, m0 + r0, height, p, kpad, lo, hi);
        else
          fp16_tile_rows<kFp16MR, 1>(g, a, a_stride, m0 + r0, height, p, kpad, lo, hi);
      }
    }
  }
}

const char* fp16_gemm_variant(const GemmFp16Args&) { return kFp16MR == 8 ? "fp16gemm8x16" : "fp16gemm2x16"; }

// ------------------------------------------------------------ the depthwise

// One output row of a 3x3 depthwise layer. Each output is
// ((acc0 + acc1) + acc2), acc_ky the FMA chain over kernel row ky's three
// columns (acc0 from the bias, acc1 and acc2 from their first product), with
// the taps in the padding read as zeros.
template <int S>
void fp16_dw_row(const DwConvArgs& a, const float* const* rows, float* out_row, int CI, int CO) {
  const int C = a.channels, pl = a.pad.left;
  const H8 lo = H8::broadcast_float(a.clamp.lo), hi = H8::broadcast_float(a.clamp.hi), zero = H8::zero();
  for (int c0 = 0; c0 < C; c0 += 8) {
    const int n = imin(8, C - c0);
    H8 w[9];
    MBN_UNROLL for (int k = 0; k < 9; ++k) w[k] = H8::load(a.weights_fp16 + k * a.channels_padded + c0);
    const H8 bias = H8::load(a.bias_fp16 + c0);
    auto column = [&](int ix, H8* c) {
      if (ix < 0 || ix >= a.in_w) {
        c[0] = c[1] = c[2] = zero;
        return;
      }
      const int64_t off = static_cast<int64_t>(ix) * CI + c0;
      MBN_UNROLL for (int ky = 0; ky < 3; ++ky) c[ky] = H8::from_floats(rows[ky] + off);
    };
    H8 c0v[3], c1v[3], c2v[3];
    column(-pl, c0v);
    if (S == 1) column(1 - pl, c1v);
    for (int ox = 0; ox < a.out_w; ++ox) {
      const int ix = ox * S - pl;
      if (S == 2) column(ix + 1, c1v);
      column(ix + 2, c2v);
      H8 acc0 = hfma(bias, c0v[0], w[0]);
      H8 acc1 = hmul(c0v[1], w[3]);
      H8 acc2 = hmul(c0v[2], w[6]);
      acc0 = hfma(acc0, c1v[0], w[1]);
      acc1 = hfma(acc1, c1v[1], w[4]);
      acc2 = hfma(acc2, c1v[2], w[7]);
      acc0 = hfma(acc0, c2v[0], w[2]);
      acc1 = hfma(acc1, c2v[1], w[5]);
      acc2 = hfma(acc2, c2v[2], w[8]);
      hclamp(hadd(hadd(acc0, acc1), acc2), lo, hi).store_floats(out_row + static_cast<int64_t>(ox) * CO + c0, n);
      MBN_UNROLL for (int ky = 0; ky < 3; ++ky) {
        c0v[ky] = S == 1 ? c1v[ky] : c2v[ky];
        if (S == 1) c1v[ky] = c2v[ky];
      }
    }
  }
}

void fp16_dwconv3x3(const DwConvArgs& a, int row_begin, int row_end) {
  const int CI = a.in_pixel_stride > 0 ? a.in_pixel_stride : a.channels;
  const int CO = a.out_pixel_stride > 0 ? a.out_pixel_stride : a.channels;
  for (int oy = row_begin; oy < row_end; ++oy) {
    const float* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = oy * a.stride - a.pad.top + ky;
      if (iy < 0 || iy >= a.in_h) {
        rows[ky] = a.zero_row;
      } else {
        const int slot = a.in_ring_rows > 0 ? iy % a.in_ring_rows : iy;
        rows[ky] = a.input + static_cast<int64_t>(slot) * a.in_w * CI;
      }
    }
    float* out_row = a.output + static_cast<int64_t>(oy - a.output_row_offset) * a.out_w * CO;
    if (a.stride == 1)
      fp16_dw_row<1>(a, rows, out_row, CI, CO);
    else
      fp16_dw_row<2>(a, rows, out_row, CI, CO);
  }
}

// ----------------------------------------------------------------- the stem

// NV vectors of output channels from co0 of one output pixel: acc_ky the FMA
// chain over kernel row ky's taps (kx, then input channel, in order; taps in
// the padding skipped), acc0 from the bias and the others from zero, then
// ((acc0 + acc1) + acc2).
template <int NV>
void fp16_stem_pixel(const Conv3x3Args& a, int oy, int ox, int co0, H8 lo, H8 hi) {
  H8 acc[3][NV];
  const H8 zero = H8::zero();
  MBN_UNROLL for (int v = 0; v < NV; ++v) {
    acc[0][v] = H8::load(a.bias_fp16 + co0 + v * 8);
    acc[1][v] = acc[2][v] = zero;
  }
  const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
  const int kx_begin = imax(0, -ix0), kx_end = imin(3, a.in_w - ix0);
  MBN_UNROLL for (int ky = 0; ky < 3; ++ky) {
    if (iy0 + ky < 0 || iy0 + ky >= a.in_h) continue;
    for (int kx = kx_begin; kx < kx_end; ++kx) {
      const float* px = a.input + (iy0 + ky) * a.in_row_stride + (ix0 + kx) * a.in_col_stride;
      const uint16_t* wp = a.weights_fp16 + static_cast<int64_t>((ky * 3 + kx) * a.in_c) * a.out_c_padded + co0;
      for (int ci = 0; ci < a.in_c; ++ci) {
        const H8 x = H8::broadcast_float(px[ci * a.in_channel_stride]);
        MBN_UNROLL for (int v = 0; v < NV; ++v) acc[ky][v] = hfma(acc[ky][v], x, H8::load(wp + v * 8));
        wp += a.out_c_padded;
      }
    }
  }
  float* out = a.output + (static_cast<int64_t>(oy - a.output_row_offset) * a.out_w + ox) * a.out_c + co0;
  MBN_UNROLL for (int v = 0; v < NV; ++v) {
    const int n = imin(8, a.out_c - co0 - v * 8);
    if (n > 0) hclamp(hadd(hadd(acc[0][v], acc[1][v]), acc[2][v]), lo, hi).store_floats(out + v * 8, n);
  }
}

void fp16_conv3x3(const Conv3x3Args& a, int row_begin, int row_end) {
  const H8 lo = H8::broadcast_float(a.clamp.lo), hi = H8::broadcast_float(a.clamp.hi);
  for (int oy = row_begin; oy < row_end; ++oy)
    for (int ox = 0; ox < a.out_w; ++ox)
      for (int co0 = 0; co0 < a.out_c; co0 += 32) {
        const int nv = imin(4, (a.out_c - co0 + 7) / 8);
        if (nv == 4)
          fp16_stem_pixel<4>(a, oy, ox, co0, lo, hi);
        else if (nv == 3)
          fp16_stem_pixel<3>(a, oy, ox, co0, lo, hi);
        else if (nv == 2)
          fp16_stem_pixel<2>(a, oy, ox, co0, lo, hi);
        else
          fp16_stem_pixel<1>(a, oy, ox, co0, lo, hi);
      }
}
