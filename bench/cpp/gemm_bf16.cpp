// The bf16 GEMM (precision="bfloat16") of the best instruction set here alone on the 1x1
// shapes of MobileNet 1.0/224 and its classifier: median time of 300 calls with the data
// cache-warm, GMAC/s, and the same as a share of one core's bf16 peak when given (bench/peak's
// "vdpbf16ps peak", in GMAC/s). Rows go in blocks of at most 256 KB of float32 A, as the
// network's executor calls them on one thread. Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target gemm_bf16 && build/bench/gemm_bf16 [peak GMAC/s]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "call_times.h"
#include "kernels.h"

using namespace mobilenet;

int main(int argc, char** argv) {
  const double peak = argc > 1 ? std::atof(argv[1]) : 0.0;
  const KernelTable& kt = kernel_table(isa_from_environment());
  if (kt.gemm_bf16 == nullptr) {
    std::fprintf(stderr, "no bf16 GEMM on this CPU with these kernels\n");
    return 1;
  }
  struct Shape {
    int m, n, k;
  };
  const Shape shapes[] = {{12544, 64, 32}, {3136, 128, 64}, {3136, 128, 128}, {784, 256, 128},  {784, 256, 256},
                          {196, 512, 256}, {196, 512, 512}, {49, 1024, 512},  {49, 1024, 1024}, {1, 1000, 1024}};
  for (const Shape& s : shapes) {
    const int w = kt.gemm_panel_width;
    const int panels = (s.n + w - 1) / w;
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(s.k) * s.n), c(size_t(s.m) * s.n), bias(size_t(panels) * w);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i * 7919 % 251) / 251.0f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i * 104729 % 255) / 255.0f - 0.5f;
    std::vector<uint32_t> packed(packed_gemm_bf16_words(s.k, s.n, w));
    pack_gemm_weights_bf16(b.data(), s.k, s.n, w, packed.data());
    GemmBf16Args g{a.data(), s.k, packed.data(), bias.data(), c.data(), s.n, s.m, s.n, s.k, Clamp{0.0f, 6.0f}, s.m};
    if (s.m == 1) g.clamp = Clamp{-1e30f, 1e30f};
    // Executor::run_pointwise's row blocks (kGemmBlockBytes) on one thread.
    const int max_rows = std::max(kt.gemm_tile_rows, static_cast<int>(256 * 1024 / (int64_t{s.k} * 4)));
    const int blocks = (s.m + max_rows - 1) / max_rows;
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
