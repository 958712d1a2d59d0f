// What the AMX kernels share (kernels_amx.cpp: bf16, kernels_amx_int8.cpp:
// int8; each compiled with -mamx-tile): the tile configuration, which both
// use as it is, and a thread's buffer for the rows of A laid out as tiles.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>

#include "common.h"

namespace mobilenet {
namespace amx {
// Each translation unit its own copy: they are compiled with different flags.
namespace {

constexpr int kTileRows = 16;   // rows of every tile
constexpr int kTileBytes = 64;  // bytes of each row: 16 float32 or int32, 16 bf16 pairs, 64 int8

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Eight tiles, every one 16 rows x 64 bytes.
inline const TileConfig& tile_config() {
  static const TileConfig config = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.colsb[t] = kTileBytes;
      c.rows[t] = kTileRows;
    }
    return c;
  }();
  return config;
}

// The thread's tiles from the start of a kernel call to its end: the
// configuration is per thread, loaded by each call, and released after it (so
// the OS need not save the tile state of a thread that is not using it).
struct TileSession {
  TileSession() { _tile_loadconfig(&tile_config()); }
  ~TileSession() { _tile_release(); }
  TileSession(const TileSession&) = delete;
  TileSession& operator=(const TileSession&) = delete;
};

// The thread's buffer of A rows laid out as tiles, 64-byte aligned, grown as
// needed (never shrunk).
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
      MBN_CHECK(data != nullptr, "out of memory for an AMX kernel's rows of A");
      bytes = want;
    }
    return static_cast<T*>(data);
  }
};

}  // namespace
}  // namespace amx
}  // namespace mobilenet
