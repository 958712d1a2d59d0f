// What the float32 and bf16 GEMM benchmarks (gemm, gemm_bf16) share: the 1x1 shapes of
// MobileNet 1.0/224 and its classifier, their input values, and the executor's row blocks.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

struct GemmShape {
  int m, n, k;
};
constexpr GemmShape kMobileNetGemmShapes[] = {{12544, 64, 32},  {3136, 128, 64}, {3136, 128, 128}, {784, 256, 128},
                                              {784, 256, 256},  {196, 512, 256}, {196, 512, 512},  {49, 1024, 512},
                                              {49, 1024, 1024}, {1, 1000, 1024}};

// A in [0, 1) and B in [-0.5, 0.5), the same values in every run.
inline void fill_gemm_inputs(std::vector<float>& a, std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i * 7919 % 251) / 251.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i * 104729 % 255) / 255.0f - 0.5f;
}

// Executor::run_pointwise's row blocks (kGemmBlockBytes: 256 KB of float32 A) on one thread.
inline int gemm_row_blocks(const GemmShape& s, int tile_rows) {
  const int max_rows = std::max(tile_rows, static_cast<int>(256 * 1024 / (int64_t{s.k} * 4)));
  return (s.m + max_rows - 1) / max_rows;
}
