// The int8 kernels on AArch64 Advanced SIMD. Two forms, both exact (int32
// sums, TFLite's requantization: int8_neon_common.h), chosen at run time:
//  - the ARMv8.2 dot product (sdot), where the CPU has it (hwcap asimddp,
//    int8_dot_product(Isa::Neon)): the GEMM and depthwise layers in
//    kernels_neon_int8dot.cpp, compiled for armv8.2-a+dotprod and entered
//    only through the checks below, so a CPU without it never runs them;
//  - plain NEON otherwise (here, baseline ARMv8.0): the widening multiply-adds
//    smlal on int16, every product (|x| <= 255, |w| <= 255) exact in int32.
// The stem (27 taps of 3 channels) and the average pool have one form: smlal
// by a broadcast scalar, and widening byte adds.

#include "int8_neon_common.h"

// ------------------------------------------------------------------ GEMM, plain NEON
// A tile is 4 rows x one panel of 16 columns: 16 int32 accumulators. The
// packed panel (Int8GemmArgs: k in groups of 4, 4 bytes a column) is read
// with ld4, which deinterleaves a group into 4 vectors of the 16 columns'
// weights at k = 4g..4g+3; widened to int16, each multiplies a lane of the
// row's int16 activations (smlal by element).
constexpr int kNeonInt8Rows = 4;

// smlal / smlal2 by element (acc += the low / high half of x times a[L]), in
// asm: with the intrinsics GCC 12 copied accumulators between registers and
// stored some on the stack every k step. volatile keeps the source order, in
// which the 4x16 tile fits in the registers (GCC's pre-RA scheduler would
// interleave the k steps). a must be in v0-v15 ("x").
template <int L>
inline int32x4_t smlal_lane(int32x4_t acc, int16x8_t x, int16x8_t a) {
  asm volatile("smlal %0.4s, %1.4h, %2.h[%3]" : "+w"(acc) : "w"(x), "x"(a), "i"(L));
  return acc;
}
template <int L>
inline int32x4_t smlal2_lane(int32x4_t acc, int16x8_t x, int16x8_t a) {
  asm volatile("smlal2 %0.4s, %1.8h, %2.h[%3]" : "+w"(acc) : "w"(x), "x"(a), "i"(L));
  return acc;
}

template <int L, int MR>
inline void int8_neon_k(int32x4_t (&acc)[MR][4], int8x16_t w, const int16x8_t (&av)[MR]) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(w)), hi = vmovl_high_s8(w);
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = smlal_lane<L>(acc[r][0], lo, av[r]);
    acc[r][1] = smlal2_lane<L>(acc[r][1], lo, av[r]);
    acc[r][2] = smlal_lane<L>(acc[r][2], hi, av[r]);
    acc[r][3] = smlal2_lane<L>(acc[r][3], hi, av[r]);
  }
}

// One group of 4 k; the rows' activations for it are in lanes L..L+3.
template <int L, int MR>
inline void int8_neon_group(int32x4_t (&acc)[MR][4], const int8_t* b, const int16x8_t (&av)[MR]) {
  const int8x16x4_t w = vld4q_s8(b);
  int8_neon_k<L, MR>(acc, w.val[0], av);
  int8_neon_k<L + 1, MR>(acc, w.val[1], av);
  int8_neon_k<L + 2, MR>(acc, w.val[2], av);
  int8_neon_k<L + 3, MR>(acc, w.val[3], av);
}

template <int MR>
void int8_neon_tile(const Int8GemmArgs& g, int i0, int p, int k4, const int32_t* row_sums, const Int8NeonOut& o) {
  int32x4_t acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = vdupq_n_s32(0);
  const int8_t* b = g.packed_b + int64_t{p} * k4 * 64;
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  int grp = 0;
  for (; grp + 2 <= k4; grp += 2) {  // 8 k: bytes beyond k meet zero weights
    int16x8_t av[MR];
    for (int r = 0; r < MR; ++r) av[r] = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(a + r * g.lda + 4 * grp)));
    int8_neon_group<0, MR>(acc, b + grp * 64, av);
    int8_neon_group<4, MR>(acc, b + (grp + 1) * 64, av);
  }
  if (grp < k4) {
    int16x8_t av[MR];
    for (int r = 0; r < MR; ++r) {
      uint32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);
      av[r] = vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(quad))));
    }
    int8_neon_group<0, MR>(acc, b + grp * 64, av);
  }
  // Unrolled: rolled, GCC kept the accumulators' stack copies up to date every k step.
  MBN_UNROLL for (int r = 0; r < MR; ++r) {
    int8_neon_store_panel(g, g.c + int64_t{i0 + r} * g.ldc, p * kInt8PanelWidth, acc[r], row_sums[r], nullptr, o);
  }
}

void int8_gemm_smlal(const Int8GemmArgs& g, int m_begin, int m_end) {
  const int k4 = (g.k + 3) / 4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  const Int8NeonOut o(g.rq);
  int32_t row_sums[kNeonInt8Rows] = {};
  for (int i0 = m_begin; i0 < m_end; i0 += kNeonInt8Rows) {
    const int mr = m_end - i0 < kNeonInt8Rows ? m_end - i0 : kNeonInt8Rows;
    for (int r = 0; r < mr; ++r) row_sums[r] = g.has_col_offset ? int8_neon_row_sum(g, i0 + r) : 0;
    for (int p = 0; p < panels; ++p) {
      switch (mr) {
        case 4: int8_neon_tile<4>(g, i0, p, k4, row_sums, o); break;
        case 3: int8_neon_tile<3>(g, i0, p, k4, row_sums, o); break;
        case 2: int8_neon_tile<2>(g, i0, p, k4, row_sums, o); break;
        default: int8_neon_tile<1>(g, i0, p, k4, row_sums, o); break;
      }
    }
  }
}

bool int8_neon_dot() {
#if defined(MBN_HAVE_NEON_INT8_DOT)
  return int8_dot_product(Isa::Neon);
#else
  return false;
#endif
}

void int8_gemm(const Int8GemmArgs& g, int m_begin, int m_end) {
#if defined(MBN_HAVE_NEON_INT8_DOT)
  if (int8_neon_dot()) return neon_dot::int8_gemm(g, m_begin, m_end);
#endif
  int8_gemm_smlal(g, m_begin, m_end);
}

const char* int8_gemm_variant(const Int8GemmArgs&) { return int8_neon_dot() ? "sdot4x16" : "smlal4x16"; }

// ------------------------------------------------------------------ depthwise
void int8_dwconv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
#if defined(MBN_HAVE_NEON_INT8_DOT)
  if (a.dot != nullptr && a.dot_blocks > 0 && int8_neon_dot()) return neon_dot::int8_dwconv3x3(a, row_begin, row_end);
#endif
  const Int8NeonOut o(a.rq);
  for (int oy = row_begin; oy < row_end; ++oy)
    for (int ox = 0; ox < a.out_w; ++ox)
      int8_neon_dw_pixel(a, oy, ox, a.output + (int64_t{oy} * a.out_w + ox) * a.in_c, 0, o);
}

// The dot-product form where the layer has whole blocks of 64 channels (the
// packed layout execute.cpp passes for them) and the CPU has it.
const char* int8_dwconv3x3_variant(const Int8ConvArgs& a) {
  return int8_dwconv_dot_blocks(a.in_c) > 0 && int8_neon_dot() ? "sdot" : "smlal";
}

// ------------------------------------------------------------------ the stem
// 16 output channels a step: each (tap, input channel)'s x - zero point, a
// scalar, times 16 int16 weights (smlal by element), over the taps inside the image.
void int8_conv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int cp = a.channels_padded;
  const Int8NeonOut o(a.rq);
  for (int oy = row_begin; oy < row_end; ++oy) {
    const int iy0 = oy * a.stride - a.pad.top;
    const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a.in_h - iy0 < 3 ? a.in_h - iy0 : 3;
    for (int ox = 0; ox < a.out_w; ++ox) {
      const int ix0 = ox * a.stride - a.pad.left;
      const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a.in_w - ix0 < 3 ? a.in_w - ix0 : 3;
      uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * a.out_c;
      for (int c0 = 0; c0 < a.out_c; c0 += 16) {
        int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int ky = ky0; ky < ky1; ++ky)
          for (int kx = kx0; kx < kx1; ++kx) {
            const uint8_t* x = a.input + (int64_t{iy0 + ky} * a.in_w + ix0 + kx) * a.in_c;
            const int16_t* w = a.weights + int64_t{(ky * 3 + kx) * a.in_c} * cp + c0;
            for (int ci = 0; ci < a.in_c; ++ci) {
              const int16_t xv = static_cast<int16_t>(int{x[ci]} - a.in_zero_point);
              const int16x8_t w0 = vld1q_s16(w + int64_t{ci} * cp), w1 = vld1q_s16(w + int64_t{ci} * cp + 8);
              acc[0] = vmlal_n_s16(acc[0], vget_low_s16(w0), xv);
              acc[1] = vmlal_high_n_s16(acc[1], w0, xv);
              acc[2] = vmlal_n_s16(acc[2], vget_low_s16(w1), xv);
              acc[3] = vmlal_high_n_s16(acc[3], w1, xv);
            }
          }
        int32x4_t q[4];
        for (int v = 0; v < 4; ++v) {
          const int at = c0 + 4 * v;
          q[v] =
              int8_requantize4(acc[v], a.rq.bias + at, a.rq.multiplier + at, a.rq.shift + at, o.zero_point, o.lo, o.hi);
        }
        int8_store_n(out + c0, int8_narrow16(q[0], q[1], q[2], q[3]), a.out_c - c0);
      }
    }
  }
}

// ------------------------------------------------------------------ average pool
// The sums of 16 channels over the pixels: byte adds into uint16 lanes
// (uaddw), flushed to uint32 every 256 pixels (256 * 255 < 2^16); the
// rounding and clamp are the portable ones (int8_avgpool_finish).
void int8_avgpool(const Int8PoolArgs& a) {
  int c0 = 0;
  for (; c0 + 16 <= a.channels; c0 += 16) {
    uint32x4_t sum[4] = {vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0)};
    for (int p0 = 0; p0 < a.pixels; p0 += 256) {
      const int p1 = a.pixels - p0 < 256 ? a.pixels : p0 + 256;
      uint16x8_t lo = vdupq_n_u16(0), hi = vdupq_n_u16(0);
      for (int p = p0; p < p1; ++p) {
        const uint8x16_t x = vld1q_u8(a.input + int64_t{p} * a.channels + c0);
        lo = vaddw_u8(lo, vget_low_u8(x));
        hi = vaddw_high_u8(hi, x);
      }
      sum[0] = vaddw_u16(sum[0], vget_low_u16(lo));
      sum[1] = vaddw_high_u16(sum[1], lo);
      sum[2] = vaddw_u16(sum[2], vget_low_u16(hi));
      sum[3] = vaddw_high_u16(sum[3], hi);
    }
    alignas(16) uint32_t sums[16];
    for (int v = 0; v < 4; ++v) vst1q_u32(sums + 4 * v, sum[v]);
    for (int j = 0; j < 16; ++j) a.output[c0 + j] = int8_avgpool_finish(a, static_cast<int32_t>(sums[j]));
  }
  for (int c = c0; c < a.channels; ++c) {
    int32_t acc = 0;
    for (int p = 0; p < a.pixels; ++p) acc += a.input[int64_t{p} * a.channels + c];
    a.output[c] = int8_avgpool_finish(a, acc);
  }
}
