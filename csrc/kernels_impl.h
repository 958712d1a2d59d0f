// Kernel templates written once over `Vec` and compiled once per instruction
// set. A kernels_<isa>.cpp file defines MBN_KERNEL_NS, one MBN_VEC_* macro and
// the GEMM tile (MBN_GEMM_MR rows x MBN_GEMM_NR_VECS vectors), then includes
// this file. Everything lives in that ISA's namespace: no std:: algorithms are
// used here, so no out-of-line function compiled with wide instructions can be
// shared with (and picked by the linker for) a narrower translation unit.
#include "kernels.h"

namespace mobilenet {
namespace MBN_KERNEL_NS {

#include "simd_vec.h"

namespace {

constexpr int W = Vec::width;
constexpr int kGemmMR = MBN_GEMM_MR;
constexpr int kGemmNR = MBN_GEMM_NR_VECS * W;
// Accumulator registers the stem kernel may use (the rest hold weights and inputs).
constexpr int kStemAccumulators = MBN_STEM_ACCUMULATORS;

// Register-blocked loops must be fully unrolled, or the accumulator arrays
// live on the stack (GCC leaves 24-iteration loops rolled by default).
#define MBN_UNROLL _Pragma("GCC unroll 32")

inline int imin(int a, int b) { return a < b ? a : b; }
inline int imax(int a, int b) { return a > b ? a : b; }

inline void store_n(Vec v, float* p, int n) {
  if (n == W)
    v.store(p);
  else
    v.store_partial(p, n);
}

// ---------------------------------------------------------------- stem conv

// One output pixel near the border: only the taps inside the image count.
// One accumulator chain per kernel row and vector, summed at the end: a single
// chain per vector made each pixel wait on 27 dependent FMAs (the bottom row
// and right column of a 'SAME' stem take this path: 223 pixels at 224x224).
template <int NV>
inline void conv3x3_pixel(const Conv3x3Args& a, int oy, int ox, int co0, Vec lo, Vec hi) {
  Vec acc[3][NV];
  MBN_UNROLL for (int v = 0; v < NV; ++v) {
    acc[0][v] = Vec::load(a.bias + co0 + v * W);
    acc[1][v] = acc[2][v] = Vec::zero();
  }
  const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
  const int kx_begin = imax(0, -ix0), kx_end = imin(3, a.in_w - ix0);
  MBN_UNROLL for (int ky = 0; ky < 3; ++ky) {
    if (iy0 + ky < 0 || iy0 + ky >= a.in_h) continue;
    for (int kx = kx_begin; kx < kx_end; ++kx) {
      const float* px = a.input + (iy0 + ky) * a.in_row_stride + (ix0 + kx) * a.in_col_stride;
      const float* wp = a.weights + static_cast<int64_t>((ky * 3 + kx) * a.in_c) * a.out_c_padded + co0;
      for (int ci = 0; ci < a.in_c; ++ci) {
        const Vec x = Vec::broadcast(px[ci * a.in_channel_stride]);
        MBN_UNROLL for (int v = 0; v < NV; ++v) acc[ky][v] = fmadd(x, Vec::load(wp + v * W), acc[ky][v]);
        wp += a.out_c_padded;
      }
    }
  }
  float* out = a.output + (static_cast<int64_t>(oy - a.output_row_offset) * a.out_w + ox) * a.out_c + co0;
  MBN_UNROLL for (int v = 0; v < NV; ++v)
    store_n(clamp(add(add(acc[0][v], acc[1][v]), acc[2][v]), lo, hi), out + v * W, imin(W, a.out_c - co0 - v * W));
}

// PX interior pixels of one row at once: each weight vector loaded serves PX
// pixels, and PX x NV independent accumulators hide the FMA latency.
// DENSE: dense NHWC RGB at stride 2 (the usual stem), where every input offset
// is a compile-time constant, so the loads use immediate displacements instead
// of one register (or stack slot) per pixel offset.
template <int NV, int PX, int CIN, bool DENSE>
inline void conv3x3_interior(const Conv3x3Args& a, int oy, int ox0, int co0, Vec lo, Vec hi) {
  const int in_c = DENSE ? 3 : CIN > 0 ? CIN : a.in_c;  // CIN = 3 (RGB) is unrolled at compile time
  const int64_t col_step = DENSE ? 3 : a.in_col_stride;
  const int64_t channel_step = DENSE ? 1 : a.in_channel_stride;
  const int64_t pixel_step = DENSE ? 6 : a.stride * a.in_col_stride;
  Vec acc[PX][NV];
  MBN_UNROLL for (int v = 0; v < NV; ++v) {
    const Vec bias = Vec::load(a.bias + co0 + v * W);
    MBN_UNROLL for (int p = 0; p < PX; ++p) acc[p][v] = bias;
  }
  const float* base = a.input + (oy * a.stride - a.pad.top) * a.in_row_stride + (ox0 * a.stride - a.pad.left) * col_step;
  const float* wp = a.weights + co0;
  for (int ky = 0; ky < 3; ++ky) {
    // Rolled tap loops: unrolled, the compiler shares broadcasts between taps
    // that read the same input (kx = 2 of pixel p is kx = 0 of pixel p + 1)
    // and spills them.
    _Pragma("GCC unroll 1") for (int kx = 0; kx < 3; ++kx) {
      const float* px = base + ky * a.in_row_stride + kx * col_step;
      _Pragma("GCC unroll 1") for (int ci = 0; ci < in_c; ++ci) {
        Vec w[NV];
        MBN_UNROLL for (int v = 0; v < NV; ++v) w[v] = Vec::load(wp + v * W);
        const float* x = px + ci * channel_step;
        MBN_UNROLL for (int p = 0; p < PX; ++p) {
          const Vec xv = Vec::broadcast(x[p * pixel_step]);
          MBN_UNROLL for (int v = 0; v < NV; ++v) acc[p][v] = fmadd(xv, w[v], acc[p][v]);
        }
        wp += a.out_c_padded;
      }
    }
  }
  float* out = a.output + (static_cast<int64_t>(oy - a.output_row_offset) * a.out_w + ox0) * a.out_c + co0;
  if (a.clamp.unbounded_above()) {  // ReLU: the lower bound alone
    MBN_UNROLL for (int p = 0; p < PX; ++p)
      MBN_UNROLL for (int v = 0; v < NV; ++v)
        store_n(clamp_below(acc[p][v], lo), out + p * a.out_c + v * W, imin(W, a.out_c - co0 - v * W));
    return;
  }
  MBN_UNROLL for (int p = 0; p < PX; ++p)
    MBN_UNROLL for (int v = 0; v < NV; ++v)
      store_n(clamp(acc[p][v], lo, hi), out + p * a.out_c + v * W, imin(W, a.out_c - co0 - v * W));
}

template <int NV, int CIN, bool DENSE>
void conv3x3_row(const Conv3x3Args& a, int oy, int co0, Vec lo, Vec hi) {
  constexpr int PX = kStemAccumulators / NV > 0 ? kStemAccumulators / NV : 1;
  constexpr int PX_TAIL = PX >= 4 ? 4 : 1;
  const int iy0 = oy * a.stride - a.pad.top;
  int ox = 0;
  if (iy0 >= 0 && iy0 + 3 <= a.in_h) {
    // Columns whose three taps all lie inside the row.
    const int ox_lo = imin(a.out_w, (a.pad.left + a.stride - 1) / a.stride);
    const int ox_hi = a.in_w - 3 + a.pad.left >= 0 ? imin(a.out_w, (a.in_w - 3 + a.pad.left) / a.stride + 1) : 0;
    for (; ox < ox_lo; ++ox) conv3x3_pixel<NV>(a, oy, ox, co0, lo, hi);
    for (; ox + PX <= ox_hi; ox += PX) conv3x3_interior<NV, PX, CIN, DENSE>(a, oy, ox, co0, lo, hi);
    // The remainder as one block of a third, two thirds or all of PX that may
    // overlap the previous block: recomputing a few pixels is cheaper than
    // narrow, latency-bound blocks.
    constexpr int PX1 = PX / 3 > 0 ? PX / 3 : 1, PX2 = 2 * PX / 3 > 0 ? 2 * PX / 3 : 1;
    const int rest = ox_hi - ox;
    if (ox > ox_lo && rest > 0 && rest <= PX1 && ox_hi - PX1 >= ox_lo) {
      conv3x3_interior<NV, PX1, CIN, DENSE>(a, oy, ox_hi - PX1, co0, lo, hi);
      ox = ox_hi;
    } else if (ox > ox_lo && rest > 0 && rest <= PX2 && ox_hi - PX2 >= ox_lo) {
      conv3x3_interior<NV, PX2, CIN, DENSE>(a, oy, ox_hi - PX2, co0, lo, hi);
      ox = ox_hi;
    } else if (ox > ox_lo && rest > 0) {
      conv3x3_interior<NV, PX, CIN, DENSE>(a, oy, ox_hi - PX, co0, lo, hi);
      ox = ox_hi;
    }
    for (; ox + PX_TAIL <= ox_hi; ox += PX_TAIL) conv3x3_interior<NV, PX_TAIL, CIN, DENSE>(a, oy, ox, co0, lo, hi);
    for (; ox < ox_hi; ++ox) conv3x3_interior<NV, 1, CIN, DENSE>(a, oy, ox, co0, lo, hi);
  }
  for (; ox < a.out_w; ++ox) conv3x3_pixel<NV>(a, oy, ox, co0, lo, hi);
}

#if defined(MBN_VEC_AVX512)
// Stems with at most 16 output channels (alpha 0.25 and 0.5), dense NHWC RGB
// at stride 2. A lane holds (channel k, tap parity t), 8 channels a vector:
// one 64-bit broadcast brings two neighbouring taps of a pixel (a row of the
// 3x3 window is 9 contiguous floats), so a pixel needs 3 x (4 pair + 1 single)
// = 15 broadcasts instead of 27, and 15 FMAs per 8 channels. For 8 channels
// that halves the FMAs (a 16-channel vector would waste half its lanes); for
// 16 it trades 27 FMAs for 30 but halves the broadcast loads, which limit the
// one-tap-per-lane kernel. The two parities are summed once at the end.
constexpr int kPairVecs = 3 * 5;  // per kernel row: taps (0,1) (2,3) (4,5) (6,7) (8,-)

// The weights in this layout (pack_stem_pair_weights, kernels.h) are packed
// once at load and passed as Conv3x3Args::pair_weights.
static_assert(kPairVecs + 1 == kStemPairVectors, "pair layout: 15 tap-pair vectors and the bias per 8 channels");

// Three input rows as dense RGB: pixel ox's window starts at rows + (2 ox - col0) * 3.
struct PairRows {
  const float* rows;
  int64_t row_stride;
  int col0;
};

template <int NV, int PX>  // NV odd: PX even
inline void conv3x3_pairs_interior(const Conv3x3Args& a, const float* wpair, const PairRows& src, int oy, int ox0,
                                   Vec lo, Vec hi) {
  static_assert(NV % 2 == 0 || PX % 2 == 0, "an odd last vector is written two pixels at a time");
  __m512 acc[PX][NV];
  MBN_UNROLL for (int v = 0; v < NV; ++v) {
    const __m512 bias = _mm512_loadu_ps(wpair + (kPairVecs * NV + v) * 16);
    MBN_UNROLL for (int p = 0; p < PX; ++p) acc[p][v] = bias;
  }
  const float* base = src.rows + (ox0 * 2 - src.col0) * 3;
  for (int ky = 0; ky < 3; ++ky) {
    const float* row = base + ky * src.row_stride;
    const float* wrow = wpair + ky * 5 * NV * 16;
    _Pragma("GCC unroll 1") for (int j = 0; j < 4; ++j) {
      __m512 w[NV];
      MBN_UNROLL for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_ps(wrow + (j * NV + v) * 16);
      // Hide where x points: otherwise GCC notices that pair j + 3 of pixel p
      // is pair j of pixel p + 1 and carries loaded values across iterations
      // through the stack.
      const float* x = row + 2 * j;
      asm("" : "+r"(x));
      MBN_UNROLL for (int p = 0; p < PX; ++p) {
        double pair;  // two floats, possibly misaligned as a double
        __builtin_memcpy(&pair, x + p * 6, sizeof pair);
        const __m512 xp = _mm512_castpd_ps(_mm512_set1_pd(pair));
        MBN_UNROLL for (int v = 0; v < NV; ++v) acc[p][v] = _mm512_fmadd_ps(xp, w[v], acc[p][v]);
      }
    }
    __m512 w[NV];
    MBN_UNROLL for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_ps(wrow + (4 * NV + v) * 16);
    MBN_UNROLL for (int p = 0; p < PX; ++p) {
      const __m512 xp = _mm512_set1_ps(row[p * 6 + 8]);
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[p][v] = _mm512_fmadd_ps(xp, w[v], acc[p][v]);
    }
  }
  // Sum the parities of two 8-channel vectors into one 16-lane output vector:
  // channels 8v to 8v + 15 of pixel p, or for an odd last vector, its
  // channels in pixels p and p + 1.
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const auto finish = [&](__m512 x0, __m512 x1) {
    const __m512 sum = _mm512_add_ps(_mm512_permutex2var_ps(x0, even, x1), _mm512_permutex2var_ps(x0, odd, x1));
    return clamp(Vec{sum}, lo, hi).v;
  };
  const int out_c = a.out_c;
  float* out = a.output + (static_cast<int64_t>(oy - a.output_row_offset) * a.out_w + ox0) * out_c;
  MBN_UNROLL for (int p = 0; p < PX; ++p)
    MBN_UNROLL for (int v = 0; v + 1 < NV; v += 2) {
      const int n = imin(16, out_c - 8 * v);
      _mm512_mask_storeu_ps(out + p * out_c + 8 * v, static_cast<__mmask16>((1u << n) - 1u), finish(acc[p][v], acc[p][v + 1]));
    }
  if (NV % 2 == 1) {
    constexpr int v = NV - 1;
    const unsigned low = (1u << (out_c - 8 * v)) - 1u;
    MBN_UNROLL for (int p = 0; p < PX; p += 2) {
      const __m512 y = finish(acc[p][v], acc[p + 1][v]);
      if (NV == 1 && out_c == 8) {
        _mm512_storeu_ps(out + p * 8, y);
      } else if (NV == 1) {  // the two pixels' channels, packed together
        _mm512_mask_compressstoreu_ps(out + p * out_c, static_cast<__mmask16>(low | low << 8), y);
      } else {
        _mm512_mask_storeu_ps(out + p * out_c + 8 * v, static_cast<__mmask16>(low), y);
        _mm512_mask_storeu_ps(out + (p + 1) * out_c + 8 * v - 8, static_cast<__mmask16>(low << 8), y);
      }
    }
  }
}

// Output columns [ox_begin, ox_end), all inside the image, of row oy.
template <int NV>
void conv3x3_pairs_span(const Conv3x3Args& a, const float* wpair, const PairRows& src, int oy, int ox_begin, int ox_end,
                        Vec lo, Vec hi) {
  // 24 accumulators; the remainder blocks keep 8+ independent FMA chains.
  constexpr int PX = NV == 3 ? 8 : 24 / NV;
  constexpr int PX1 = NV == 3 ? 4 : PX / 3, PX2 = NV == 3 ? 6 : 2 * PX / 3;
  constexpr int NW = (8 * NV + W - 1) / W;  // vectors of the one-tap-per-lane kernels
  int ox = ox_begin;
  for (; ox + PX <= ox_end; ox += PX) conv3x3_pairs_interior<NV, PX>(a, wpair, src, oy, ox, lo, hi);
  // The remainder as one smaller block that may overlap the previous one:
  // recomputing a few pixels is cheaper than narrow, latency-bound blocks.
  const int rest = ox_end - ox;
  if (rest > 0 && rest <= PX1 && ox_end - PX1 >= ox_begin) {
    conv3x3_pairs_interior<NV, PX1>(a, wpair, src, oy, ox_end - PX1, lo, hi);
    ox = ox_end;
  } else if (rest > 0 && rest <= PX2 && ox_end - PX2 >= ox_begin) {
    conv3x3_pairs_interior<NV, PX2>(a, wpair, src, oy, ox_end - PX2, lo, hi);
    ox = ox_end;
  } else if (rest > 0 && ox_end - PX >= ox_begin) {
    conv3x3_pairs_interior<NV, PX>(a, wpair, src, oy, ox_end - PX, lo, hi);
    ox = ox_end;
  }
  for (; ox + 2 <= ox_end; ox += 2) conv3x3_pairs_interior<NV, 2>(a, wpair, src, oy, ox, lo, hi);
  for (; ox < ox_end; ++ox) conv3x3_interior<NW, 1, 3, false>(a, oy, ox, 0, lo, hi);
}

// Output columns per span. Any other layout is first copied, span by span,
// into dense RGB rows in `scratch`; dense input is split into the same spans,
// so both layouts give bit-identical results.
constexpr int kPairSpan = 128;
constexpr int kPairScratch = 3 * (2 * kPairSpan + 1) * 3;

template <int NV>
void conv3x3_pairs_row(const Conv3x3Args& a, const float* wpair, float* scratch, int oy, Vec lo, Vec hi) {
  constexpr int NW = (8 * NV + W - 1) / W;
  const int iy0 = oy * 2 - a.pad.top;
  int ox = 0;
  if (iy0 >= 0 && iy0 + 3 <= a.in_h) {
    const int ox_lo = imin(a.out_w, (a.pad.left + 1) / 2);
    const int ox_hi = a.in_w - 3 + a.pad.left >= 0 ? imin(a.out_w, (a.in_w - 3 + a.pad.left) / 2 + 1) : 0;
    const bool dense = a.in_col_stride == 3 && a.in_channel_stride == 1;
    for (; ox < ox_lo; ++ox) conv3x3_pixel<NW>(a, oy, ox, 0, lo, hi);
    for (; ox < ox_hi; ox += kPairSpan) {
      const int end = imin(ox_hi, ox + kPairSpan);
      PairRows src{a.input + iy0 * a.in_row_stride, a.in_row_stride, a.pad.left};
      if (!dense) {
        const int ix_begin = 2 * ox - a.pad.left, cols = 2 * (end - ox - 1) + 3;
        for (int r = 0; r < 3; ++r) {
          const float* in = a.input + (iy0 + r) * a.in_row_stride + ix_begin * a.in_col_stride;
          float* dst = scratch + r * cols * 3;
          for (int c = 0; c < cols; ++c)
            for (int ci = 0; ci < 3; ++ci) dst[c * 3 + ci] = in[c * a.in_col_stride + ci * a.in_channel_stride];
        }
        src = PairRows{scratch, int64_t{cols} * 3, a.pad.left + ix_begin};
      }
      conv3x3_pairs_span<NV>(a, wpair, src, oy, ox, end, lo, hi);
    }
    ox = imax(ox_lo, ox_hi);
  }
  for (; ox < a.out_w; ++ox) conv3x3_pixel<NW>(a, oy, ox, 0, lo, hi);
}

template <int NV>
void conv3x3_pairs_rows(const Conv3x3Args& a, int row_begin, int row_end) {
  alignas(64) float local[(kPairVecs + 1) * NV * 16];
  const float* wpair = a.pair_weights;
  if (wpair == nullptr) {  // a caller without packed pairs (the kernel tests)
    pack_stem_pair_weights(a.weights, a.bias, a.out_c, a.out_c_padded, local);
    wpair = local;
  }
  float scratch[kPairScratch];
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  for (int oy = row_begin; oy < row_end; ++oy) conv3x3_pairs_row<NV>(a, wpair, scratch, oy, lo, hi);
}
#endif

template <int CIN, bool DENSE>
void conv3x3_rows(const Conv3x3Args& a, int row_begin, int row_end) {
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  for (int oy = row_begin; oy < row_end; ++oy) {
    for (int co0 = 0; co0 < a.out_c; co0 += 4 * W) {
      switch (imin(4, (a.out_c - co0 + W - 1) / W)) {
        case 1: conv3x3_row<1, CIN, DENSE>(a, oy, co0, lo, hi); break;
        case 2: conv3x3_row<2, CIN, DENSE>(a, oy, co0, lo, hi); break;
        case 3: conv3x3_row<3, CIN, DENSE>(a, oy, co0, lo, hi); break;
        default: conv3x3_row<4, CIN, DENSE>(a, oy, co0, lo, hi); break;
      }
    }
  }
}

void conv3x3(const Conv3x3Args& a, int row_begin, int row_end) {
  const bool dense_rgb = a.in_c == 3 && a.in_col_stride == 3 && a.in_channel_stride == 1;
#if defined(MBN_VEC_AVX512)
  if (a.in_c == 3 && a.stride == 2 && a.out_c <= 24) {
    if (a.out_c <= 8)
      conv3x3_pairs_rows<1>(a, row_begin, row_end);
    else if (a.out_c <= 16)
      conv3x3_pairs_rows<2>(a, row_begin, row_end);
    else
      conv3x3_pairs_rows<3>(a, row_begin, row_end);
    return;
  }
#endif
  if (dense_rgb && a.stride == 2)
    conv3x3_rows<3, true>(a, row_begin, row_end);
  else if (a.in_c == 3)
    conv3x3_rows<3, false>(a, row_begin, row_end);
  else
    conv3x3_rows<0, false>(a, row_begin, row_end);
}

// ----------------------------------------------------------- depthwise conv

inline int dw_in_stride(const DwConvArgs& a) { return a.in_pixel_stride > 0 ? a.in_pixel_stride : a.channels; }
inline int dw_out_stride(const DwConvArgs& a) { return a.out_pixel_stride > 0 ? a.out_pixel_stride : a.channels; }

// Input row iy, the zero row for padding rows; a ring of in_ring_rows rows keeps row iy at slot iy % in_ring_rows.
inline const float* dw_input_row(const DwConvArgs& a, int iy) {
  if (iy < 0 || iy >= a.in_h) return a.zero_row;
  const int slot = a.in_ring_rows > 0 ? iy % a.in_ring_rows : iy;
  return a.input + static_cast<int64_t>(slot) * a.in_w * dw_in_stride(a);
}

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
// input rows and CO in the output rows.
template <int R, int S>
inline void dw_interior_pixel(const float* const* rows, float* const* out_rows, int CI, int CO, int pl, int ox,
                              int c0, int n, const Vec* w, Vec bias, Vec lo, Vec hi) {
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
  for (int r = 0; r < R; ++r) store_n(clamp(acc[r], lo, hi), out_rows[r] + ox * CO + c0, n);
}

// R output rows starting at oy0. Each channel tile sweeps the rows with its
// weights held in registers.
template <int R, int S>
void dwconv3x3_block(const DwConvArgs& a, int oy0) {
  constexpr int NR = (R - 1) * S + 3;  // input rows the block reads
  const int C = a.channels, CI = dw_in_stride(a), CO = dw_out_stride(a), pl = a.pad.left;
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  const int ox_lo = imin(a.out_w, (pl + S - 1) / S);
  const int ox_hi = a.in_w - 3 + pl >= 0 ? imax(ox_lo, imin(a.out_w, (a.in_w - 3 + pl) / S + 1)) : ox_lo;

  const float* rows[NR];
  for (int j = 0; j < NR; ++j) {
    const int iy = oy0 * S - a.pad.top + j;
    rows[j] = dw_input_row(a, iy);
  }
  float* out_rows[R];
  for (int r = 0; r < R; ++r)
    out_rows[r] = a.output + static_cast<int64_t>(oy0 + r - a.output_row_offset) * a.out_w * CO;

  for (int c0 = 0; c0 < C; c0 += W) {
    const int n = imin(W, C - c0);
    Vec w[9];
    MBN_UNROLL
    for (int k = 0; k < 9; ++k) w[k] = Vec::load(a.weights + k * a.channels_padded + c0);
    const Vec bias = Vec::load(a.bias + c0);
    auto border_pixel = [&](int ox) {
      for (int r = 0; r < R; ++r)
        store_n(clamp(dw_border_sum(rows + r * S, ox * S - pl, a.in_w, CI, c0, w, bias), lo, hi),
                out_rows[r] + ox * CO + c0, n);
    };
    for (int ox = 0; ox < ox_lo; ++ox) border_pixel(ox);
    for (int ox = ox_lo; ox < ox_hi; ++ox)
      dw_interior_pixel<R, S>(rows, out_rows, CI, CO, pl, ox, c0, n, w, bias, lo, hi);
    for (int ox = ox_hi; ox < a.out_w; ++ox) border_pixel(ox);
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

template <int S>
void dwconv3x3_blocks(const DwConvArgs& a, int row_begin, int row_end) {
  int oy = row_begin;
  for (; oy + kDwBlockRows <= row_end; oy += kDwBlockRows) dwconv3x3_block<kDwBlockRows, S>(a, oy);
  if (row_end - oy >= 2) {
    dwconv3x3_block<2, S>(a, oy);
    oy += 2;
  }
  if (oy < row_end) dwconv3x3_block<1, S>(a, oy);
}

// Output pixels [ox_lo, ox_hi) of one row for one channel tile, from its three
// input rows (r[ky] points at the tile's channels), with one accumulator chain
// per kernel row. With 32 vector registers the window's columns slide along
// in registers: a pixel loads only its new columns, 3 vectors at stride 1 and
// 6 at stride 2 instead of 9 (left to itself, the compiler reloads all nine,
// since the output store might alias them). Same arithmetic either way.
template <int S>
inline void dw_row_interior(const float* const* r, float* out, int CI, int CO, int pl, int ox_lo, int ox_hi, int n,
                            const Vec* w, Vec bias, Vec lo, Vec hi) {
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
    store_n(clamp(add(add(acc0, acc1), acc2), lo, hi), out + static_cast<int64_t>(ox) * CO, n);
  };
  auto column = [&](int64_t off, Vec* c) {
    MBN_UNROLL for (int ky = 0; ky < 3; ++ky) c[ky] = Vec::load(r[ky] + off);
  };
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
void dwconv3x3_single_rows(const DwConvArgs& a, int row_begin, int row_end) {
  const int C = a.channels, CI = dw_in_stride(a), CO = dw_out_stride(a), s = a.stride, pl = a.pad.left;
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  // Output columns whose three taps all lie inside the row take the branch-free path.
  const int ox_lo = imin(a.out_w, (pl + s - 1) / s);
  const int ox_hi = a.in_w - 3 + pl >= 0 ? imax(ox_lo, imin(a.out_w, (a.in_w - 3 + pl) / s + 1)) : ox_lo;

  for (int oy = row_begin; oy < row_end; ++oy) {
    const float* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = oy * s - a.pad.top + ky;
      rows[ky] = dw_input_row(a, iy);
    }
    float* out_row = a.output + static_cast<int64_t>(oy - a.output_row_offset) * a.out_w * CO;
    for (int c0 = 0; c0 < C; c0 += W) {
      const int n = imin(W, C - c0);
      Vec w[9];
      for (int k = 0; k < 9; ++k) w[k] = Vec::load(a.weights + k * a.channels_padded + c0);
      const Vec bias = Vec::load(a.bias + c0);
      auto border_pixel = [&](int ox) {
        store_n(clamp(dw_border_sum(rows, ox * s - pl, a.in_w, CI, c0, w, bias), lo, hi), out_row + ox * CO + c0, n);
      };
      for (int ox = 0; ox < ox_lo; ++ox) border_pixel(ox);
      const float* in_rows[3] = {rows[0] + c0, rows[1] + c0, rows[2] + c0};
      float* out = out_row + c0;
      if (s == 1)
        dw_row_interior<1>(in_rows, out, CI, CO, pl, ox_lo, ox_hi, n, w, bias, lo, hi);
      else
        dw_row_interior<2>(in_rows, out, CI, CO, pl, ox_lo, ox_hi, n, w, bias, lo, hi);
      for (int ox = ox_hi; ox < a.out_w; ++ox) border_pixel(ox);
    }
  }
}

// Fewer channels than a vector holds, at stride 1 (0.25's first depthwise layer
// has 8): one vector covers the W / C neighbouring pixels whose channels lie
// side by side in NHWC, with every weight repeated every C lanes.
void dwconv3x3_packed_pixels(const DwConvArgs& a, int row_begin, int row_end) {
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
  const int ox_lo = imin(a.out_w, pl);
  const int ox_hi = a.in_w - 3 + pl >= 0 ? imax(ox_lo, imin(a.out_w, a.in_w - 3 + pl + 1)) : ox_lo;
  for (int oy = row_begin; oy < row_end; ++oy) {
    const float* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = oy - a.pad.top + ky;
      rows[ky] = dw_input_row(a, iy);
    }
    float* out_row = a.output + static_cast<int64_t>(oy - a.output_row_offset) * a.out_w * C;
    // One pixel's C lanes: the first C lanes of the repeated weights are the weights.
    auto single_pixel = [&](int ox) {
      store_n(clamp(dw_border_sum(rows, ox - pl, a.in_w, C, 0, w, bias), lo, hi), out_row + ox * C, C);
    };
    int ox = 0;
    for (; ox < ox_lo; ++ox) single_pixel(ox);
    for (; ox + P <= ox_hi; ox += P) {
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
      clamp(add(add(acc0, acc1), acc2), lo, hi).store(out_row + ox * C);
    }
    for (; ox < a.out_w; ++ox) single_pixel(ox);
  }
}

void dwconv3x3(const DwConvArgs& a, int row_begin, int row_end) {
  const int CI = dw_in_stride(a);
  if (a.stride == 1 && a.channels < W && W % a.channels == 0 && CI == a.channels && dw_out_stride(a) == a.channels)
    return dwconv3x3_packed_pixels(a, row_begin, row_end);
  // Wider rows have left L1 by the time the next output row reads them again:
  // blocks of output rows read each input row from L2 once instead of 3 times.
  // Narrow maps gain nothing (their border columns dominate): measured slower
  // below 8 output columns at stride 1 (7x7x1024) and 16 at stride 2 (14x14x256).
  // The choice depends on the layer's shape only, never on how many rows a
  // call asks for: the two orders round differently, and a pixel must come out
  // the same whichever band (and so whichever thread count) computes it.
  constexpr int64_t kL1Bytes = 48 * 1024;
  const int min_block_width = a.stride == 1 ? 8 : 16;
  if (int64_t{3} * a.in_w * CI * int64_t{sizeof(float)} <= kL1Bytes || a.out_w < min_block_width)
    return dwconv3x3_single_rows(a, row_begin, row_end);
  if (a.stride == 1)
    dwconv3x3_blocks<1>(a, row_begin, row_end);
  else
    dwconv3x3_blocks<2>(a, row_begin, row_end);
}

// ------------------------------------------------------ epilogue and pooling

void bias_activation(float* c, int rows, int cols, int64_t ldc, const float* bias, Clamp cl) {
  const Vec lo = Vec::broadcast(cl.lo), hi = Vec::broadcast(cl.hi);
  for (int r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    for (int j = 0; j < cols; j += W) {
      const int n = imin(W, cols - j);
      // The tail is done lane by lane: c may be the caller's array, with no slack after it.
      if (n == W) {
        clamp(add(Vec::load(row + j), Vec::load(bias + j)), lo, hi).store(row + j);
      } else {
        for (int t = j; t < cols; ++t) {
          float y = row[t] + bias[t];
          y = y < cl.lo ? cl.lo : y;  // comparisons with NaN are false: NaN propagates
          row[t] = y > cl.hi ? cl.hi : y;
        }
      }
    }
  }
}

void global_avgpool(const float* in, int pixels, int channels, float* out) {
  const Vec scale = Vec::broadcast(1.0f / static_cast<float>(pixels));
  for (int c0 = 0; c0 < channels; c0 += W) {
    Vec acc = Vec::zero();
    for (int p = 0; p < pixels; ++p) acc = add(acc, Vec::load(in + static_cast<int64_t>(p) * channels + c0));
    store_n(mul(acc, scale), out + c0, imin(W, channels - c0));
  }
}

// ------------------------------------------------------------- input check

// x * 0 is 0 for every finite x (denormals too) and NaN for NaN and +-Inf; a
// NaN in a running sum stays. One FMA per vector, four independent sums: the
// scalar scan this replaced took 18 us of a 224x224 forward pass.
bool all_finite(const float* x, int64_t n) {
  const Vec zero = Vec::zero();
  Vec acc[4] = {zero, zero, zero, zero};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W)
    MBN_UNROLL for (int u = 0; u < 4; ++u) acc[u] = fmadd(Vec::load(x + i + u * W), zero, acc[u]);
  for (; i + W <= n; i += W) acc[0] = fmadd(Vec::load(x + i), zero, acc[0]);
  float lanes[W];
  add(add(acc[0], acc[1]), add(acc[2], acc[3])).store(lanes);
  bool finite = true;
  for (int l = 0; l < W; ++l) finite &= lanes[l] == 0.0f;
  for (; i < n; ++i) finite &= x[i] * 0.0f == 0.0f;
  return finite;
}

// -------------------------------------------------------------------- GEMM

// MR rows x NV vectors of columns of C (NV = MBN_GEMM_NR_VECS: the whole
// kGemmNR-wide panel; 1: a panel with at most W columns in use), accumulated in
// registers over all of k.
// With PREFETCH, the same rows of the next B panel are fetched into L2 along
// the way: large weight matrices stream from memory, and the first row tile
// of each panel would otherwise wait for them.
// Thin tiles (the classifier's single row) would leave too few independent
// FMA chains to cover the FMA latency: they also split k into partial sums.
constexpr int k_partial_sums(int rows, int nv) { return rows * nv <= 2 ? 4 : (rows * nv <= 6 ? 2 : 1); }

template <int MR, int NV, bool PREFETCH, int KS>
inline void gemm_tile(const GemmArgs& g, int m0, int panel, Vec lo, Vec hi) {
  const int n0 = panel * kGemmNR;
  const float* b = g.packed_b + static_cast<int64_t>(panel) * g.k * kGemmNR;
  // Rows in groups of 12, each group from its own base pointer: row r's
  // offset (r % 12) * lda is then shared by the groups, and a 24-row tile
  // needs 12 offset registers, not 24 (GCC spilled the rest and reloaded them
  // from the stack on every k step: alpha 0.25's first pointwise layer ran at
  // half the FMA rate).
  constexpr int kRowGroup = 12, kGroups = (MR + kRowGroup - 1) / kRowGroup;
  const float* a_group[kGroups];
  MBN_UNROLL for (int q = 0; q < kGroups; ++q) a_group[q] = g.a + (m0 + q * kRowGroup) * g.lda;
  Vec acc[KS][MR][NV];
  MBN_UNROLL for (int v = 0; v < NV; ++v) {
    const Vec bias = Vec::load(g.bias + n0 + v * W);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      acc[0][r][v] = bias;
      MBN_UNROLL for (int s = 1; s < KS; ++s) acc[s][r][v] = Vec::zero();
    }
  }
  const float* next_b = b + static_cast<int64_t>(g.k) * kGemmNR;
  auto step = [&](int s, int kk) {
    if (PREFETCH) {
      MBN_UNROLL for (int off = 0; off < kGemmNR; off += 16) __builtin_prefetch(next_b + off, 0, 2);
      next_b += kGemmNR;
    }
    Vec bv[NV];
    MBN_UNROLL for (int v = 0; v < NV; ++v) bv[v] = Vec::load(b + v * W);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      const Vec x = Vec::broadcast(a_group[r / kRowGroup][(r % kRowGroup) * g.lda + kk]);
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[s][r][v] = fmadd(x, bv[v], acc[s][r][v]);
    }
    b += kGemmNR;
  };
  int kk = 0;
  for (; kk + KS <= g.k; kk += KS) {
    MBN_UNROLL for (int s = 0; s < KS; ++s) step(s, kk + s);
  }
  for (; kk < g.k; ++kk) step(0, kk);
  MBN_UNROLL for (int s = 1; s < KS; ++s)
    MBN_UNROLL for (int r = 0; r < MR; ++r)
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[0][r][v] = add(acc[0][r][v], acc[s][r][v]);
  // Unrolled with compile-time indices, so the accumulators never leave their
  // registers (a rolled store loop made GCC keep all MR x NV of them on the
  // stack: at k = 8..32 that cost as much as the FMAs).
  const int cols = imin(NV * W, g.n - n0);
  if (cols == NV * W && g.clamp.unbounded_above()) {
    // ReLU: no upper bound to apply. At k = 32 the second clamp instruction
    // per vector cost about 3% of the tile's time.
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      float* c = g.c + (m0 + r) * g.ldc + n0;
      MBN_UNROLL for (int v = 0; v < NV; ++v) clamp_below(acc[0][r][v], lo).store(c + v * W);
    }
  } else if (cols == NV * W) {
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      float* c = g.c + (m0 + r) * g.ldc + n0;
      MBN_UNROLL for (int v = 0; v < NV; ++v) clamp(acc[0][r][v], lo, hi).store(c + v * W);
    }
  } else {
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      float* c = g.c + (m0 + r) * g.ldc + n0;
      MBN_UNROLL for (int v = 0; v < NV; ++v) {
        const int n = cols - v * W;
        if (n > 0) store_n(clamp(acc[0][r][v], lo, hi), c + v * W, imin(W, n));
      }
    }
  }
}

template <int MR, int NV, int KS>
void gemm_tile_prefetch(const GemmArgs& g, int m0, int panel, bool prefetch_next, Vec lo, Vec hi) {
  if (prefetch_next)
    gemm_tile<MR, NV, true, KS>(g, m0, panel, lo, hi);
  else
    gemm_tile<MR, NV, false, KS>(g, m0, panel, lo, hi);
}

// ks: the layer's partial sums (k_split). It exceeds 1 only where the layer's
// tallest tile is thin, and then no tile of it is taller: tiles of more rows
// need no instance with ks > 1.
template <int MR, int NV>
void gemm_tile_rows(const GemmArgs& g, int m0, int rows, int panel, bool prefetch_next, int ks, Vec lo, Vec hi) {
  if constexpr (MR > 1) {
    if (rows < MR) return gemm_tile_rows<MR - 1, NV>(g, m0, rows, panel, prefetch_next, ks, lo, hi);
  }
  if constexpr (k_partial_sums(MR, NV) > 1) {
    if (ks == 4) return gemm_tile_prefetch<MR, NV, 4>(g, m0, panel, prefetch_next, lo, hi);
    if (ks == 2) return gemm_tile_prefetch<MR, NV, 2>(g, m0, panel, prefetch_next, lo, hi);
  }
  gemm_tile_prefetch<MR, NV, 1>(g, m0, panel, prefetch_next, lo, hi);
}

// The partial sums of every tile of a layer: those of its tallest tile when
// its rows are not split (dealt as gemm_panel deals them).
template <int MR, int NV>
int k_split(const GemmArgs& g) {
  const int rows = imax(1, g.layer_rows);
  const int tiles = (rows + MR - 1) / MR;
  return k_partial_sums((rows + tiles - 1) / tiles, NV);
}

// Rows [m_begin, m_end) of one panel in tiles of at most MR rows, dealt into
// nearly equal heights (49 rows -> 10,10,10,10,9 rather than 12,12,12,12,1): a
// thin tile runs its FMAs at a fraction of the rate.
template <int MR, int NV>
void gemm_panel(const GemmArgs& g, int m_begin, int m_end, int panel, bool prefetch_next, Vec lo, Vec hi) {
  const int rows = m_end - m_begin;
  const int tiles = (rows + MR - 1) / MR;
  if (tiles == 0) return;
  const int base = rows / tiles, extra = rows % tiles;
  const int ks = k_split<MR, NV>(g);
  int m = m_begin;
  for (int t = 0; t < tiles; ++t) {
    const int height = base + (t < extra ? 1 : 0);
    gemm_tile_rows<MR, NV>(g, m, height, panel, prefetch_next && t == 0, ks, lo, hi);
    m += height;
  }
}

void gemm(const GemmArgs& g, int m_begin, int m_end, int panel_begin, int panel_end) {
  const Vec lo = Vec::broadcast(g.clamp.lo), hi = Vec::broadcast(g.clamp.hi);
  // Weights beyond L2 come from memory: prefetch the next panel (smaller ones stay cached).
  const bool stream_b = static_cast<int64_t>(g.k) * g.n * 4 >= 512 * 1024;
  for (int p = panel_begin; p < panel_end; ++p) {
    const bool prefetch_next = stream_b && p + 1 < panel_end;
    // A panel with at most one vector of columns in use (0.25's first pointwise
    // layer has 16) skips the zero padding: one vector per row, twice the rows.
    if (MBN_GEMM_NR_VECS > 1 && g.n - p * kGemmNR <= W)
      gemm_panel<kGemmMR * MBN_GEMM_NR_VECS, 1>(g, m_begin, m_end, p, prefetch_next, lo, hi);
    else
      gemm_panel<kGemmMR, MBN_GEMM_NR_VECS>(g, m_begin, m_end, p, prefetch_next, lo, hi);
  }
}

}  // namespace

const KernelTable& table() {
  static const KernelTable t = {MBN_KERNEL_ISA, MBN_KERNEL_NAME, W,    kGemmNR, kGemmMR, conv3x3, dwconv3x3,
                                bias_activation, global_avgpool,  gemm, all_finite};
  return t;
}

}  // namespace MBN_KERNEL_NS
}  // namespace mobilenet
