// The bfloat16 GEMM (Precision::BFloat16): the pointwise (1x1) convolution and
// the classifier over weights packed once in bf16 pairs (pack_gemm_weights_bf16),
// float32 accumulation and output. Included inside one instruction set's
// namespace after shared.h: by kernels_impl.h for the scalar reference, and by
// kernels_avx512_bf16.cpp (compiled with -mavx512bf16) for vdpbf16ps.
//
// A arrives as float32 rows (the stem's and the 1x1 layers' outputs): each
// call rounds its rows of A to bf16 once, into a buffer on the stack, and every
// panel then reads them from there. Or as rows of bf16 pairs
// (GemmBf16Args::a_pairs) that a depthwise layer has rounded as it wrote them.
//
// Two ways to multiply, one result (each product of two bf16 values is exact
// in float32, and each is added with one rounding, the second of a pair first):
// - a bf16 dot product instruction on (A pair, B pair): vdpbf16ps, and the
//   scalar reference's emulation of it. A's rows are held as bf16 pairs.
// - MBN_BF16_BY_FMA: B's pairs unpacked into two float32 vectors (a shift and
//   a mask) and two FMAs with A's rounded values, held as floats. On family 6
//   model 207 vdpbf16ps ran at half the FMA's rate (bench/RESULTS.md), so the
//   FMA way is the faster one there, and runs on every AVX-512 CPU.

// The largest k a call rounds into its stack buffer; the plan runs wider
// layers in float32 (plan.cpp).
static_assert(kGemmBf16MaxK <= 16384, "a chunk must hold a few rows of k / 2 words");

#if defined(MBN_VEC_AVX512) && defined(MBN_BF16_BY_FMA)

constexpr bool kBf16ByFma = true;
// src[0, k) rounded to bf16 and kept as floats (the low 16 bits zero), k
// padded to even with a zero: as bf16_from_float rounds, in integer arithmetic.
inline void round_to_bf16_floats(const float* src, int k, float* dst) {
  const __m512i round = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u)), sign = _mm512_set1_epi32(INT32_MIN);
  const __m512i exponent = _mm512_set1_epi32(0x7f800000), magnitude = _mm512_set1_epi32(0x7fffffff);
  const __m512i quiet = _mm512_set1_epi32(0x00400000);
  const int padded = k + (k & 1);
  for (int i = 0; i < padded; i += 16) {
    const int n = imin(16, k - i);
    const __mmask16 m = static_cast<__mmask16>(n >= 16 ? 0xffffu : (n > 0 ? (1u << n) - 1u : 0u));
    const __m512i u = _mm512_maskz_loadu_epi32(m, src + i);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
    __m512i r = _mm512_and_si512(_mm512_add_epi32(u, _mm512_add_epi32(round, lsb)), high);
    const __mmask16 tiny = _mm512_testn_epi32_mask(u, exponent);  // zero or denormal: signed zero
    r = _mm512_mask_and_epi32(r, tiny, u, sign);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, magnitude), exponent);
    r = _mm512_mask_and_epi32(r, nan, _mm512_or_si512(u, quiet), high);
    const int store = imin(16, padded - i);
    _mm512_mask_storeu_epi32(dst + i, static_cast<__mmask16>(store >= 16 ? 0xffffu : (1u << store) - 1u), r);
  }
}
// B's pairs as two float vectors: the first of each pair, and the second.
inline void unpack_pairs(const uint32_t* p, Vec& first, Vec& second) {
  const __m512i w = _mm512_loadu_si512(p);
  first.v = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  second.v = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
}

#elif defined(MBN_VEC_AVX512)

constexpr bool kBf16ByFma = false;
// W pairs of bf16, one per 32-bit lane.
struct Bf16Pairs {
  __m512bh v;
};
inline Bf16Pairs load_pairs(const uint32_t* p) { return {(__m512bh)_mm512_loadu_si512(p)}; }
// One pair in every lane (an embedded broadcast of vdpbf16ps's memory operand).
inline Bf16Pairs broadcast_pair(const uint32_t* p) { return {(__m512bh)_mm512_set1_epi32(static_cast<int>(*p))}; }
// acc[j] += a[j].second * b[j].second, then += a[j].first * b[j].first.
inline Vec dot_pairs(Vec acc, Bf16Pairs a, Bf16Pairs b) { return {_mm512_dpbf16_ps(acc.v, a.v, b.v)}; }
// src[0, k) as (k + 1) / 2 bf16 pairs, the last one's second half 0 for odd k.
inline void round_to_bf16_pairs(const float* src, int k, uint32_t* dst) {
  int i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i / 2, (__m512i)h);
  }
  if (i < k) {
    const int rest = k - i;  // 1..31
    const __mmask16 lo_mask = static_cast<__mmask16>(rest >= 16 ? 0xffffu : (1u << rest) - 1u);
    const __mmask16 hi_mask = static_cast<__mmask16>(rest > 16 ? (1u << (rest - 16)) - 1u : 0u);
    const __m512bh h =
        _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi_mask, src + i + 16), _mm512_maskz_loadu_ps(lo_mask, src + i));
    const int words = (rest + 1) / 2;
    _mm512_mask_storeu_epi32(dst + i / 2, static_cast<__mmask16>((1u << words) - 1u), (__m512i)h);
  }
}

#elif defined(MBN_VEC_NEON) && defined(MBN_BF16_NEON)

// Armv8.6 BF16 (compiled with +bf16): bfdot, 4 pairs per q register. No bf16
// vector constants here: Debian 12's aarch64 g++ 12 miscompiles some at -O1/-O2
// (vreinterpretq_bf16_u16(vdupq_n_u16(0x3fc0)) came out as an FP16 fmov).
constexpr bool kBf16ByFma = false;
struct Bf16Pairs {
  bfloat16x8_t v;
};
inline Bf16Pairs load_pairs(const uint32_t* p) { return {vreinterpretq_bf16_u32(vld1q_u32(p))}; }
inline Bf16Pairs broadcast_pair(const uint32_t* p) { return {vreinterpretq_bf16_u32(vld1q_dup_u32(p))}; }
// acc[j] += a[j].first * b[j].first + a[j].second * b[j].second (BFDOT rounds once per
// lane, not once per product: within float32 rounding of the reference, not bit for bit).
inline Vec dot_pairs(Vec acc, Bf16Pairs a, Bf16Pairs b) { return {vbfdotq_f32(acc.v, a.v, b.v)}; }
// As bf16_from_float (bf16.h), kept in this translation unit: an inline function
// emitted here with +bf16 must not be the copy the baseline code links to.
inline uint32_t neon_bf16_round(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0) return (u >> 16) & 0x8000u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return ((u >> 16) | 0x0040u) & 0xffffu;
  return ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16) & 0xffffu;
}
inline void round_to_bf16_pairs(const float* src, int k, uint32_t* dst) {
  for (int i = 0; i < k; i += 2)
    dst[i / 2] = neon_bf16_round(src[i]) | (i + 1 < k ? neon_bf16_round(src[i + 1]) << 16 : 0u);
}

#elif defined(MBN_VEC_SCALAR)

constexpr bool kBf16ByFma = false;
struct Bf16Pairs {
  uint32_t v;
};
inline Bf16Pairs load_pairs(const uint32_t* p) { return {*p}; }
inline Bf16Pairs broadcast_pair(const uint32_t* p) { return {*p}; }
// As vdpbf16ps: the second products first. Each product of two bf16 values is
// exact in float32, so each step rounds once, as the instruction does.
inline Vec dot_pairs(Vec acc, Bf16Pairs a, Bf16Pairs b) {
  const float a0 = float_from_bf16(static_cast<uint16_t>(a.v)), a1 = float_from_bf16(static_cast<uint16_t>(a.v >> 16));
  const float b0 = float_from_bf16(static_cast<uint16_t>(b.v)), b1 = float_from_bf16(static_cast<uint16_t>(b.v >> 16));
  float s = acc.v + a1 * b1;
  s = s + a0 * b0;
  return {s};
}
inline void round_to_bf16_pairs(const float* src, int k, uint32_t* dst) {
  for (int i = 0; i < k; i += 2) dst[i / 2] = bf16_pair(src[i], i + 1 < k ? src[i + 1] : 0.0f);
}

#else
#error "no bf16 GEMM for this instruction set"
#endif

constexpr int kBf16MR = MBN_GEMM_BF16_MR;
constexpr int kBf16NV = MBN_GEMM_NR_VECS;
constexpr int kBf16NR = kBf16NV * W;  // the table's gemm_panel_width
constexpr int kBf16Accumulators = kBf16MR * kBf16NV;
constexpr int kBf16NarrowMR = kBf16Accumulators;
// Panels one tile may span (MBN_GEMM_BF16_TILE_PANELS, default 1). With
// vdpbf16ps on AVX-512, two: a tile of 6 rows x 64 columns loads 4 weight
// vectors and broadcasts 6 pairs of A per k-pair step for its 24 dot products,
// where 12 x 32 loads 2 and broadcasts 12, and its A is read half as often (as
// the float32 GEMM's 6x64 tile, gemm.h). The FMA way keeps one panel: its
// unpacked weights take two registers per vector.
#if defined(MBN_GEMM_BF16_TILE_PANELS)
constexpr int kBf16TilePanels = MBN_GEMM_BF16_TILE_PANELS;
#else
constexpr int kBf16TilePanels = 1;
#endif
static_assert(kBf16TilePanels == 1 || (kBf16TilePanels == 2 && kBf16NV == 2 && !kBf16ByFma),
              "two-panel bf16 tiles of 2 + 2 vectors, by dot products");
// Words of A's rounded rows a call holds on its stack at once (128 KB).
constexpr int kBf16ChunkWords = 32 * 1024;
constexpr int64_t kBf16StreamWeightBytes = 512 * 1024;
// k runs in blocks (k_blocks, shared.h) as in the float32 GEMM, in pairs of k:
// the partial sums through C come out as from one block, and as the scalar
// reference's. Thin tiles take partial sums as the float GEMM chooses them
// (k_partial_sums). With vdpbf16ps a 6x64 tile reads its weights from L2 as
// fast as from L1 (a step's 256 bytes take 24 cycles): on Zen 4, 32 KB blocks
// made the 1x1 layers at k >= 512 2-4% slower than one block (bench/RESULTS.md,
// log entry 107), so there k is blocked only where a tile's weights would
// crowd a 1 MB L2.
#if defined(MBN_VEC_AVX512) && !defined(MBN_BF16_BY_FMA)
constexpr int64_t kBf16KBlockBytes = kGemmL2KBlockBytes;
#else
constexpr int64_t kBf16KBlockBytes = kGemmKBlockBytes;
#endif

// MR rows x NV vectors of C from MR rows of rounded A (a, a_words apart) over
// the pairs of k block kb; vector v lies in panel panel + v / kBf16NV. With
// PREFETCH, the weights read next (`next`, its panels kp * kBf16NR words
// apart) are fetched into L2 along the way.
template <int MR, int NV, bool PREFETCH, int KS>
inline void bf16_tile(const GemmBf16Args& g, const uint32_t* a, int a_words, int m0, int panel, int kp, KBlock kb,
                      const uint32_t* next) {
  constexpr int kParts = (NV + kBf16NV - 1) / kBf16NV;
  const int n0 = panel * kBf16NR;
  const int64_t panel_words = static_cast<int64_t>(kp) * kBf16NR;
  const uint32_t* b = g.packed_b + panel * panel_words + int64_t{kb.begin} * kBf16NR;
  // Rows in groups of 12 from their own base pointers (see gemm_tile).
  constexpr int kRowGroup = 12, kGroups = (MR + kRowGroup - 1) / kRowGroup;
  const uint32_t* a_group[kGroups];
  MBN_UNROLL for (int q = 0; q < kGroups; ++q) a_group[q] = a + q * kRowGroup * a_words;
  Vec acc[KS][MR][NV];
  MBN_UNROLL for (int s = 1; s < KS; ++s) MBN_UNROLL for (int r = 0; r < MR; ++r)
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[s][r][v] = Vec::zero();
  if (kb.first) {
    MBN_UNROLL for (int v = 0; v < NV; ++v) {
      const Vec bias = Vec::load(g.bias + n0 + v * W);
      MBN_UNROLL for (int r = 0; r < MR; ++r) acc[0][r][v] = bias;
    }
  } else {  // a later k block (whole columns, KS = 1): the partial sums from C
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      const float* c = g.c + (m0 + r) * g.ldc + n0;
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[0][r][v] = Vec::load(c + v * W);
    }
  }
  auto step = [&](int s, int q) {
    if (PREFETCH) {
      MBN_UNROLL for (int part = 0; part < kParts; ++part) MBN_UNROLL for (int off = 0; off < kBf16NR; off += 16)
          __builtin_prefetch(next + part * panel_words + off, 0, 2);
      next += kBf16NR;
    }
#if defined(MBN_BF16_BY_FMA)
    Vec first[NV], second[NV];
    MBN_UNROLL for (int v = 0; v < NV; ++v)
        unpack_pairs(b + (v / kBf16NV) * panel_words + (v % kBf16NV) * W, first[v], second[v]);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      const float* x = reinterpret_cast<const float*>(a_group[r / kRowGroup] + (r % kRowGroup) * a_words) + 2 * q;
      const Vec x_second = Vec::broadcast(x[1]);
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[s][r][v] = fmadd(x_second, second[v], acc[s][r][v]);
      const Vec x_first = Vec::broadcast(x[0]);
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[s][r][v] = fmadd(x_first, first[v], acc[s][r][v]);
    }
#else
    Bf16Pairs bv[NV];
    MBN_UNROLL for (int v = 0; v < NV; ++v) bv[v] = load_pairs(b + (v / kBf16NV) * panel_words + (v % kBf16NV) * W);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      const Bf16Pairs x = broadcast_pair(a_group[r / kRowGroup] + (r % kRowGroup) * a_words + q);
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[s][r][v] = dot_pairs(acc[s][r][v], x, bv[v]);
    }
#endif
    b += kBf16NR;
  };
  int q = kb.begin;
  for (; q + KS <= kb.end; q += KS) {
    MBN_UNROLL for (int s = 0; s < KS; ++s) step(s, q + s);
  }
  for (; q < kb.end; ++q) step(0, q);
  MBN_UNROLL for (int s = 1; s < KS; ++s) MBN_UNROLL for (int r = 0; r < MR; ++r)
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[0][r][v] = add(acc[0][r][v], acc[s][r][v]);
  const int cols = imin(NV * W, g.n - n0);
  // The clamp's bounds only now, as in gemm_tile: fewer registers in the k loop.
  const Vec lo = Vec::broadcast(g.clamp.lo), hi = Vec::broadcast(g.clamp.hi);
  if (!kb.last) {
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      float* c = g.c + (m0 + r) * g.ldc + n0;
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[0][r][v].store(c + v * W);
    }
  } else if (cols == NV * W && g.clamp.unbounded_above()) {
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
void bf16_tile_prefetch(const GemmBf16Args& g, const uint32_t* a, int a_words, int m0, int panel, int kp, KBlock kb,
                        const uint32_t* next) {
  if (next != nullptr)
    bf16_tile<MR, NV, true, KS>(g, a, a_words, m0, panel, kp, kb, next);
  else
    bf16_tile<MR, NV, false, KS>(g, a, a_words, m0, panel, kp, kb, next);
}

// ks: the layer's partial sums (bf16_k_split), from the one-panel tile's
// geometry as in gemm_tile_rows, so a two-panel tile of the same rows has them too.
template <int MR, int NV>
void bf16_tile_rows(const GemmBf16Args& g, const uint32_t* a, int a_words, int m0, int rows, int panel, int kp,
                    KBlock kb, const uint32_t* next, int ks) {
  if constexpr (MR > 1) {
    if (rows < MR) return bf16_tile_rows<MR - 1, NV>(g, a, a_words, m0, rows, panel, kp, kb, next, ks);
  }
  if constexpr (k_partial_sums(MR, NV == 1 ? 1 : kBf16NV) > 1) {
    if (ks == 4) return bf16_tile_prefetch<MR, NV, 4>(g, a, a_words, m0, panel, kp, kb, next);
    if (ks == 2) return bf16_tile_prefetch<MR, NV, 2>(g, a, a_words, m0, panel, kp, kb, next);
  }
  bf16_tile_prefetch<MR, NV, 1>(g, a, a_words, m0, panel, kp, kb, next);
}

// The partial sums of every tile of the layer (from its rows, never from a
// call's: a row comes out the same however the rows are split).
template <int MR, int NV>
int bf16_k_split(const GemmBf16Args& g) {
  const int rows = imax(1, g.layer_rows);
  const int tiles = (rows + MR - 1) / MR;
  return k_partial_sums((rows + tiles - 1) / tiles, NV);
}

// Rows [m0, m0 + rows) of C (rounded A from `a`) of the columns of `panel` on
// that NV vectors cover, in tiles of nearly equal height, k in blocks
// (k_blocks) where the weights are large, every column is in use, the
// tiles are several and take no partial sums. prefetch_next: fetch the panels
// after these while the first tile runs.
template <int MR, int NV>
void bf16_columns(const GemmBf16Args& g, const uint32_t* a, int a_words, int m0, int rows, int panel, int kp,
                  bool prefetch_next, int ks) {
  const int tiles = (rows + MR - 1) / MR;
  if (tiles == 0) return;
  const int base = rows / tiles, extra = rows % tiles;
  const int64_t bytes = int64_t{kp} * NV * W * 4;
  const bool whole = g.n - panel * kBf16NR >= NV * W;
  const int blocks = k_blocks(bytes, tiles, ks, whole, kBf16KBlockBytes);
  const int64_t panel_words = static_cast<int64_t>(kp) * kBf16NR;
  const uint32_t* columns_b = g.packed_b + panel * panel_words;
  constexpr int kParts = (NV + kBf16NV - 1) / kBf16NV;
  for (int blk = 0; blk < blocks; ++blk) {
    const KBlock kb = k_block(kp, blk, blocks);
    // Read next: this block's successor in the same panels, or the next panels' first.
    const uint32_t* next = nullptr;
    if (!kb.last)
      next = columns_b + int64_t{kb.end} * kBf16NR;
    else if (prefetch_next)
      next = columns_b + kParts * panel_words;
    const uint32_t* rows_a = a;
    int m = m0;
    for (int t = 0; t < tiles; ++t) {
      const int height = base + (t < extra ? 1 : 0);
      bf16_tile_rows<MR, NV>(g, rows_a, a_words, m, height, panel, kp, kb, t == 0 ? next : nullptr, ks);
      rows_a += height * a_words;
      m += height;
    }
  }
}

inline bool bf16_narrow_panel(const GemmBf16Args& g, int panel) { return kBf16NV > 1 && g.n - panel * kBf16NR <= W; }

// A rounded row's words (bf16 pairs, or floats by FMA): rounded up to a cache
// line, plus one where that is a multiple of 1 KB (rows that far apart share L1 sets).
inline int bf16_row_words(int k) {
  const int words = ((kBf16ByFma ? k + (k & 1) : (k + 1) / 2) + 15) / 16 * 16;
  return words % 256 == 0 ? words + 16 : words;
}

// Rows [m0, m0 + rows) of C of panels [panel_begin, panel_end) from rounded
// rows of A (`a`, a_words apart, from row m0 on). stream_b: fetch each pair's
// or panel's successor while its first tile runs.
void bf16_rows(const GemmBf16Args& g, const uint32_t* a, int a_words, int m0, int rows, int panel_begin, int panel_end,
               int ks, bool stream_b) {
  const int kp = (g.k + 1) / 2;
  for (int p = panel_begin; p < panel_end;) {
    if constexpr (kBf16TilePanels == 2) {
      if (p + 1 < panel_end) {
        // Two panels, the second the layer's last where fewer than 64 columns remain;
        // the weights after them fetched where they are a pair too.
        const bool prefetch_next = stream_b && p + 3 < panel_end;
        if (g.n - p * kBf16NR > 3 * W)
          bf16_columns<kBf16Accumulators / 4, 4>(g, a, a_words, m0, rows, p, kp, prefetch_next, ks);
        else
          bf16_columns<kBf16Accumulators / 3, 3>(g, a, a_words, m0, rows, p, kp, prefetch_next, ks);
        p += 2;
        continue;
      }
    }
    if (bf16_narrow_panel(g, p))
      bf16_columns<kBf16NarrowMR, 1>(g, a, a_words, m0, rows, p, kp, false, ks);
    else
      bf16_columns<kBf16MR, kBf16NV>(g, a, a_words, m0, rows, p, kp, stream_b && p + 1 < panel_end, ks);
    p += 1;
  }
}

void gemm_bf16(const GemmBf16Args& g, int m_begin, int m_end, int panel_begin, int panel_end) {
  const int kp = (g.k + 1) / 2, a_words = bf16_row_words(g.k);
  const bool stream_b = static_cast<int64_t>(kp) * g.n * 4 >= kBf16StreamWeightBytes;
  const int ks = bf16_k_split<kBf16MR, kBf16NV>(g);
  if (g.a_pairs != nullptr) {  // A rounded by the layer before (KernelTable::dwconv3x3_bf16_rows)
    MBN_CHECK(!kBf16ByFma && g.k % 2 == 0 && g.a_pair_stride >= kp && g.a_pair_stride <= INT32_MAX,
              "internal error: bf16 rows of pairs need the dot product GEMM, an even k and a stride of k / 2 or more");
    if (m_begin < m_end)
      bf16_rows(g, g.a_pairs + m_begin * g.a_pair_stride, static_cast<int>(g.a_pair_stride), m_begin, m_end - m_begin,
                panel_begin, panel_end, ks, stream_b);
    return;
  }
  alignas(64) uint32_t chunk[kBf16ChunkWords];
  const int chunk_rows = imax(1, kBf16ChunkWords / a_words);
  for (int m0 = m_begin; m0 < m_end; m0 += chunk_rows) {
    const int rows = imin(chunk_rows, m_end - m0);
    for (int r = 0; r < rows; ++r) {
#if defined(MBN_BF16_BY_FMA)
      round_to_bf16_floats(g.a + (m0 + r) * g.lda, g.k, reinterpret_cast<float*>(chunk + r * a_words));
#else
      round_to_bf16_pairs(g.a + (m0 + r) * g.lda, g.k, chunk + r * a_words);
#endif
    }
    bf16_rows(g, chunk, a_words, m0, rows, panel_begin, panel_end, ks, stream_b && m0 == m_begin);
  }
}

// The tile of most of a layer's columns: "bf16gemm6x64" (two panels), "bf16gemm12x32" where one
// panel (or with one-panel tiles; "bf16fma12x32" by FMA), or the narrow tile where that panel is narrow.
constexpr SpelledName bf16_tile_name(int rows, int columns) {
  SpelledName name;
  name << (kBf16ByFma ? "bf16fma" : "bf16gemm") << rows << "x" << columns;
  return name;
}
constexpr SpelledName kBf16FullPanelName = bf16_tile_name(kBf16MR, kBf16NR);
constexpr SpelledName kBf16NarrowPanelName = bf16_tile_name(kBf16NarrowMR, W);
constexpr int kBf16WideMR = kBf16Accumulators / (kBf16TilePanels * kBf16NV), kBf16WideNR = kBf16TilePanels * kBf16NR;
constexpr SpelledName kBf16WideName = bf16_tile_name(kBf16WideMR, kBf16WideNR);

const char* gemm_bf16_variant(const GemmBf16Args& g) {
  if (bf16_narrow_panel(g, 0)) return kBf16NarrowPanelName.text;
  return g.n <= kBf16NR ? kBf16FullPanelName.text : kBf16WideName.text;
}
