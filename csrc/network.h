// The engine's facade: a chain of layers validated, planned (plan.h), packed
// once (pack.h) and run in one call (execute.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "cpu_features.h"
#include "execute.h"
#include "fork_safe_mutex.h"
#include "kernels.h"
#include "layer.h"
#include "pack.h"
#include "plan.h"
#include "thread_pool.h"

namespace mobilenet {

class Network {
 public:
  // Validates the chain (throws std::invalid_argument naming the layer) and packs weights.
  // fuse: run large depthwise layers in bands straight into the next pointwise layer.
  // precision: the network's (plan.h); Int8 runs each spec's int8 parameters
  // (LayerSpec::Int8). Refused with std::invalid_argument naming the CPU
  // feature it needs where these kernels lack it.
  Network(std::vector<LayerSpec> layers, Isa isa, int threads, PointwiseBackend backend, bool fuse = true,
          Precision precision = Precision::Float32);

  // input: batch images, NHWC or NCHW, dense. output: batch x output_size().
  // Any chain of layers runs; MobileNet's ends with a 1x1 map of class scores.
  // layer_ns, when not null, receives each layer's duration (added to it).
  // check_finite: throw std::invalid_argument if the input holds NaN or Inf.
  // The scan runs right after the first layer, which has just read the input
  // into cache (a scan before it reads it from memory: ~20 us at 128x128).
  void forward(const float* input, int batch, InputLayout layout, float* output, bool softmax,
               int64_t* layer_ns = nullptr, bool check_finite = false);

  // An int8 network (Precision::Int8) on uint8 storage (see kernels.h): input
  // batch x input_size() bytes NHWC, output batch x output_size() bytes.
  void forward_int8(const uint8_t* input, int batch, uint8_t* output, int64_t* layer_ns = nullptr);
  Precision precision() const { return plan_.layers.front().precision; }

  int num_layers() const { return static_cast<int>(layers_.size()); }
  int input_height() const { return layers_.front().spec.in_h; }
  int input_width() const { return layers_.front().spec.in_w; }
  int input_channels() const { return layers_.front().spec.in_c; }
  int64_t input_size() const;                                        // floats per image
  int64_t output_size() const { return layers_.back().out_size(); }  // floats per image
  std::vector<int> output_shape(int layer) const;                    // {h, w, c}
  // Floats from one pixel of the layer's output to the next in its activation
  // buffer: its channels, or more where a depthwise layer reads or writes it.
  int out_pixel_stride(int layer) const;
  // The operation, the kernel's variant (KernelTable) and the ISA, e.g.
  // "dwconv3x3s2_blocks_avx512"; "dwconv3x3s1_rows_fused_avx512" marks a
  // depthwise layer run in bands together with the pointwise layer after it.
  std::string kernel_name(int layer) const;
  const KernelTable& kernels() const { return *plan_.kernels; }
  PointwiseBackend backend() const { return plan_.backend; }
  const Plan& plan() const { return plan_; }
  int threads() const;
  void set_threads(int threads);
  int64_t packed_weight_bytes() const;
  // Layers [0, pipelined_layers()) run as a pipeline of row bands.
  int pipelined_layers() const { return plan_.pipelined_layers(); }
  // Largest batch accepted in one call (bounds the activation arena).
  static constexpr int kMaxBatch = 1 << 16;
  // Frees the cached workspaces made for more than max_batch images, and
  // returns the freed memory to the system, so a large call's buffers are
  // not kept for the life of the network.
  void trim_workspaces(int max_batch) { workspaces_.trim(max_batch); }

 private:
  const std::vector<Layer> layers_;
  const Plan plan_;
  const std::vector<PackedLayer> packed_;
  WorkspaceCache workspaces_;

  mutable ForkSafeMutex pool_mutex_;  // guards replacing pool_ (set_threads, and in a forked child)
  std::shared_ptr<ThreadPool> pool_;
};

}  // namespace mobilenet
