// A network's layers as the model builder describes them, and as validation
// leaves them: the shared vocabulary of planning, packing and execution.
#pragma once
#include <cstdint>
#include <vector>

#include "common.h"

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
};

// A validated layer: its shape, stride, padding and activation (the weights
// are packing's, see pack.h) and its output size.
struct Layer {
  LayerSpec spec;  // weight and bias empty
  int out_h = 0, out_w = 0;
  int64_t out_size() const { return static_cast<int64_t>(out_h) * out_w * spec.out_c; }  // dense
};

}  // namespace mobilenet
