// AArch64 int8 kernels on the ARMv8.2 dot product (compiled with
// -march=armv8.2-a+dotprod): the GEMM and the depthwise layers on sdot, which
// adds 4 int8 x int8 products into each int32 lane. Entered from the NEON
// table (kernels/int8_neon.h) only where the CPU has it (hwcap asimddp).
// Activations are uint8 storage: sdot multiplies a - 128 (a ^ 0x80) as an
// int8, and the packed weights carry 128 times their sums to add back. Every
// sum is exact in int32 (|(a - 128) w| <= 128 * 128 per product).
#include <arm_neon.h>

#include "kernels.h"

namespace mobilenet {
namespace neon_dot {

namespace {

#include "kernels/int8_neon_common.h"

// sdot acc += a . b (4 bytes to a lane), and by element (b's 4 bytes L), in
// asm: with the intrinsics GCC 12's pre-RA scheduler interleaved the GEMM's 4
// groups of k, whose 16 weight vectors then pushed 6 of the 16 accumulators to
// the stack, and the depthwise kernel copied accumulators. volatile keeps the
// source order, in which they fit in the registers.
inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
  asm volatile("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
}
template <int L>
inline int32x4_t sdot_lane(int32x4_t acc, int8x16_t a, int8x16_t b) {
  asm volatile("sdot %0.4s, %1.16b, %2.4b[%3]" : "+w"(acc) : "w"(a), "w"(b), "i"(L));
  return acc;
}

// ------------------------------------------------------------------ GEMM
// A tile is 4 rows x one panel of 16 columns: 16 accumulators, the packed
// panel's 16-byte vectors (4 columns x 4 k) as they are, and 16 bytes of
// each row (4 groups of k) flipped to int8 once for 4 groups (sdot by element).
constexpr int kDotRows = 4;

template <int L, int MR>
inline void dot_group(int32x4_t (&acc)[MR][4], const int8_t* b, const int8x16_t (&av)[MR]) {
  const int8x16_t w0 = vld1q_s8(b), w1 = vld1q_s8(b + 16), w2 = vld1q_s8(b + 32), w3 = vld1q_s8(b + 48);
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = sdot_lane<L>(acc[r][0], w0, av[r]);
    acc[r][1] = sdot_lane<L>(acc[r][1], w1, av[r]);
    acc[r][2] = sdot_lane<L>(acc[r][2], w2, av[r]);
    acc[r][3] = sdot_lane<L>(acc[r][3], w3, av[r]);
  }
}

template <int MR>
void dot_tile(const Int8GemmArgs& g, int i0, int p, int k4, const int32_t* row_sums, const int32_t* sums128,
              const Int8NeonOut& o) {
  int32x4_t acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = vdupq_n_s32(0);
  const int8_t* b = g.packed_b + int64_t{p} * k4 * 64;
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  const uint8x16_t flip = vdupq_n_u8(0x80);
  int grp = 0;
  for (; grp + 4 <= k4; grp += 4) {  // bytes beyond k meet zero weights
    int8x16_t av[MR];
    for (int r = 0; r < MR; ++r) av[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a + r * g.lda + 4 * grp), flip));
    dot_group<0, MR>(acc, b + grp * 64, av);
    dot_group<1, MR>(acc, b + (grp + 1) * 64, av);
    dot_group<2, MR>(acc, b + (grp + 2) * 64, av);
    dot_group<3, MR>(acc, b + (grp + 3) * 64, av);
  }
  for (; grp < k4; ++grp) {
    int8x16_t av[MR];
    for (int r = 0; r < MR; ++r) {
      uint32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);
      av[r] = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(quad)), flip));
    }
    dot_group<0, MR>(acc, b + grp * 64, av);
  }
  for (int r = 0; r < MR; ++r)
    int8_neon_store_panel(g, g.c + int64_t{i0 + r} * g.ldc, p * kInt8PanelWidth, acc[r], row_sums[r], sums128, o);
}

// ------------------------------------------------------------------ depthwise
// 16 channels of one block at one output pixel: 4 taps' pixels interleaved
// byte by byte, then 16-bit unit by unit (zip1/zip2), give vector v the
// channels 4v..4v+3 with their 4 taps in one lane, against 4 int8 weights w -
// offset (pack_int8_dwconv_dot: lane 16v + 4s + l of the block for sub-block
// s). Where a channel's weights have an offset, sdot against ones sums its
// pixels (less 128) too: sum x w = sum (x - 128)(w - offset) + offset sum (x -
// 128) + 128 sum w, the last term packed.
inline void dot_dw_16(const Int8ConvArgs& a, const uint8_t* const (&tap)[12], int blk, int s, bool offsets,
                      uint8_t* out, const Int8NeonOut& o) {
  const int8_t* w = a.dot + int64_t{blk} * kInt8DwDotBlockBytes;
  const int32_t* params = reinterpret_cast<const int32_t*>(w + 3 * 4 * 64);
  const int c0 = 64 * blk + 16 * s;
  const uint8x16_t flip = vdupq_n_u8(0x80);
  const int8x16_t ones = vdupq_n_s8(1), tap8 = vreinterpretq_s8_s32(vdupq_n_s32(1));
  int32x4_t acc[4], sums[4];
  for (int v = 0; v < 4; ++v) acc[v] = sums[v] = vdupq_n_s32(0);
  for (int g = 0; g < 3; ++g) {
    const int8x16_t t0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(tap[4 * g] + c0), flip));
    const int8x16_t t1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(tap[4 * g + 1] + c0), flip));
    const int8x16_t t2 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(tap[4 * g + 2] + c0), flip));
    const int8x16_t t3 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(tap[4 * g + 3] + c0), flip));
    const int16x8_t lo01 = vreinterpretq_s16_s8(vzip1q_s8(t0, t1)), hi01 = vreinterpretq_s16_s8(vzip2q_s8(t0, t1));
    const int16x8_t lo23 = vreinterpretq_s16_s8(vzip1q_s8(t2, t3)), hi23 = vreinterpretq_s16_s8(vzip2q_s8(t2, t3));
    const int8x16_t quads[4] = {
        vreinterpretq_s8_s16(vzip1q_s16(lo01, lo23)), vreinterpretq_s8_s16(vzip2q_s16(lo01, lo23)),
        vreinterpretq_s8_s16(vzip1q_s16(hi01, hi23)), vreinterpretq_s8_s16(vzip2q_s16(hi01, hi23))};
    for (int v = 0; v < 4; ++v) {
      acc[v] = sdot(acc[v], quads[v], vld1q_s8(w + (g * 4 + v) * 64 + 16 * s));
      if (offsets) sums[v] = sdot(sums[v], quads[v], g < 2 ? ones : tap8);  // taps 9-11 are tap 8 again
    }
  }
  int32x4_t q[4];
  for (int v = 0; v < 4; ++v) {
    const int at = 16 * v + 4 * s;
    int32x4_t sum = vaddq_s32(acc[v], vld1q_s32(params + 256 + at));
    if (offsets) sum = vmlaq_s32(sum, vld1q_s32(params + 192 + at), sums[v]);
    q[v] = int8_requantize4(sum, params + at, params + 64 + at, params + 128 + at, o.zero_point, o.lo, o.hi);
  }
  vst1q_u8(out + c0, int8_narrow16(q[0], q[1], q[2], q[3]));
}

// Whether any channel of the block has a weight offset (w - w_zp spanning more than int8).
bool block_has_offsets(const Int8ConvArgs& a, int blk) {
  const int32_t* offset =
      reinterpret_cast<const int32_t*>(a.dot + int64_t{blk} * kInt8DwDotBlockBytes + 3 * 4 * 64) + 192;
  for (int j = 0; j < 64; ++j)
    if (offset[j] != 0) return true;
  return false;
}

}  // namespace

void int8_gemm(const Int8GemmArgs& g, int m_begin, int m_end) {
  const int k4 = (g.k + 3) / 4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  const int32_t* sums128 = reinterpret_cast<const int32_t*>(g.packed_b + int64_t{panels} * k4 * 4 * kInt8PanelWidth);
  const Int8NeonOut o(g.rq);
  int32_t row_sums[kDotRows] = {};
  for (int i0 = m_begin; i0 < m_end; i0 += kDotRows) {
    const int mr = m_end - i0 < kDotRows ? m_end - i0 : kDotRows;
    for (int r = 0; r < mr; ++r) row_sums[r] = g.has_col_offset ? int8_neon_row_sum(g, i0 + r) : 0;
    for (int p = 0; p < panels; ++p) {
      switch (mr) {
        case 4: dot_tile<4>(g, i0, p, k4, row_sums, sums128, o); break;
        case 3: dot_tile<3>(g, i0, p, k4, row_sums, sums128, o); break;
        case 2: dot_tile<2>(g, i0, p, k4, row_sums, sums128, o); break;
        default: dot_tile<1>(g, i0, p, k4, row_sums, sums128, o); break;
      }
    }
  }
}

// The blocks of 64 channels on sdot (taps in the padding read the zero point
// row, which the packed bias corrects for), the channels past them as the
// plain NEON kernel does them.
void int8_dwconv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  const Int8NeonOut o(a.rq);
  constexpr int kFlags = 64;
  bool offsets[kFlags];
  for (int b = 0; b < a.dot_blocks && b < kFlags; ++b) offsets[b] = block_has_offsets(a, b);
  const int channels = a.in_c;
  for (int oy = row_begin; oy < row_end; ++oy)
    for (int ox = 0; ox < a.out_w; ++ox) {
      const uint8_t* tap[12];
      for (int t = 0; t < 9; ++t) {
        const int iy = oy * a.stride + t / 3 - a.pad.top, ix = ox * a.stride + t % 3 - a.pad.left;
        tap[t] = iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w ? a.zero_point_row
                                                                  : a.input + (int64_t{iy} * a.in_w + ix) * channels;
      }
      tap[9] = tap[10] = tap[11] = tap[8];  // their weights are zero
      uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * channels;
      for (int b = 0; b < a.dot_blocks; ++b) {
        const bool off = b < kFlags ? offsets[b] : true;
        for (int s = 0; s < 4; ++s) dot_dw_16(a, tap, b, s, off, out, o);
      }
      int8_neon_dw_pixel(a, oy, ox, out, 64 * a.dot_blocks, o);
    }
}

}  // namespace neon_dot
}  // namespace mobilenet
