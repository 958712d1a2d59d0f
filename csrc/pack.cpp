#include "pack.h"

#include <algorithm>

#include "bf16.h"

namespace mobilenet {

// The weight layouts kernels.h declares (the stem packs its pairs itself when
// it is given none, so these are kernel-facing too).

int64_t stem_pair_weights_size(int out_c) { return int64_t{kStemPairVectors} * ((out_c + 7) / 8) * 16; }

void pack_stem_pair_weights(const float* weights, const float* bias, int out_c, int out_c_padded, float* packed) {
  const int nv = (out_c + 7) / 8;
  for (int ky = 0; ky < 3; ++ky)
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < 8 * nv; ++c)
        for (int t = 0; t < 2; ++t) {
          const int tap = 2 * j + t;  // kx = tap / 3, input channel = tap % 3: the 9 floats of one window row
          packed[((ky * 5 + j) * nv + c / 8) * 16 + 2 * (c % 8) + t] =
              tap < 9 && c < out_c ? weights[static_cast<int64_t>(ky * 9 + tap) * out_c_padded + c] : 0.0f;
        }
  const int bias_at = (kStemPairVectors - 1) * nv * 16;
  for (int c = 0; c < 8 * nv; ++c) {
    packed[bias_at + (c / 8) * 16 + 2 * (c % 8)] = c < out_c ? bias[c] : 0.0f;
    packed[bias_at + (c / 8) * 16 + 2 * (c % 8) + 1] = 0.0f;
  }
}

int64_t packed_gemm_size(int k, int n, int panel_width) { return static_cast<int64_t>(k) * round_up(n, panel_width); }

void pack_gemm_weights(const float* b, int k, int n, int panel_width, float* packed) {
  const int panels = static_cast<int>(round_up(n, panel_width) / panel_width);
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < k; ++kk)
      for (int j = 0; j < panel_width; ++j) {
        const int col = p * panel_width + j;
        *packed++ = col < n ? b[static_cast<int64_t>(kk) * n + col] : 0.0f;
      }
}

// bfloat16

int64_t packed_gemm_bf16_words(int k, int n, int panel_width) {
  return static_cast<int64_t>((k + 1) / 2) * round_up(n, panel_width);
}

void pack_gemm_weights_bf16(const float* b, int k, int n, int panel_width, uint32_t* packed) {
  const int panels = static_cast<int>(round_up(n, panel_width) / panel_width);
  auto at = [&](int row, int col) { return row < k && col < n ? b[static_cast<int64_t>(row) * n + col] : 0.0f; };
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < k; kk += 2)
      for (int j = 0; j < panel_width; ++j) {
        const int col = p * panel_width + j;
        *packed++ = bf16_pair(at(kk, col), at(kk + 1, col));
      }
}

namespace {

PackedLayer pack_layer(const LayerSpec& s, const Layer& shape, const LayerPlan& plan, const KernelTable& kernels) {
  PackedLayer layer;
  const int pad_to = std::max(kChannelPad, kernels.gemm_panel_width);
  layer.channels_padded = static_cast<int>(round_up(s.out_c, pad_to));
  layer.bias = AlignedBuffer(layer.channels_padded);
  std::copy(s.bias.begin(), s.bias.end(), layer.bias.data());
  const int cp = layer.channels_padded;
  switch (plan.kernel) {
    case LayerKernel::Conv3x3:
      layer.weights = AlignedBuffer(size_t{9} * s.in_c * cp);
      for (int64_t t = 0; t < int64_t{9} * s.in_c; ++t)
        std::copy_n(s.weight.data() + t * s.out_c, s.out_c, layer.weights.data() + t * cp);
      if (kernels.conv3x3_uses_pair_weights(stem_shape_args(shape))) {
        layer.pair_weights = AlignedBuffer(stem_pair_weights_size(s.out_c));
        pack_stem_pair_weights(layer.weights.data(), layer.bias.data(), s.out_c, cp, layer.pair_weights.data());
      }
      break;
    case LayerKernel::DwConv3x3:
      layer.weights = AlignedBuffer(size_t{9} * cp);
      for (int t = 0; t < 9; ++t)
        std::copy_n(s.weight.data() + int64_t{t} * s.out_c, s.out_c, layer.weights.data() + int64_t{t} * cp);
      break;
    case LayerKernel::BlasGemm:  // BLAS reads the row-major [in_c][out_c] matrix as it is
      layer.weights = AlignedBuffer(s.weight.size());
      std::copy(s.weight.begin(), s.weight.end(), layer.weights.data());
      break;
    case LayerKernel::PackedGemm:
      layer.weights = AlignedBuffer(packed_gemm_size(s.in_c, s.out_c, kernels.gemm_panel_width));
      pack_gemm_weights(s.weight.data(), s.in_c, s.out_c, kernels.gemm_panel_width, layer.weights.data());
      break;
    case LayerKernel::GlobalAvgPool: break;
    case LayerKernel::PackedGemmBf16:  // 32-bit words of bf16 pairs, in the float buffer
      layer.weights = AlignedBuffer(packed_gemm_bf16_words(s.in_c, s.out_c, kernels.gemm_panel_width));
      pack_gemm_weights_bf16(s.weight.data(), s.in_c, s.out_c, kernels.gemm_panel_width,
                             reinterpret_cast<uint32_t*>(layer.weights.data()));
      break;
  }
  return layer;
}

}  // namespace

std::vector<PackedLayer> pack_layers(const std::vector<LayerSpec>& specs, const std::vector<Layer>& layers,
                                     const Plan& plan) {
  std::vector<PackedLayer> packed;
  packed.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    packed.push_back(pack_layer(specs[i], layers[i], plan.layers[i], *plan.kernels));
  return packed;
}

}  // namespace mobilenet
