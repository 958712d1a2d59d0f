// Two versions of the AMX int8 GEMM (csrc/kernels_amx_int8.cpp) in one program, called in
// turns on the 1x1 shapes of MobileNet 1.0/224: the median of the per-call ratios B/A, which
// the shared machine's drifts cancel out of (bench/RESULTS.md, log entry 77). Built by
// bench/cpp/int8_gemm_ab.sh, which compiles each version with its namespace renamed
// (-Damx=amxA, -Damx=amxB). Argument "o": weights with a column past int8 (column offsets,
// as the uint8 models have).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "kernels.h"
namespace mobilenet {
namespace amxA {
void int8_gemm_kernel(const Int8GemmArgs&, int, int);
}
namespace amxB {
void int8_gemm_kernel(const Int8GemmArgs&, int, int);
}
}  // namespace mobilenet
using namespace mobilenet;
using Clock = std::chrono::steady_clock;
int main(int argc, char** argv) {
  const bool offsets = argc > 1 && argv[1][0] == 'o';  // uint8-model-like: column offsets in some columns
  kernel_table(Isa::Avx512);                           // AMX permission
  struct Shape {
    int m, n, k;
  };
  const Shape shapes[] = {{12544, 64, 32}, {3136, 128, 64}, {3136, 128, 128}, {784, 256, 128}, {784, 256, 256},
                          {196, 512, 256}, {196, 512, 512}, {49, 1024, 512},  {49, 1024, 1024}};
  std::printf("B/A per shape (median of per-round ratios), %s\n", offsets ? "with column offsets" : "int8 weights");
  for (const Shape& s : shapes) {
    const int np = (s.n + kInt8PanelWidth - 1) / kInt8PanelWidth * kInt8PanelWidth;
    std::vector<uint8_t> a(size_t(s.m) * s.k + 64), c(size_t(s.m) * s.n + 64), c2(c.size());
    std::vector<int32_t> b(size_t(s.k) * s.n), col_offset(np), bias(np), multiplier(np, 1 << 30), shift(np, -8);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7919 % 251);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<int32_t>(i * 104729 % 255) - 128;
    if (offsets)
      for (int kk = 0; kk < s.k; ++kk) b[size_t(kk) * s.n + 3] = 200;  // one column past int8
    std::vector<int8_t> packed(packed_int8_gemm_bytes(s.k, s.n));
    pack_int8_gemm_weights(b.data(), s.k, s.n, packed.data(), col_offset.data());
    bool has = false;
    for (int v : col_offset) has |= v != 0;
    Int8GemmArgs g{a.data(),
                   s.k,
                   packed.data(),
                   col_offset.data(),
                   has,
                   c.data(),
                   s.n,
                   s.m,
                   s.n,
                   s.k,
                   {bias.data(), multiplier.data(), shift.data(), 0, 0, 200}};
    Int8GemmArgs g2 = g;
    g2.c = c2.data();
    std::vector<double> ta, tb, ratio;
    for (int rep = 0; rep < 400; ++rep) {
      auto t0 = Clock::now();
      amxA::int8_gemm_kernel(g, 0, s.m);
      auto t1 = Clock::now();
      amxB::int8_gemm_kernel(g2, 0, s.m);
      auto t2 = Clock::now();
      if (rep < 20) continue;
      ta.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      tb.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
      ratio.push_back(tb.back() / ta.back());
    }
    if (c != c2) std::printf("OUTPUTS DIFFER\n");
    auto med = [](std::vector<double> v) {
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    std::printf("%5d x %4d x %4d  A %7.1f us  B %7.1f us  B/A %.3f\n", s.m, s.n, s.k, med(ta), med(tb), med(ratio));
  }
}
