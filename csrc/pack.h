// Packing: each layer's folded weights and bias, laid out once, at model
// build, for the kernel its plan chose.
#pragma once
#include <cstdint>
#include <vector>

#include "aligned_buffer.h"
#include "layer.h"
#include "plan.h"

namespace mobilenet {

struct PackedLayer {
  AlignedBuffer weights;       // in the layout of the kernel that runs this layer
  AlignedBuffer bias;          // padded to kChannelPad (or the GEMM panel width)
  AlignedBuffer pair_weights;  // the AVX-512 RGB stem's tap-pair layout, when it applies
  int channels_padded = 0;

  int64_t bytes() const { return (weights.size() + bias.size() + pair_weights.size()) * sizeof(float); }
};

// specs: the layers' weights; layers: the same layers validated (their output
// sizes); both in the order of plan.layers.
std::vector<PackedLayer> pack_layers(const std::vector<LayerSpec>& specs, const std::vector<Layer>& layers,
                                     const Plan& plan);

}  // namespace mobilenet
