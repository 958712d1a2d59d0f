// The bf16 GEMM (precision="bfloat16") of the best instruction set here alone on the 1x1
// shapes of MobileNet 1.0/224 and its classifier: median time of 300 calls with the data
// cache-warm, GMAC/s, and the same as a share of one core's bf16 peak when given (bench/peak's
// "vdpbf16ps peak", in GMAC/s). Rows go in blocks of at most 256 KB of float32 A, as the
// network's executor calls them on one thread. Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target gemm_bf16 && build/bench/gemm_bf16 [peak GMAC/s]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "call_times.h"
#include "gemm_shapes.h"
#include "kernels.h"

using namespace mobilenet;

int main(int argc, char** argv) {
  const double peak = argc > 1 ? std::atof(argv[1]) : 0.0;
  const KernelTable& kt = kernel_table(isa_from_environment());
  if (kt.gemm_bf16 == nullptr) {
    std::fprintf(stderr, "no bf16 GEMM on this CPU with these kernels\n");
    return 1;
  }
  for (const GemmShape& s : kMobileNetGemmShapes) {
    const int w = kt.gemm_panel_width;
    const int panels = (s.n + w - 1) / w;
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(s.k) * s.n), c(size_t(s.m) * s.n), bias(size_t(panels) * w);
    fill_gemm_inputs(a, b);
    std::vector<uint32_t> packed(packed_gemm_bf16_words(s.k, s.n, w));
    pack_gemm_weights_bf16(b.data(), s.k, s.n, w, packed.data());
    GemmBf16Args g{a.data(), s.k, packed.data(), bias.data(), c.data(), s.n, s.m, s.n, s.k, Clamp{0.0f, 6.0f}, s.m};
    if (s.m == 1) g.clamp = Clamp{-1e30f, 1e30f};
    const int blocks = gemm_row_blocks(s, kt.gemm_tile_rows);
    const CallTimes t = time_calls([&] {
      for (int r = 0; r < blocks; ++r) kt.gemm_bf16(g, s.m * r / blocks, s.m * (r + 1) / blocks, 0, panels);
    });
    const double macs = double(s.m) * s.n * s.k;
    const double rate = macs / t.median_ns, best = macs / t.fastest_ns;
    std::printf("%5d x %4d x %4d  %8.1f us  %6.1f GMAC/s (fastest %6.1f)  %s", s.m, s.n, s.k, t.median_ns / 1e3, rate,
                best, kt.gemm_bf16_variant(g));
    if (peak > 0) std::printf("  %3.0f%% of peak (fastest %3.0f%%)", 100 * rate / peak, 100 * best / peak);
    std::printf("\n");
  }
  return 0;
}
