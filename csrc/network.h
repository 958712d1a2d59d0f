// The executor: a chain of layers with weights packed once, run in one call.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aligned_buffer.h"
#include "common.h"
#include "cpu_features.h"
#include "kernels.h"
#include "thread_pool.h"

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

class Network {
 public:
  // Validates the chain (throws std::invalid_argument naming the layer) and packs weights.
  // fuse: run large depthwise layers in bands straight into the next pointwise layer.
  Network(std::vector<LayerSpec> layers, Isa isa, int threads, PointwiseBackend backend, bool fuse = true);

  // input: batch images, NHWC or NCHW, dense. output: batch x output_size().
  // Any chain of layers runs; MobileNet's ends with a 1x1 map of class scores.
  // layer_ns, when not null, receives each layer's duration (added to it).
  // check_finite: throw std::invalid_argument if the input holds NaN or Inf.
  // The scan runs right after the first layer, which has just read the input
  // into cache (a scan before it reads it from memory: ~20 us at 128x128).
  void forward(const float* input, int batch, InputLayout layout, float* output, bool softmax,
               int64_t* layer_ns = nullptr, bool check_finite = false);

  int num_layers() const { return static_cast<int>(layers_.size()); }
  int input_height() const { return layers_.front().spec.in_h; }
  int input_width() const { return layers_.front().spec.in_w; }
  int input_channels() const { return layers_.front().spec.in_c; }
  int64_t input_size() const;   // floats per image
  int64_t output_size() const { return layers_.back().out_size(); }  // floats per image
  std::vector<int> output_shape(int layer) const;  // {h, w, c}
  // Floats from one pixel of the layer's output to the next in its activation
  // buffer: its channels, or more where a depthwise layer reads or writes it.
  int out_pixel_stride(int layer) const;
  // The operation, the kernel's variant (KernelTable) and the ISA, e.g.
  // "dwconv3x3s2_blocks_avx512"; "dwconv3x3s1_rows_fused_avx512" marks a
  // depthwise layer run in bands together with the pointwise layer after it.
  std::string kernel_name(int layer) const;
  const KernelTable& kernels() const { return *kernels_; }
  PointwiseBackend backend() const { return backend_; }
  int threads() const;
  void set_threads(int threads);
  int64_t packed_weight_bytes() const;
  // Layers [0, pipelined_layers()) run as a pipeline of row bands.
  int pipelined_layers() const;
  // Largest batch accepted in one call (bounds the activation arena).
  static constexpr int kMaxBatch = 1 << 16;
  // Frees the cached workspaces made for more than max_batch images, and
  // returns the freed memory to the system, so a large call's buffers are
  // not kept for the life of the network.
  void trim_workspaces(int max_batch);

 private:
  struct Layer {
    LayerSpec spec;  // weight/bias cleared after packing
    int out_h = 0, out_w = 0;
    AlignedBuffer weights;  // packed for the kernel that runs this layer
    AlignedBuffer bias;     // padded to kChannelPad (or the GEMM panel width)
    AlignedBuffer pair_weights;  // the AVX-512 RGB stem's tap-pair layout, when it applies
    int channels_padded = 0;
    // A depthwise layer fused with the pointwise layer after it: bands of
    // fused_band_rows output rows go straight from the depthwise kernel into
    // the GEMM through a per-thread buffer that stays in L2.
    bool fused_with_next = false;
    // The same, but only when the layers are split across threads (fused_at):
    // each thread then makes its rows of both layers with no barrier between.
    bool fused_when_parallel = false;
    int fused_band_rows = 0;
    // Floats from one pixel to the next in this layer's input and output
    // buffers: the channel count, or a little more (plan_pixel_strides).
    int in_stride = 0, out_stride = 0;
    int64_t out_size() const { return static_cast<int64_t>(out_h) * out_w * spec.out_c; }  // dense
    // Floats per image in the layer's input and output buffers, pixel strides included.
    int64_t in_image() const { return static_cast<int64_t>(spec.in_h) * spec.in_w * in_stride; }
    int64_t out_image() const { return static_cast<int64_t>(out_h) * out_w * out_stride; }
  };
  struct Workspace {
    int batch = 0;
    int threads = 0;
    AlignedBuffer bands;  // threads x max_band_floats_: fused depthwise output
    AlignedBuffer activations[2];
    AlignedBuffer zero_row;
    AlignedBuffer staged_input;
    std::vector<AlignedBuffer> stage_outputs;  // one image each, made on first use of the pipeline
  };
  // A layer, or a fused depthwise/pointwise pair, that computes a band of output
  // rows. Inside the pipeline its output is a ring of ring_rows rows (row y at
  // slot y % ring_rows); the last stage writes whole images.
  struct Stage {
    int first;
    int count;
    int ring_rows;
  };

  void pack(Layer& layer);
  void stage_input(const float* input, int batch, InputLayout layout, float* staged) const;
  void plan_fusion();
  void plan_parallel_fusion();
  // A fused depthwise layer's band height, and room for its bands in the band buffer.
  void plan_fused_bands(Layer& dw);
  // Whether layer i runs fused with layer i + 1 on `threads` threads (only
  // depthwise layers are ever planned for it).
  bool fused_at(int i, int threads) const;
  void plan_pipeline();
  void plan_pixel_strides();
  std::unique_ptr<Workspace> acquire_workspace(int batch, int threads);
  void release_workspace(std::unique_ptr<Workspace> ws);
  // Layers [first, end) on `batch` images; the last writes to `out`. With
  // check_input, returns false if it holds NaN or Inf (scanned after layer 0).
  // pool == nullptr runs everything on the calling thread.
  bool run_chain(int first, int end, const float* in, InputLayout layout, float* out, int batch, Workspace& ws,
                 ThreadPool* pool, int64_t* layer_ns, const float* check_input) const;
  // Layers [0, split) image by image, into ws.activations[0] (or the output).
  bool run_images(int split, const float* input, int batch, InputLayout layout, float* output, Workspace& ws,
                  ThreadPool& pool, int64_t* layer_ns, bool check_finite);
  void run_layer(const Layer& layer, const float* in, InputLayout layout, float* out, int batch,
                 Workspace& ws, ThreadPool* pool) const;
  void run_pointwise(const Layer& layer, const float* in, float* out, int64_t m, ThreadPool* pool) const;
  // Rows [m0, m1) and GEMM panels [p0, p1) of a pointwise layer, bias and
  // activation fused; layer_rows: all the rows of this GEMM (GemmArgs).
  void pointwise_block(const Layer& layer, const float* in, float* out, int m0, int m1, int p0, int p1,
                       int layer_rows) const;
  void run_fused(const Layer& dw, const Layer& pw, const float* in, float* out, int batch, Workspace& ws,
                 ThreadPool* pool, int64_t* layer_ns) const;
  DwConvArgs dwconv_args(const Layer& layer, const Workspace& ws) const;
  Conv3x3Args conv3x3_args(const Layer& layer, InputLayout layout) const;
  // One band of a fused pair: depthwise rows [y0, y1) (as `a` describes the
  // depthwise layer) into `band`, then the pointwise layer `pw` on the band's
  // pixels [p0, p1) (counted from row y0's first) into `out` (where row y0's
  // first pixel goes). With `times`, adds the two parts' durations to
  // times[0] and times[1].
  void run_fused_band(const Layer& pw, DwConvArgs a, float* band, int y0, int y1, int p0, int p1, float* out,
                      int64_t* times) const;
  int gemm_panels(const Layer& layer) const;  // GEMM panels of a pointwise layer's packed weights
  // Output rows [y0, y1) of one image of stage k, on the calling thread, with
  // `band` as the fused depthwise output buffer.
  void run_stage_rows(int k, const float* in, InputLayout layout, float* out, int y0, int y1, float* band,
                      const Workspace& ws, int64_t* layer_ns) const;
  // The pipeline's schedule for the last stage's rows [y0, y1): run(k, r0, r1,
  // done) for each band of stage k's rows, in order; done[j] (an array) = the
  // end of the rows stage j has finished so far.
  template <class F>
  void for_each_pipeline_step(int y0, int y1, F&& run) const;
  int stage_out_rows(int k) const;
  int first_input_row(int k, int out_row) const;  // the input rows stage k reads for out_row
  int last_input_row(int k, int out_row) const;
  int ready_rows(int k, int avail) const;  // output rows stage k can make from `avail` input rows
  // The last stage's rows [y0, y1) of one image as a pipeline: each stage runs
  // the rows its input allows as soon as the previous stage has made them, so
  // they are read back from L2 rather than from L3, using the rings and band
  // buffer of `lane`. With check_input, scans input rows [H * slab / slabs,
  // H * (slab + 1) / slabs) for NaN/Inf right after they are read.
  enum class PipelineStatus : int { Ok = 0, NonFinite = 1, RingOverrun = 2 };
  PipelineStatus run_pipeline(const float* in, InputLayout layout, float* out, Workspace& ws, int lane, int y0,
                              int y1, int slab, int slabs, int64_t* layer_ns, const float* check_input) const;
  // fn(task, lane, lane_layer_ns) for tasks [0, n) on the pool's threads, each
  // lane's layer times scaled so that together they add up to the wall time.
  template <class F>
  void run_lanes(ThreadPool& pool, int n, int64_t* layer_ns, F&& fn) const;

  std::vector<Layer> layers_;
  const KernelTable* kernels_;
  PointwiseBackend backend_;
  int64_t max_activation_ = 0;
  int64_t max_zero_row_ = 0;
  int64_t max_band_floats_ = 0;
  // Layers before this one run image by image in a batch; the rest on the whole batch.
  int batched_from_ = 0;
  // The row pipeline's stages (none, or at least two).
  std::vector<Stage> stages_;

  std::mutex pool_mutex_;  // guards replacing pool_ (set_threads)
  std::shared_ptr<ThreadPool> pool_;

  std::mutex workspace_mutex_;
  std::vector<std::unique_ptr<Workspace>> free_workspaces_;
};

}  // namespace mobilenet
