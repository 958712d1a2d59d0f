#include "quantize_input.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace mobilenet {

namespace {
// NCHW: each channel's pixels quantized in chunks through a buffer, then spread to every
// `channels`-th byte.
constexpr int64_t kPlaneChunk = 1024;
}  // namespace

bool quantize_input(const KernelTable& kernels, const float* x, int64_t images, int64_t pixels, int channels, bool nchw,
                    float scale, int zero_point, int qmin, int qmax, int storage_offset, uint8_t* out) {
  if (images < 0 || pixels < 0 || channels < 1) throw std::invalid_argument("quantize_input: bad shape");
  if (!(scale > 0.0f) || !std::isfinite(scale))
    throw std::invalid_argument("quantize_input: the scale must be positive and finite, got " + std::to_string(scale));
  if (qmin > qmax || qmin + storage_offset < 0 || qmax + storage_offset > 255 || zero_point < qmin || zero_point > qmax)
    throw std::invalid_argument("quantize_input: the range [" + std::to_string(qmin) + ", " + std::to_string(qmax) +
                                "], zero point " + std::to_string(zero_point) + " and storage offset " +
                                std::to_string(storage_offset) + " are not a uint8 or int8 tensor's");
  const float lo = static_cast<float>(qmin - zero_point), hi = static_cast<float>(qmax - zero_point);
  const int32_t offset = zero_point + storage_offset;
  const int64_t plane = pixels * channels;
  uint32_t nonfinite = 0;
  for (int64_t n = 0; n < images; ++n) {
    const float* in = x + n * plane;
    uint8_t* o = out + n * plane;
    if (!nchw || channels == 1) {
      nonfinite |= kernels.int8_quantize_row(in, plane, scale, lo, hi, offset, o);
      continue;
    }
    uint8_t chunk[kPlaneChunk];
    for (int c = 0; c < channels; ++c)
      for (int64_t p0 = 0; p0 < pixels; p0 += kPlaneChunk) {
        const int64_t count = pixels - p0 < kPlaneChunk ? pixels - p0 : kPlaneChunk;
        nonfinite |= kernels.int8_quantize_row(in + c * pixels + p0, count, scale, lo, hi, offset, chunk);
        for (int64_t p = 0; p < count; ++p) o[(p0 + p) * channels + c] = chunk[p];
      }
  }
  return nonfinite == 0;
}

}  // namespace mobilenet
