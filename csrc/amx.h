// What the AMX kernels share (kernels_amx.cpp: bf16, kernels_amx_int8.cpp:
// int8; each compiled with -mamx-tile): the tile configuration, which both
// use as it is (each thread's rows of A laid out as tiles: scratch.h).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>

#include "common.h"
#include "scratch.h"

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

}  // namespace
}  // namespace amx
}  // namespace mobilenet
