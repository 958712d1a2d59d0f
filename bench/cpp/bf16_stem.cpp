// The bf16 stem (3x3 stride 2 on RGB, KernelTable::conv3x3_bf16) of MobileNet's four
// resolutions at alpha 1, 0.5/160 and 0.25/224 alone, as the network runs it (weights packed by
// pack_gemm_weights_bf16, ReLU6): median and fastest of 300 calls with the data cache-warm,
// GMAC/s and the share of one core's bf16 peak when given (bench/peak's "vdpbf16ps peak",
// GMAC/s). Whole images, and in bands of 8 output rows as the row pipeline calls it.
// Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target bf16_stem && build/bench/bf16_stem [peak GMAC/s]
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "call_times.h"
#include "kernels.h"

using namespace mobilenet;

int main(int argc, char** argv) {
  const double peak = argc > 1 ? std::atof(argv[1]) : 0.0;
  const KernelTable& kt = kernel_table(isa_from_environment());
  if (kt.conv3x3_bf16 == nullptr) {
    std::fprintf(stderr, "no bf16 stem on this CPU with these kernels\n");
    return 1;
  }
  std::printf("bf16 stem 3x3 s2, %s\n", kt.name);
  struct Shape {
    int size, out_c;
  };
  for (const Shape& s :
       {Shape{224, 32}, Shape{192, 32}, Shape{160, 32}, Shape{128, 32}, Shape{160, 16}, Shape{224, 8}}) {
    const int in_c = 3, c = s.out_c, out = s.size / 2, k = 9 * in_c, w = kt.gemm_panel_width;
    const int padded = (c + w - 1) / w * w;
    std::vector<float> input(size_t(s.size) * s.size * in_c + 64), output(size_t(out) * out * c + 64);
    std::vector<float> weights(size_t(k) * c), bias(static_cast<size_t>(padded));
    for (size_t i = 0; i < input.size(); ++i) input[i] = float(i * 7919 % 251) / 125.0f - 1.0f;
    for (size_t i = 0; i < weights.size(); ++i) weights[i] = float(i * 131 % 97) / 97.0f - 0.5f;
    for (int j = 0; j < c; ++j) bias[j] = float(j % 7) * 0.1f;
    std::vector<uint32_t> packed(packed_gemm_bf16_words(k, c, w));
    pack_gemm_weights_bf16(weights.data(), k, c, w, packed.data());
    Conv3x3Args a{};
    a.input = input.data(), a.in_h = s.size, a.in_w = s.size, a.in_c = in_c;
    a.in_row_stride = int64_t{s.size} * in_c, a.in_col_stride = in_c, a.in_channel_stride = 1;
    a.output = output.data(), a.out_h = out, a.out_w = out, a.out_c = c, a.stride = 2;
    a.pad = Padding{0, 0, 1, 1};  // TensorFlow's SAME at stride 2 on an even size
    a.bias = bias.data(), a.out_c_padded = padded, a.clamp = Clamp{0.0f, 6.0f};
    a.weights_bf16 = packed.data();
    const double macs = double(out) * out * c * k;
    for (int ring = 0; ring < 2; ++ring) {
      const int band = ring ? 8 : out;
      const CallTimes t = time_calls([&] {
        for (int r = 0; r < out; r += band) {
          a.output_row_offset = ring ? r : 0;
          kt.conv3x3_bf16(a, r, r + band < out ? r + band : out);
        }
      });
      std::printf("%4dx%-4d -> %3dx%-3d x %3d, %s  %8.1f us  (fastest %8.1f)  %6.1f GMAC/s", s.size, s.size, out, out,
                  c, ring ? "bands of 8 rows into one" : "the whole image         ", t.median_ns / 1e3,
                  t.fastest_ns / 1e3, macs / t.median_ns);
      if (peak > 0) std::printf("  %3.0f%% of peak", 100.0 * macs / t.median_ns / peak);
      std::printf("\n");
    }
  }
  return 0;
}
