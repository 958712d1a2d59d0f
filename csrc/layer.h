// A network's layers as the model builder describes them, and as validation
// leaves them: the shared vocabulary of planning, packing and execution.
#pragma once
#include <cstdint>
#include <vector>

#include "common.h"
#include "kernels.h"

namespace mobilenet {

enum class LayerKind : int { Conv3x3 = 0, DwConv3x3 = 1, Conv1x1 = 2, GlobalAvgPool = 3, FullyConnected = 4 };
enum class InputLayout : int { NHWC = 0, NCHW = 1 };
enum class PointwiseBackend : int { Gemm = 0, Blas = 1 };

const char* layer_kind_name(LayerKind kind);

// One layer as the model builder describes it, with batch norm already folded.
// Weight layouts: Conv3x3 [3][3][in_c][out_c], DwConv3x3 [3][3][c],
// Conv1x1 and FullyConnected [in_c][out_c]. bias is [out_c] or empty.
struct LayerSpec {
  LayerKind kind = LayerKind::Conv3x3;
  int in_h = 0, in_w = 0, in_c = 0, out_c = 0;
  int stride = 1;
  Padding pad;
  Activation activation = Activation::None;
  std::vector<float> weight;
  std::vector<float> bias;

  // Precision::Int8: TFLite's integer parameters, activations in uint8 storage
  // (an int8 tensor's values + 128; see kernels.h). The float weight and bias
  // may then be empty.
  struct Int8 {
    std::vector<int32_t> weight;             // effective weights w - w_zp, in `weight`'s layout
    std::vector<int32_t> bias;               // [out_c] or empty
    std::vector<int32_t> multiplier, shift;  // [out_c]: TFLite's quantized multiplier and exponent
    int in_zero_point = 0, out_zero_point = 0;
    int act_min = 0, act_max = 255;  // the fused activation's clamp
    bool signed_values = false;      // an int8 tensor (the pool rounds its mean half away from zero)
    bool mean = false;               // the pool is TFLite's MEAN (Int8PoolArgs), multiplier and shift [1]
  } int8;
};

// A validated layer: its shape, stride, padding and activation (the weights
// are packing's, see pack.h) and its output size.
struct Layer {
  LayerSpec spec;  // weight and bias empty
  int out_h = 0, out_w = 0;
  int64_t out_size() const { return static_cast<int64_t>(out_h) * out_w * spec.out_c; }  // dense
};

// A layer's kernel arguments with its shape, strides and activation only (no
// data): what packing, execution and Network::kernel_name start from, and all
// a kernel chooses its variant from (KernelTable's *_variant), so a profile
// names what runs. The stem's are for NHWC input; the variant never depends on
// the layout.
inline Conv3x3Args stem_shape_args(const Layer& layer, InputLayout layout = InputLayout::NHWC) {
  const LayerSpec& s = layer.spec;
  Conv3x3Args a{};
  a.in_h = s.in_h, a.in_w = s.in_w, a.in_c = s.in_c;
  if (layout == InputLayout::NCHW) {
    a.in_row_stride = s.in_w, a.in_col_stride = 1, a.in_channel_stride = int64_t{s.in_h} * s.in_w;
  } else {
    a.in_row_stride = int64_t{s.in_w} * s.in_c, a.in_col_stride = s.in_c, a.in_channel_stride = 1;
  }
  a.out_h = layer.out_h, a.out_w = layer.out_w, a.out_c = s.out_c;
  a.stride = s.stride, a.pad = s.pad;
  a.clamp = clamp_for(s.activation);
  return a;
}

inline DwConvArgs dwconv_shape_args(const Layer& layer, int in_pixel_stride, int out_pixel_stride) {
  const LayerSpec& s = layer.spec;
  DwConvArgs a{};
  a.in_h = s.in_h, a.in_w = s.in_w, a.channels = s.in_c;
  a.in_pixel_stride = in_pixel_stride, a.out_pixel_stride = out_pixel_stride;
  a.out_h = layer.out_h, a.out_w = layer.out_w;
  a.stride = s.stride, a.pad = s.pad;
  a.clamp = clamp_for(s.activation);
  return a;
}

}  // namespace mobilenet
