// AMX kernels (compiled with -mamx-tile -mamx-bf16 on top of the AVX-512 and
// AVX512_BF16 flags): the bf16 GEMM on tiles, entered into the AVX-512 table
// in place of the vdpbf16ps / FMA one where the CPU and the OS allow AMX
// (bf16_amx_preferred: CPUID, XCR0 and Linux's arch_prctl permission).
//
// Same arguments and same packed weights as the other bf16 GEMMs
// (pack_gemm_weights_bf16, panels of 32 columns, a row of a panel one pair of
// k rows): 16 pair rows of a panel's first or second 16 columns are one B tile
// as they lie (16 rows of 64 bytes, 128 bytes apart), so nothing is packed
// twice. A call rounds its rows of A to bf16 (vcvtne2ps2bf16: as bf16.h does)
// into 1 KB A tiles (16 rows x 32 k values, contiguous), k padded with zeros to
// a multiple of 32 and rows to a multiple of 16; the last, partial block of 16
// pairs of each panel is copied into a zero-padded tile, so no tile load reads
// past the weights.
//
// Eight tiles: C 32 rows x 32 columns in four float32 accumulators (0-3), two A
// tiles (4-5, 16 rows each) and two B tiles (6-7, 16 columns each): every load
// feeds two tdpbf16ps. The accumulators go through a 4 KB buffer on the stack
// for the bias and the clamp, stored float32 as the other GEMMs do.
//
// Where the depthwise layer before wrote A as bf16 in that tile layout
// (GemmBf16Args::a_tiles), the tiles are loaded as they lie: no rounding pass,
// and the same numbers (the depthwise rounds its float32 outputs as
// round_rows would).
//
// Not bit-identical to vdpbf16ps: tdpbf16ps sums each pair of products (and
// flushes denormals) in its own way. Each output's k blocks are summed in the
// same order however the rows and panels are split, so a row comes out the
// same for every thread count.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "amx.h"
#include "kernels.h"

namespace mobilenet {
namespace amx {

namespace {

constexpr int kPanel = 32;        // the AVX-512 table's gemm_panel_width: two B tiles of 16 columns
constexpr int kRows = kTileRows;  // rows of an A or C tile
constexpr int kBlockPairs = 16;   // k pairs of one A / B tile (32 bf16 values per row)
constexpr int kATileWords = 256;  // 16 rows x 16 pairs
// Rows of A a call rounds at once: the rounded rows of one chunk stay in L2 while every panel passes them.
constexpr int64_t kChunkBytes = 256 * 1024;
// Weights of at least this many bytes are fetched a panel ahead (as the other bf16 GEMM does).
constexpr int64_t kStreamWeightBytes = 512 * 1024;

// Rows [m0, m0 + rows) of A rounded into tiles: group g (16 rows), block b
// (16 pairs) at (g * blocks + b) * 256 words; rows past `rows` and k past g.k zero.
void round_rows(const GemmBf16Args& g, int m0, int rows, int blocks, uint32_t* tiles) {
  const int groups = (rows + kRows - 1) / kRows;
  for (int r = 0; r < groups * kRows; ++r) {
    uint32_t* row = tiles + (int64_t{r / kRows} * blocks) * kATileWords + (r % kRows) * kBlockPairs;
    if (r >= rows) {
      for (int b = 0; b < blocks; ++b) _mm512_store_si512(row + int64_t{b} * kATileWords, _mm512_setzero_si512());
      continue;
    }
    const float* src = g.a + (m0 + r) * g.lda;
    for (int b = 0; b < blocks; ++b) {
      const int k0 = b * 2 * kBlockPairs, rest = g.k - k0;
      __m512 lo, hi;
      if (rest >= 32) {
        lo = _mm512_loadu_ps(src + k0);
        hi = _mm512_loadu_ps(src + k0 + 16);
      } else {
        const __mmask16 lo_mask = static_cast<__mmask16>(rest >= 16 ? 0xffffu : (1u << rest) - 1u);
        const __mmask16 hi_mask = static_cast<__mmask16>(rest > 16 ? (1u << (rest - 16)) - 1u : 0u);
        lo = _mm512_maskz_loadu_ps(lo_mask, src + k0);
        hi = _mm512_maskz_loadu_ps(hi_mask, src + k0 + 16);
      }
      _mm512_store_si512(row + int64_t{b} * kATileWords, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
}

// C tiles (stored in `acc`, 32 floats a row) plus bias, clamped, into rows
// [m0, m0 + rows) and the panel's first `cols` columns of C.
void store_rows(const GemmBf16Args& g, const float* acc, int m0, int rows, int n0, int cols) {
  const __m512 lo = _mm512_set1_ps(g.clamp.lo), hi = _mm512_set1_ps(g.clamp.hi);
  const __m512 bias0 = _mm512_loadu_ps(g.bias + n0), bias1 = _mm512_loadu_ps(g.bias + n0 + 16);
  const __mmask16 m0_mask = static_cast<__mmask16>(cols >= 16 ? 0xffffu : (1u << cols) - 1u);
  const __mmask16 m1_mask = static_cast<__mmask16>(cols >= 32 ? 0xffffu : (cols > 16 ? (1u << (cols - 16)) - 1u : 0u));
  for (int r = 0; r < rows; ++r) {
    float* c = g.c + (m0 + r) * g.ldc + n0;
    const __m512 x0 = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(_mm512_load_ps(acc + r * kPanel), bias0)));
    const __m512 x1 = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(_mm512_load_ps(acc + r * kPanel + 16), bias1)));
    if (cols == kPanel) {
      _mm512_storeu_ps(c, x0);
      _mm512_storeu_ps(c + 16, x1);
    } else {
      _mm512_mask_storeu_ps(c, m0_mask, x0);
      if (m1_mask) _mm512_mask_storeu_ps(c + 16, m1_mask, x1);
    }
  }
}

// 32 rows (two A tile rows of groups) x one panel, over `blocks` k blocks: the
// full ones from the packed panel, the last from `tail` when it is partial.
// `next`, where not null: the next panel, fetched into L2 a block at a time
// (its 2 KB per block of 16 pairs) while this one computes.
template <bool TWO_GROUPS, bool TWO_COLUMNS = true>
void tile_block(const uint32_t* a, int blocks, const uint32_t* b, const uint32_t* tail, const uint32_t* next,
                int next_words, float* acc) {
  _tile_zero(0);
  if (TWO_COLUMNS) _tile_zero(1);
  if (TWO_GROUPS) {
    _tile_zero(2);
    if (TWO_COLUMNS) _tile_zero(3);
  }
  const uint32_t* a1 = a + int64_t{blocks} * kATileWords;
  for (int blk = 0; blk < blocks; ++blk) {
    const uint32_t* bb = tail != nullptr && blk + 1 == blocks ? tail : b + int64_t{blk} * kBlockPairs * kPanel;
    if (next != nullptr) {
      const int from = blk * kBlockPairs * kPanel, to = std::min(next_words, from + kBlockPairs * kPanel);
      for (int w = from; w < to; w += 16) _mm_prefetch(reinterpret_cast<const char*>(next + w), _MM_HINT_T1);
    }
    _tile_loadd(6, bb, kPanel * 4);
    if (TWO_COLUMNS) _tile_loadd(7, bb + 16, kPanel * 4);
    _tile_loadd(4, a + int64_t{blk} * kATileWords, 64);
    _tile_dpbf16ps(0, 4, 6);
    if (TWO_COLUMNS) _tile_dpbf16ps(1, 4, 7);
    if (TWO_GROUPS) {
      _tile_loadd(5, a1 + int64_t{blk} * kATileWords, 64);
      _tile_dpbf16ps(2, 5, 6);
      if (TWO_COLUMNS) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, acc, kPanel * 4);
  if (TWO_COLUMNS) _tile_stored(1, acc + 16, kPanel * 4);
  if (TWO_GROUPS) {
    _tile_stored(2, acc + kRows * kPanel, kPanel * 4);
    if (TWO_COLUMNS) _tile_stored(3, acc + kRows * kPanel + 16, kPanel * 4);
  }
}

// A already bf16 in the A-tile layout (GemmBf16Args::a_tiles, written by the
// depthwise layer before): the same loops over the tiles as they lie, with no
// rounding pass and no partial k block (k is a multiple of 32). A block of 32
// rows is a pair of the layout's groups; rows of a group outside [m_begin,
// m_end) are computed with the others and not stored.
void gemm_bf16_from_tiles(const GemmBf16Args& g, int m_begin, int m_end, int panel_begin, int panel_end) {
  const int blocks = g.k / (2 * kBlockPairs);
  const int64_t group_words = int64_t{blocks} * kATileWords;
  const int first_group = m_begin / kRows, end_group = (m_end + kRows - 1) / kRows;
  const int chunk_groups = static_cast<int>(std::max<int64_t>(2, kChunkBytes / (group_words * 4) / 2 * 2));
  const int panel_words = g.k / 2 * kPanel;
  const bool stream = int64_t{panel_words} * 4 * ((g.n + kPanel - 1) / kPanel) >= kStreamWeightBytes;
  const uint32_t* a = reinterpret_cast<const uint32_t*>(g.a_tiles);
  alignas(64) float acc[2 * kRows * kPanel];
  const TileSession tiles;
  for (int c0 = first_group; c0 < end_group; c0 += chunk_groups) {
    const int c1 = std::min(end_group, c0 + chunk_groups);
    for (int p = panel_begin; p < panel_end; ++p) {
      const uint32_t* b = g.packed_b + int64_t{p} * panel_words;
      const int n0 = p * kPanel, cols = std::min(kPanel, g.n - n0);
      const uint32_t* next = stream && p + 1 < panel_end && c0 == first_group ? b + panel_words : nullptr;
      for (int gr = c0; gr < c1; gr += 2) {
        const uint32_t* at = a + int64_t{gr} * group_words;
        const bool two = gr + 1 < c1;
        if (two)
          tile_block<true>(at, blocks, b, nullptr, gr == c0 ? next : nullptr, panel_words, acc);
        else
          tile_block<false>(at, blocks, b, nullptr, gr == c0 ? next : nullptr, panel_words, acc);
        const int r0 = std::max(m_begin, gr * kRows), r1 = std::min(m_end, (gr + (two ? 2 : 1)) * kRows);
        store_rows(g, acc + (r0 - gr * kRows) * kPanel, r0, r1 - r0, n0, cols);
      }
    }
  }
}

// The stem on tiles (KernelTable::conv3x3_bf16): its windows as rows of A
// (kernels/stem_bf16.h), k <= 32, so one tile product per 16 pixels and 16
// columns does the whole convolution.
#include "kernels/stem_bf16.h"
static_assert(kStemWindowWords == kBlockPairs, "a window row is one row of an A tile");

// C tiles plus bias, clamped, into `rows` output pixels from `c` (out_c floats
// apart) and the panel's first `cols` columns.
void store_stem_rows(const Conv3x3Args& a, const float* acc, float* c, int rows, int n0, int cols) {
  const __m512 lo = _mm512_set1_ps(a.clamp.lo), hi = _mm512_set1_ps(a.clamp.hi);
  const __mmask16 m0_mask = static_cast<__mmask16>(cols >= 16 ? 0xffffu : (1u << cols) - 1u);
  const __mmask16 m1_mask = static_cast<__mmask16>(cols >= 32 ? 0xffffu : (cols > 16 ? (1u << (cols - 16)) - 1u : 0u));
  const __m512 bias0 = _mm512_maskz_loadu_ps(m0_mask, a.bias + n0),
               bias1 = _mm512_maskz_loadu_ps(m1_mask, a.bias + n0 + 16);
  for (int r = 0; r < rows; ++r, c += a.out_c) {
    const __m512 x0 = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(_mm512_load_ps(acc + r * kPanel), bias0)));
    _mm512_mask_storeu_ps(c + n0, m0_mask, x0);
    if (m1_mask != 0) {
      const __m512 x1 =
          _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(_mm512_load_ps(acc + r * kPanel + 16), bias1)));
      _mm512_mask_storeu_ps(c + n0 + 16, m1_mask, x1);
    }
  }
}

}  // namespace

void conv3x3_bf16_kernel(const Conv3x3Args& a, int row_begin, int row_end) {
  if (row_begin >= row_end) return;
  MBN_CHECK(9 * a.in_c <= 2 * kBlockPairs && a.weights_bf16 != nullptr,
            "internal error: the AMX stem takes at most 32 taps, packed in bf16");
  const int kp = (9 * a.in_c + 1) / 2, panels = (a.out_c + kPanel - 1) / kPanel;
  alignas(64) uint32_t a_tiles[kStemChunkPixels / kRows * kATileWords];
  alignas(64) uint32_t b_tile[kBlockPairs * kPanel];
  alignas(64) float acc[2 * kRows * kPanel];
  // Pixels are numbered from the band's first: output rows are contiguous (out_w pixels of out_c each).
  const int64_t pixels = int64_t{row_end - row_begin} * a.out_w;
  float* const out = a.output + int64_t{row_begin - a.output_row_offset} * a.out_w * a.out_c;
  const StemWindows windows(a);
  const TileSession tiles;
  for (int64_t p0 = 0; p0 < pixels; p0 += kStemChunkPixels) {
    const int count = static_cast<int>(std::min<int64_t>(kStemChunkPixels, pixels - p0));
    // Pixel r's row of A: tiles of 16 rows follow each other, so rows are kBlockPairs words apart.
    windows.build(row_begin, p0, count, a_tiles);
    // Rows past the last pixel of the last tile: zeros (computed, never stored).
    for (int r = count; r % kRows != 0; ++r)
      _mm512_store_si512(a_tiles + int64_t{r} * kBlockPairs, _mm512_setzero_si512());
    for (int p = 0; p < panels; ++p) {
      // The panel's kp pairs as one B tile, zero past them.
      std::memcpy(b_tile, a.weights_bf16 + int64_t{p} * kp * kPanel, sizeof(uint32_t) * kp * kPanel);
      std::memset(b_tile + kp * kPanel, 0, sizeof(uint32_t) * (kBlockPairs - kp) * kPanel);
      const int n0 = p * kPanel, cols = std::min(kPanel, a.out_c - n0);
      for (int r = 0; r < count; r += 2 * kRows) {
        const int height = std::min(2 * kRows, count - r);
        const uint32_t* at = a_tiles + (r / kRows) * kATileWords;
        // A panel of at most 16 columns (alpha <= 0.5): one B tile, two tile products a block.
        if (cols > kRows)
          height > kRows ? tile_block<true>(at, 1, b_tile, nullptr, nullptr, 0, acc)
                         : tile_block<false>(at, 1, b_tile, nullptr, nullptr, 0, acc);
        else
          height > kRows ? tile_block<true, false>(at, 1, b_tile, nullptr, nullptr, 0, acc)
                         : tile_block<false, false>(at, 1, b_tile, nullptr, nullptr, 0, acc);
        store_stem_rows(a, acc, out + (p0 + r) * a.out_c, height, n0, cols);
      }
    }
  }
}

void gemm_bf16_kernel(const GemmBf16Args& g, int m_begin, int m_end, int panel_begin, int panel_end) {
  if (m_begin >= m_end || panel_begin >= panel_end) return;
  if (g.a_tiles != nullptr) return gemm_bf16_from_tiles(g, m_begin, m_end, panel_begin, panel_end);
  const int kp = (g.k + 1) / 2, blocks = (kp + kBlockPairs - 1) / kBlockPairs, tail_pairs = kp % kBlockPairs;
  const int64_t row_bytes = int64_t{blocks} * kBlockPairs * 4;
  const int chunk_rows =
      static_cast<int>(std::max<int64_t>(2 * kRows, kChunkBytes / row_bytes / (2 * kRows) * (2 * kRows)));
  const int panel_words = kp * kPanel;
  const bool stream = int64_t{panel_words} * 4 * ((g.n + kPanel - 1) / kPanel) >= kStreamWeightBytes;
  thread_local Scratch scratch;
  const int most_rows = std::min(chunk_rows, m_end - m_begin);
  uint32_t* a = scratch.get<uint32_t>(int64_t{(most_rows + kRows - 1) / kRows} * blocks * kATileWords);
  alignas(64) float acc[2 * kRows * kPanel];
  alignas(64) uint32_t tail[kBlockPairs * kPanel];
  const TileSession tiles;
  for (int m0 = m_begin; m0 < m_end; m0 += chunk_rows) {
    const int rows = std::min(chunk_rows, m_end - m0);
    round_rows(g, m0, rows, blocks, a);
    for (int p = panel_begin; p < panel_end; ++p) {
      const uint32_t* b = g.packed_b + int64_t{p} * panel_words;
      if (tail_pairs != 0) {
        std::memcpy(tail, b + int64_t{blocks - 1} * kBlockPairs * kPanel, sizeof(uint32_t) * tail_pairs * kPanel);
        std::memset(tail + tail_pairs * kPanel, 0, sizeof(uint32_t) * (kBlockPairs - tail_pairs) * kPanel);
      }
      const int n0 = p * kPanel, cols = std::min(kPanel, g.n - n0);
      // The weights stream from memory when large: fetch the next panel during the first row block.
      const uint32_t* next = stream && p + 1 < panel_end && m0 == m_begin ? b + panel_words : nullptr;
      for (int r = 0; r < rows; r += 2 * kRows) {
        const uint32_t* at = a + int64_t{r / kRows} * blocks * kATileWords;
        const int height = std::min(2 * kRows, rows - r);
        const uint32_t* tail_tile = tail_pairs != 0 ? tail : nullptr;
        if (height > kRows)
          tile_block<true>(at, blocks, b, tail_tile, r == 0 ? next : nullptr, panel_words, acc);
        else
          tile_block<false>(at, blocks, b, tail_tile, r == 0 ? next : nullptr, panel_words, acc);
        store_rows(g, acc, m0 + r, height, n0, cols);
      }
    }
  }
}

const char* gemm_bf16_kernel_variant(const GemmBf16Args&) { return "bf16amx32x32"; }

}  // namespace amx
}  // namespace mobilenet
