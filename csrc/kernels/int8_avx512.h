// The int8 kernels on AVX-512. The GEMM: vpdpbusd (AVX512-VNNI) where the CPU has it, the
// portable loop otherwise. A tile is kVnniRows rows x kVnniPanels panels of
// 16 columns: 24 zmm accumulators, each vpdpbusd adding 4 products (u8 x s8)
// per lane; the sums are exact in int32 (|a * b| <= 255 * 128, k < 2^16).
// The loops run 64 columns at a time over a chunk of rows, so each column's
// requantization constants (Int8Rq16) are worked out once per chunk, and the
// epilogue requantizes in 64-bit lanes with TFLite's rounding folded into one
// add and one shift (int8_rq_apply).

constexpr int kVnniRows = 6, kVnniPanels = 4, kVnniChunkRows = 33 * kVnniRows;
// k blocks: B's bytes of a tile's panels per block at most (16 and 24 KB were slower on
// Ice Lake-SP, log entry 97), and the rows run per block.
constexpr int kVnniKBlockBytes = 32 * 1024, kVnniBlockRows = 11 * kVnniRows;
// A tile of one row (the classifier: a matrix-vector product) reads 4 new lines of B per
// k-step and waits on them: each panel's stream is prefetched this many k-steps ahead
// (512 bytes: 4 and 16 were slower on Ice Lake-SP, log entry 91).
constexpr int kVnniRowPrefetch = 8;

#include "int8_requant_avx512.h"

// vpdpbusd acc += a (u8) x b (s8), in asm: with the intrinsic, GCC 12 copies each
// accumulator to a new register before every vpdpbusd and spills many of them
// to the stack (its pattern ties the output to the input), which halved the
// GEMM's rate where the CPU runs two of them per cycle (Ice Lake).
__attribute__((target("avx512vnni"))) inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "vm"(b));
  return acc;
}

// The panels of a tile: B's rows of 64 bytes (packed B's panel or a split's main part), and the
// panels with column offsets (bit p: offsets, by row sums; split: by remainders, pack_int8_split).
struct VnniPanels {
  const int8_t* b[kVnniPanels];
  unsigned offsets = 0, split = 0;
};

// A tile's k groups [begin, end): the first starts from the bias, the others from the sums
// in `partial` (64 int32 a row), where all but the last leave theirs.
struct VnniKBlock {
  int begin, end;
  bool first, last;
  int32_t* partial;
};

// The next 64-column group's weights, fetched into L2 while this group's tiles run: a line every
// mask + 1 k-steps, from `at` up to `end` (none: at == end).
struct VnniPrefetch {
  const char* at = nullptr;
  const char* end = nullptr;
  int mask = 0;
};

template <int MR, int NP, RqEval E = RqEval::Any, bool Blocked = false>
__attribute__((target("avx512vnni"))) void int8_vnni_tile(const Int8GemmArgs& g, int i0, int p0, int k4,
                                                          const __m512i* init, const VnniPanels& panels,
                                                          const int32_t* row_sums, const Int8Rq16* rq,
                                                          const VnniKBlock& kb, VnniPrefetch& pf) {
  const bool first = !Blocked || kb.first, last = !Blocked || kb.last;
  const unsigned offsets = first ? panels.offsets : 0;
  __m512i acc[MR][NP];
  // The bias, and col_offset x the row's sum in the panels with offsets (bit p): where the sum fits
  // an int16 (k <= 128: at most 255 x 128; |col_offset| <= 128 by packing), one vpmaddwd (the
  // high halves are 0, and 0 or -1), else a vpmulld (2 uops).
  const bool short_k = g.k <= 128;
  MBN_UNROLL for (int r = 0; r < MR; ++r) {
    MBN_UNROLL for (int p = 0; p < NP; ++p) {
      acc[r][p] = first ? init[p] : _mm512_load_si512(kb.partial + r * 64 + p * 16);
      if (offsets >> p & 1) {
        const __m512i offset = _mm512_loadu_si512(g.col_offset + (p0 + p) * kInt8PanelWidth);
        const __m512i sum = _mm512_set1_epi32(row_sums[r]);
        acc[r][p] =
            _mm512_add_epi32(acc[r][p], short_k ? _mm512_madd_epi16(sum, offset) : _mm512_mullo_epi32(sum, offset));
      }
    }
  }
  const uint8_t* a = g.a + int64_t{i0} * g.lda;
  const int grp_end = Blocked ? kb.end : k4;
  const char* pf_at = pf.at;
  for (int grp = Blocked ? kb.begin : 0; grp < grp_end; ++grp) {
    if ((grp & pf.mask) == 0 && pf_at < pf.end) {
      _mm_prefetch(pf_at, _MM_HINT_T1);
      pf_at += 64;
    }
    __m512i bv[NP];
    MBN_UNROLL for (int p = 0; p < NP; ++p) bv[p] = _mm512_loadu_si512(panels.b[p] + int64_t{grp} * 64);
    if (MR == 1)  // (past a panel's end: the next panel's lines, or none; prefetches never fault)
      MBN_UNROLL for (int p = 0; p < NP; ++p)
          _mm_prefetch(reinterpret_cast<const char*>(panels.b[p] + int64_t{grp + kVnniRowPrefetch} * 64), _MM_HINT_T0);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);  // beyond k: times zero weights
      const __m512i av = _mm512_set1_epi32(quad);
      MBN_UNROLL for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], av, bv[p]);
    }
  }
  pf.at = pf_at;
  if (!last) {  // a k block before the last: the sums wait in `partial`
    MBN_UNROLL for (int r = 0; r < MR; ++r) MBN_UNROLL for (int p = 0; p < NP; ++p)
        _mm512_store_si512(kb.partial + r * 64 + p * 16, acc[r][p]);
    return;
  }
  // The split panels' remainders: a few k groups each, after the main part's.
  MBN_UNROLL for (int p = 0; p < NP; ++p) {
    if (!(panels.split >> p & 1)) continue;
    const int32_t* list = reinterpret_cast<const int32_t*>(panels.b[p] + int64_t{k4} * 64);
    const int8_t* rem = panels.b[p] + int64_t{k4} * 64 + 64;
    for (int e = 0; e < list[0]; ++e) {
      const __m512i rv = _mm512_load_si512(rem + 64 * e);
      const int grp = list[1 + e];
      MBN_UNROLL for (int r = 0; r < MR; ++r) {
        int32_t quad;
        __builtin_memcpy(&quad, a + r * g.lda + 4 * grp, 4);
        acc[r][p] = dpbusd(acc[r][p], _mm512_set1_epi32(quad), rv);
      }
    }
  }
  const __m512i zero_point = _mm512_set1_epi32(g.rq.out_zero_point);
  MBN_UNROLL for (int p = 0; p < NP; ++p) {
    MBN_UNROLL for (int r = 0; r < MR; ++r) acc[r][p] = int8_rq_apply<E>(acc[r][p], rq[p], zero_point);
  }
  const __m512i act_min = _mm512_set1_epi8(static_cast<char>(g.rq.act_min));
  const __m512i act_max = _mm512_set1_epi8(static_cast<char>(g.rq.act_max));
  const int n0 = p0 * kInt8PanelWidth, left = g.n - n0;
  const __mmask64 store = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
  const bool clamp = int8_clamps(g.rq);
  for (int r = 0; r < MR; ++r) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i bytes =
        int8_pack64(acc[r][0], NP > 1 ? acc[r][NP > 1 ? 1 : 0] : zero, NP > 2 ? acc[r][NP > 2 ? 2 : 0] : zero,
                    NP > 3 ? acc[r][NP > 3 ? 3 : 0] : zero, act_min, act_max, clamp);
    // One or two panels: a 16- or 32-byte store, which rows of 16 or 32 bytes keep inside a
    // cache line (a 64-byte masked store there spans two lines however few bytes it writes).
    uint8_t* c = g.c + int64_t{i0 + r} * g.ldc + n0;
    if (NP == 1)
      _mm_mask_storeu_epi8(c, static_cast<__mmask16>(store), _mm512_castsi512_si128(bytes));
    else if (NP == 2)
      _mm256_mask_storeu_epi8(c, static_cast<__mmask32>(store), _mm512_castsi512_si256(bytes));
    else
      _mm512_mask_storeu_epi8(c, store, bytes);
  }
}

// KernelTable::int8_gemm_prepare: each panel's constants once (the multipliers
// and shifts are padded to whole panels).
int64_t int8_gemm_prepared_bytes(int n) {
  return int64_t{(n + kInt8PanelWidth - 1) / kInt8PanelWidth} * static_cast<int64_t>(sizeof(Int8Rq16));
}
void int8_gemm_prepare(const Int8Requant& rq, int n, void* prepared) {
  for (int p = 0; p * kInt8PanelWidth < n; ++p)
    int8_rq_prepare(rq.multiplier + p * kInt8PanelWidth, rq.shift + p * kInt8PanelWidth, rq.out_zero_point,
                    *new (static_cast<Int8Rq16*>(prepared) + p) Int8Rq16, rq.act_min);
}

template <int NP>
void int8_vnni_panels(const Int8GemmArgs& g, int i_begin, int i_end, int p0, int k4, const int32_t* row_sums) {
  Int8Rq16 rq[NP];
  __m512i init[NP];
  for (int p = 0; p < NP; ++p) {
    const int n0 = (p0 + p) * kInt8PanelWidth;
    if (g.rq_prepared != nullptr)
      rq[p] = static_cast<const Int8Rq16*>(g.rq_prepared)[p0 + p];
    else
      int8_rq_prepare(g.rq.multiplier + n0, g.rq.shift + n0, g.rq.out_zero_point, rq[p], g.rq.act_min);
    init[p] = _mm512_loadu_si512(g.rq.bias + n0);
  }
  // The panels with column offsets: per-tensor uint8 weights leave one or two columns of a
  // layer past int8 (its extreme weights), so most panels have none. Split, they read the
  // split's main part and add its remainders instead.
  VnniPanels panels;
  for (int p = 0; p < NP; ++p) panels.b[p] = g.packed_b + int64_t{p0 + p} * k4 * 64;
  for (int j = 0; g.has_col_offset && j < NP * kInt8PanelWidth; ++j)
    panels.offsets |= (g.col_offset[p0 * kInt8PanelWidth + j] != 0 ? 1u : 0u) << (j / kInt8PanelWidth);
  if (g.split != nullptr) {
    for (int p = 0; p < NP; ++p) {
      const int32_t* to = static_cast<const int32_t*>(g.split) + p0 + p;
      if (*to != 0) panels.b[p] = reinterpret_cast<const int8_t*>(to) + *to, panels.split |= 1u << p;
    }
    panels.offsets &= ~panels.split;  // none left: a split covers every panel with an offset
  }
  // Whole tiles (6 rows) with the epilogue fixed at compile time (int8_rq_eval): the last
  // rows of a call take the run-time choice.
  const RqEval eval = int8_rq_eval(rq, NP);
  // The next group's weights (they come from L3 or memory where the layer's are large) are
  // fetched into L2 while this group's tiles run, spread evenly over all but the first tile (which
  // waits on this group's own lines), so the next group's first tile reads them from L2. On Ice
  // Lake-SP the 7x7 layers of 1.0/224 ran 0.82x the time, the 14x14 ones 0.92-0.95x (log entry 99).
  const int blocks = (k4 * NP * 64 + kVnniKBlockBytes - 1) / kVnniKBlockBytes;
  VnniPrefetch pf, none;
  const int next_panels = imin(NP, (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth - p0 - NP);
  if (next_panels > 0) {
    pf.at = reinterpret_cast<const char*>(g.packed_b + int64_t{p0 + NP} * k4 * 64);
    pf.end = pf.at + int64_t{next_panels} * k4 * 64;
    const int64_t tiles_total = int64_t{(i_end - i_begin + kVnniRows - 1) / kVnniRows} * blocks;
    const int64_t steps = (tiles_total - 1) * k4 / blocks, lines = int64_t{next_panels} * k4;
    int every = 1;  // a power of two: a line every `every` k-steps covers them all
    while (2 * every * lines <= steps) every *= 2;
    pf.mask = every - 1;
  }
  bool first_tile = true;
  auto tiles = [&](auto blocked, int t_begin, int t_end, const VnniKBlock& block) {
    constexpr bool B = decltype(blocked)::value;
    VnniKBlock kb = block;
    for (int i0 = t_begin; i0 < t_end; i0 += kVnniRows) {
      VnniPrefetch& tile_pf = first_tile ? none : pf;
      first_tile = false;
      const int rows = t_end - i0 < kVnniRows ? t_end - i0 : kVnniRows;
      const int32_t* sums = row_sums + (i0 - i_begin);
      kb.partial = block.partial + (i0 - t_begin) * 64;
      if (rows == kVnniRows && eval == RqEval::Dword) {
        int8_vnni_tile<kVnniRows, NP, RqEval::Dword, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf);
        continue;
      }
      if (rows == kVnniRows && eval == RqEval::DwordCorrect) {
        int8_vnni_tile<kVnniRows, NP, RqEval::DwordCorrect, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf);
        continue;
      }
      switch (rows) {
        case 6: int8_vnni_tile<6, NP, RqEval::Any, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf); break;
        case 5: int8_vnni_tile<5, NP, RqEval::Any, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf); break;
        case 4: int8_vnni_tile<4, NP, RqEval::Any, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf); break;
        case 3: int8_vnni_tile<3, NP, RqEval::Any, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf); break;
        case 2: int8_vnni_tile<2, NP, RqEval::Any, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf); break;
        default: int8_vnni_tile<1, NP, RqEval::Any, B>(g, i0, p0, k4, init, panels, sums, rq, kb, tile_pf); break;
      }
    }
  };
  // Where B's rows of these panels outgrow kVnniKBlockBytes (k > 512 at 4 panels: the 7x7
  // layers), k runs in blocks over up to kVnniBlockRows rows at a time, so that each block's
  // weights stay in L1 across those rows' tiles; the sums pass between blocks in int32.
  if (blocks == 1 || i_end - i_begin <= kVnniRows)
    return tiles(std::false_type{}, i_begin, i_end, {0, k4, true, true, nullptr});
  alignas(64) int32_t partial[kVnniBlockRows * 64];
  for (int t0 = i_begin; t0 < i_end; t0 += kVnniBlockRows) {
    const int t1 = i_end - t0 < kVnniBlockRows ? i_end : t0 + kVnniBlockRows;
    for (int b = 0; b < blocks; ++b)
      tiles(std::true_type{}, t0, t1, {k4 * b / blocks, k4 * (b + 1) / blocks, b == 0, b == blocks - 1, partial});
  }
}

// The sums of the k bytes of rows [i, i_end) of A into sums[0..): vpsadbw against zero
// (8 qword sums of 8 bytes a vector), then 8 rows' vectors added across in one transpose
// (14 shuffles and 7 adds for the 8 rows, where a reduction per row takes 3 and 3 each).
inline void int8_row_sums(const Int8GemmArgs& g, int i, int i_end, int32_t* sums) {
  const __m512i zero = _mm512_setzero_si512();
  const int tail = g.k % 64;  // bytes of the last (masked) load of a row, 0: a whole one
  const __mmask64 last = tail == 0 ? ~__mmask64{0} : (__mmask64{1} << tail) - 1;
  const int whole = (g.k - 1) / 64;  // loads before the last
  auto row = [&](int r) {
    const uint8_t* a = g.a + int64_t{r} * g.lda;
    __m512i s = _mm512_sad_epu8(_mm512_maskz_loadu_epi8(last, a + 64 * whole), zero);
    for (int j = 0; j < whole; ++j) s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_loadu_si512(a + 64 * j), zero));
    return s;
  };
  for (; i + 8 <= i_end; i += 8, sums += 8) {
    __m512i v[8];
    MBN_UNROLL for (int r = 0; r < 8; ++r) v[r] = row(i + r);
    // Qword j of pair[q]: rows 2q and 2q + 1 alternating per 128-bit lane, each the sum of two qwords.
    __m512i pair[4], quad[2];
    MBN_UNROLL for (int q = 0; q < 4; ++q) pair[q] =
        _mm512_add_epi64(_mm512_unpacklo_epi64(v[2 * q], v[2 * q + 1]), _mm512_unpackhi_epi64(v[2 * q], v[2 * q + 1]));
    // 128-bit lanes 0, 2 and 1, 3 of two pairs: lane l of quad holds rows of pair 2h + l / 2.
    MBN_UNROLL for (int h = 0; h < 2; ++h) quad[h] =
        _mm512_add_epi64(_mm512_shuffle_i64x2(pair[2 * h], pair[2 * h + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_i64x2(pair[2 * h], pair[2 * h + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i all = _mm512_add_epi64(_mm512_shuffle_i64x2(quad[0], quad[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                         _mm512_shuffle_i64x2(quad[0], quad[1], _MM_SHUFFLE(3, 1, 3, 1)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums), _mm512_cvtepi64_epi32(all));
  }
  for (; i < i_end; ++i) *sums++ = static_cast<int32_t>(_mm512_reduce_add_epi64(row(i)));
}

void int8_gemm_vnni(const Int8GemmArgs& g, int m_begin, int m_end) {
  const int k4 = (g.k + 3) / 4;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  int32_t row_sums[kVnniChunkRows] = {};
  // Rows in chunks (their A stays in cache while each 64-column panel group passes over them).
  for (int c0 = m_begin; c0 < m_end; c0 += kVnniChunkRows) {
    const int c1 = m_end - c0 < kVnniChunkRows ? m_end : c0 + kVnniChunkRows;
    if (g.has_col_offset && g.split == nullptr) int8_row_sums(g, c0, c1, row_sums);
    int p0 = 0;
    for (; p0 + kVnniPanels <= panels; p0 += kVnniPanels) int8_vnni_panels<kVnniPanels>(g, c0, c1, p0, k4, row_sums);
    switch (panels - p0) {
      case 3: int8_vnni_panels<3>(g, c0, c1, p0, k4, row_sums); break;
      case 2: int8_vnni_panels<2>(g, c0, c1, p0, k4, row_sums); break;
      case 1: int8_vnni_panels<1>(g, c0, c1, p0, k4, row_sums); break;
      default: break;
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

// One 64-channel block of the dot-product depthwise layout, prepared once per
// call: the requantization constants of its 4 vectors (in the layout's lane
// order), their bias and weight offsets, and whether any offset is non-zero
// (the int8 weights of per-channel models need none: no pixel sums then).
struct alignas(64) Int8DwBlock {
  Int8Rq16 rq[4];
  __m512i bias[4], offset[4];
  bool any_offset;
};

// Depthwise on 64 channels at a time with vpdpbusd: 4 taps' pixels interleaved
// byte by byte and word by word give each channel its 4 taps in one int32 lane
// (in the lane order of pack_int8_dwconv_dot), against 4 int8 weights; taps in
// the padding read the zero point, which the packed bias corrects for.
// t: the 9 taps' 64 bytes (tap 8's group is filled with zeros, times zero
// weights); returns the 64 requantized, clamped bytes in channel order.
template <RqEval E = RqEval::Any>
__attribute__((target("avx512vnni"))) inline __m512i int8_dwconv3x3_dot_bytes(const __m512i* t, const int8_t* w,
                                                                              const Int8DwBlock& blk,
                                                                              const Int8Requant& rq) {
  const __m512i ones[3] = {_mm512_set1_epi32(0x01010101), _mm512_set1_epi32(0x01010101), _mm512_set1_epi32(0x00000001)};
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc[4], sums[4];
  for (int v = 0; v < 4; ++v) acc[v] = blk.bias[v], sums[v] = zero;
  for (int g = 0; g < 3; ++g) {
    const __m512i t0 = t[4 * g], t1 = g < 2 ? t[4 * g + 1] : zero;
    const __m512i t2 = g < 2 ? t[4 * g + 2] : zero, t3 = g < 2 ? t[4 * g + 3] : zero;
    const __m512i lo01 = _mm512_unpacklo_epi8(t0, t1), hi01 = _mm512_unpackhi_epi8(t0, t1);
    const __m512i lo23 = _mm512_unpacklo_epi8(t2, t3), hi23 = _mm512_unpackhi_epi8(t2, t3);
    const __m512i quads[4] = {_mm512_unpacklo_epi16(lo01, lo23), _mm512_unpackhi_epi16(lo01, lo23),
                              _mm512_unpacklo_epi16(hi01, hi23), _mm512_unpackhi_epi16(hi01, hi23)};
    for (int v = 0; v < 4; ++v) {
      acc[v] = dpbusd(acc[v], quads[v], _mm512_loadu_si512(w + (g * 4 + v) * 64));
      if (blk.any_offset) sums[v] = dpbusd(sums[v], quads[v], ones[g]);
    }
  }
  const __m512i zero_point = _mm512_set1_epi32(rq.out_zero_point);
  __m512i q[4];
  for (int v = 0; v < 4; ++v) {
    // sum (w - offset) x + offset sum x = sum w x; the bias holds -zero_point sum w.
    if (blk.any_offset) acc[v] = _mm512_add_epi32(acc[v], _mm512_mullo_epi32(blk.offset[v], sums[v]));
    q[v] = int8_rq_apply<E>(acc[v], blk.rq[v], zero_point);
  }
  // Packing back to bytes undoes the interleaves: channels in order.
  const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
  const __m512i act_min = _mm512_set1_epi8(static_cast<char>(rq.act_min));
  const __m512i act_max = _mm512_set1_epi8(static_cast<char>(rq.act_max));
  return _mm512_min_epu8(_mm512_max_epu8(bytes, act_min), act_max);
}

// The same on 9 tap pointers; mask: the block's channels that exist (all 64 but in a tail block).
__attribute__((target("avx512vnni"))) inline void int8_dwconv3x3_dot(const uint8_t* const* tap, const int8_t* w,
                                                                     const Int8DwBlock& blk, __mmask64 mask,
                                                                     const Int8Requant& rq, uint8_t* out) {
  __m512i t[9];
  for (int i = 0; i < 9; ++i) t[i] = _mm512_maskz_loadu_epi8(mask, tap[i]);
  _mm512_mask_storeu_epi8(out, mask, int8_dwconv3x3_dot_bytes(t, w, blk, rq));
}

// A block's constants from its packed parameters (pack_int8_dwconv_dot).
inline void int8_dw_prepare(const int8_t* block, int out_zero_point, int act_min, Int8DwBlock& blk) {
  const int32_t* params = reinterpret_cast<const int32_t*>(block + 3 * 4 * 64);
  blk.any_offset = false;
  for (int v = 0; v < 4; ++v) {
    int8_rq_prepare(params + 64 + 16 * v, params + 128 + 16 * v, out_zero_point, blk.rq[v], act_min);
    blk.bias[v] = _mm512_loadu_si512(params + 16 * v);
    blk.offset[v] = _mm512_loadu_si512(params + 192 + 16 * v);
    for (int j = 0; j < 16; ++j) blk.any_offset |= params[192 + 16 * v + j] != 0;
  }
}

// KernelTable::int8_dw_prepare_blocks: every packed block's constants, once.
int64_t int8_dw_prepared_bytes(int blocks) { return int64_t{blocks} * static_cast<int64_t>(sizeof(Int8DwBlock)); }
void int8_dw_prepare_blocks(const int8_t* dot, int blocks, int out_zero_point, int act_min, void* prepared) {
  for (int b = 0; b < blocks; ++b)
    int8_dw_prepare(dot + int64_t{b} * kInt8DwDotBlockBytes, out_zero_point, act_min,
                    *new (static_cast<Int8DwBlock*>(prepared) + b) Int8DwBlock);
}

// The 9 taps' pixels (from channel c0) of output pixel (oy, ox), padding taps at pad_row.
inline void int8_dw_taps(const Int8ConvArgs& a, int oy, int ox, const uint8_t* pad_row, int c0, const uint8_t** tap) {
  const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
  for (int t = 0; t < 9; ++t) {
    const int iy = iy0 + t / 3, ix = ix0 + t % 3;
    tap[t] = iy < 0 || iy >= a.in_h || ix < 0 || ix >= a.in_w ? pad_row
                                                              : a.input + (int64_t{iy} * a.in_w + ix) * a.in_c + c0;
  }
}

// One column of a block: rows 0-2 (64 channels each) byte- then word-interleaved
// with a zero, in the lane order of the dot-product layout (its column layout).
inline void int8_dw_column(__m512i r0, __m512i r1, __m512i r2, __m512i* q) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i lo01 = _mm512_unpacklo_epi8(r0, r1), hi01 = _mm512_unpackhi_epi8(r0, r1);
  const __m512i lo2 = _mm512_unpacklo_epi8(r2, zero), hi2 = _mm512_unpackhi_epi8(r2, zero);
  q[0] = _mm512_unpacklo_epi16(lo01, lo2), q[1] = _mm512_unpackhi_epi16(lo01, lo2);
  q[2] = _mm512_unpacklo_epi16(hi01, hi2), q[3] = _mm512_unpackhi_epi16(hi01, hi2);
}

// The pixels of one output row and one block on the column layout
// (pack_int8_dwconv_dot): `count` pixels, the first's window starting at
// input column x0 (row[0..2]: the rows at column 0 and the block's channels;
// a row in the padding points at the zero point row, step 0). Columns outside
// [0, in_w) read the zero point. Each input column is interleaved once: at
// stride 1 it serves 3 pixels, at stride 2 two columns are new per pixel.
// (The tail block of S pixels side by side, at stride 1: columns of S pixels,
// the outputs S pixels apart, all three columns new.)
// REM: the block has remainders (weights past int8), whose vectors (mask) add a vpdpbusd.
// Masked: only the bytes of `lanes` are read and written (a tail block of one pixel, fewer
// than 64 channels: the other lanes would be the next pixel's, or past the tensor's end).
template <int S, bool REM, RqEval E, bool Masked>
__attribute__((target("avx512vnni"))) void int8_dw_row(const uint8_t* const* row, const int64_t* step, int x0, int in_w,
                                                       int count, const int8_t* block, const Int8DwBlock& blk, int mask,
                                                       const Int8Requant& rq, __m512i pad, uint8_t* out,
                                                       int64_t out_step, __mmask64 lanes) {
  const int8_t* wc = block + kInt8DwColumnOffset;
  const int8_t* wr = wc + 3 * 4 * 64;
  const __m512i zero_point = _mm512_set1_epi32(rq.out_zero_point);
  const __m512i act_min = _mm512_set1_epi8(static_cast<char>(rq.act_min));
  const __m512i act_max = _mm512_set1_epi8(static_cast<char>(rq.act_max));
  const bool clamp = int8_clamps(rq);
  const uint8_t *p0 = row[0], *p1 = row[1], *p2 = row[2];
  const int64_t s0 = step[0], s1 = step[1], s2 = step[2];
  int x = x0;
  auto load = [&](const uint8_t* p) { return Masked ? _mm512_maskz_loadu_epi8(lanes, p) : _mm512_loadu_si512(p); };
  auto column = [&](__m512i* q) {
    if (static_cast<unsigned>(x) < static_cast<unsigned>(in_w))
      int8_dw_column(load(p0 + x * s0), load(p1 + x * s1), load(p2 + x * s2), q);
    else
      int8_dw_column(pad, pad, pad, q);
    ++x;
  };
  __m512i qa[4], qb[4], qc[4];
  if (S <= 2) column(qa);
  if (S == 1) column(qb);
  for (int i = 0; i < count; ++i) {
    if (S > 2) column(qa);
    if (S >= 2) column(qb);
    column(qc);
    if (S > 3) x += S - 3;
    __m512i acc[4];
    for (int v = 0; v < 4; ++v) {
      acc[v] = dpbusd(blk.bias[v], qa[v], _mm512_loadu_si512(wc + v * 64));
      acc[v] = dpbusd(acc[v], qb[v], _mm512_loadu_si512(wc + (4 + v) * 64));
      acc[v] = dpbusd(acc[v], qc[v], _mm512_loadu_si512(wc + (8 + v) * 64));
      if (REM) {
        if (mask & (1 << v)) acc[v] = dpbusd(acc[v], qa[v], _mm512_loadu_si512(wr + v * 64));
        if (mask & (1 << (4 + v))) acc[v] = dpbusd(acc[v], qb[v], _mm512_loadu_si512(wr + (4 + v) * 64));
        if (mask & (1 << (8 + v))) acc[v] = dpbusd(acc[v], qc[v], _mm512_loadu_si512(wr + (8 + v) * 64));
      }
    }
    __m512i q[4];
    for (int v = 0; v < 4; ++v) q[v] = int8_rq_apply<E>(acc[v], blk.rq[v], zero_point);
    const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
    const __m512i clamped = clamp ? _mm512_min_epu8(_mm512_max_epu8(bytes, act_min), act_max) : bytes;
    if (Masked)
      _mm512_mask_storeu_epi8(out, lanes, clamped);
    else
      _mm512_storeu_si512(out, clamped);
    out += out_step;
    for (int v = 0; v < 4; ++v) qa[v] = qc[v];
    if (S == 1)
      for (int v = 0; v < 4; ++v) qa[v] = qb[v], qb[v] = qc[v];
  }
}

// int8_dw_row for S, the block's remainders and its epilogue (int8_rq_eval of its 4 vectors).
using Int8DwRowFn = decltype(&int8_dw_row<1, false, RqEval::Any, false>);
template <int S, bool Masked = false>
Int8DwRowFn int8_dw_row_for(bool rem, const Int8DwBlock& blk) {
  if (int8_rq_eval(blk.rq, 4) == RqEval::Dword)
    return rem ? int8_dw_row<S, true, RqEval::Dword, Masked> : int8_dw_row<S, false, RqEval::Dword, Masked>;
  return rem ? int8_dw_row<S, true, RqEval::Any, Masked> : int8_dw_row<S, false, RqEval::Any, Masked>;
}

// The windows of pixels at a row's edge, copied with the zero point around them: bytes
// [x0, x0 + span) of an image row of row_bytes bytes (null: a row in the padding) into dst
// (capacity bytes, a multiple of 64, 64-byte aligned), the zero point (pad) elsewhere.
inline void int8_padded_row_copy(uint8_t* dst, int capacity, const uint8_t* row, int64_t row_bytes, int64_t x0,
                                 int64_t span, __m512i pad) {
  for (int b = 0; b < capacity; b += 64) _mm512_store_si512(dst + b, pad);
  const int64_t first = x0 > 0 ? x0 : 0, end = x0 + span < row_bytes ? x0 + span : row_bytes;
  for (int64_t b = first; row != nullptr && b < end; b += 64) {
    const __mmask64 bytes = end - b >= 64 ? ~__mmask64{0} : (__mmask64{1} << (end - b)) - 1;
    _mm512_mask_storeu_epi8(dst + (b - x0), bytes, _mm512_maskz_loadu_epi8(bytes, row + b));
  }
}

// The channels past the last full block (fewer than 64) as one dot-product
// block (a.dot_tail, or packed here: a few hundred bytes), `pixels` output
// pixels side by side (int8_dwconv_tail_pixels): the interior columns run that
// many pixels at a time, their taps at stride 1 one load of consecutive pixels,
// at stride 2 every other pixel of two loads, gathered by one permute of qwords.
__attribute__((target("avx512vnni"))) void int8_dwconv3x3_dot_tail(const Int8ConvArgs& a, int c_begin, int pixels,
                                                                   int row_begin, int row_end) {
  const int rest = a.in_c - c_begin, cp = a.channels_padded, width = pixels * rest;
  alignas(64) int8_t packed[kInt8DwDotBlockBytes];
  const int8_t* block = a.dot_tail;
  if (block == nullptr) {
    alignas(64) int32_t weights[9 * 64];
    for (int t = 0; t < 9; ++t)
      for (int j = 0; j < rest; ++j) weights[t * 64 + j] = a.weights[int64_t{t} * cp + c_begin + j];
    // The kernel's bias is TFLite's (the 32-bit path subtracts the zero point from x): packing folds it in.
    pack_int8_dwconv_tail(weights, 64, a.rq.bias + c_begin, a.rq.multiplier + c_begin, a.rq.shift + c_begin, rest,
                          pixels, a.in_zero_point, packed);
    block = packed;
  }
  // Prepared at packing where the block is the packed one (it follows the dot blocks).
  Int8DwBlock local;
  const Int8DwBlock* prepared = a.dw_prepared != nullptr && block == a.dot_tail
                                    ? static_cast<const Int8DwBlock*>(a.dw_prepared) + int8_dwconv_dot_blocks(a.in_c)
                                    : nullptr;
  if (prepared == nullptr) int8_dw_prepare(block, a.rq.out_zero_point, a.rq.act_min, local);
  const Int8DwBlock& blk = prepared != nullptr ? *prepared : local;
  const bool dword = int8_rq_eval(blk.rq, 4) == RqEval::Dword;
  alignas(64) uint8_t pad_row[64];
  for (uint8_t& v : pad_row) v = static_cast<uint8_t>(a.in_zero_point);
  const __mmask64 mask = (__mmask64{1} << rest) - 1;
  const __mmask64 wide = width == 64 ? ~__mmask64{0} : (__mmask64{1} << width) - 1;
  // Stride 2: pixel k's taps are bytes [2 rest k, 2 rest k + rest) of 128 bytes
  // read as two masked loads (lo, hi); output qword q comes from source qword index[q].
  __mmask64 lo = 0, hi = 0;
  alignas(64) int64_t index[8] = {};
  if (pixels > 1 && a.stride == 2) {
    for (int k = 0; k < pixels; ++k)
      for (int j = 0; j < rest; ++j) {
        const int at = 2 * rest * k + j;
        (at < 64 ? lo : hi) |= __mmask64{1} << (at % 64);
      }
    for (int q = 0; q < width / 8; ++q) index[q] = (2 * rest * (8 * q / rest) + 8 * q % rest) / 8;
  }
  const __m512i gather = _mm512_load_si512(index), pad = _mm512_set1_epi8(static_cast<char>(a.in_zero_point));
  const InteriorColumns inside = interior_columns(a.in_w, a.out_w, a.pad.left, a.stride);
  const int64_t in_pixel_row = int64_t{a.in_w} * a.in_c;
  const uint8_t* tap[9];
  // One pixel a vector (16-63 channels): whole rows on the column layout, as the full blocks
  // run them, reading and writing only the block's channels.
  const int32_t* column_flags = int8_dw_column_flags(block);
  const bool rows_of_one = pixels == 1 && (a.stride == 1 || a.stride == 2) && column_flags[0] != 0;
  const Int8DwRowFn row_of_one = !rows_of_one    ? nullptr
                                 : a.stride == 1 ? int8_dw_row_for<1, true>(column_flags[1] != 0, blk)
                                                 : int8_dw_row_for<2, true>(column_flags[1] != 0, blk);
  // Several pixels a vector at stride 1: whole rows on the column layout.
  const bool groups_of_pixels = pixels > 1 && a.stride == 1 && (width == 64 || pixels == 2) && column_flags[0] != 0;
  Int8DwRowFn group_run = nullptr, edge_run = nullptr;
  if (groups_of_pixels) {
    const bool rem = column_flags[1] != 0;
    group_run = pixels == 2   ? (width == 64 ? int8_dw_row_for<2>(rem, blk) : int8_dw_row_for<2, true>(rem, blk))
                : pixels == 4 ? int8_dw_row_for<4>(rem, blk)
                              : int8_dw_row_for<8>(rem, blk);
    edge_run = pixels == 2   ? int8_dw_row_for<2, true>(rem, blk)
               : pixels == 4 ? int8_dw_row_for<4, true>(rem, blk)
                             : int8_dw_row_for<8, true>(rem, blk);
  }
  for (int oy = row_begin; oy < row_end; ++oy) {
    uint8_t* out_row = a.output + int64_t{oy} * a.out_w * a.in_c + c_begin;
    if (rows_of_one) {
      const uint8_t* row[3];
      int64_t step[3];
      int8_window_rows(a, oy, c_begin, pad_row, row, step);
      row_of_one(row, step, -a.pad.left, a.in_w, a.out_w, block, blk, column_flags[1], a.rq, pad, out_row, a.in_c,
                 mask);
      continue;
    }
    auto one_pixel = [&](int ox) {
      int8_dw_taps(a, oy, ox, pad_row, c_begin, tap);
      int8_dwconv3x3_dot(tap, block, blk, mask, a.rq, out_row + int64_t{ox} * a.in_c);
    };
    if (groups_of_pixels) {
      // On the column layout: the row in groups of `pixels` (two of 24 channels: 48 of the 64
      // bytes read and written), those at the edges from a copy of their windows.
      const uint8_t* row[3];
      int64_t step[3];
      int8_window_rows(a, oy, c_begin, pad_row, row, step);
      const int mask = column_flags[1];
      // Output pixels [ox, ox + pixels) (those of them before out_w written) from a copy of
      // their windows' columns [ox - pad.left, ox - pad.left + pixels + 2): (pixels + 2) rest
      // <= 128 bytes a row (several pixels a vector only below 64 channels: in_c = rest).
      auto edge_group = [&](int ox) {
        alignas(64) uint8_t copy[3][128];
        const uint8_t* copied[3] = {copy[0], copy[1], copy[2]};
        const int64_t copy_step[3] = {rest, rest, rest};
        for (int w = 0; w < 3; ++w)
          int8_padded_row_copy(copy[w], 128, step[w] != 0 ? row[w] : nullptr, int64_t{a.in_w} * rest,
                               int64_t{ox - a.pad.left} * rest, int64_t{pixels + 2} * rest, pad);
        const int outputs = a.out_w - ox < pixels ? a.out_w - ox : pixels;
        const __mmask64 lanes = outputs * rest >= 64 ? ~__mmask64{0} : (__mmask64{1} << (outputs * rest)) - 1;
        edge_run(copied, copy_step, 0, pixels + 2, 1, block, blk, mask, a.rq, pad, out_row + int64_t{ox} * a.in_c,
                 width, lanes);
      };
      int ox = 0;
      if (inside.begin > 0) edge_group(0), ox = pixels;
      const int groups = inside.end > ox ? (inside.end - ox) / pixels : 0;
      if (groups > 0)
        group_run(row, step, ox - a.pad.left, a.in_w, groups, block, blk, mask, a.rq, pad,
                  out_row + int64_t{ox} * a.in_c, width, wide);
      for (ox += groups * pixels; ox < a.out_w; ox += pixels) edge_group(ox);
      continue;
    }
    int ox = 0;
    if (pixels > 1) {
      const int iy0 = oy * a.stride - a.pad.top;
      // `pixels` output pixels from ox (stores: `lanes`), their window rows at row[ky] (the
      // first's window's first column; null: the padding), pixel_step bytes a pixel.
      // (The lambda needs the target too, or the dot product is not inlined; and inlined itself.)
      auto group = [&](const uint8_t* const* row, int64_t pixel_step, uint8_t* out, __mmask64 lanes)
                       __attribute__((target("avx512vnni"), always_inline)) {
                         __m512i t[9];
                         for (int ky = 0; ky < 3; ++ky) {
                           if (row[ky] == nullptr) {
                             t[3 * ky] = t[3 * ky + 1] = t[3 * ky + 2] = pad;
                             continue;
                           }
                           for (int kx = 0; kx < 3; ++kx) {
                             const uint8_t* p = row[ky] + kx * pixel_step;
                             if (a.stride == 2)
                               t[3 * ky + kx] = _mm512_permutex2var_epi64(_mm512_maskz_loadu_epi8(lo, p), gather,
                                                                          _mm512_maskz_loadu_epi8(hi, p + 64));
                             else
                               t[3 * ky + kx] = _mm512_maskz_loadu_epi8(wide, p);
                           }
                         }
                         const __m512i bytes = dword ? int8_dwconv3x3_dot_bytes<RqEval::Dword>(t, block, blk, a.rq)
                                                     : int8_dwconv3x3_dot_bytes(t, block, blk, a.rq);
                         _mm512_mask_storeu_epi8(out, lanes, bytes);
                       };
      // A group at an edge, from a copy of its windows' columns with the zero point around
      // them: (stride (pixels - 1) + 3) rest bytes a row, read as far as 2 rest + 128
      // (several pixels a vector only below 64 channels: in_c = rest).
      auto edge_group = [&](int ox) __attribute__((target("avx512vnni"))) {
        alignas(64) uint8_t copy[3][192];
        const uint8_t* rows[3];
        for (int ky = 0; ky < 3; ++ky) {
          const int iy = iy0 + ky;
          rows[ky] = copy[ky];
          int8_padded_row_copy(copy[ky], 192, iy < 0 || iy >= a.in_h ? nullptr : a.input + iy * in_pixel_row,
                               in_pixel_row, int64_t{ox * a.stride - a.pad.left} * rest,
                               int64_t{a.stride * (pixels - 1) + 3} * rest, pad);
        }
        const int outputs = a.out_w - ox < pixels ? a.out_w - ox : pixels;
        group(rows, rest, out_row + int64_t{ox} * a.in_c,
              outputs * rest >= 64 ? ~__mmask64{0} : (__mmask64{1} << (outputs * rest)) - 1);
      };
      if (inside.begin > 0) edge_group(0), ox = pixels;
      for (; ox + pixels <= inside.end; ox += pixels) {
        const int ix0 = ox * a.stride - a.pad.left;
        const uint8_t* rows[3];
        for (int ky = 0; ky < 3; ++ky) {
          const int iy = iy0 + ky;
          rows[ky] = iy < 0 || iy >= a.in_h ? nullptr : a.input + iy * in_pixel_row + int64_t{ix0} * a.in_c + c_begin;
        }
        group(rows, a.in_c, out_row + int64_t{ox} * a.in_c, wide);
      }
      for (; ox < a.out_w; ox += pixels) edge_group(ox);
    }
    for (; ox < a.out_w; ++ox) one_pixel(ox);
  }
}

constexpr int kInt8DwGroupBlocks = 8;  // blocks prepared at a time (on the stack)

void int8_dwconv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int channels = a.in_c, cp = a.channels_padded;
  const bool vnni = int8_dot_product(Isa::Avx512);
  const bool dot = vnni && a.dot != nullptr && a.dot_blocks > 0;
  const int dot_blocks = dot ? a.dot_blocks : 0;
  int c_begin = 64 * dot_blocks;
  // The dot-product blocks, a group of them at a time over the rows, their
  // constants prepared at packing (a.dw_prepared) or here.
  Int8DwBlock local[kInt8DwGroupBlocks];
  const Int8DwBlock* prepared = static_cast<const Int8DwBlock*>(a.dw_prepared);
  const uint8_t* tap[9];
  const __m512i pad = _mm512_set1_epi8(static_cast<char>(a.in_zero_point));
  for (int b0 = 0; b0 < dot_blocks; b0 += kInt8DwGroupBlocks) {
    const int b1 = dot_blocks - b0 < kInt8DwGroupBlocks ? dot_blocks : b0 + kInt8DwGroupBlocks;
    if (prepared == nullptr)
      for (int b = b0; b < b1; ++b)
        int8_dw_prepare(a.dot + int64_t{b} * kInt8DwDotBlockBytes, a.rq.out_zero_point, a.rq.act_min, local[b - b0]);
    const Int8DwBlock* blocks = prepared != nullptr ? prepared + b0 : local;
    for (int oy = row_begin; oy < row_end; ++oy) {
      auto pixels = [&](int ox_begin, int ox_end, int b_begin, int b_end) {
        for (int ox = ox_begin; ox < ox_end; ++ox) {
          int8_dw_taps(a, oy, ox, a.zero_point_row, 0, tap);
          uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * channels;
          for (int b = b_begin; b < b_end; ++b) {
            const uint8_t* block_tap[9];
            for (int t = 0; t < 9; ++t) block_tap[t] = tap[t] + 64 * b;
            int8_dwconv3x3_dot(block_tap, a.dot + int64_t{b} * kInt8DwDotBlockBytes, blocks[b - b0], ~__mmask64{0},
                               a.rq, out + 64 * b);
          }
        }
      };
      // On the column layout, block by block (the old layout where a block's weights reach 255).
      const bool columns = a.stride == 1 || a.stride == 2;
      const uint8_t* row[3];
      int64_t step[3];
      int8_window_rows(a, oy, 0, a.zero_point_row, row, step);
      for (int b = b0; b < b1; ++b) {
        const int8_t* block = a.dot + int64_t{b} * kInt8DwDotBlockBytes;
        const int32_t* flags = int8_dw_column_flags(block);
        if (!columns || flags[0] == 0) {
          pixels(0, a.out_w, b, b + 1);
          continue;
        }
        const uint8_t* block_row[3] = {row[0] + 64 * b, row[1] + 64 * b, row[2] + 64 * b};
        uint8_t* out = a.output + int64_t{oy} * a.out_w * channels + 64 * b;
        const int mask = flags[1];
        const Int8DwBlock& blk = blocks[b - b0];
        auto run = a.stride == 1 ? int8_dw_row_for<1>(mask != 0, blk) : int8_dw_row_for<2>(mask != 0, blk);
        run(block_row, step, -a.pad.left, a.in_w, a.out_w, block, blk, mask, a.rq, pad, out, channels, ~__mmask64{0});
      }
    }
  }
  // Fewer than 64 channels left (32 at alpha 1's first layer): a tail block.
  const int tail_pixels =
      c_begin == 64 * int8_dwconv_dot_blocks(channels) ? int8_dwconv_tail_pixels(channels, a.stride) : 0;
  if (vnni && tail_pixels > 0) {
    int8_dwconv3x3_dot_tail(a, c_begin, tail_pixels, row_begin, row_end);
    c_begin = channels;
  }
  // The other channels (all of them without the dot product), 16 at a time
  // with 32-bit products, in chunks of 64 whose constants are prepared once.
  const __m512i zp = _mm512_set1_epi32(a.in_zero_point), out_zp = _mm512_set1_epi32(a.rq.out_zero_point);
  const __m512i act_min = _mm512_set1_epi32(a.rq.act_min), act_max = _mm512_set1_epi32(a.rq.act_max);
  for (int chunk = c_begin; chunk < channels; chunk += 64) {
    const int chunk_end = channels - chunk < 64 ? channels : chunk + 64;
    Int8Rq16 rq[4];
    for (int c0 = chunk; c0 < chunk_end; c0 += 16)
      int8_rq_prepare(a.rq.multiplier + c0, a.rq.shift + c0, a.rq.out_zero_point, rq[(c0 - chunk) / 16], a.rq.act_min);
    for (int oy = row_begin; oy < row_end; ++oy) {
      const int iy0 = oy * a.stride - a.pad.top;
      const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = a.in_h - iy0 < 3 ? a.in_h - iy0 : 3;
      for (int ox = 0; ox < a.out_w; ++ox) {
        const int ix0 = ox * a.stride - a.pad.left;
        const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = a.in_w - ix0 < 3 ? a.in_w - ix0 : 3;
        uint8_t* out = a.output + (int64_t{oy} * a.out_w + ox) * channels;
        for (int c0 = chunk; c0 < chunk_end; c0 += 16) {
          const __mmask16 mask = int8_channel_mask(channels - c0);
          __m512i acc = _mm512_loadu_si512(a.rq.bias + c0);
          for (int ky = ky0; ky < ky1; ++ky)
            for (int kx = kx0; kx < kx1; ++kx) {
              const uint8_t* x = a.input + (int64_t{iy0 + ky} * a.in_w + ix0 + kx) * channels + c0;
              const __m512i xv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, x)), zp);
              const __m512i wv = _mm512_cvtepi16_epi32(
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.weights + int64_t{ky * 3 + kx} * cp + c0)));
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, wv));
            }
          const __m512i r = int8_rq_apply(acc, rq[(c0 - chunk) / 16], out_zp);
          _mm_mask_storeu_epi8(out + c0, mask,
                               _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(r, act_min), act_max)));
        }
      }
    }
  }
}

// vpdpbusd on the packed blocks of 64 channels (execute.cpp passes them where
// the layer has any) and on a tail block (int8_dw_tail_pixels), where the CPU
// has AVX512-VNNI; else 32-bit multiplies.
const char* int8_dwconv3x3_variant(const Int8ConvArgs& a) {
  const int blocks = int8_dwconv_dot_blocks(a.in_c);
  const bool dot_channels = blocks > 0 || int8_dwconv_tail_pixels(a.in_c, a.stride) > 0;
  return dot_channels && int8_dot_product(Isa::Avx512) ? "vnni" : "mullo";
}

// The stem through the VNNI GEMM: each output pixel's 3 x 3 x in_c taps
// gathered into a row (padding taps read the zero point, as TFLite pads), the
// weights packed per call (a few hundred bytes) and the input zero point
// folded into the bias: sum (x - zp) w = sum x w - zp sum w.
constexpr int kInt8StemMaxK = 64, kInt8StemMaxN = 128;

bool int8_conv3x3_by_gemm(const Int8ConvArgs& a) {
  return int8_dot_product(Isa::Avx512) && 9 * a.in_c <= kInt8StemMaxK && a.out_c <= kInt8StemMaxN;
}

void int8_conv3x3_gemm(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int k = 9 * a.in_c, k4 = (k + 3) / 4, n = a.out_c, cp = a.channels_padded, lda = 4 * k4;
  alignas(64) int32_t effective[kInt8StemMaxK * kInt8StemMaxN];
  alignas(64) int8_t packed[kInt8StemMaxK * kInt8StemMaxN + 64];
  alignas(64) int32_t col_offset[kInt8StemMaxN], bias[kInt8StemMaxN];
  for (int kk = 0; kk < k; ++kk)
    for (int c = 0; c < n; ++c) effective[kk * n + c] = a.weights[int64_t{kk} * cp + c];
  pack_int8_gemm_weights(effective, k, n, packed, col_offset);
  bool has_offset = false;
  for (int c = 0; c < (n + 15) / 16 * 16; ++c) {
    int64_t column = 0;
    for (int kk = 0; kk < k && c < n; ++kk) column += effective[kk * n + c];
    bias[c] = c < n ? static_cast<int32_t>(a.rq.bias[c] - int64_t{a.in_zero_point} * column) : 0;
    has_offset |= col_offset[c] != 0;
  }
  Int8Requant rq = a.rq;
  rq.bias = bias;
  alignas(64) uint8_t rows[kVnniChunkRows * kInt8StemMaxK];
  const uint8_t zp = static_cast<uint8_t>(a.in_zero_point);
  const int tap_bytes = a.in_c, row_bytes = 3 * a.in_c;  // <= 21 (kInt8StemMaxK)
  const __mmask32 copy_mask = (__mmask32{1} << row_bytes) - 1;
  const int64_t p_end = int64_t{row_end} * a.out_w;
  for (int64_t p0 = int64_t{row_begin} * a.out_w; p0 < p_end; p0 += kVnniChunkRows) {
    const int m = static_cast<int>(p_end - p0 < kVnniChunkRows ? p_end - p0 : kVnniChunkRows);
    int oy = static_cast<int>(p0 / a.out_w), ox = static_cast<int>(p0 % a.out_w);
    for (int i = 0; i < m; ++i, ox = ox + 1 == a.out_w ? 0 : ox + 1, oy += ox == 0 ? 1 : 0) {
      const int iy0 = oy * a.stride - a.pad.top, ix0 = ox * a.stride - a.pad.left;
      uint8_t* row = rows + i * lda;
      for (int ky = 0; ky < 3; ++ky) {
        const int iy = iy0 + ky;
        uint8_t* dst = row + ky * row_bytes;
        if (iy >= 0 && iy < a.in_h && ix0 >= 0 && ix0 + 3 <= a.in_w) {  // 3 whole pixels: one masked copy
          const uint8_t* src = a.input + (int64_t{iy} * a.in_w + ix0) * a.in_c;
          _mm256_mask_storeu_epi8(dst, copy_mask, _mm256_maskz_loadu_epi8(copy_mask, src));
          continue;
        }
        for (int kx = 0; kx < 3; ++kx) {
          const int ix = ix0 + kx;
          const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
          for (int ci = 0; ci < tap_bytes; ++ci)
            dst[kx * tap_bytes + ci] = inside ? a.input[(int64_t{iy} * a.in_w + ix) * a.in_c + ci] : zp;
        }
      }
      for (int kk = k; kk < k4 * 4; ++kk) row[kk] = 0;  // times zero weights
    }
    const Int8GemmArgs g{rows, lda, packed, col_offset, has_offset, a.output + p0 * n, n, m, n, k, rq};
    int8_gemm_vnni(g, 0, m);
  }
}

// The stem from its block packed at load (pack_int8_stem), for in_c <= 3: in
// chunks of pixels, each pixel's 9 in_c taps gathered into a 32-byte row
// (three 16-byte copies where its window and the copies' overrun lie inside
// the image, else tap by tap with the zero point) and its byte sum (vpsadbw
// of the copies' registers, for the column offsets of uint8 weights), then
// tiles of kStemRows rows x up to 4 panels through vpdpbusd. Out_c <= 8: two
// pixels share each 16 lanes (their rows' dwords interleaved, so one qword
// broadcast feeds both), halving the dot products and the requantizations.
constexpr int kStemChunk = 192, kStemRows = 6, kStemLda = 32;

struct Int8StemTile {
  const uint8_t* rows;  // kStemLda bytes a row (pairs: 64 bytes a pair, dwords interleaved)
  const int32_t* sums;  // a row's byte sum (pairs: two adjacent)
  const int8_t* b;      // the panel group's first panel
  const int32_t* col_offset;
  bool has_offset;
  int k4;
  uint8_t* out;  // the tile's first pixel
  int pixels;    // in the tile (the last pair may have one)
  int out_c;     // bytes a pixel
  int columns;   // this panel group's columns to store (pixels of one lane each)
};

template <int MR, int NP, bool Pairs, RqEval E = RqEval::Any>
__attribute__((target("avx512vnni"))) void int8_stem_tile(const Int8StemTile& t, const __m512i* init,
                                                          const Int8Rq16* rq, const Int8Requant& q) {
  __m512i acc[MR][NP];
  MBN_UNROLL for (int r = 0; r < MR; ++r) {
    __m512i sum = _mm512_setzero_si512();
    if (t.has_offset) {
      int64_t pair = t.sums[r];
      if (Pairs) __builtin_memcpy(&pair, t.sums + 2 * r, 8);
      sum = Pairs ? _mm512_set1_epi64(pair) : _mm512_set1_epi32(t.sums[r]);
    }
    MBN_UNROLL for (int p = 0; p < NP; ++p) {
      acc[r][p] = init[p];
      // sum <= 27 x 255 and |offset| <= 128: one 16-bit multiply-add (their high halves are 0 and 0 or -1).
      if (t.has_offset)
        acc[r][p] =
            _mm512_add_epi32(acc[r][p], _mm512_madd_epi16(sum, _mm512_loadu_si512(t.col_offset + p * kInt8PanelWidth)));
    }
  }
  for (int g = 0; g < t.k4; ++g) {
    __m512i bv[NP];
    MBN_UNROLL for (int p = 0; p < NP; ++p) bv[p] = _mm512_loadu_si512(t.b + (int64_t{p} * t.k4 + g) * 64);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      __m512i av;
      if (Pairs) {
        int64_t quads;
        __builtin_memcpy(&quads, t.rows + r * 64 + 8 * g, 8);
        av = _mm512_set1_epi64(quads);
      } else {
        int32_t quad;
        __builtin_memcpy(&quad, t.rows + r * kStemLda + 4 * g, 4);
        av = _mm512_set1_epi32(quad);
      }
      MBN_UNROLL for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], av, bv[p]);
    }
  }
  const __m512i zero_point = _mm512_set1_epi32(q.out_zero_point);
  MBN_UNROLL for (int p = 0; p < NP; ++p) MBN_UNROLL for (int r = 0; r < MR; ++r) acc[r][p] =
      int8_rq_apply<E>(acc[r][p], rq[p], zero_point);
  if (Pairs || NP == 1) {
    const __m512i lo = _mm512_set1_epi32(q.act_min), hi = _mm512_set1_epi32(q.act_max);
    // Pairs: lane 2c + h holds pixel h's channel c; bytes to pixel 0's channels, then pixel 1's.
    alignas(16) int8_t order[16];
    for (int j = 0; j < 16; ++j) order[j] = static_cast<int8_t>(j < t.out_c ? 2 * j : 2 * (j - t.out_c) + 1);
    const __m128i shuffle = _mm_load_si128(reinterpret_cast<const __m128i*>(order));
    for (int r = 0; r < MR; ++r) {
      __m128i bytes = _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(acc[r][0], lo), hi));
      if (Pairs) {
        bytes = _mm_shuffle_epi8(bytes, shuffle);
        const int n = (2 * r + 1 < t.pixels ? 2 : 1) * t.out_c;
        _mm_mask_storeu_epi8(t.out + int64_t{2 * r} * t.out_c, static_cast<__mmask16>((1u << n) - 1), bytes);
      } else {
        _mm_mask_storeu_epi8(t.out + int64_t{r} * t.out_c, int8_channel_mask(t.columns), bytes);
      }
    }
  } else {
    const __m512i lo = _mm512_set1_epi8(static_cast<char>(q.act_min));
    const __m512i hi = _mm512_set1_epi8(static_cast<char>(q.act_max));
    const __mmask64 store = t.columns >= 64 ? ~__mmask64{0} : (__mmask64{1} << t.columns) - 1;
    const __m512i zero = _mm512_setzero_si512();
    for (int r = 0; r < MR; ++r) {
      const __m512i bytes = int8_pack64(acc[r][0], acc[r][NP > 1 ? 1 : 0], NP > 2 ? acc[r][NP > 2 ? 2 : 0] : zero,
                                        NP > 3 ? acc[r][NP > 3 ? 3 : 0] : zero, lo, hi);
      _mm512_mask_storeu_epi8(t.out + int64_t{r} * t.out_c, store, bytes);
    }
  }
}

template <int NP, bool Pairs>
void int8_stem_panels(Int8StemTile t, int vector_rows, const __m512i* init, const Int8Rq16* rq, const Int8Requant& q) {
  const int pixels = t.pixels, per_row = Pairs ? 2 : 1;
  const RqEval eval = int8_rq_eval(rq, NP);  // whole tiles with the epilogue fixed at compile time
  for (int r0 = 0; r0 < vector_rows; r0 += kStemRows) {
    const int rows = vector_rows - r0 < kStemRows ? vector_rows - r0 : kStemRows;
    Int8StemTile u = t;
    u.rows = t.rows + r0 * (Pairs ? 64 : kStemLda);
    u.sums = t.sums + r0 * per_row;
    u.out = t.out + int64_t{r0} * per_row * t.out_c;
    u.pixels = pixels - r0 * per_row;
    if (rows == kStemRows && eval == RqEval::Dword) {
      int8_stem_tile<kStemRows, NP, Pairs, RqEval::Dword>(u, init, rq, q);
      continue;
    }
    switch (rows) {
      case 6: int8_stem_tile<6, NP, Pairs>(u, init, rq, q); break;
      case 5: int8_stem_tile<5, NP, Pairs>(u, init, rq, q); break;
      case 4: int8_stem_tile<4, NP, Pairs>(u, init, rq, q); break;
      case 3: int8_stem_tile<3, NP, Pairs>(u, init, rq, q); break;
      case 2: int8_stem_tile<2, NP, Pairs>(u, init, rq, q); break;
      default: int8_stem_tile<1, NP, Pairs>(u, init, rq, q); break;
    }
  }
}

// The stem straight from the image (pack_int8_stem's window-rows block, in_c = 3,
// stride S): each output pixel's window rows as 3 dword broadcasts each, read
// where the pixel's window lies (row w of pixel r at row[w] + 3 S r), so no
// rows are gathered and no row sums taken: weights past int8 add their
// remainders' dot products (the groups of a panel that have any). Pairs
// (out_c <= 8): a vector holds pixels 2r and 2r + 1 (8 lanes each).
struct Int8StemRows {
  const int8_t* main;     // [panel][group][64]
  const int8_t* rest;     // the remainders, the same
  const int32_t* groups;  // per panel: its groups with remainders (bits)
  int out_c;
};

template <int S, int MR, int NP, bool Pairs, RqEval E = RqEval::Any>
__attribute__((target("avx512vnni"))) void int8_stem_rows_tile(const uint8_t* const* row, const Int8StemRows& d, int p0,
                                                               const __m512i* init, const Int8Rq16* rq,
                                                               const Int8Requant& q, uint8_t* out, int columns,
                                                               int pixels) {
  constexpr int kPixel = 3 * S;  // bytes from one pixel's window to the next's
  auto quad = [&](int w, int pixel, int j) {
    int32_t v;
    __builtin_memcpy(&v, row[w] + pixel * kPixel + 4 * j, 4);
    return v;
  };
  auto broadcast = [&](int w, int r, int j) {
    if (!Pairs) return _mm512_set1_epi32(quad(w, r, j));
    return _mm512_mask_set1_epi32(_mm512_set1_epi32(quad(w, 2 * r, j)), 0xFF00, quad(w, 2 * r + 1, j));
  };
  __m512i acc[MR][NP];
  MBN_UNROLL for (int r = 0; r < MR; ++r) MBN_UNROLL for (int p = 0; p < NP; ++p) acc[r][p] = init[p];
  MBN_UNROLL for (int g = 0; g < kInt8StemRowGroups; ++g) {
    __m512i bv[NP];
    MBN_UNROLL for (int p = 0; p < NP; ++p) bv[p] =
        _mm512_loadu_si512(d.main + ((p0 + p) * kInt8StemRowGroups + g) * 64);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      const __m512i av = broadcast(g / 3, r, g % 3);
      MBN_UNROLL for (int p = 0; p < NP; ++p) acc[r][p] = dpbusd(acc[r][p], av, bv[p]);
    }
  }
  MBN_UNROLL for (int p = 0; p < NP; ++p) {
    for (unsigned left = static_cast<unsigned>(d.groups[p0 + p]); left != 0; left &= left - 1) {
      const int g = __builtin_ctz(left);
      const __m512i bv = _mm512_loadu_si512(d.rest + ((p0 + p) * kInt8StemRowGroups + g) * 64);
      MBN_UNROLL for (int r = 0; r < MR; ++r) acc[r][p] = dpbusd(acc[r][p], broadcast(g / 3, r, g % 3), bv);
    }
  }
  const __m512i zero_point = _mm512_set1_epi32(q.out_zero_point);
  MBN_UNROLL for (int p = 0; p < NP; ++p) MBN_UNROLL for (int r = 0; r < MR; ++r) acc[r][p] =
      int8_rq_apply<E>(acc[r][p], rq[p], zero_point);
  const int out_c = d.out_c;
  if (MR % 4 == 0 && NP == 1 && out_c == (Pairs ? 8 : 16)) {
    // A vector's 16 lanes are 16 consecutive output bytes: 4 vectors are 64, one store.
    const __m512i lo = _mm512_set1_epi8(static_cast<char>(q.act_min));
    const __m512i hi = _mm512_set1_epi8(static_cast<char>(q.act_max));
    const int bytes = pixels * out_c;
    MBN_UNROLL for (int r = 0; r < MR; r += 4) {
      const __mmask64 store = bytes - 16 * r >= 64 ? ~__mmask64{0} : (__mmask64{1} << (bytes - 16 * r)) - 1;
      _mm512_mask_storeu_epi8(
          out + 16 * r, store,
          int8_pack64(acc[r][0], acc[r + 1][0], acc[r + 2][0], acc[r + 3][0], lo, hi, int8_clamps(q)));
    }
  } else if (Pairs || NP == 1) {
    const __m512i lo = _mm512_set1_epi32(q.act_min), hi = _mm512_set1_epi32(q.act_max);
    // Pairs: lanes 8h + c hold pixel h's channel c; bytes to pixel 0's channels, then pixel 1's.
    alignas(16) int8_t order[16];
    for (int j = 0; j < 16; ++j) order[j] = static_cast<int8_t>(j < out_c ? j : 8 + j - out_c);
    const __m128i shuffle = _mm_load_si128(reinterpret_cast<const __m128i*>(order));
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      __m128i bytes = _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(acc[r][0], lo), hi));
      if (Pairs) {
        if (out_c < 8) bytes = _mm_shuffle_epi8(bytes, shuffle);
        const int n = (2 * r + 1 < pixels ? 2 : 1) * out_c;
        _mm_mask_storeu_epi8(out + int64_t{2 * r} * out_c, static_cast<__mmask16>((1u << n) - 1), bytes);
      } else {
        _mm_mask_storeu_epi8(out + int64_t{r} * out_c, int8_channel_mask(columns), bytes);
      }
    }
  } else {
    const __m512i lo = _mm512_set1_epi8(static_cast<char>(q.act_min));
    const __m512i hi = _mm512_set1_epi8(static_cast<char>(q.act_max));
    const __mmask64 store = columns >= 64 ? ~__mmask64{0} : (__mmask64{1} << columns) - 1;
    const __m512i zero = _mm512_setzero_si512();
    const bool clamp = int8_clamps(q);
    MBN_UNROLL for (int r = 0; r < MR; ++r) {
      const __m512i bytes = int8_pack64(acc[r][0], acc[r][NP > 1 ? 1 : 0], NP > 2 ? acc[r][NP > 2 ? 2 : 0] : zero,
                                        NP > 3 ? acc[r][NP > 3 ? 3 : 0] : zero, lo, hi, clamp);
      if (NP == 2)  // as int8_vnni_tile: pixels of 32 bytes, each inside a cache line
        _mm256_mask_storeu_epi8(out + int64_t{r} * out_c, static_cast<__mmask32>(store), _mm512_castsi512_si256(bytes));
      else
        _mm512_mask_storeu_epi8(out + int64_t{r} * out_c, store, bytes);
    }
  }
}

// `pixels` output pixels of one row from their windows' rows (row[w]: pixel 0's),
// for one group of up to 4 panels: whole tiles of 12 vectors on one panel (as 12
// chains: bench/peak's sweep has 6 chains of vpdpbusd at 57% of its rate, 12 at
// 98%), else 6, with the epilogue fixed at compile time; the rest up to 6
// vectors at a time.
template <int S, int NP, bool Pairs>
void int8_stem_rows_run(const uint8_t* const* row, int pixels, const Int8StemRows& d, int p0, const __m512i* init,
                        const Int8Rq16* rq, RqEval eval, const Int8Requant& q, uint8_t* out, int columns) {
  constexpr int kPer = Pairs ? 2 : 1;  // pixels a vector
  constexpr int kRows = NP == 1 ? 2 * kStemRows : kStemRows, kTile = kRows * kPer, kRest = kStemRows * kPer;
  const uint8_t* at[3] = {row[0], row[1], row[2]};
  auto advance = [&](int n) {
    for (int w = 0; w < 3; ++w) at[w] += row[w] == row[3] ? 0 : int64_t{n} * 3 * S;  // row[3]: the padding row
    out += int64_t{n} * d.out_c;
  };
  int i = 0;
  if (eval == RqEval::Dword)
    for (; i + kTile <= pixels; i += kTile, advance(kTile))
      int8_stem_rows_tile<S, kRows, NP, Pairs, RqEval::Dword>(at, d, p0, init, rq, q, out, columns, kTile);
  for (; i < pixels;) {
    const int n = pixels - i < kRest ? pixels - i : kRest, vectors = (n + kPer - 1) / kPer;
    switch (vectors) {
      case 6: int8_stem_rows_tile<S, 6, NP, Pairs>(at, d, p0, init, rq, q, out, columns, n); break;
      case 5: int8_stem_rows_tile<S, 5, NP, Pairs>(at, d, p0, init, rq, q, out, columns, n); break;
      case 4: int8_stem_rows_tile<S, 4, NP, Pairs>(at, d, p0, init, rq, q, out, columns, n); break;
      case 3: int8_stem_rows_tile<S, 3, NP, Pairs>(at, d, p0, init, rq, q, out, columns, n); break;
      case 2: int8_stem_rows_tile<S, 2, NP, Pairs>(at, d, p0, init, rq, q, out, columns, n); break;
      default: int8_stem_rows_tile<S, 1, NP, Pairs>(at, d, p0, init, rq, q, out, columns, n); break;
    }
    i += n, advance(n);
  }
}

template <int S>
void int8_stem_rows_panels(const uint8_t* const* row, int pixels, const Int8StemRows& d, const __m512i* init,
                           const Int8Rq16* rq, int panels, const Int8Requant& q, uint8_t* out) {
  if (d.out_c <= 8) return int8_stem_rows_run<S, 1, true>(row, pixels, d, 0, init, rq, int8_rq_eval(rq, 1), q, out, 8);
  for (int p0 = 0; p0 < panels; p0 += kVnniPanels) {
    const int np = panels - p0 < kVnniPanels ? panels - p0 : kVnniPanels;
    const RqEval eval = int8_rq_eval(rq + p0, np);
    const int columns = d.out_c - p0 * kInt8PanelWidth;
    uint8_t* o = out + p0 * kInt8PanelWidth;
    switch (np) {
      case 4: int8_stem_rows_run<S, 4, false>(row, pixels, d, p0, init + p0, rq + p0, eval, q, o, columns); break;
      case 3: int8_stem_rows_run<S, 3, false>(row, pixels, d, p0, init + p0, rq + p0, eval, q, o, columns); break;
      case 2: int8_stem_rows_run<S, 2, false>(row, pixels, d, p0, init + p0, rq + p0, eval, q, o, columns); break;
      default: int8_stem_rows_run<S, 1, false>(row, pixels, d, p0, init + p0, rq + p0, eval, q, o, columns); break;
    }
  }
}

// The stem on the window-rows block, stride 1 or 2: per output row, the pixels
// whose windows lie inside the image (their last dwords too) straight from it,
// window rows in the padding on a row of the zero point; the pixels at the
// edges (up to 8 at a time) from a copy of their windows' bytes with the
// padding's zero point around them.
void int8_conv3x3_stem_rows(const Int8ConvArgs& a, const int8_t* block, int row_begin, int row_end) {
  const int out_c = a.out_c, lanes = int8_stem_lanes(out_c), panels = lanes / kInt8PanelWidth;
  const int32_t* header = reinterpret_cast<const int32_t*>(block);
  Int8StemRows d{};
  d.main = block + 64;
  d.rest = d.main + int64_t{panels} * kInt8StemRowGroups * 64;
  d.groups = header + 1;
  d.out_c = out_c;
  const int32_t* params = reinterpret_cast<const int32_t*>(d.rest + int64_t{panels} * kInt8StemRowGroups * 64);
  Int8Rq16 rq[kInt8StemPackedMaxOutC / kInt8PanelWidth];
  __m512i init[kInt8StemPackedMaxOutC / kInt8PanelWidth];
  for (int p = 0; p < panels; ++p) {
    int8_rq_prepare(params + lanes + p * kInt8PanelWidth, params + 2 * lanes + p * kInt8PanelWidth, a.rq.out_zero_point,
                    rq[p], a.rq.act_min);
    init[p] = _mm512_loadu_si512(params + p * kInt8PanelWidth);
  }
  const __m512i zp = _mm512_set1_epi8(static_cast<char>(a.in_zero_point));
  // A window row in the padding, read by a tile's pixels (at most 24: 23 steps of 6 bytes and 12).
  alignas(64) uint8_t pad_row[3 * 64];
  for (int i = 0; i < 3; ++i) _mm512_store_si512(pad_row + 64 * i, zp);
  alignas(64) uint8_t copy[3 * 64];  // the windows of up to 8 pixels at an edge, a row each 64 bytes
  constexpr int kCopied = 8;         // (7 pixel steps of 6 bytes and one pixel's 12 fit 64)
  const int64_t in_row = int64_t{a.in_w} * 3;
  auto run = a.stride == 1 ? int8_stem_rows_panels<1> : int8_stem_rows_panels<2>;
  for (int oy = row_begin; oy < row_end; ++oy) {
    const int iy0 = oy * a.stride - a.pad.top;
    uint8_t* out_row = a.output + int64_t{oy} * a.out_w * out_c;
    // Inside: ix0 >= 0 and ix0 + 3 <= in_w, and where a window row is the image's last,
    // its last dword (3 bytes past the window) too: ix0 + 4 <= in_w.
    const int last_ix0 = a.in_w - (iy0 + 2 >= a.in_h - 1 ? 4 : 3);
    int lo = (a.pad.left + a.stride - 1) / a.stride;
    int hi = last_ix0 + a.pad.left < 0 ? 0 : (last_ix0 + a.pad.left) / a.stride + 1;
    hi = hi < a.out_w ? hi : a.out_w;
    lo = lo < hi ? lo : hi;
    if (out_c <= 8 && (hi - lo) % 2 != 0) --hi;  // pairs: the last pixel's partner may lie outside
    // Pixels [b, e) (e - b <= kCopied) from the copy.
    auto copied = [&](int b, int e) {
      const int64_t x0 = (int64_t{b} * a.stride - a.pad.left) * 3;  // the first window's first byte in its row
      for (int w = 0; w < 3; ++w) {
        const int iy = iy0 + w;
        int8_padded_row_copy(copy + 64 * w, 64, iy < 0 || iy >= a.in_h ? nullptr : a.input + iy * in_row, in_row, x0,
                             64, zp);
      }
      const uint8_t* rows[4] = {copy, copy + 64, copy + 128, nullptr};
      run(rows, e - b, d, init, rq, panels, a.rq, out_row + int64_t{b} * out_c);
    };
    for (int b = 0; b < lo; b += kCopied) copied(b, lo - b < kCopied ? lo : b + kCopied);
    if (hi > lo) {
      const uint8_t* rows[4];
      for (int w = 0; w < 3; ++w) {
        const int iy = iy0 + w;
        rows[w] = iy < 0 || iy >= a.in_h ? pad_row : a.input + iy * in_row + int64_t{lo * a.stride - a.pad.left} * 3;
      }
      rows[3] = pad_row;
      run(rows, hi - lo, d, init, rq, panels, a.rq, out_row + int64_t{lo} * out_c);
    }
    for (int b = hi; b < a.out_w; b += kCopied) copied(b, a.out_w - b < kCopied ? a.out_w : b + kCopied);
  }
}

void int8_conv3x3_stem(const Int8ConvArgs& a, int row_begin, int row_end) {
  const int8_t* rows_block = a.stem + int8_stem_rows_offset(a.in_c, a.out_c);
  if (a.in_c == 3 && (a.stride == 1 || a.stride == 2) && reinterpret_cast<const int32_t*>(rows_block)[0] != 0)
    return int8_conv3x3_stem_rows(a, rows_block, row_begin, row_end);
  const int k = 9 * a.in_c, k4 = (k + 3) / 4, out_c = a.out_c, lanes = int8_stem_lanes(out_c);
  const bool pairs = out_c <= 8;
  const int panels = lanes / kInt8PanelWidth;
  const int32_t* params = reinterpret_cast<const int32_t*>(a.stem + packed_int8_gemm_bytes(k, lanes));
  const int32_t *bias = params, *multiplier = params + lanes, *shift = params + 2 * lanes,
                *col_offset = params + 3 * lanes;
  bool has_offset = false;
  for (int j = 0; j < lanes; ++j) has_offset |= col_offset[j] != 0;
  Int8Rq16 rq[kInt8StemPackedMaxOutC / kInt8PanelWidth];
  __m512i init[kInt8StemPackedMaxOutC / kInt8PanelWidth];
  for (int p = 0; p < panels; ++p) {
    int8_rq_prepare(multiplier + p * kInt8PanelWidth, shift + p * kInt8PanelWidth, a.rq.out_zero_point, rq[p],
                    a.rq.act_min);
    init[p] = _mm512_loadu_si512(bias + p * kInt8PanelWidth);
  }
  alignas(64) uint8_t rows[kStemChunk * kStemLda + 64] = {};
  alignas(64) uint8_t interleaved[kStemChunk * kStemLda];
  alignas(64) int32_t sums[kStemChunk + 2] = {};
  const uint8_t zp = static_cast<uint8_t>(a.in_zero_point);
  const int seg = 3 * a.in_c;  // one window row's bytes
  const int64_t image_bytes = int64_t{a.in_h} * a.in_w * a.in_c;
  const __mmask16 seg_mask = static_cast<__mmask16>((1u << seg) - 1);
  const int64_t p_end = int64_t{row_end} * a.out_w;
  for (int64_t p0 = int64_t{row_begin} * a.out_w; p0 < p_end; p0 += kStemChunk) {
    const int m = static_cast<int>(p_end - p0 < kStemChunk ? p_end - p0 : kStemChunk);
    // Runs of pixels along output rows: where all 3 window rows are inside the image, the
    // pixels whose window columns (and 16-byte copies) are inside too take three copies
    // with no test; the others tap by tap.
    for (int i = 0; i < m;) {
      const int64_t p = p0 + i;
      const int oy = static_cast<int>(p / a.out_w), ox0 = static_cast<int>(p % a.out_w);
      const int run = a.out_w - ox0 < m - i ? a.out_w - ox0 : m - i;
      const int iy0 = oy * a.stride - a.pad.top;
      int lo = run, hi = run;  // the run's pixels [lo, hi) are inside
      if (iy0 >= 0 && iy0 + 3 <= a.in_h) {
        // ix0 >= 0, ix0 + 3 <= in_w, and the last row's copy ends inside the image.
        const int64_t limit = (image_bytes - 16) / a.in_c - int64_t{iy0 + 2} * a.in_w;
        const int64_t last = limit < a.in_w - 3 ? limit : a.in_w - 3;
        const int first_ox = (a.pad.left + a.stride - 1) / a.stride;
        const int64_t last_ox = last + a.pad.left < 0 ? -1 : (last + a.pad.left) / a.stride;
        lo = first_ox - ox0 < 0 ? 0 : (first_ox - ox0 < run ? first_ox - ox0 : run);
        hi = last_ox + 1 - ox0 < lo ? lo : (last_ox + 1 - ox0 < run ? static_cast<int>(last_ox + 1 - ox0) : run);
      }
      auto tap_by_tap = [&](int j) {
        const int ix0 = (ox0 + j) * a.stride - a.pad.left;
        uint8_t* row = rows + (i + j) * kStemLda;
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int iy = iy0 + ky, ix = ix0 + kx;
            const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
            for (int ci = 0; ci < a.in_c; ++ci)
              row[ky * seg + kx * a.in_c + ci] = inside ? a.input[(int64_t{iy} * a.in_w + ix) * a.in_c + ci] : zp;
          }
        int32_t sum = 0;
        for (int kk = 0; kk < k; ++kk) sum += row[kk];
        sums[i + j] = sum;
      };
      for (int j = 0; j < lo; ++j) tap_by_tap(j);
      const int64_t in_row = int64_t{a.in_w} * a.in_c, step = int64_t{a.stride} * a.in_c;
      const uint8_t* src = a.input + (int64_t{iy0} * a.in_w + (ox0 + lo) * a.stride - a.pad.left) * a.in_c;
      uint8_t* row = rows + (i + lo) * kStemLda;
      for (int j = lo; j < hi; ++j, src += step, row += kStemLda) {  // 16 bytes each, the rest overwritten
        const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
        const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + in_row));
        const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * in_row));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(row), r0);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(row + seg), r1);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(row + 2 * seg), r2);
        if (has_offset) {  // the row's sum from the registers (a load of the row would wait for its stores)
          const __m128i zero = _mm_setzero_si128();
          __m128i t = _mm_add_epi64(_mm_sad_epu8(_mm_maskz_mov_epi8(seg_mask, r0), zero),
                                    _mm_sad_epu8(_mm_maskz_mov_epi8(seg_mask, r1), zero));
          t = _mm_add_epi64(t, _mm_sad_epu8(_mm_maskz_mov_epi8(seg_mask, r2), zero));
          sums[i + j] = _mm_cvtsi128_si32(_mm_add_epi64(t, _mm_unpackhi_epi64(t, t)));
        }
      }
      for (int j = hi; j < run; ++j) tap_by_tap(j);
      i += run;
    }
    const int vector_rows = pairs ? (m + 1) / 2 : m;
    if (pairs)
      for (int i = 0; i < m; i += 2) {  // two rows a vector, their dwords interleaved
        const __m512i order = _mm512_set_epi32(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
        _mm512_store_si512(interleaved + i * kStemLda,
                           _mm512_permutexvar_epi32(order, _mm512_loadu_si512(rows + i * kStemLda)));
      }
    Int8StemTile t{};
    t.rows = pairs ? interleaved : rows;
    t.sums = sums, t.has_offset = has_offset, t.k4 = k4, t.pixels = m, t.out_c = out_c;
    for (int p0g = 0; p0g < panels; p0g += kVnniPanels) {
      const int np = panels - p0g < kVnniPanels ? panels - p0g : kVnniPanels;
      t.b = a.stem + int64_t{p0g} * k4 * 64;
      t.col_offset = col_offset + p0g * kInt8PanelWidth;
      t.out = a.output + p0 * out_c + p0g * kInt8PanelWidth;
      t.columns = out_c - p0g * kInt8PanelWidth;
      const __m512i* in = init + p0g;
      const Int8Rq16* r = rq + p0g;
      if (pairs) {
        int8_stem_panels<1, true>(t, vector_rows, in, r, a.rq);
        continue;
      }
      switch (np) {
        case 4: int8_stem_panels<4, false>(t, vector_rows, in, r, a.rq); break;
        case 3: int8_stem_panels<3, false>(t, vector_rows, in, r, a.rq); break;
        case 2: int8_stem_panels<2, false>(t, vector_rows, in, r, a.rq); break;
        default: int8_stem_panels<1, false>(t, vector_rows, in, r, a.rq); break;
      }
    }
  }
}

void int8_conv3x3(const Int8ConvArgs& a, int row_begin, int row_end) {
  if (a.stem && int8_dot_product(Isa::Avx512) && a.in_c <= kInt8StemPackedMaxInC && a.out_c <= kInt8StemPackedMaxOutC)
    return int8_conv3x3_stem(a, row_begin, row_end);
  if (int8_conv3x3_by_gemm(a)) return int8_conv3x3_gemm(a, row_begin, row_end);
  const int cp = a.channels_padded;
  Int8Rq16 rq[kInt8StemMaxN / 16];
  const int prepared = a.out_c <= kInt8StemMaxN ? (a.out_c + 15) / 16 : 0;
  for (int j = 0; j < prepared; ++j)
    int8_rq_prepare(a.rq.multiplier + 16 * j, a.rq.shift + 16 * j, a.rq.out_zero_point, rq[j], a.rq.act_min);
  const __m512i out_zp = _mm512_set1_epi32(a.rq.out_zero_point);
  const __m512i act_min = _mm512_set1_epi32(a.rq.act_min), act_max = _mm512_set1_epi32(a.rq.act_max);
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
        const __mmask16 mask = int8_channel_mask(a.out_c - c0);
        if (c0 / 16 < prepared) {
          acc = _mm512_add_epi32(acc, _mm512_loadu_si512(a.rq.bias + c0));
          const __m512i r = int8_rq_apply(acc, rq[c0 / 16], out_zp);
          _mm_mask_storeu_epi8(out + c0, mask,
                               _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(r, act_min), act_max)));
        } else {
          _mm_mask_storeu_epi8(out + c0, mask, _mm512_cvtepi32_epi8(int8_requantize16(acc, a.rq, c0)));
        }
      }
    }
  }
}
