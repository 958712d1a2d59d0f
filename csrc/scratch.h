// A thread's scratch buffer for kernels that lay out or widen operands per
// call (the AMX kernels' rows of A as tiles, the AVX2 int8 GEMM's int16
// copies): 64-byte aligned, grown as needed, never shrunk.
#pragma once
#include <cstdint>
#include <cstdlib>

#include "common.h"

namespace mobilenet {
// Each translation unit its own copy: they are compiled with different flags.
namespace {

struct Scratch {
  void* data = nullptr;
  int64_t bytes = 0;
  ~Scratch() { std::free(data); }
  template <typename T>
  T* get(int64_t count) {
    const int64_t want = (count * static_cast<int64_t>(sizeof(T)) + 63) / 64 * 64;
    if (want > bytes) {
      std::free(data);
      data = std::aligned_alloc(64, static_cast<size_t>(want));
      MBN_CHECK(data != nullptr, "out of memory for a kernel's scratch buffer");
      bytes = want;
    }
    return static_cast<T*>(data);
  }
};

}  // namespace
}  // namespace mobilenet
