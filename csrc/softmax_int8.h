// The int8 networks' softmax: TFLite's reference quantized softmax, in C++.
#pragma once
#include <cstdint>

namespace mobilenet {

// rows x cols values in uint8 storage (an int8 tensor's values + 128) to the
// same storage of the softmax's output (scale 1/256, zero point the type's
// minimum). input_multiplier, input_left_shift and diff_min: TFLite's softmax
// parameters for the input's scale (mobilenet.quantization.softmax_parameters).
void softmax_int8_rows(const uint8_t* in, int rows, int64_t cols, int32_t input_multiplier, int input_left_shift,
                       int diff_min, uint8_t* out);

}  // namespace mobilenet
