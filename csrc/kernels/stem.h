// The stem: a full 3x3 convolution, usually over the RGB input at stride 2.
// Included by kernels_impl.h inside one instruction set's namespace.

// Accumulator registers the stem kernel may use (the rest hold weights and inputs).
constexpr int kStemAccumulators = MBN_STEM_ACCUMULATORS;
// Output channels per pass over a row: up to this many vectors of them.
constexpr int kStemMaxVectors = 4;

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
  const float* base =
      a.input + (oy * a.stride - a.pad.top) * a.in_row_stride + (ox0 * a.stride - a.pad.left) * col_step;
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
    MBN_UNROLL for (int p = 0; p < PX; ++p) MBN_UNROLL for (int v = 0; v < NV; ++v)
        store_n(clamp_below(acc[p][v], lo), out + p * a.out_c + v * W, imin(W, a.out_c - co0 - v * W));
    return;
  }
  MBN_UNROLL for (int p = 0; p < PX; ++p) MBN_UNROLL for (int v = 0; v < NV; ++v)
      store_n(clamp(acc[p][v], lo, hi), out + p * a.out_c + v * W, imin(W, a.out_c - co0 - v * W));
}

template <int NV, int CIN, bool DENSE>
void conv3x3_row(const Conv3x3Args& a, int oy, int co0, Vec lo, Vec hi) {
  constexpr int PX = kStemAccumulators / NV > 0 ? kStemAccumulators / NV : 1;
  constexpr int PX1 = PX / 3 > 0 ? PX / 3 : 1, PX2 = 2 * PX / 3 > 0 ? 2 * PX / 3 : 1;
  constexpr int PX_TAIL = PX >= 4 ? 4 : 1;
  const int iy0 = oy * a.stride - a.pad.top;
  int ox = 0;
  if (iy0 >= 0 && iy0 + 3 <= a.in_h) {
    const InteriorColumns interior = interior_columns(a.in_w, a.out_w, a.pad.left, a.stride);
    for (; ox < interior.begin; ++ox) conv3x3_pixel<NV>(a, oy, ox, co0, lo, hi);
    const auto block = [&](auto px, int first) MBN_ALWAYS_INLINE {
      conv3x3_interior<NV, decltype(px)::value, CIN, DENSE>(a, oy, first, co0, lo, hi);
    };
    ox = blocks_then_overlapping_rest<PX, PX1, PX2>(interior.begin, interior.end, block);
    for (; ox + PX_TAIL <= interior.end; ox += PX_TAIL) block(Columns<PX_TAIL>{}, ox);
    for (; ox < interior.end; ++ox) block(Columns<1>{}, ox);
  }
  for (; ox < a.out_w; ++ox) conv3x3_pixel<NV>(a, oy, ox, co0, lo, hi);
}

#if defined(MBN_VEC_AVX512)
// Stems with at most kStemPairMaxChannels output channels, RGB at stride 2.
// A lane holds (channel k, tap parity t), 8 channels a vector: one 64-bit
// broadcast brings two neighbouring taps of a pixel (a row of the 3x3 window
// is 9 contiguous floats), so a pixel needs 3 x (4 pair + 1 single) = 15
// broadcasts instead of 27, and 15 FMAs per 8 channels. For 8 channels that
// halves the FMAs (a 16-channel vector would waste half its lanes); for 16 it
// trades 27 FMAs for 30 but halves the broadcast loads, which limit the
// one-tap-per-lane kernel. The two parities are summed once at the end.
// Measured against single taps (bench/RESULTS.md, log entry 10): 8 channels
// 27.7 -> 10.9 us, 16 26.9 -> 18.9, 24 40.3 -> 28.3.
// At most 3 vectors of 8 channels (alpha 0.25 to 0.75); this limit decides
// where the tap-pair weights are packed too (conv3x3_uses_pair_weights).
constexpr int kStemPairMaxChannels = 24;
constexpr int kPairChannels = 8;  // channels per vector (two lanes each)
constexpr int kPairVecs = 3 * 5;  // per kernel row: taps (0,1) (2,3) (4,5) (6,7) (8,-)

// The weights in this layout (pack_stem_pair_weights, kernels.h) are packed
// once at load and passed as Conv3x3Args::pair_weights.
static_assert(kPairVecs + 1 == kStemPairVectors, "pair layout: 15 tap-pair vectors and the bias per 8 channels");

inline bool uses_tap_pairs(const Conv3x3Args& a) {
  return a.in_c == 3 && a.stride == 2 && a.out_c <= kStemPairMaxChannels;
}

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
  MBN_UNROLL for (int p = 0; p < PX; ++p) MBN_UNROLL for (int v = 0; v + 1 < NV; v += 2) {
    const int n = imin(16, out_c - 8 * v);
    _mm512_mask_storeu_ps(out + p * out_c + 8 * v, static_cast<__mmask16>((1u << n) - 1u),
                          finish(acc[p][v], acc[p][v + 1]));
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
  // The remainder blocks keep 8+ independent FMA chains (and even widths for an odd NV).
  constexpr int PX = kStemAccumulators / NV;
  constexpr int PX1 = NV == 3 ? 4 : PX / 3, PX2 = NV == 3 ? 6 : 2 * PX / 3;
  constexpr int NW = (kPairChannels * NV + W - 1) / W;  // vectors of the one-tap-per-lane kernels
  const auto block = [&](auto px, int first) MBN_ALWAYS_INLINE {
    conv3x3_pairs_interior<NV, decltype(px)::value>(a, wpair, src, oy, first, lo, hi);
  };
  int ox = blocks_then_overlapping_rest<PX, PX1, PX2>(ox_begin, ox_end, block);
  for (; ox + 2 <= ox_end; ox += 2) block(Columns<2>{}, ox);
  for (; ox < ox_end; ++ox) conv3x3_interior<NW, 1, 3, false>(a, oy, ox, 0, lo, hi);
}

// Output columns per span. Any other layout is first copied, span by span,
// into dense RGB rows in `scratch`; dense input is split into the same spans,
// so both layouts give bit-identical results.
constexpr int kPairSpan = 128;
constexpr int kPairScratch = 3 * (2 * kPairSpan + 1) * 3;

template <int NV>
void conv3x3_pairs_row(const Conv3x3Args& a, const float* wpair, float* scratch, int oy, Vec lo, Vec hi) {
  constexpr int NW = (kPairChannels * NV + W - 1) / W;
  const int iy0 = oy * 2 - a.pad.top;
  int ox = 0;
  if (iy0 >= 0 && iy0 + 3 <= a.in_h) {
    const InteriorColumns interior = interior_columns(a.in_w, a.out_w, a.pad.left, 2);
    const bool dense = a.in_col_stride == 3 && a.in_channel_stride == 1;
    for (; ox < interior.begin; ++ox) conv3x3_pixel<NW>(a, oy, ox, 0, lo, hi);
    for (; ox < interior.end; ox += kPairSpan) {
      const int end = imin(interior.end, ox + kPairSpan);
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
    ox = interior.end;
  }
  for (; ox < a.out_w; ++ox) conv3x3_pixel<NW>(a, oy, ox, 0, lo, hi);
}

template <int NV>
void conv3x3_pairs_rows(const Conv3x3Args& a, int row_begin, int row_end) {
  alignas(64) float local[kStemPairVectors * NV * 16];
  const float* wpair = a.pair_weights;
  if (wpair == nullptr) {  // a caller without packed pairs (the kernel tests)
    pack_stem_pair_weights(a.weights, a.bias, a.out_c, a.out_c_padded, local);
    wpair = local;
  }
  float scratch[kPairScratch];
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  for (int oy = row_begin; oy < row_end; ++oy) conv3x3_pairs_row<NV>(a, wpair, scratch, oy, lo, hi);
}

#else
inline bool uses_tap_pairs(const Conv3x3Args&) { return false; }
#endif

template <int CIN, bool DENSE>
void conv3x3_single_taps(const Conv3x3Args& a, int row_begin, int row_end) {
  const Vec lo = Vec::broadcast(a.clamp.lo), hi = Vec::broadcast(a.clamp.hi);
  for (int oy = row_begin; oy < row_end; ++oy) {
    for (int co0 = 0; co0 < a.out_c; co0 += kStemMaxVectors * W) {
      static_assert(kStemMaxVectors == 4, "one case per vector count");
      switch (imin(kStemMaxVectors, (a.out_c - co0 + W - 1) / W)) {
        case 1: conv3x3_row<1, CIN, DENSE>(a, oy, co0, lo, hi); break;
        case 2: conv3x3_row<2, CIN, DENSE>(a, oy, co0, lo, hi); break;
        case 3: conv3x3_row<3, CIN, DENSE>(a, oy, co0, lo, hi); break;
        default: conv3x3_row<4, CIN, DENSE>(a, oy, co0, lo, hi); break;
      }
    }
  }
}

// The variant conv3x3 runs: decided by the shape alone (never by the input's
// layout or the rows asked for), and named by conv3x3_variant.
enum class StemVariant { SingleTaps, TapPairs };

inline StemVariant stem_variant(const Conv3x3Args& a) {
  return uses_tap_pairs(a) ? StemVariant::TapPairs : StemVariant::SingleTaps;
}

const char* conv3x3_variant(const Conv3x3Args& a) {
  return stem_variant(a) == StemVariant::TapPairs ? "tap_pairs" : "taps";
}

// Packing asks this, so the tap-pair weights are packed exactly where conv3x3 reads them.
bool conv3x3_uses_pair_weights(const Conv3x3Args& a) { return stem_variant(a) == StemVariant::TapPairs; }

void conv3x3(const Conv3x3Args& a, int row_begin, int row_end) {
  const bool dense_rgb = a.in_c == 3 && a.in_col_stride == 3 && a.in_channel_stride == 1;
#if defined(MBN_VEC_AVX512)
  if (stem_variant(a) == StemVariant::TapPairs) {
    static_assert(kStemPairMaxChannels == 3 * kPairChannels, "one case per vector count");
    if (a.out_c <= kPairChannels)
      conv3x3_pairs_rows<1>(a, row_begin, row_end);
    else if (a.out_c <= 2 * kPairChannels)
      conv3x3_pairs_rows<2>(a, row_begin, row_end);
    else
      conv3x3_pairs_rows<3>(a, row_begin, row_end);
    return;
  }
#endif
  if (dense_rgb && a.stride == 2)
    conv3x3_single_taps<3, true>(a, row_begin, row_end);
  else if (a.in_c == 3)
    conv3x3_single_taps<3, false>(a, row_begin, row_end);
  else
    conv3x3_single_taps<0, false>(a, row_begin, row_end);
}
