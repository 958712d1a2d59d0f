// The int8 stem (3x3 stride 2 on 3 channels) of MobileNet's four shipped uint8 shapes alone, as
// the network runs it (weights packed by pack_int8_stem, ReLU6 with output zero point 0, uint8
// weights with one past int8 as the real models have): median and fastest of 300 calls with the
// data cache-warm, and ns per output pixel. MOBILENET_ISA as for int8_gemm.
// Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target int8_stem && build/bench/int8_stem
#include <cstdio>
#include <vector>

#include "call_times.h"
#include "kernels.h"

using namespace mobilenet;

int main() {
  const KernelTable& kt = kernel_table(isa_from_environment());
  struct Shape {
    int size, out_c;
  };
  std::printf("int8 stem 3x3 s2, %s\n", kt.name);
  for (const Shape& s : {Shape{224, 32}, Shape{192, 24}, Shape{160, 16}, Shape{128, 8}}) {
    const int in_c = 3, c = s.out_c, out = s.size / 2, k = 9 * in_c, cp = (c + 15) / 16 * 16;
    std::vector<uint8_t> input(size_t(s.size) * s.size * in_c + 64), output(size_t(out) * out * c + 64);
    for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<uint8_t>(i * 7919 % 251);
    std::vector<int16_t> weights(size_t(k) * cp);
    std::vector<int32_t> w32(size_t(k) * c), bias(cp), multiplier(cp, 1 << 30), shift(cp, -8);
    // Weights of a uint8 model less its zero point: [-127, 127] but one at 128.
    for (int t = 0; t < k; ++t)
      for (int j = 0; j < c; ++j)
        w32[size_t(t) * c + j] = weights[size_t(t) * cp + j] = t == 0 && j == 1 ? 128 : (t * 131 + j * 71) % 255 - 127;
    for (int j = 0; j < c; ++j) bias[j] = j * 37 % 2000 - 1000;
    const int in_zp = 3;
    std::vector<int8_t> stem(size_t(int8_stem_packed_bytes(in_c, c)) + 64);
    pack_int8_stem(w32.data(), bias.data(), multiplier.data(), shift.data(), in_c, c, in_zp, stem.data());
    Int8ConvArgs a{};
    a.input = input.data(), a.in_h = s.size, a.in_w = s.size, a.in_c = in_c;
    a.output = output.data(), a.out_h = out, a.out_w = out, a.out_c = c, a.stride = 2;
    a.pad = Padding{0, 0, 1, 1};  // TensorFlow's SAME at stride 2 on an even size
    a.weights = weights.data(), a.channels_padded = cp, a.in_zero_point = in_zp;
    a.rq = {bias.data(), multiplier.data(), shift.data(), 0, 0, 255};
    a.stem = stem.data();
    const CallTimes t = time_calls([&] { kt.int8_conv3x3(a, 0, out); });
    const double pixels = double(out) * out;
    std::printf("%4dx%-4d -> %3dx%-3d x %3d  %8.1f us  (fastest %8.1f)  %5.2f ns per pixel (fastest %5.2f)\n", s.size,
                s.size, out, out, c, t.median_ns / 1e3, t.fastest_ns / 1e3, t.median_ns / pixels,
                t.fastest_ns / pixels);
  }
  return 0;
}
