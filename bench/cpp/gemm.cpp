// The float32 GEMM of the best instruction set here (MOBILENET_ISA forces one) alone on the
// 1x1 shapes of MobileNet 1.0/224 and its classifier: median time of 300 calls with the data
// cache-warm, GFLOP/s, and the same as a share of one core's FMA peak when given (bench/peak's
// "AVX-512 FP32 FMA peak", in GFLOP/s). An optional second argument pads A's rows by that
// many floats (its row stride, lda, otherwise k). Rows go in blocks of at most 256 KB of A, as the
// network's executor calls them on one thread. Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target gemm && build/bench/gemm [peak GFLOP/s [lda padding]]
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
  const int lda_pad = argc > 2 ? std::atoi(argv[2]) : 0;
  const KernelTable& kt = kernel_table(isa_from_environment());
  for (const GemmShape& s : kMobileNetGemmShapes) {
    const int w = kt.gemm_panel_width;
    const int panels = (s.n + w - 1) / w;
    const int64_t lda = s.k + lda_pad;
    std::vector<float> a(size_t(s.m) * lda), b(size_t(s.k) * s.n), c(size_t(s.m) * s.n), bias(size_t(panels) * w);
    fill_gemm_inputs(a, b);
    std::vector<float> packed(packed_gemm_size(s.k, s.n, w));
    pack_gemm_weights(b.data(), s.k, s.n, w, packed.data());
    GemmArgs g{a.data(), lda, packed.data(), bias.data(), c.data(), s.n, s.m, s.n, s.k, Clamp{0.0f, 6.0f}, s.m};
    g.k_block_bytes = gemm_k_block_bytes(kt.isa);  // as the network plans it for this CPU
    if (s.m == 1) g.clamp = Clamp{-1e30f, 1e30f};
    const int blocks = gemm_row_blocks(s, kt.gemm_tile_rows);
    const CallTimes t = time_calls([&] {
      for (int r = 0; r < blocks; ++r) kt.gemm(g, s.m * r / blocks, s.m * (r + 1) / blocks, 0, panels);
    });
    const double median = t.median_ns, fastest = t.fastest_ns;
    const double gflops = 2.0 * s.m * s.n * s.k / median, best = 2.0 * s.m * s.n * s.k / fastest;
    std::printf("%5d x %4d x %4d  %8.1f us  %6.1f GFLOP/s (fastest %6.1f)", s.m, s.n, s.k, median / 1e3, gflops, best);
    if (peak > 0) std::printf("  %3.0f%% of peak (fastest %3.0f%%)", 100 * gflops / peak, 100 * best / peak);
    std::printf("\n");
  }
  return 0;
}
