// The int8 GEMM on AMX tiles (compiled with -mamx-tile -mamx-int8 on top of
// the AVX-512 flags), entered into the AVX-512 table in place of the vpdpbusd
// one where the CPU and the OS allow AMX-INT8 (int8_amx_preferred: CPUID, XCR0
// and Linux's arch_prctl permission).
//
// Same arguments and same packed weights as the other int8 GEMMs
// (pack_int8_gemm_weights: panels of 16 columns, each row of a panel 4 k
// values of its 16 columns, 64 bytes): 16 rows of a panel are one B tile as
// they lie (64 k values x 16 columns), so nothing is packed twice. Where k is
// a multiple of 64 the A tiles are A's own rows (16 rows lda apart, read in
// place; bench/RESULTS.md, log entry 77), and only a last, partial group of 16
// rows is copied. Otherwise a call copies its rows of A into 1 KB A tiles (16
// rows x 64 k values, contiguous), k padded with zeros to a multiple of 64 and
// rows to a multiple of 16; the
// last, partial block of 16 rows of each panel is copied into a zero-padded
// tile, so no tile load reads past the weights.
//
// Eight tiles: C 32 rows x 32 columns in four int32 accumulators (0-3), two A
// tiles (4-5, 16 rows each) and two B tiles (6-7, 16 columns each), every load
// feeding two tdpbusd (uint8 x int8, exact int32 sums). Two such blocks fill a
// 32 x 64 buffer on the stack, which the AVX-512 int8 epilogue
// (kernels/int8_requant_avx512.h: bias, column offsets, TFLite's
// requantization, clamp) turns into bytes, with each group of 64 columns'
// constants prepared once per call: the vpdpbusd GEMM's sums through its
// epilogue, so the same bytes. Where the layer clamps at or above its zero
// point (a fused ReLU or ReLU6), the group's epilogue is the short one
// (store_rows_short: 32-bit requantization without the sign correction, the
// bias folded into the rounding offsets; bench/RESULTS.md, log entry 68), the
// column offsets of the panels that have any added before it (uint8 models
// have them in 1-2 columns of a layer; log entry 70). A block of 32 rows of A stays in L1 while every column group
// passes it, and each block's epilogue runs a share of its rows after each k
// block of the next block's tiles, so the tile unit and the vector units work
// at the same time (bench/RESULTS.md, log entry 60). Where k <= 32 and every
// column offset is an int8 (folded_offsets), the offsets ride in the tiles'
// unused k values 32..63 (A's row twice, B's rows the offsets), so such a
// layer (the first 1x1 of the uint8 models) needs neither row sums nor the
// long epilogue.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "amx.h"
#include "kernels.h"

namespace mobilenet {
namespace amx {

namespace {

#include "kernels/int8_requant_avx512.h"

constexpr int kGroupCols = 64;                 // columns requantized together: 4 panels, two tile blocks
constexpr int kBlockRows = 2 * kTileRows;      // rows of a tile block
constexpr int kTile = kTileRows * kTileBytes;  // bytes of a tile; k values of an A tile's row
// Rows of A a call copies at once: one chunk's tiles stay in L2 while every column group passes them.
constexpr int64_t kChunkBytes = 256 * 1024;

// Rows [m0, m0 + rows) of A into tiles: group q (16 rows), block b (64 k
// values) at (q * blocks + b) KB; rows past `rows` and k past g.k zero. Where
// sums is not null, each row's sum of its k bytes (for the column offsets).
// twice (k <= 32, one block): each row's k bytes also at k values 32.., where
// the B tile holds the column offsets (folded_offsets).
void copy_rows(const Int8GemmArgs& g, int m0, int rows, int blocks, uint8_t* tiles, int32_t* sums, bool twice) {
  const int groups = (rows + kTileRows - 1) / kTileRows;
  for (int r = 0; r < groups * kTileRows; ++r) {
    uint8_t* row = tiles + int64_t{r / kTileRows} * blocks * kTile + (r % kTileRows) * kTileBytes;
    if (r >= rows) {
      for (int b = 0; b < blocks; ++b) _mm512_store_si512(row + int64_t{b} * kTile, _mm512_setzero_si512());
      continue;
    }
    const uint8_t* src = g.a + int64_t{m0 + r} * g.lda;
    if (twice) {
      const __m512i v = _mm512_maskz_loadu_epi8((__mmask64{1} << g.k) - 1, src);
      _mm512_store_si512(row, _mm512_inserti64x4(v, _mm512_castsi512_si256(v), 1));
      continue;
    }
    __m512i sum = _mm512_setzero_si512();
    for (int b = 0; b < blocks; ++b) {
      const int rest = g.k - b * kTileBytes;
      const __mmask64 mask = rest >= kTileBytes ? ~__mmask64{0} : (__mmask64{1} << rest) - 1;
      const __m512i v = _mm512_maskz_loadu_epi8(mask, src + b * kTileBytes);
      _mm512_store_si512(row + int64_t{b} * kTile, v);
      if (sums != nullptr) sum = _mm512_add_epi64(sum, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    }
    if (sums != nullptr) sums[r] = static_cast<int32_t>(_mm512_reduce_add_epi64(sum));
  }
}

// Each of rows [m0, m0 + rows)'s sum of its k bytes (k a multiple of 64), for the
// column offsets where the tiles read A in place.
void row_sums(const Int8GemmArgs& g, int m0, int rows, int32_t* sums) {
  for (int r = 0; r < rows; ++r) {
    const uint8_t* src = g.a + int64_t{m0 + r} * g.lda;
    __m512i sum = _mm512_setzero_si512();
    for (int b = 0; b < g.k; b += kTileBytes)
      sum = _mm512_add_epi64(sum, _mm512_sad_epu8(_mm512_loadu_si512(src + b), _mm512_setzero_si512()));
    sums[r] = static_cast<int32_t>(_mm512_reduce_add_epi64(sum));
  }
}

// One column group's constants, prepared once per call: the requantization,
// bias and column offset of its (up to) 4 panels, and where each panel's tiles are.
struct alignas(64) ColumnGroup {
  Int8Rq16 rq[4];
  __m512i bias[4], offset[4];
  const int8_t* panel[4];
  const int8_t* last[4];
  int panels;
  __mmask64 store;  // the group's columns that exist
  // The short epilogue (store_rows_short): every panel's requantization in
  // 32-bit lanes without the sign correction (a clamp at or above the zero
  // point), the zero point folded, and the bias folded into
  // the offsets: (acc + bias) M + off = acc M + (bias M + off) in 64-bit lanes
  // wherever acc + bias cannot wrap in int32 (|bias| + k 255 128 < 2^31), so
  // the sums go in as the tiles left them.
  // Panels with column offsets (bit j: panel j) still take the short one: their
  // sums plus offset x row sum go in (one vpmulld per 16 outputs), the bias folded
  // where that sum plus the bias cannot wrap (|bias| + k 255 255 < 2^31).
  bool short_epilogue;
  bool clamp_min, clamp_max;  // the byte clamps that the saturating packs leave to do
  unsigned offset_panels;
};

// Whether the call folds the column offsets into the tiles: k <= 32 (one k
// block, whose A rows copy_rows fills twice) and every offset an int8. The
// sum a.(w - o) + a.o of the tile is then the column's whole sum, exact in
// int32, and the group's epilogue has no column offsets (the short one where
// the rest allows it): no row sums, no multiply per output.
bool folded_offsets(const Int8GemmArgs& g) {
  if (!g.has_col_offset || g.k > kTileBytes / 2) return false;
  for (int j = 0; j < g.n; ++j)
    if (g.col_offset[j] < -128 || g.col_offset[j] > 127) return false;
  return true;
}

// The group of panels from p0; a partial last block of each panel copied,
// zero-padded, into tail (a tile per panel). fold (folded_offsets): the
// tile's rows for k values 32..63 hold each column's offset.
void prepare_group(const Int8GemmArgs& g, int p0, int blocks, int8_t* tail, bool fold, ColumnGroup& cg) {
  const int k4 = (g.k + 3) / 4, tail_rows = k4 % kTileRows;
  const int n0 = p0 * kInt8PanelWidth, left = g.n - n0;
  cg.panels = std::min(4, (left + kInt8PanelWidth - 1) / kInt8PanelWidth);
  cg.store = left >= kGroupCols ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
  // The largest |bias| with which no sum of the tiles (k products of a byte and an int8) wraps.
  const bool offsets = g.has_col_offset && !fold;
  const int64_t bias_limit = (int64_t{1} << 31) - 1 - int64_t{fold ? 2 * g.k : g.k} * 255 * (offsets ? 255 : 128);
  cg.offset_panels = 0;
  cg.short_epilogue = true;
  cg.clamp_min = g.rq.act_min > 0, cg.clamp_max = g.rq.act_max < 255;
  for (int j = 0; j < cg.panels; ++j) {
    const int c0 = n0 + j * kInt8PanelWidth;
    if (g.rq_prepared != nullptr)  // prepared once at packing
      cg.rq[j] = static_cast<const Int8Rq16*>(g.rq_prepared)[p0 + j];
    else
      int8_rq_prepare(g.rq.multiplier + c0, g.rq.shift + c0, g.rq.out_zero_point, cg.rq[j], g.rq.act_min);
    cg.bias[j] = _mm512_loadu_si512(g.rq.bias + c0);
    cg.offset[j] = offsets ? _mm512_loadu_si512(g.col_offset + c0) : _mm512_setzero_si512();
    if (_mm512_test_epi32_mask(cg.offset[j], cg.offset[j]) != 0) cg.offset_panels |= 1u << j;
    const Int8Rq16& rq = cg.rq[j];
    cg.short_epilogue &= rq.dword && !rq.correct && rq.zero_point_folded && bias_limit >= 0;
    if (cg.short_epilogue)  // no |bias| past the limit (|INT32_MIN| unsigned is past it)
      cg.short_epilogue = _mm512_cmpgt_epu32_mask(_mm512_abs_epi32(cg.bias[j]),
                                                  _mm512_set1_epi32(static_cast<int32_t>(bias_limit))) == 0;
    cg.panel[j] = g.packed_b + int64_t{p0 + j} * k4 * kTileBytes;
    cg.last[j] = cg.panel[j] + int64_t{blocks - 1} * kTile;
    if (tail_rows != 0) {
      int8_t* t = tail + j * kTile;
      std::memcpy(t, cg.last[j], size_t{kTileBytes} * tail_rows);
      std::memset(t + kTileBytes * tail_rows, 0, size_t{kTileBytes} * (kTileRows - tail_rows));
      cg.last[j] = t;
    }
    if (fold) {  // rows 8-15 (k values 32-63): each column's offset in its 4 bytes (columns past n: 0)
      const int cols = std::min(kInt8PanelWidth, g.n - c0);
      const __m512i off =
          _mm512_maskz_loadu_epi32(static_cast<__mmask16>((uint32_t{1} << cols) - 1), g.col_offset + c0);
      const __m512i bytes =
          _mm512_mullo_epi32(_mm512_and_si512(off, _mm512_set1_epi32(0xFF)), _mm512_set1_epi32(0x01010101));
      int8_t* t = tail + j * kTile;
      for (int r = kTileRows / 2; r < kTileRows; ++r) _mm512_store_si512(t + r * kTileBytes, bytes);
    }
  }
  if (cg.short_epilogue)
    for (int j = 0; j < cg.panels; ++j) {
      const __m512i bias = cg.bias[j];
      Int8Rq16& rq = cg.rq[j];
      rq.off_even = _mm512_add_epi64(rq.off_even, _mm512_mul_epi32(bias, rq.mul_even));
      rq.off_odd =
          _mm512_add_epi64(rq.off_odd, _mm512_mul_epi32(_mm512_shuffle_epi32(bias, _MM_PERM_DDBB), rq.mul_odd));
    }
}

// Rows [r0, r0 + height) of the tile block in acc, plus bias and column
// offsets, requantized and clamped into C (the rows from `row` of C on).
void store_rows(const Int8GemmArgs& g, const ColumnGroup& cg, const int32_t* acc, const int32_t* sums, int height,
                int64_t row, int n0) {
  const __m512i zero_point = _mm512_set1_epi32(g.rq.out_zero_point);
  const __m512i act_min = _mm512_set1_epi8(static_cast<char>(g.rq.act_min));
  const __m512i act_max = _mm512_set1_epi8(static_cast<char>(g.rq.act_max));
  for (int i = 0; i < height; ++i) {
    __m512i q[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int j = 0; j < cg.panels; ++j) {
      __m512i x = _mm512_add_epi32(_mm512_load_si512(acc + i * kGroupCols + j * kInt8PanelWidth), cg.bias[j]);
      if (sums != nullptr) x = _mm512_add_epi32(x, _mm512_mullo_epi32(cg.offset[j], _mm512_set1_epi32(sums[i])));
      q[j] = int8_rq_apply(x, cg.rq[j], zero_point);
    }
    _mm512_mask_storeu_epi8(g.c + (row + i) * g.ldc + n0, cg.store,
                            int8_pack64(q[0], q[1], q[2], q[3], act_min, act_max));
  }
}

// store_rows where the group allows the short epilogue (ColumnGroup): per 16
// columns two loads (the sums, and the sums one column on, whose even lanes
// are the odd columns), two vpmuldq, two 64-bit adds, one vpermt2d and one
// vpsravd (int8_requant_avx512.h's 32-bit evaluation). acc is readable one
// int32 past the rows' last column. NP: the group's panels; OFFSETS: some of
// them have column offsets (ColumnGroup::offset_panels). The constants are
// copied into locals first: stores through g.c (bytes) may alias anything, so
// read through cg the compiler reloads every constant each row (5 loads per
// 16 outputs beside the 2 of the sums); as locals they stay in registers.
template <int NP, bool OFFSETS>
void store_rows_short(const Int8GemmArgs& g, const ColumnGroup& cg, const int32_t* acc, const int32_t* sums, int height,
                      int64_t row, int n0) {
  const __m512i act_min = _mm512_set1_epi8(static_cast<char>(g.rq.act_min));
  const __m512i act_max = _mm512_set1_epi8(static_cast<char>(g.rq.act_max));
  const __m512i high = _mm512_set_epi32(31, 15, 29, 13, 27, 11, 25, 9, 23, 7, 21, 5, 19, 3, 17, 1);
  const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  __m512i mul_even[NP], mul_odd[NP], off_even[NP], off_odd[NP], shift[NP], offset[OFFSETS ? NP : 1];
  for (int j = 0; j < NP; ++j) {
    mul_even[j] = cg.rq[j].mul_even, mul_odd[j] = cg.rq[j].mul_odd;
    off_even[j] = cg.rq[j].off_even, off_odd[j] = cg.rq[j].off_odd;
    shift[j] = cg.rq[j].shift;
    if (OFFSETS) offset[j] = cg.offset[j];
  }
  const unsigned offset_panels = cg.offset_panels;
  const bool clamp_min = cg.clamp_min, clamp_max = cg.clamp_max;
  const __mmask64 store = cg.store;
  uint8_t* out = g.c + row * g.ldc + n0;
  const int64_t ldc = g.ldc;
  for (int i = 0; i < height; ++i) {
    __m512i q[4];
    for (int j = 0; j < 4; ++j) {
      if (j >= NP) {
        q[j] = _mm512_setzero_si512();
        continue;
      }
      const int32_t* x = acc + i * kGroupCols + j * kInt8PanelWidth;
      if (OFFSETS && (offset_panels >> j & 1)) {  // the sums plus offset x row sum; the odd lanes by a dword shuffle
        const __m512i v =
            _mm512_add_epi32(_mm512_load_si512(x), _mm512_mullo_epi32(offset[j], _mm512_set1_epi32(sums[i])));
        const __m512i te = _mm512_add_epi64(_mm512_mul_epi32(v, mul_even[j]), off_even[j]);
        const __m512i to =
            _mm512_add_epi64(_mm512_mul_epi32(_mm512_shuffle_epi32(v, _MM_PERM_DDBB), mul_odd[j]), off_odd[j]);
        q[j] = _mm512_srav_epi32(_mm512_permutex2var_epi32(te, high, to), shift[j]);
        continue;
      }
      const __m512i te = _mm512_add_epi64(_mm512_mul_epi32(_mm512_load_si512(x), mul_even[j]), off_even[j]);
      const __m512i to = _mm512_add_epi64(_mm512_mul_epi32(_mm512_loadu_si512(x + 1), mul_odd[j]), off_odd[j]);
      q[j] = _mm512_srav_epi32(_mm512_permutex2var_epi32(te, high, to), shift[j]);
    }
    __m512i bytes = _mm512_permutexvar_epi32(
        order, _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3])));
    if (clamp_min) bytes = _mm512_max_epu8(bytes, act_min);
    if (clamp_max) bytes = _mm512_min_epu8(bytes, act_max);
    _mm512_mask_storeu_epi8(out + i * ldc, store, bytes);
  }
}

// The rows' epilogue, short where the group allows it.
void epilogue_rows(const Int8GemmArgs& g, const ColumnGroup& cg, const int32_t* acc, const int32_t* sums, int height,
                   int64_t row, int n0) {
  if (!cg.short_epilogue) return store_rows(g, cg, acc, sums, height, row, n0);
  if (cg.offset_panels != 0) switch (cg.panels) {
      case 4: return store_rows_short<4, true>(g, cg, acc, sums, height, row, n0);
      case 3: return store_rows_short<3, true>(g, cg, acc, sums, height, row, n0);
      case 2: return store_rows_short<2, true>(g, cg, acc, sums, height, row, n0);
      default: return store_rows_short<1, true>(g, cg, acc, sums, height, row, n0);
    }
  switch (cg.panels) {
    case 4: return store_rows_short<4, false>(g, cg, acc, sums, height, row, n0);
    case 3: return store_rows_short<3, false>(g, cg, acc, sums, height, row, n0);
    case 2: return store_rows_short<2, false>(g, cg, acc, sums, height, row, n0);
    default: return store_rows_short<1, false>(g, cg, acc, sums, height, row, n0);
  }
}

// The epilogue of a tile block, run a share of its rows at a time while the
// next block's tiles compute (the tile unit works beside the vector units).
struct Epilogue {
  const Int8GemmArgs& g;
  const ColumnGroup* cg = nullptr;  // null: no block waiting
  const int32_t* acc = nullptr;
  const int32_t* sums = nullptr;
  int height = 0, n0 = 0, done = 0;
  int64_t row = 0;
  // The block's rows up to share / shares of them.
  void run_to(int share, int shares) {
    if (cg == nullptr) return;
    const int end = height * share / shares;
    epilogue_rows(g, *cg, acc + done * kGroupCols, sums != nullptr ? sums + done : nullptr, end - done, row + done, n0);
    done = end;
  }
};

// Where a tile block's (up to) two groups of 16 rows of A lie: group g's k block b
// at group[g] + b step[g], its rows stride[g] bytes apart. Either copied into 1 KB
// tiles (step kTile, stride 64) or, where k is a multiple of 64 and the group's 16
// rows exist, A's own rows (step 64, stride lda), with nothing copied.
struct ATiles {
  const uint8_t* group[2];
  int64_t step[2], stride[2];
};

// C of 16 or 32 rows (TWO_GROUPS) x 16 or 32 columns (TWO_PANELS) over
// `blocks` k blocks into acc (kGroupCols int32 a row): A tiles from `a` (ATiles),
// B from panel[j] a tile per block, the last
// block from last[j] (in place, or the zero-padded copy of a partial one).
// After each k block, step `step` of `steps`, the waiting epilogue's share.
template <bool TWO_GROUPS, bool TWO_PANELS>
void tile_block(const ATiles& a, int blocks, const int8_t* const* panel, const int8_t* const* last, int32_t* acc,
                Epilogue& waiting, int step, int steps) {
  _tile_zero(0);
  if (TWO_PANELS) _tile_zero(1);
  if (TWO_GROUPS) _tile_zero(2);
  if (TWO_GROUPS && TWO_PANELS) _tile_zero(3);
  for (int blk = 0; blk < blocks; ++blk) {
    const bool end = blk + 1 == blocks;
    _tile_loadd(6, end ? last[0] : panel[0] + int64_t{blk} * kTile, kTileBytes);
    if (TWO_PANELS) _tile_loadd(7, end ? last[1] : panel[1] + int64_t{blk} * kTile, kTileBytes);
    _tile_loadd(4, a.group[0] + blk * a.step[0], a.stride[0]);
    _tile_dpbusd(0, 4, 6);
    if (TWO_PANELS) _tile_dpbusd(1, 4, 7);
    if (TWO_GROUPS) {
      _tile_loadd(5, a.group[1] + blk * a.step[1], a.stride[1]);
      _tile_dpbusd(2, 5, 6);
      if (TWO_PANELS) _tile_dpbusd(3, 5, 7);
    }
    waiting.run_to(step + blk + 1, steps);
  }
  constexpr int stride = kGroupCols * 4;
  _tile_stored(0, acc, stride);
  if (TWO_PANELS) _tile_stored(1, acc + kTileRows, stride);
  if (TWO_GROUPS) _tile_stored(2, acc + kTileRows * kGroupCols, stride);
  if (TWO_GROUPS && TWO_PANELS) _tile_stored(3, acc + kTileRows * kGroupCols + kTileRows, stride);
}

// One tile block (up to 32 rows) by the column group's panels, two at a time,
// with the waiting epilogue spread over its k blocks.
void group_block(const ATiles& a, int blocks, int rows, const ColumnGroup& cg, int32_t* acc, Epilogue& waiting) {
  const int steps = (cg.panels + 1) / 2 * blocks;
  for (int j = 0; j < cg.panels; j += 2) {
    const bool two_panels = cg.panels - j >= 2;
    int32_t* out = acc + j * kInt8PanelWidth;
    const int step = j / 2 * blocks;
    if (rows > kTileRows) {
      if (two_panels)
        tile_block<true, true>(a, blocks, cg.panel + j, cg.last + j, out, waiting, step, steps);
      else
        tile_block<true, false>(a, blocks, cg.panel + j, cg.last + j, out, waiting, step, steps);
    } else if (two_panels) {
      tile_block<false, true>(a, blocks, cg.panel + j, cg.last + j, out, waiting, step, steps);
    } else {
      tile_block<false, false>(a, blocks, cg.panel + j, cg.last + j, out, waiting, step, steps);
    }
  }
}

}  // namespace

void int8_gemm_kernel(const Int8GemmArgs& g, int m_begin, int m_end) {
  if (m_begin >= m_end) return;
  const int blocks = (g.k + kTileBytes - 1) / kTileBytes;
  const int panels = (g.n + kInt8PanelWidth - 1) / kInt8PanelWidth;
  const int groups = (panels + 3) / 4;
  const bool tails = (g.k + 3) / 4 % kTileRows != 0;
  const int chunk_rows = static_cast<int>(
      std::max<int64_t>(kBlockRows, kChunkBytes / (int64_t{blocks} * kTileBytes) / kBlockRows * kBlockRows));
  const int most_rows = std::min(chunk_rows, m_end - m_begin);
  // The thread's scratch: the column groups, the tail tiles, A's tiles, the row sums.
  const int64_t group_bytes = int64_t{groups} * sizeof(ColumnGroup), tail_bytes = tails ? int64_t{panels} * kTile : 0;
  const int64_t tile_bytes = int64_t{(most_rows + kTileRows - 1) / kTileRows} * blocks * kTile;
  thread_local Scratch scratch;
  uint8_t* base = scratch.get<uint8_t>(group_bytes + tail_bytes + tile_bytes + int64_t{4} * most_rows);
  ColumnGroup* cg = reinterpret_cast<ColumnGroup*>(base);
  int8_t* tail = reinterpret_cast<int8_t*>(base + group_bytes);
  uint8_t* a = base + group_bytes + tail_bytes;
  const bool fold = folded_offsets(g);
  int32_t* sums = g.has_col_offset && !fold ? reinterpret_cast<int32_t*>(a + tile_bytes) : nullptr;
  for (int j = 0; j < groups; ++j) prepare_group(g, 4 * j, blocks, tail + int64_t{4 * j} * kTile, fold, cg[j]);
  // A block's sums, and the one before it (and an int32 more to read: store_rows_short).
  alignas(64) int32_t acc[2][kBlockRows * kGroupCols + kInt8PanelWidth];
  int cur = 0;
  const TileSession tiles;
  // k a multiple of 64: the tiles read A's rows where they lie (no copy); only a
  // last, partial group of 16 rows is copied (zero-padded), and the row sums are
  // taken apart where the column offsets need them.
  const bool direct = g.k % kTileBytes == 0;
  for (int m0 = m_begin; m0 < m_end; m0 += chunk_rows) {
    const int rows = std::min(chunk_rows, m_end - m0);
    const int full = direct ? rows / kTileRows * kTileRows : 0;  // rows read in place
    if (full > 0 && sums != nullptr) row_sums(g, m0, full, sums);
    if (full < rows) copy_rows(g, m0 + full, rows - full, blocks, a, sums != nullptr ? sums + full : nullptr, fold);
    auto group_at = [&](int q, ATiles& at, int i) {  // group q of the chunk (16 rows from 16 q)
      if (q * kTileRows < full) {
        at.group[i] = g.a + int64_t{m0 + q * kTileRows} * g.lda, at.step[i] = kTileBytes, at.stride[i] = g.lda;
      } else {
        at.group[i] = a + int64_t{q - full / kTileRows} * blocks * kTile, at.step[i] = kTile, at.stride[i] = kTileBytes;
      }
    };
    Epilogue waiting{g};
    // A block of rows (at most 32 KB of tiles) stays in L1 while the column groups pass.
    for (int r = 0; r < rows; r += kBlockRows) {
      const int height = std::min(kBlockRows, rows - r);
      ATiles at;
      group_at(r / kTileRows, at, 0);
      group_at(r / kTileRows + 1, at, 1);
      for (int j = 0; j < groups; ++j) {
        group_block(at, blocks, height, cg[j], acc[cur], waiting);
        waiting.cg = &cg[j], waiting.acc = acc[cur], waiting.sums = sums != nullptr ? sums + r : nullptr;
        waiting.height = height, waiting.n0 = j * kGroupCols, waiting.done = 0, waiting.row = m0 + r;
        cur ^= 1;
      }
    }
    waiting.run_to(1, 1);  // before the next chunk's rows replace these
  }
}

const char* int8_gemm_kernel_variant(const Int8GemmArgs&) { return "amx32x64"; }

extern const int kInt8GemmRowBlock = kBlockRows;

}  // namespace amx
}  // namespace mobilenet
