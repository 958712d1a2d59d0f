// The pointwise (1x1) convolution and the classifier as a GEMM over weights
// packed once at load, and the epilogue of the BLAS backend's GEMM. Included
// by kernels_impl.h inside one instruction set's namespace.

constexpr int kGemmMR = MBN_GEMM_MR;
constexpr int kGemmNR = MBN_GEMM_NR_VECS * W;
// The narrow-panel tile: one vector of columns, as many accumulators as the full tile.
constexpr int kGemmNarrowMR = kGemmMR * MBN_GEMM_NR_VECS;
constexpr int kCacheLineFloats = 16;
// Weights beyond L2 come from memory: the tiles prefetch the next panel (smaller ones stay cached).
constexpr int64_t kStreamWeightBytes = 512 * 1024;

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
      MBN_UNROLL for (int off = 0; off < kGemmNR; off += kCacheLineFloats) __builtin_prefetch(next_b + off, 0, 2);
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
  MBN_UNROLL for (int s = 1; s < KS; ++s) MBN_UNROLL for (int r = 0; r < MR; ++r)
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

// A panel with at most one vector of columns in use (0.25's first pointwise
// layer has 16) skips the zero padding: one vector per row, twice the rows.
inline bool narrow_panel(const GemmArgs& g, int panel) { return MBN_GEMM_NR_VECS > 1 && g.n - panel * kGemmNR <= W; }

void gemm(const GemmArgs& g, int m_begin, int m_end, int panel_begin, int panel_end) {
  const Vec lo = Vec::broadcast(g.clamp.lo), hi = Vec::broadcast(g.clamp.hi);
  const bool stream_b = static_cast<int64_t>(g.k) * g.n * int64_t{sizeof(float)} >= kStreamWeightBytes;
  for (int p = panel_begin; p < panel_end; ++p) {
    const bool prefetch_next = stream_b && p + 1 < panel_end;
    if (narrow_panel(g, p))
      gemm_panel<kGemmNarrowMR, 1>(g, m_begin, m_end, p, prefetch_next, lo, hi);
    else
      gemm_panel<kGemmMR, MBN_GEMM_NR_VECS>(g, m_begin, m_end, p, prefetch_next, lo, hi);
  }
}

// A name spelled at compile time: std::string would bring out-of-line library
// code into this per-ISA translation unit (see kernels_impl.h).
struct SpelledName {
  char text[48] = {};
  int length = 0;
  constexpr SpelledName& operator<<(const char* s) {
    while (*s != 0) text[length++] = *s++;
    return *this;
  }
  constexpr SpelledName& operator<<(int n) {
    char digits[10] = {};
    int count = 0;
    do {
      digits[count++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n > 0);
    while (count > 0) text[length++] = digits[--count];
    return *this;
  }
};

constexpr SpelledName gemm_name(int rows, int columns) {
  SpelledName name;
  name << "gemm" << rows << "x" << columns;
  return name;
}
constexpr SpelledName kGemmFullPanelName = gemm_name(kGemmMR, kGemmNR);
constexpr SpelledName kGemmNarrowPanelName = gemm_name(kGemmNarrowMR, W);

// The tile of a layer's panels: "gemm12x32", or "gemm24x16" where its single
// panel is narrow. A wider layer's narrow last panel (1000 classes = 31 x 32
// + 8) is its tail, like a vector's: it runs the narrow tile under the
// layer's name (which must fit the profile's table).
const char* gemm_variant(const GemmArgs& g) {
  return narrow_panel(g, 0) ? kGemmNarrowPanelName.text : kGemmFullPanelName.text;
}

// Adds bias[j] to every row of c and clamps: the epilogue of a BLAS GEMM.
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
