// Execution: runs a plan's layers on packed weights, with one RunContext for
// everything a call brings (layout, workspace, pool, timing, input check).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "aligned_buffer.h"
#include "fork_safe_mutex.h"
#include "layer.h"
#include "pack.h"
#include "plan.h"
#include "thread_pool.h"

namespace mobilenet {

// The buffers of one forward call, sized by the plan, reused across calls.
struct Workspace {
  int batch = 0;
  int threads = 0;
  AlignedBuffer bands;  // threads x Plan::buffers.band: fused depthwise output
  AlignedBuffer activations[2];
  AlignedBuffer zero_row;
  AlignedBuffer staged_input;
  std::vector<AlignedBuffer> stage_outputs;  // one image each, made on first use of the pipeline
};

// The free workspaces of one network, shared by the calls running on it.
class WorkspaceCache {
 public:
  WorkspaceCache(const std::vector<Layer>& layers, const Plan& plan);
  std::unique_ptr<Workspace> acquire(int batch, int threads);
  void release(std::unique_ptr<Workspace> ws);
  // Frees the cached workspaces made for more than max_batch images, and
  // returns the freed memory to the system.
  void trim(int max_batch);

 private:
  BufferSizes sizes_;
  int64_t input_floats_;  // per image
  bool stages_input_;     // the first layer reads an NHWC copy of the input
  ForkSafeMutex mutex_;   // never left locked in a forked child
  std::vector<std::unique_ptr<Workspace>> free_;
};

struct RunContext {
  InputLayout layout;
  Workspace* workspace;
  // nullptr: everything on the calling thread (an image-parallel task).
  ThreadPool* pool;
  // Each layer's duration is added to layer_ns[layer], when not null.
  int64_t* layer_ns;
  // The caller's input, to scan for NaN/Inf right after the first layer has
  // read it (it is then in cache), or null.
  const float* check_input;

  int threads() const { return pool ? pool->threads() : 1; }
};

// Adds the time since it started (or since the last lap) to a layer's slot;
// reads no clock when not timing (slots == nullptr).
class LayerTimer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LayerTimer(int64_t* slots) : slots_(slots), start_(slots ? Clock::now() : Clock::time_point{}) {}
  bool timing() const { return slots_ != nullptr; }
  // Nanoseconds since the start or the last lap (0 when not timing).
  int64_t elapsed_ns() const {
    return slots_ ? std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count() : 0;
  }
  void lap(int slot) {
    if (!slots_) return;
    const auto now = Clock::now();
    slots_[slot] += std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
    start_ = now;
  }

 private:
  int64_t* slots_;
  Clock::time_point start_;
};

using DwKernel = void (*)(const DwConvArgs& args, int row_begin, int row_end);

class Executor {
 public:
  Executor(const std::vector<Layer>& layers, const std::vector<PackedLayer>& packed, const Plan& plan)
      : layers_(layers), packed_(packed), plan_(plan), kernels_(*plan.kernels), schedule_(layers, plan.stages) {}

  // The whole network on `batch` images into output; ctx.workspace holds
  // `batch` images, workspaces gives the image-parallel lanes theirs.
  // Returns false if ctx.check_input holds NaN or Inf.
  bool run(const float* input, int batch, float* output, const RunContext& ctx, WorkspaceCache& workspaces) const;

 private:
  enum class PipelineStatus : int { Ok = 0, NonFinite = 1, RingOverrun = 2 };

  int num_layers() const { return static_cast<int>(layers_.size()); }
  int64_t input_size() const;
  void stage_input(const float* input, int batch, InputLayout layout, float* staged) const;
  // Layers [first, end) on `batch` images; the last writes to `out`. Returns
  // false if ctx.check_input holds NaN or Inf (scanned after layer 0).
  bool run_chain(int first, int end, const float* in, float* out, int batch, const RunContext& ctx) const;
  // Layers [0, split) image by image, into ctx.workspace->activations[0] (or the output).
  bool run_images(int split, const float* input, int batch, float* output, const RunContext& ctx,
                  WorkspaceCache& workspaces) const;
  void run_layer(int i, const float* in, float* out, int batch, const RunContext& ctx) const;
  // An int8 layer (its buffers hold uint8 storage, see kernels.h).
  void run_int8_layer(int i, const uint8_t* in, uint8_t* out, int batch, const RunContext& ctx) const;
  // An int8 depthwise layer i and pointwise layer i + 1 split across threads by
  // output rows (LayerPlan::fused_when_parallel), with no barrier between the two.
  void run_int8_fused(int i, const uint8_t* in, uint8_t* out, int batch, const RunContext& ctx) const;
  Int8Requant int8_requant(int i) const;
  // Layer i's GEMM of m rows from `in` into `out`, both dense.
  Int8GemmArgs int8_gemm_args(int i, const uint8_t* in, uint8_t* out, int m) const;
  // Layer i's stem or depthwise arguments, but for the input and output.
  Int8ConvArgs int8_conv_args(int i) const;
  void run_pointwise(int i, const float* in, float* out, int64_t m, ThreadPool* pool) const;
  // The same where A is the depthwise layer's bf16 tiles (LayerPlan::bf16_tiles), image by image.
  void run_pointwise_tiles(int i, const float* in, float* out, int batch, ThreadPool* pool) const;
  // Rows [m0, m1) and GEMM panels [p0, p1) of pointwise layer i, bias and
  // activation fused; layer_rows: all the rows of this GEMM (GemmArgs).
  // bf16_tiles: `in` holds bf16 in the A-tile layout (LayerPlan::fused_bf16_tiles).
  void pointwise_block(int i, const float* in, float* out, int m0, int m1, int p0, int p1, int layer_rows,
                       bool bf16_tiles = false) const;
  // Depthwise layer i and pointwise layer i + 1 as one (their times go to
  // ctx.layer_ns[i] and [i + 1]).
  void run_fused(int i, const float* in, float* out, int batch, const RunContext& ctx) const;
  // One band of a fused pair: depthwise rows [y0, y1) (as `a` describes the
  // depthwise layer) into `band`, then pointwise layer `pw` on the band's
  // pixels [p0, p1) (counted from row y0's first) into `out` (where row y0's
  // first pixel goes). With `times`, adds the two parts' durations to
  // times[0] and times[1].
  void run_fused_band(int pw, DwConvArgs a, float* band, int y0, int y1, int p0, int p1, float* out,
                      int64_t* times) const;
  DwConvArgs dwconv_args(int i, const Workspace& ws) const;
  Conv3x3Args conv3x3_args(int i, InputLayout layout) const;
  int gemm_panels(int i) const;  // GEMM panels of a pointwise layer's packed weights
  // Depthwise layer i's kernel: float32, fp16, or float32 writing bf16 for the
  // GEMM after it (A tiles where its plan says so, fused or not; rows of pairs).
  DwKernel depthwise_kernel(int i, bool fused) const;
  // Output rows [y0, y1) of one image of stage k, on the calling thread, with
  // `band` as the fused depthwise output buffer.
  void run_stage_rows(int k, const float* in, float* out, int y0, int y1, float* band, const RunContext& ctx) const;
  // The last stage's rows [y0, y1) of one image as a pipeline: each stage runs
  // the rows its input allows as soon as the previous stage has made them, so
  // they are read back from L2 rather than from L3, using the rings and band
  // buffer of `lane`. With ctx.check_input, scans input rows [H * slab / slabs,
  // H * (slab + 1) / slabs) for NaN/Inf right after they are read.
  PipelineStatus run_pipeline(const float* in, float* out, int lane, int y0, int y1, int slab, int slabs,
                              const RunContext& ctx) const;
  // fn(task, lane, lane_layer_ns) for tasks [0, n) on the pool's threads, each
  // lane's layer times scaled so that together they add up to the wall time.
  template <class F>
  void run_lanes(ThreadPool& pool, int n, int64_t* layer_ns, F&& fn) const;

  const std::vector<Layer>& layers_;
  const std::vector<PackedLayer>& packed_;
  const Plan& plan_;
  const KernelTable& kernels_;
  const PipelineSchedule schedule_;
};

// Softmax over each of `rows` rows of `cols` scores, in place.
void softmax_rows(float* scores, int rows, int64_t cols);

}  // namespace mobilenet
