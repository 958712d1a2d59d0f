// The int8 depthwise 3x3 layers of MobileNet 1.0/224 alone, as the network runs them
// (weights packed in the dot-product layout, their constants prepared once; ReLU6 with
// output zero point 0): median and fastest of 300 calls with the data cache-warm, and ns
// per 64 outputs ("0.75": the layers of 0.75/192, "small": those of 0.5/160 and 0.25/128). MOBILENET_ISA and
// MOBILENET_INT8_DOT=off as for int8_gemm. Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target int8_dwconv && build/bench/int8_dwconv [0.75]
#include <cstdio>
#include <string>
#include <vector>

#include "aligned_buffer.h"
#include "call_times.h"
#include "kernels.h"

using namespace mobilenet;

int main(int argc, char** argv) {
  const KernelTable& kt = kernel_table(isa_from_environment());
  struct Shape {
    int size, channels, stride;
  };
  // "0.75": the layers of 0.75/192 instead, whose 24-, 48- and 96-channel layers end in tail blocks.
  // "small": the first layers of 0.5/160 and 0.25/128 (16 and 8 channels, then 32 and 16 at stride 2).
  const std::string which = argc > 1 ? argv[1] : "";
  const std::vector<Shape> shapes =
      which == "0.75"    ? std::vector<Shape>{{96, 24, 1},  {96, 48, 2},  {48, 96, 1},  {48, 96, 2}, {24, 192, 1},
                                              {24, 192, 2}, {12, 384, 1}, {12, 384, 2}, {6, 768, 1}}
      : which == "small" ? std::vector<Shape>{{80, 16, 1}, {80, 32, 2}, {64, 8, 1}, {64, 16, 2}, {32, 32, 1}}
                         : std::vector<Shape>{{112, 32, 1}, {112, 64, 2}, {56, 128, 1}, {56, 128, 2}, {28, 256, 1},
                                              {28, 256, 2}, {14, 512, 1}, {14, 512, 2}, {7, 1024, 1}};
  std::printf("int8 depthwise 3x3, %s\n", kt.name);
  for (const Shape& s : shapes) {
    const int c = s.channels, out = s.stride == 1 ? s.size : s.size / 2, cp = (c + 15) / 16 * 16;
    std::vector<uint8_t> input(size_t(s.size) * s.size * c + 64), output(size_t(out) * out * c + 64);
    for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<uint8_t>(i * 7919 % 251);
    std::vector<int16_t> weights(size_t(9) * cp);
    std::vector<int32_t> w32(size_t(9) * c), bias(cp), multiplier(cp, 1 << 30), shift(cp, -8);
    for (int t = 0; t < 9; ++t)
      for (int j = 0; j < c; ++j) w32[size_t(t) * c + j] = weights[size_t(t) * cp + j] = (t * 131 + j * 71) % 255 - 128;
    for (int j = 0; j < c; ++j) bias[j] = j * 37 % 2000 - 1000;
    const int in_zp = 3, blocks = int8_dwconv_dot_blocks(c), tail = int8_dwconv_tail_pixels(c, s.stride);
    std::vector<int8_t> dot((blocks + 1) * kInt8DwDotBlockBytes);
    const std::vector<uint8_t> zero_point_row(c, in_zp);
    Int8ConvArgs a{};
    a.input = input.data(), a.in_h = s.size, a.in_w = s.size, a.in_c = c;
    a.output = output.data(), a.out_h = out, a.out_w = out, a.out_c = c, a.stride = s.stride;
    a.pad = s.stride == 1 ? Padding{1, 1, 1, 1} : Padding{0, 0, 1, 1};  // TensorFlow's SAME
    a.weights = weights.data(), a.channels_padded = cp, a.in_zero_point = in_zp;
    a.rq = {bias.data(), multiplier.data(), shift.data(), 0, 0, 255};
    if (blocks > 0) {
      pack_int8_dwconv_dot(w32.data(), bias.data(), multiplier.data(), shift.data(), c, in_zp, dot.data());
      a.dot = dot.data(), a.dot_blocks = blocks, a.zero_point_row = zero_point_row.data();
    }
    if (tail > 0) {
      const int c0 = 64 * blocks;
      pack_int8_dwconv_tail(w32.data() + c0, c, bias.data() + c0, multiplier.data() + c0, shift.data() + c0, c - c0,
                            tail, in_zp, dot.data() + blocks * kInt8DwDotBlockBytes);
      a.dot_tail = dot.data() + blocks * kInt8DwDotBlockBytes;
    }
    AlignedBuffer prepared;
    const int packed_blocks = blocks + (tail > 0 ? 1 : 0);
    if (kt.int8_dw_prepare_blocks != nullptr && packed_blocks > 0) {
      prepared = AlignedBuffer((kt.int8_dw_prepared_bytes(packed_blocks) + 3) / 4);
      kt.int8_dw_prepare_blocks(dot.data(), packed_blocks, 0, 0, prepared.data());
      a.dw_prepared = prepared.data();
    }
    const CallTimes t = time_calls([&] { kt.int8_dwconv3x3(a, 0, out); });
    const double per64 = 64.0 / (double(out) * out * c);
    std::printf("%4dx%-4d x %4d s%d  %-8s %8.1f us  (fastest %8.1f)  %5.1f ns per 64 outputs (fastest %5.1f)\n", s.size,
                s.size, c, s.stride, kt.int8_dwconv3x3_variant(a), t.median_ns / 1e3, t.fastest_ns / 1e3,
                t.median_ns * per64, t.fastest_ns * per64);
  }
  return 0;
}
