#pragma once
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

namespace mobilenet {

// A zero-initialized float array on a 64-byte (cache line, one zmm) boundary.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // offset_in_page > 0 (a multiple of 64, below 4096): the data starts that
  // many bytes past a 4 KB boundary, for buffers whose placement relative to
  // each other matters (see WorkspaceCache::acquire).
  explicit AlignedBuffer(size_t count, size_t offset_in_page = 0) : size_(count) {
    if (offset_in_page % 64 != 0 || offset_in_page >= 4096)
      throw std::invalid_argument("AlignedBuffer: the offset in a page must be a multiple of 64 below 4096");
    const size_t align = offset_in_page ? 4096 : 64;
    size_t bytes = ((count * sizeof(float) + offset_in_page + 63) / 64) * 64;
    bytes = ((bytes == 0 ? 64 : bytes) + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    block_.reset(static_cast<char*>(p));
    data_ = reinterpret_cast<float*>(block_.get() + offset_in_page);
  }
  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> block_;
  float* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mobilenet
