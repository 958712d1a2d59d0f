// The int8 GEMM of the best instruction set here (MOBILENET_ISA forces one; on
// AVX-512 AMX tiles where the CPU and the OS allow them, MOBILENET_AMX=0 for
// vpdpbusd; MOBILENET_INT8_DOT=off for the kernels without the dot products) alone on the 1x1 shapes of
// MobileNet 1.0/224 and its classifier: median time of 300 calls with the data
// cache-warm, and GMAC/s (bench/RESULTS.md, log entries 62 and 65). Build and run (from the repository root):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target int8_gemm && build/bench/int8_gemm [row calls] [bounded|offset|split]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "call_times.h"
#include "kernels.h"

using namespace mobilenet;

int main(int argc, char** argv) {
  // Rows split into this many calls, as threads split them (1: one call a layer).
  const int calls = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  // "bounded": weights as quantization-aware training leaves them (most within +-64, one in
  // 2000 beyond), split for vpmaddubsw where the table takes it (KernelTable::int8_gemm_bounded).
  const bool bounded = argc > 2 && std::string(argv[2]) == "bounded";
  // "offset": one column's weights span [-150, 104], one of them past int8, as in the real uint8
  // models (their per-tensor zero point leaves 1-3 weights a layer beyond int8): that column gets
  // a column offset. "split": the same weights, the column split where the table takes it
  // (KernelTable::int8_gemm_split), as packing does.
  const bool split_offset = argc > 2 && std::string(argv[2]) == "split";
  const bool offset = split_offset || (argc > 2 && std::string(argv[2]) == "offset");
  const KernelTable& kt = kernel_table(isa_from_environment());
  struct Shape {
    int m, n, k;
  };
  // Then conv_pw_1 and conv_pw_2 of 0.5/160 and 0.25/128 (16 and 8 input channels).
  const Shape shapes[] = {{12544, 64, 32},  {3136, 128, 64}, {3136, 128, 128}, {784, 256, 128},
                          {784, 256, 256},  {196, 512, 256}, {196, 512, 512},  {49, 1024, 512},
                          {49, 1024, 1024}, {1, 1001, 1024}, {6400, 32, 16},   {1600, 64, 32},
                          {4096, 16, 8},    {1024, 32, 16},  {1, 1001, 256},   {1, 1001, 512}};
  Int8GemmArgs named{};
  if (bounded && kt.int8_gemm_bounded) named.bounded = &named;  // any pointer: the variant's name
  std::printf("int8 GEMM %s, rows in %d call(s)%s\n", kt.int8_gemm_variant(named), calls,
              bounded        ? ", bounded weights"
              : split_offset ? ", a column offset, split"
              : offset       ? ", a column offset"
                             : "");
  for (const Shape& s : shapes) {
    const int np = (s.n + kInt8PanelWidth - 1) / kInt8PanelWidth * kInt8PanelWidth;
    // Rows at 64-byte boundaries, as the network's buffers are.
    std::vector<uint8_t> a(size_t(s.m) * s.k + 128), c_buffer(size_t(s.m) * s.n + 128);
    uint8_t* c = c_buffer.data() + (64 - reinterpret_cast<uintptr_t>(c_buffer.data()) % 64);
    std::vector<int32_t> b(size_t(s.k) * s.n), col_offset(np), bias(np), multiplier(np, 1 << 30), shift(np, -8);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7919 % 251);
    for (size_t i = 0; i < b.size(); ++i)
      b[i] = bounded && i % 1999 != 0 ? static_cast<int32_t>(i * 104729 % 121) - 60
                                      : static_cast<int32_t>(i * 104729 % 255) - 128;
    if (offset)
      for (int kk = 0; kk < s.k; ++kk) b[size_t(kk) * s.n] = kk == s.k / 2 ? -150 : -100 + kk * 37 % 205;
    std::vector<int8_t> packed(packed_int8_gemm_bytes(s.k, s.n));
    pack_int8_gemm_weights(b.data(), s.k, s.n, packed.data(), col_offset.data());
    std::vector<int32_t> split;
    const int64_t split_bytes = bounded && kt.int8_gemm_bounded ? int8_bounded_bytes(packed.data(), s.k, s.n) : 0;
    if (split_bytes > 0) {
      split.resize((split_bytes + 3) / 4);
      pack_int8_bounded(packed.data(), s.k, s.n, split.data());
    }
    Int8GemmArgs g{a.data(),
                   s.k,
                   packed.data(),
                   col_offset.data(),
                   std::any_of(col_offset.begin(), col_offset.end(), [](int32_t o) { return o != 0; }),
                   c,
                   s.n,
                   s.m,
                   s.n,
                   s.k,
                   // The 1x1 layers' ReLU6 (uint8 output zero point 0, clamped at it); the
                   // classifier's none (zero point 128, clamped at 0 only).
                   {bias.data(), multiplier.data(), shift.data(), s.m > 1 ? 0 : 128, 0, 255}};
    if (!split.empty()) g.bounded = split.data();
    std::vector<uint64_t> remainders;
    const int64_t remainder_bytes =
        split_offset && kt.int8_gemm_split ? int8_split_bytes(packed.data(), col_offset.data(), s.k, s.n) : 0;
    if (remainder_bytes > 0) {
      remainders.resize(remainder_bytes / 8 + 16);
      void* at = remainders.data() + (64 - reinterpret_cast<uintptr_t>(remainders.data()) % 64) / 8;
      pack_int8_split(packed.data(), col_offset.data(), s.k, s.n, at);
      g.split = at;
    }
    // The columns' constants prepared once, as packing does for the network.
    std::vector<uint64_t> prepared;
    if (kt.int8_gemm_prepare != nullptr) {
      prepared.resize((kt.int8_gemm_prepared_bytes(s.n) + 63) / 8 + 8);
      void* at = prepared.data() + (64 - reinterpret_cast<uintptr_t>(prepared.data()) % 64) / 8;
      kt.int8_gemm_prepare(g.rq, s.n, at);
      g.rq_prepared = at;
    }
    const CallTimes t = time_calls([&] {
      for (int part = 0; part < calls; ++part) kt.int8_gemm(g, s.m * part / calls, s.m * (part + 1) / calls);
    });
    const double median = t.median_ns, fastest = t.fastest_ns;
    std::printf("%5d x %4d x %4d  %8.1f us  %6.1f GMAC/s  (fastest %6.1f)\n", s.m, s.n, s.k, median / 1e3,
                double(s.m) * s.n * s.k / median, double(s.m) * s.n * s.k / fastest);
  }
  return 0;
}
