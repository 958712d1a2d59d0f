// The depthwise kernel alone on MobileNet's 1.0/224 shapes, with the pixels of
// its input and output dense (stride = channels) or padded by 16 or 32 floats:
// median time over 300 repeats with the data cache-warm (bench/RESULTS.md, log
// entry 34). Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target dwconv_pixel_stride && build/bench/dwconv_pixel_stride [avx512|avx2|scalar]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "aligned_buffer.h"
#include "kernels.h"

using namespace mobilenet;

int main(int argc, char** argv) {
  const Isa isa = argc > 1 && std::strcmp(argv[1], "avx2") == 0     ? Isa::Avx2
                  : argc > 1 && std::strcmp(argv[1], "scalar") == 0 ? Isa::Scalar
                                                                    : Isa::Avx512;
  const KernelTable& kt = kernel_table(isa);
  struct Shape {
    int size, channels, stride;
  };
  const Shape shapes[] = {{112, 32, 1}, {112, 64, 2}, {56, 128, 1}, {56, 128, 2}, {28, 256, 1},
                          {28, 256, 2}, {14, 512, 1}, {14, 512, 2}, {7, 1024, 1}};
  for (const Shape& sh : shapes) {
    for (int pad : {0, 16, 32}) {
      const int h = sh.size, c = sh.channels, pixel = c + pad, oh = sh.stride == 1 ? h : h / 2;
      AlignedBuffer in(int64_t{h} * h * pixel + kBufferSlack), out(int64_t{oh} * oh * pixel + kBufferSlack, 1024);
      AlignedBuffer zero(int64_t{h} * pixel + kBufferSlack), weights(9 * c), bias(c);
      std::fill(in.data(), in.data() + in.size(), 0.5f);
      std::fill(weights.data(), weights.data() + weights.size(), 0.1f);
      DwConvArgs a{};
      a.input = in.data(), a.in_h = h, a.in_w = h, a.channels = c;
      a.output = out.data(), a.out_h = oh, a.out_w = oh, a.stride = sh.stride;
      a.pad = sh.stride == 1 ? Padding{1, 1, 1, 1} : Padding{0, 0, 1, 1};  // TensorFlow 'SAME'
      a.weights = weights.data(), a.bias = bias.data(), a.channels_padded = c, a.zero_row = zero.data();
      a.clamp = Clamp{0.0f, 6.0f};
      a.in_pixel_stride = a.out_pixel_stride = pixel;
      const double vectors = double(oh) * oh * c / kt.vector_width;
      const int calls = std::max(1, static_cast<int>(200000 / vectors));
      std::vector<double> ns;
      for (int rep = 0; rep < 300; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) kt.dwconv3x3(a, 0, oh);
        ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / calls);
      }
      std::nth_element(ns.begin(), ns.begin() + ns.size() / 2, ns.end());
      const double median = ns[ns.size() / 2];
      std::printf("%s %4dx%4dx%4d s%d, pixels %4d floats apart: %8.2f us, %.3f ns per output vector\n", kt.name, h, h,
                  c, sh.stride, pixel, median / 1e3, median / vectors);
    }
  }
}
