// Packing: each layer's folded weights and bias, laid out once, at model
// build, for the kernel its plan chose.
#pragma once
#include <cstdint>
#include <vector>

#include "aligned_buffer.h"
#include "kernels.h"
#include "layer.h"
#include "plan.h"

namespace mobilenet {

struct PackedLayer {
  AlignedBuffer weights;       // in the layout of the kernel that runs this layer
  AlignedBuffer bias;          // padded to kChannelPad (or the GEMM panel width)
  AlignedBuffer pair_weights;  // the AVX-512 RGB stem's tap-pair layout, when it applies
  int channels_padded = 0;
  // int8 layers: the weights in their kernel's layout (int16 taps for the stem
  // and depthwise, Int8GemmArgs' panels), bytes in a float buffer; and four
  // int32 arrays of channels_padded: bias (zero points folded in), multiplier,
  // shift, GEMM column offset.
  AlignedBuffer int8_weights;
  AlignedBuffer int8_params;
  // int8 depthwise and GEMM layers: the packed blocks' or the panels'
  // constants, prepared once (KernelTable::int8_dw_prepare_blocks,
  // int8_gemm_prepare; empty where the kernels have none).
  AlignedBuffer int8_prepared;
  // int8 GEMM layers where KernelTable::int8_gemm_bounded: B split for vpmaddubsw
  // (pack_int8_bounded; empty where too many weights lie beyond its bound).
  AlignedBuffer int8_bounded;
  // int8 GEMM layers where KernelTable::int8_gemm_split: the panels with column offsets split
  // (pack_int8_split; empty where none or where they do not split).
  AlignedBuffer int8_split;
  const int32_t* int8_param(int which) const {
    return reinterpret_cast<const int32_t*>(int8_params.data()) + int64_t{which} * channels_padded;
  }

  int64_t bytes() const {
    return (weights.size() + bias.size() + pair_weights.size() + int8_weights.size() + int8_params.size() +
            int8_prepared.size() + int8_bounded.size() + int8_split.size()) *
           sizeof(float);
  }
};

// Whether an int8 layer's packed weights carry the stem block (pack_int8_stem), after the int16 taps.
inline bool int8_stem_packs(LayerKernel kernel, int in_c, int out_c) {
  return kernel == LayerKernel::Int8Conv3x3 && in_c <= kInt8StemPackedMaxInC && out_c <= kInt8StemPackedMaxOutC;
}

// specs: the layers' weights; layers: the same layers validated (their output
// sizes); both in the order of plan.layers.
std::vector<PackedLayer> pack_layers(const std::vector<LayerSpec>& specs, const std::vector<Layer>& layers,
                                     const Plan& plan);

}  // namespace mobilenet
