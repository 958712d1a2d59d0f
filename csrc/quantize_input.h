// The int8 networks' QUANTIZE: float32 input to the engine's uint8 storage.
#pragma once
#include <cstdint>

#include "kernels.h"

namespace mobilenet {

// TFLite's reference QUANTIZE (AffineQuantize) of `images` images of `pixels` x
// `channels` float values, NHWC or (nchw) NCHW, to NHWC storage:
// clamp(zero_point + round(x / scale), qmin, qmax) + storage_offset, with x / scale
// in float32 and round() halving away from zero (std::round). storage_offset is
// 128 for an int8 tensor (its uint8 storage), 0 for a uint8 one. Runs the
// kernels' int8_quantize_row. Returns false, with `out` written but meaningless,
// where any value is NaN or infinite. Throws std::invalid_argument on parameters
// no quantized tensor has.
bool quantize_input(const KernelTable& kernels, const float* x, int64_t images, int64_t pixels, int channels, bool nchw,
                    float scale, int zero_point, int qmin, int qmax, int storage_offset, uint8_t* out);

}  // namespace mobilenet
