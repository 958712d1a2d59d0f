// AVX512_BF16 kernels (compiled with -mavx512bf16 on top of the AVX-512 flags):
// the bf16 GEMM on vdpbf16ps, entered into the AVX-512 table only where the
// CPU has AVX512_BF16 (kernels_impl.h). 32 zmm registers: a 6x64 tile (12x32
// for a layer's last lone panel) uses 24 accumulators, each vdpbf16ps two
// multiply-adds per lane.
// Also the stem on vdpbf16ps (KernelTable::conv3x3_bf16 where the GEMM is
// vdpbf16ps), and the float32 depthwise kernel writing bf16: in the AMX A-tile
// layout (KernelTable::dwconv3x3_bf16_tiles) for the AMX bf16 GEMM after it, and
// as rows of pairs (dwconv3x3_bf16_rows) for the vdpbf16ps one.
#include <immintrin.h>

#include <type_traits>

#include "kernels.h"

#define MBN_VEC_AVX512 1
#define MBN_GEMM_NR_VECS 2
#define MBN_GEMM_BF16_MR 12
#define MBN_GEMM_BF16_TILE_PANELS 2

namespace mobilenet {
namespace avx512_bf16 {

#include "simd_vec.h"

namespace {

#include "kernels/shared.h"

#include "kernels/gemm_bf16.h"

// The depthwise templates, for the kernels that write bf16 (not the table's float32 entry points).
#define MBN_DW_TEMPLATES_ONLY 1
#include "kernels/depthwise.h"

#include "kernels/stem_bf16.h"

// The depthwise output as bf16 in the A-tile layout (kernels.h): a Row is the
// pixel index of its column 0; each vector (16 channels, c0 a multiple of 16)
// is rounded by vcvtneps2bf16, as the GEMM's vcvtne2ps2bf16 rounds A, and
// stored as one half of its pixel's 64-byte tile row.
struct DwBf16TileOut {
  uint16_t* base;
  int out_w;
  int64_t group_elements;  // one group of 16 pixels: (channels / 32) tiles of 512 bf16
  using Row = int64_t;
  explicit DwBf16TileOut(const DwConvArgs& a)
      : base(reinterpret_cast<uint16_t*>(a.output)),
        out_w(a.out_w),
        group_elements(int64_t{a.channels} * kBf16TileRows) {}
  Row row(int y) const { return int64_t{y} * out_w; }
  void store(Row r, int ox, int c0, Vec v, int /*n: always 16, channels being a multiple of 32*/) const {
    const int64_t p = r + ox;
    uint16_t* dst = base + (p / kBf16TileRows) * group_elements + (c0 / kBf16TileChannels) * (kBf16TileRows * 32) +
                    (p % kBf16TileRows) * kBf16TileChannels + c0 % kBf16TileChannels;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), (__m256i)_mm512_cvtneps_pbh(v.v));
  }
};

}  // namespace

void dwconv3x3_bf16_rows_kernel(const DwConvArgs& args, int row_begin, int row_end) {
  dwconv3x3_bf16_rows(args, row_begin, row_end);
}

void dwconv3x3_bf16_tiles_kernel(const DwConvArgs& args, int row_begin, int row_end) {
  MBN_CHECK(args.channels % kBf16TileChannels == 0 && dw_variant(args) != DwVariant::PackedPixels,
            "internal error: the bf16 tile depthwise kernel needs channels a multiple of 32");
  dwconv3x3_to(args, DwBf16TileOut(args), row_begin, row_end);
}

// The stem as a GEMM over its windows (kernels/stem_bf16.h: one row of k = 9 *
// in_c <= 27 taps a pixel, 14 pairs for RGB), the weights packed as the
// AMX stem's ([9 * in_c] x out_c in the GEMM's panels), the bias and clamp in
// the tile as for a 1x1 layer: 14 vdpbf16ps per 16 outputs where the float32
// stem spends 27 FMAs.
void conv3x3_bf16_kernel(const Conv3x3Args& a, int row_begin, int row_end) {
  if (row_begin >= row_end) return;
  MBN_CHECK(9 * a.in_c <= 2 * kStemWindowWords && a.weights_bf16 != nullptr,
            "internal error: the bf16 stem takes at most 32 taps, packed in bf16");
  // Pixels are numbered from the band's first: output rows are contiguous (out_w pixels of out_c each).
  const int64_t pixels = int64_t{row_end - row_begin} * a.out_w;
  float* const out = a.output + int64_t{row_begin - a.output_row_offset} * a.out_w * a.out_c;
  GemmBf16Args g{};
  g.packed_b = a.weights_bf16, g.bias = a.bias, g.ldc = a.out_c;
  g.n = a.out_c, g.k = 9 * a.in_c, g.clamp = a.clamp, g.layer_rows = a.out_h * a.out_w;
  const int ks = bf16_k_split<kBf16MR, kBf16NV>(g), panels = (a.out_c + kBf16NR - 1) / kBf16NR;
  const StemWindows windows(a);
  alignas(64) uint32_t rows[kStemChunkPixels * kStemWindowWords];
  for (int64_t p0 = 0; p0 < pixels; p0 += kStemChunkPixels) {
    const int count = static_cast<int>(pixels - p0 < kStemChunkPixels ? pixels - p0 : kStemChunkPixels);
    windows.build(row_begin, p0, count, rows);
    g.c = out + p0 * a.out_c, g.m = count;
    bf16_rows(g, rows, kStemWindowWords, 0, count, 0, panels, ks, false);
  }
}

void gemm_bf16_kernel(const GemmBf16Args& args, int m_begin, int m_end, int panel_begin, int panel_end) {
  gemm_bf16(args, m_begin, m_end, panel_begin, panel_end);
}
const char* gemm_bf16_kernel_variant(const GemmBf16Args& args) { return gemm_bf16_variant(args); }

}  // namespace avx512_bf16
}  // namespace mobilenet
