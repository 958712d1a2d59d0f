// The pointwise (1x1) convolution and the classifier as a GEMM over weights
// packed once at load, and the epilogue of the BLAS backend's GEMM. Included
// by kernels_impl.h inside one instruction set's namespace.

constexpr int kGemmMR = MBN_GEMM_MR;
constexpr int kPanelVecs = MBN_GEMM_NR_VECS;
constexpr int kGemmNR = kPanelVecs * W;  // the packed panels' width
// The accumulators of every tile: MR rows x NV vectors with MR * NV of about this.
constexpr int kGemmAccumulators = kGemmMR * kPanelVecs;
// The narrow-panel tile: one vector of columns, as many accumulators as the full tile.
constexpr int kGemmNarrowMR = kGemmAccumulators;
// Panels one tile may span (MBN_GEMM_TILE_PANELS, default 1). With AVX-512, two:
// a tile of 6 rows x 64 columns loads 4 weight vectors and broadcasts 6
// activations per k step for its 24 FMAs, where 12 x 32 loads 2 and broadcasts
// 12. On Ice Lake-SP the wider tile ran the 1x1 shapes of 1.0/224 1.1-1.4x
// faster (bench/RESULTS.md, log entry 94).
#if defined(MBN_GEMM_TILE_PANELS)
constexpr int kTilePanels = MBN_GEMM_TILE_PANELS;
#else
constexpr int kTilePanels = 1;
#endif
static_assert(kTilePanels == 1 || (kTilePanels == 2 && kPanelVecs == 2), "two-panel tiles of 2 + 2 vectors");
constexpr int kCacheLineFloats = 16;
// Weights beyond L2 come from memory: the tiles prefetch the next panel (smaller ones stay cached).
constexpr int64_t kStreamWeightBytes = 512 * 1024;
// MR rows x NV vectors of columns of C from `panel` on (vector v lies in panel
// panel + v / kPanelVecs), accumulated in registers over k block kb.
// With PREFETCH, the rows of the weights read next (`next`, its panels
// g.k * kGemmNR apart) are fetched into L2 along the way: large weight matrices
// stream from memory, and the first row tile would otherwise wait for them.
// KS: partial sums over k for thin tiles (k_partial_sums, shared.h).

template <int MR, int NV, bool PREFETCH, int KS>
inline void gemm_tile(const GemmArgs& g, int m0, int panel, KBlock kb, const float* next) {
  constexpr int kParts = (NV + kPanelVecs - 1) / kPanelVecs;
  const int n0 = panel * kGemmNR;
  const int64_t panel_floats = static_cast<int64_t>(g.k) * kGemmNR;
  const float* b = g.packed_b + panel * panel_floats + int64_t{kb.begin} * kGemmNR;
  // Rows in groups of 12, each group from its own base pointer: row r's
  // offset (r % 12) * lda is then shared by the groups, and a 24-row tile
  // needs 12 offset registers, not 24 (GCC spilled the rest and reloaded them
  // from the stack on every k step: alpha 0.25's first pointwise layer ran at
  // half the FMA rate).
  constexpr int kRowGroup = 12, kGroups = (MR + kRowGroup - 1) / kRowGroup;
  const float* a_group[kGroups];
  MBN_UNROLL for (int q = 0; q < kGroups; ++q) a_group[q] = g.a + (m0 + q * kRowGroup) * g.lda;
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
  auto step = [&](int s, int kk) {
    if (PREFETCH) {
      MBN_UNROLL for (int part = 0; part < kParts; ++part)
          MBN_UNROLL for (int off = 0; off < kGemmNR; off += kCacheLineFloats)
              __builtin_prefetch(next + part * panel_floats + off, 0, 2);
      next += kGemmNR;
    }
    Vec bv[NV];
    MBN_UNROLL for (int v = 0; v < NV; ++v) bv[v] =
        Vec::load(b + (v / kPanelVecs) * panel_floats + (v % kPanelVecs) * W);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      const Vec x = Vec::broadcast(a_group[r / kRowGroup][(r % kRowGroup) * g.lda + kk]);
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[s][r][v] = fmadd(x, bv[v], acc[s][r][v]);
    }
    b += kGemmNR;
  };
  int kk = kb.begin;
  for (; kk + KS <= kb.end; kk += KS) {
    MBN_UNROLL for (int s = 0; s < KS; ++s) step(s, kk + s);
  }
  for (; kk < kb.end; ++kk) step(0, kk);
  MBN_UNROLL for (int s = 1; s < KS; ++s) MBN_UNROLL for (int r = 0; r < MR; ++r)
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[0][r][v] = add(acc[0][r][v], acc[s][r][v]);
  // Unrolled with compile-time indices, so the accumulators never leave their
  // registers (a rolled store loop made GCC keep all MR x NV of them on the
  // stack: at k = 8..32 that cost as much as the FMAs).
  const int cols = imin(NV * W, g.n - n0);
  // The clamp's bounds only now: kept in registers through the k loop, they
  // made GCC spill a weight vector of the 6x64 tile to the stack.
  const Vec lo = Vec::broadcast(g.clamp.lo), hi = Vec::broadcast(g.clamp.hi);
  if (!kb.last) {
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      float* c = g.c + (m0 + r) * g.ldc + n0;
      MBN_UNROLL for (int v = 0; v < NV; ++v) acc[0][r][v].store(c + v * W);
    }
  } else if (cols == NV * W && g.clamp.unbounded_above()) {
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
void gemm_tile_prefetch(const GemmArgs& g, int m0, int panel, KBlock kb, const float* next) {
  if (next != nullptr)
    gemm_tile<MR, NV, true, KS>(g, m0, panel, kb, next);
  else
    gemm_tile<MR, NV, false, KS>(g, m0, panel, kb, next);
}

// ks: the layer's partial sums (k_split). It exceeds 1 only where the layer's
// rows are few, and then no tile of it is taller than those rows: tiles of more
// rows need no instance with ks > 1.
template <int MR, int NV>
void gemm_tile_rows(const GemmArgs& g, int m0, int rows, int panel, KBlock kb, const float* next, int ks) {
  if constexpr (MR > 1) {
    if (rows < MR) return gemm_tile_rows<MR - 1, NV>(g, m0, rows, panel, kb, next, ks);
  }
  if constexpr (k_partial_sums(MR, NV == 1 ? 1 : kPanelVecs) > 1) {
    if (ks == 4) return gemm_tile_prefetch<MR, NV, 4>(g, m0, panel, kb, next);
    if (ks == 2) return gemm_tile_prefetch<MR, NV, 2>(g, m0, panel, kb, next);
  }
  gemm_tile_prefetch<MR, NV, 1>(g, m0, panel, kb, next);
}

// The partial sums of every tile of a layer: those of its tallest one-panel
// (or narrow) tile when its rows are not split (dealt as gemm_columns deals
// them). They depend on the layer alone, never on the tile or the thread's
// share, so every output comes out the same however the work is split.
template <int MR, int NV>
int k_split(const GemmArgs& g) {
  const int rows = imax(1, g.layer_rows);
  const int tiles = (rows + MR - 1) / MR;
  return k_partial_sums((rows + tiles - 1) / tiles, NV);
}

// Rows [m_begin, m_end) of the columns of `panel` on that NV vectors cover, in
// tiles of at most MR rows dealt into nearly equal heights (49 rows ->
// 10,10,10,10,9 rather than 12,12,12,12,1: a thin tile runs its FMAs at a
// fraction of the rate), k in blocks (kGemmKBlockBytes) where the weights are
// large, every column is in use, the tiles are several and take no partial
// sums (C has room for whole vectors and no tile keeps more than one sum).
// prefetch_next: fetch the panels after these while the first tile runs.
template <int MR, int NV>
void gemm_columns(const GemmArgs& g, int m_begin, int m_end, int panel, bool prefetch_next, int ks) {
  const int rows = m_end - m_begin;
  const int tiles = (rows + MR - 1) / MR;
  if (tiles == 0) return;
  const int base = rows / tiles, extra = rows % tiles;
  const int64_t bytes = int64_t{g.k} * NV * W * int64_t{sizeof(float)};
  const bool whole = g.n - panel * kGemmNR >= NV * W;
  const int blocks = k_blocks(bytes, tiles, ks, whole, g.k_block_bytes > 0 ? g.k_block_bytes : kGemmKBlockBytes);
  const int64_t panel_floats = static_cast<int64_t>(g.k) * kGemmNR;
  const float* columns_b = g.packed_b + panel * panel_floats;
  constexpr int kParts = (NV + kPanelVecs - 1) / kPanelVecs;
  for (int blk = 0; blk < blocks; ++blk) {
    const KBlock kb = k_block(g.k, blk, blocks);
    // Read next: this block's successor in the same panels, or the next panels' first.
    const float* next = nullptr;
    if (!kb.last)
      next = columns_b + int64_t{kb.end} * kGemmNR;
    else if (prefetch_next)
      next = columns_b + kParts * panel_floats;
    int m = m_begin;
    for (int t = 0; t < tiles; ++t) {
      const int height = base + (t < extra ? 1 : 0);
      gemm_tile_rows<MR, NV>(g, m, height, panel, kb, t == 0 ? next : nullptr, ks);
      m += height;
    }
  }
}

// A layer with at most one vector of columns (0.25's first pointwise layer has
// 16) skips the panel's zero padding: one vector per row, twice the rows.
inline bool narrow_layer(const GemmArgs& g) { return kPanelVecs > 1 && g.n <= W; }

void gemm(const GemmArgs& g, int m_begin, int m_end, int panel_begin, int panel_end) {
  const bool stream_b = static_cast<int64_t>(g.k) * g.n * int64_t{sizeof(float)} >= kStreamWeightBytes;
  if (narrow_layer(g)) {
    const int ks = k_split<kGemmNarrowMR, 1>(g);
    for (int p = panel_begin; p < panel_end; ++p) gemm_columns<kGemmNarrowMR, 1>(g, m_begin, m_end, p, false, ks);
    return;
  }
  const int ks = k_split<kGemmMR, kPanelVecs>(g);
  for (int p = panel_begin; p < panel_end;) {
    const int cols = g.n - p * kGemmNR;  // from this panel to the layer's end
    if constexpr (kTilePanels == 2) {
      if (p + 1 < panel_end) {
        // Two panels, the second the layer's last where fewer than 64 columns remain.
        // The weights after them are fetched where they are a pair too (a tile fetches
        // as many panels as it reads: none past the end).
        const bool prefetch_next = stream_b && p + 3 < panel_end;
        if (cols > 3 * W)
          gemm_columns<kGemmAccumulators / 4, 4>(g, m_begin, m_end, p, prefetch_next, ks);
        else
          gemm_columns<kGemmAccumulators / 3, 3>(g, m_begin, m_end, p, prefetch_next, ks);
        p += 2;
        continue;
      }
    }
    // One panel: the layer's last alone may have a vector of columns or less.
    if (cols <= W)
      gemm_columns<kGemmNarrowMR, 1>(g, m_begin, m_end, p, false, ks);
    else
      gemm_columns<kGemmMR, kPanelVecs>(g, m_begin, m_end, p, stream_b && p + 1 < panel_end, ks);
    p += 1;
  }
}

constexpr SpelledName gemm_name(int rows, int columns) {
  SpelledName name;
  name << "gemm" << rows << "x" << columns;
  return name;
}
constexpr SpelledName kGemmPanelName = gemm_name(kGemmMR, kGemmNR);
constexpr SpelledName kGemmNarrowName = gemm_name(kGemmNarrowMR, W);
constexpr int kGemmWideMR = kGemmAccumulators / (kTilePanels * kPanelVecs), kGemmWideNR = kTilePanels * kGemmNR;
constexpr SpelledName kGemmWideName = gemm_name(kGemmWideMR, kGemmWideNR);

// The tile of most of a layer's columns: "gemm24x16" where it has at most a
// vector of them, "gemm12x32" where one panel, else (AVX-512) "gemm6x64". The
// tiles of a last, narrower panel or pair are its tail, like a vector's: they
// run under the layer's name (which must fit the profile's table).
const char* gemm_variant(const GemmArgs& g) {
  if (narrow_layer(g)) return kGemmNarrowName.text;
  return g.n <= kGemmNR ? kGemmPanelName.text : kGemmWideName.text;
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
