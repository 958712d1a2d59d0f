// AVX512_BF16 kernels (compiled with -mavx512bf16 on top of the AVX-512 flags):
// the bf16 GEMM on vdpbf16ps, entered into the AVX-512 table only where the
// CPU has AVX512_BF16 (kernels_impl.h). 32 zmm registers: a 6x64 tile (12x32
// for a layer's last lone panel) uses 24 accumulators, each vdpbf16ps two
// multiply-adds per lane.
// Also the float32 depthwise kernel writing bf16 in the AMX A-tile layout
// (KernelTable::dwconv3x3_bf16_tiles), for the AMX bf16 GEMM after it.
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

#define MBN_DW_TILES_ONLY 1
#include "kernels/depthwise.h"

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

void dwconv3x3_bf16_tiles_kernel(const DwConvArgs& args, int row_begin, int row_end) {
  MBN_CHECK(args.channels % kBf16TileChannels == 0 && dw_variant(args) != DwVariant::PackedPixels,
            "internal error: the bf16 tile depthwise kernel needs channels a multiple of 32");
  dwconv3x3_to(args, DwBf16TileOut(args), row_begin, row_end);
}

void gemm_bf16_kernel(const GemmBf16Args& args, int m_begin, int m_end, int panel_begin, int panel_end) {
  gemm_bf16(args, m_begin, m_end, panel_begin, panel_end);
}
const char* gemm_bf16_kernel_variant(const GemmBf16Args& args) { return gemm_bf16_variant(args); }

}  // namespace avx512_bf16
}  // namespace mobilenet
