#include "execute.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iterator>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "blas.h"

namespace mobilenet {

namespace {

// Rows of a GEMM's A block that stay in L2 while the B panels stream past them.
constexpr int64_t kGemmBlockBytes = 256 * 1024;

// Layers estimated to take less than this on one thread run on the calling
// thread alone: waking and joining the pool (about 1 us), and reading the other
// core's half of the previous layer, cost more than they save.
constexpr double kMinParallelNs = 2000;
// Rough one-thread speeds for that estimate (AVX-512 on this Zen 5; the ratios
// matter more than the values): mult-adds per ns, and bytes per ns of weights
// streamed by a GEMM with too few rows to reuse them (the classifier).
constexpr double kMacsPerNs[] = {100.0, 60.0, 120.0, 20.0, 120.0};  // by LayerKind
constexpr double kWeightBytesPerNs = 50.0;

double estimated_ns(const LayerSpec& s, int64_t macs) {
  const double compute = macs / kMacsPerNs[static_cast<int>(s.kind)];
  if (s.kind != LayerKind::Conv1x1 && s.kind != LayerKind::FullyConnected) return compute;
  return std::max(compute, int64_t{s.in_c} * s.out_c * 4 / kWeightBytesPerNs);
}

// Where the two activation buffers start within a 4 KB page. A layer reads one
// and writes the other; when they sat at the same address modulo 2 KB (as
// malloc may place them), MobileNet's depthwise layers, whose rows are
// multiples of 4 KB (W x C = 7168 floats at alpha 1), ran up to 1.7x slower:
// 14x14x512 17 -> 29 us (bench/RESULTS.md, log entry 32).
constexpr size_t kActivationPageOffset[2] = {64, 1024};

// pool == nullptr: everything on the calling thread (an image-parallel task).
template <class F>
void run_tasks(ThreadPool* pool, double ns, int n, F&& fn) {
  if (pool && pool->threads() > 1 && ns >= kMinParallelNs) return pool->parallel_for(n, fn);
  for (int i = 0; i < n; ++i) {
    if constexpr (std::is_invocable_v<F&, int, int>)
      fn(i, 0);
    else
      fn(i);
  }
}

int64_t layer_macs(const Layer& layer) {
  const LayerSpec& s = layer.spec;
  const int64_t pixels = int64_t{layer.out_h} * layer.out_w;
  switch (s.kind) {
    case LayerKind::Conv3x3: return pixels * s.out_c * 9 * s.in_c;
    case LayerKind::DwConv3x3: return pixels * s.out_c * 9;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected: return pixels * s.in_c * s.out_c;
    case LayerKind::GlobalAvgPool: return int64_t{s.in_h} * s.in_w * s.in_c;
  }
  return 0;
}

// An int8 layer estimated below kInt8MinParallelNs runs on the calling thread
// alone; the others in tasks of at least kInt8MinTaskNs each, one to four a
// thread (four for balance on a shared machine), a multiple of the threads so
// that each thread's share of the rows lines up with its share of the layer
// before (at most `most`). At 0.25/128 on 2 threads, the layers of 2-3.5 us
// on one thread (8x8 and 4x4 pixels) ran 1.0-1.4x slower split in two (the
// pool's wake and join, the halo rows from the other core), those of 4-5 us
// (16x16) 0.82-0.85x; four bands a thread (and a call each) had made the
// 16x16 layers 1.0-1.8x slower (bench/RESULTS.md, log entry 71).
constexpr double kInt8MinParallelNs = 4000;
constexpr double kInt8MinTaskNs = 2500;

int int8_tasks(double ns, int threads, int64_t most) {
  if (threads <= 1 || ns < kInt8MinParallelNs) return 1;
  // A multiple of the threads: each thread's own rows line up with the previous layer's.
  const int tasks = std::clamp(static_cast<int>(ns / kInt8MinTaskNs) / threads, 1, 4) * threads;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(tasks, most)));
}

bool has_int8_col_offset(const PackedLayer& packed, int n) {
  for (int j = 0; j < n; ++j)
    if (packed.int8_param(3)[j] != 0) return true;
  return false;
}

}  // namespace

// ------------------------------------------------------------------ workspaces

WorkspaceCache::WorkspaceCache(const std::vector<Layer>& layers, const Plan& plan)
    : sizes_(plan.buffers),
      input_floats_(int64_t{layers.front().spec.in_h} * layers.front().spec.in_w * layers.front().spec.in_c),
      stages_input_(layers.front().spec.kind != LayerKind::Conv3x3) {}

std::unique_ptr<Workspace> WorkspaceCache::acquire(int batch, int threads) {
  {
    std::lock_guard<ForkSafeMutex> lock(mutex_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if ((*it)->batch >= batch && (*it)->threads >= threads) {
        auto ws = std::move(*it);
        free_.erase(it);
        return ws;
      }
    }
  }
  auto ws = std::make_unique<Workspace>();
  ws->batch = batch;
  ws->threads = threads;
  ws->bands = AlignedBuffer(threads * sizes_.band + kBufferSlack);
  for (int b = 0; b < 2; ++b)
    ws->activations[b] = AlignedBuffer(batch * sizes_.activation + kBufferSlack, kActivationPageOffset[b]);
  ws->zero_row = AlignedBuffer(sizes_.zero_row + kBufferSlack);
  if (stages_input_) ws->staged_input = AlignedBuffer(batch * input_floats_ + kBufferSlack);
  return ws;
}

void WorkspaceCache::release(std::unique_ptr<Workspace> ws) {
  std::lock_guard<ForkSafeMutex> lock(mutex_);
  // Keep the largest ones: a later call of that batch size (or less) allocates nothing.
  free_.push_back(std::move(ws));
  std::sort(free_.begin(), free_.end(), [](const auto& a, const auto& b) { return a->batch < b->batch; });
  if (free_.size() > 8) free_.erase(free_.begin());
}

void WorkspaceCache::trim(int max_batch) {
  std::vector<std::unique_ptr<Workspace>> dropped;
  {
    std::lock_guard<ForkSafeMutex> lock(mutex_);
    auto keep_end =
        std::stable_partition(free_.begin(), free_.end(), [&](const auto& ws) { return ws->batch <= max_batch; });
    std::move(keep_end, free_.end(), std::back_inserter(dropped));
    free_.erase(keep_end, free_.end());
  }
  if (dropped.empty()) return;
  dropped.clear();  // freed outside the lock
#ifdef __GLIBC__
  // Buffers below glibc's mmap threshold (which rises to 32 MB as large
  // buffers are freed) go back to its heap, not to the system, without this.
  malloc_trim(0);
#endif
}

// ------------------------------------------------------------------- the chain

int64_t Executor::input_size() const {
  const LayerSpec& s = layers_.front().spec;
  return int64_t{s.in_h} * s.in_w * s.in_c;
}

void Executor::stage_input(const float* input, int batch, InputLayout layout, float* staged) const {
  const LayerSpec& s = layers_.front().spec;
  const int64_t hw = int64_t{s.in_h} * s.in_w, size = input_size();
  if (plan_.layers.front().precision == Precision::Int8) {  // bytes (uint8 storage), NHWC: forward_int8
    std::copy_n(reinterpret_cast<const uint8_t*>(input), batch * size, reinterpret_cast<uint8_t*>(staged));
    return;
  }
  if (layout == InputLayout::NHWC) {
    std::copy_n(input, batch * size, staged);
    return;
  }
  for (int n = 0; n < batch; ++n)
    for (int64_t p = 0; p < hw; ++p)
      for (int c = 0; c < s.in_c; ++c) staged[n * size + p * s.in_c + c] = input[n * size + c * hw + p];
}

bool Executor::run(const float* input, int batch, float* output, const RunContext& ctx,
                   WorkspaceCache& workspaces) const {
  const int split = batch > 1 ? plan_.batched_from : 0;
  if (split > 0) {
    if (!run_images(split, input, batch, output, ctx, workspaces)) return false;
    if (split < num_layers()) {
      RunContext batched = ctx;
      batched.check_input = nullptr;
      run_chain(split, num_layers(), ctx.workspace->activations[0].data(), output, batch, batched);
    }
    return true;
  }
  const float* in = input;
  // Only the stem reads the caller's array in place (through strides); any
  // other first layer gets an NHWC copy that ends with readable slack.
  if (layers_.front().spec.kind != LayerKind::Conv3x3) {
    stage_input(input, batch, ctx.layout, ctx.workspace->staged_input.data());
    in = ctx.workspace->staged_input.data();
  }
  return run_chain(0, num_layers(), in, output, batch, ctx);
}

bool Executor::run_chain(int first, int end, const float* in, float* out, int batch, const RunContext& ctx) const {
  Workspace& ws = *ctx.workspace;
  // Layers alternate between the two activation buffers, starting with the one `in` is not in.
  int next_buffer = in == ws.activations[0].data() ? 1 : 0;
  const int pipeline_end = plan_.pipelined_layers();
  if (first == 0 && pipeline_end > 0 && end >= pipeline_end) {
    const int lanes = std::min(ctx.threads(), kMaxPipelineLanes);
    float* dst = pipeline_end == end ? out : ws.activations[next_buffer].data();
    next_buffer ^= 1;
    const int64_t in_image = input_size(), out_image = plan_.layers[pipeline_end - 1].out_image;
    const int rows = layers_[pipeline_end - 1].out_h;
    // Rings for every lane, made here, before any thread uses them.
    const size_t per_lane = plan_.stages.size() - 1;
    while (ws.stage_outputs.size() < lanes * per_lane) {
      const PipelineStage& st = plan_.stages[ws.stage_outputs.size() % per_lane];
      const int last = st.first + st.count - 1;
      ws.stage_outputs.emplace_back(int64_t{st.ring_rows} * layers_[last].out_w * plan_.layers[last].out_stride +
                                    kBufferSlack);
    }
    std::atomic<bool> non_finite{false}, overrun{false};
    auto record = [&](PipelineStatus status) {
      if (status == PipelineStatus::NonFinite) non_finite = true;
      if (status == PipelineStatus::RingOverrun) overrun = true;
    };
    for (int n = 0; n < batch && !non_finite && !overrun; ++n) {
      RunContext image = ctx;
      image.check_input = ctx.check_input ? ctx.check_input + n * in_image : nullptr;
      const float* x = in + n * in_image;
      float* y = dst + n * out_image;
      if (lanes == 1) {
        record(run_pipeline(x, y, 0, 0, rows, 0, 1, image));
      } else {
        // Each slab owns the rings and band of its own index: the thread that
        // runs it may be any of the pool's, and there are rings for `lanes` only.
        run_lanes(*ctx.pool, lanes, ctx.layer_ns, [&](int slab, int /*thread*/, int64_t* ns) {
          RunContext lane = image;
          lane.layer_ns = ns;
          record(run_pipeline(x, y, slab, rows * slab / lanes, rows * (slab + 1) / lanes, slab, lanes, lane));
        });
      }
    }
    if (overrun) throw std::logic_error("internal error: a row pipeline ring buffer is too small");
    if (non_finite) return false;
    in = dst;
    first = pipeline_end;
  }
  for (int i = first; i < end; ++i) {
    const bool fused = plan_.fused_at(i, ctx.threads());
    const int last = fused ? i + 1 : i;  // a fused pair writes the pointwise output
    float* dst = last + 1 == end ? out : ws.activations[next_buffer].data();
    next_buffer ^= 1;
    if (fused) {
      run_fused(i, in, dst, batch, ctx);
    } else {
      LayerTimer timer(ctx.layer_ns);
      run_layer(i, in, dst, batch, ctx);
      timer.lap(i);
    }
    in = dst;
    i = last;
    if (i == 0 && ctx.check_input && !kernels_.all_finite(ctx.check_input, batch * input_size())) return false;
  }
  return true;
}

bool Executor::run_images(int split, const float* input, int batch, float* output, const RunContext& ctx,
                          WorkspaceCache& workspaces) const {
  ThreadPool& pool = *ctx.pool;
  const int threads = pool.threads();
  // Whole images side by side, one per thread (no synchronization inside an
  // image); the images left over after the last full round run one after
  // another with each layer split across the threads.
  const int side_by_side = threads > 1 ? batch / threads * threads : 0;
  std::vector<std::unique_ptr<Workspace>> image_ws;
  for (int t = 0; t < threads; ++t) image_ws.push_back(workspaces.acquire(1, t == 0 ? threads : 1));
  std::atomic<bool> finite{true};
  const int64_t split_size = split < num_layers() ? plan_.layers[split - 1].out_image : layers_.back().out_size();
  float* split_out = split < num_layers() ? ctx.workspace->activations[0].data() : output;
  auto run_image = [&](int n, int lane, ThreadPool* image_pool, int64_t* ns) {
    Workspace& iws = *image_ws[lane];
    const float* x = input + n * input_size();
    const float* in = x;
    if (layers_.front().spec.kind != LayerKind::Conv3x3) {
      stage_input(x, 1, ctx.layout, iws.staged_input.data());
      in = iws.staged_input.data();
    }
    const RunContext image{ctx.layout, &iws, image_pool, ns, ctx.check_input ? x : nullptr};
    if (!run_chain(0, split, in, split_out + n * split_size, 1, image)) finite = false;
  };
  if (side_by_side > 0)
    run_lanes(pool, side_by_side, ctx.layer_ns, [&](int n, int lane, int64_t* ns) { run_image(n, lane, nullptr, ns); });
  for (int n = side_by_side; n < batch; ++n) run_image(n, 0, &pool, ctx.layer_ns);
  for (auto& w : image_ws) workspaces.release(std::move(w));
  return finite;
}

template <class F>
void Executor::run_lanes(ThreadPool& pool, int n, int64_t* layer_ns, F&& fn) const {
  const int threads = pool.threads();
  // Per-lane layer times: lanes run side by side, so they are scaled to the wall time.
  std::vector<int64_t> lane_ns(layer_ns ? size_t(threads) * num_layers() : 0, 0);
  const LayerTimer wall(layer_ns);
  pool.parallel_for(n, [&](int task, int lane) {
    fn(task, lane, layer_ns ? lane_ns.data() + size_t(lane) * num_layers() : nullptr);
  });
  if (!layer_ns) return;
  const int64_t wall_ns = wall.elapsed_ns();
  int64_t busy = 0;
  for (int64_t ns : lane_ns) busy += ns;
  const double scale = static_cast<double>(wall_ns) / std::max<int64_t>(1, busy);
  for (int i = 0; i < num_layers(); ++i) {
    int64_t sum = 0;
    for (int t = 0; t < threads; ++t) sum += lane_ns[size_t(t) * num_layers() + i];
    layer_ns[i] += static_cast<int64_t>(sum * scale);
  }
}

// ------------------------------------------------------------------ one layer

void Executor::run_layer(int i, const float* in, float* out, int batch, const RunContext& ctx) const {
  const Layer& layer = layers_[i];
  const LayerPlan& plan = plan_.layers[i];
  const LayerSpec& s = layer.spec;
  const int64_t in_image = plan.in_image;
  const int64_t out_image = plan.out_image;
  ThreadPool* pool = ctx.pool;
  // Spatial layers split each image into bands of output rows, a few per thread:
  // `kernel(args, y0, y1)` with the args pointed at one image.
  const double ns = estimated_ns(s, batch * layer_macs(layer));
  const int threads = ctx.threads();
  const int bands = threads == 1 ? 1 : std::min(layer.out_h, 4 * threads);
  const int band_rows = (layer.out_h + bands - 1) / bands;
  auto run_bands = [&](auto args, auto kernel) {
    run_tasks(pool, ns, batch * bands, [&](int task) {
      auto t = args;
      const int n = task / bands, band = task % bands;
      t.input = in + n * in_image;
      t.output = out + n * out_image;
      kernel(t, band * band_rows, std::min(layer.out_h, (band + 1) * band_rows));
    });
  };
  switch (plan.kernel) {
    case LayerKernel::Conv3x3: run_bands(conv3x3_args(i, ctx.layout), kernels_.conv3x3); break;
    case LayerKernel::Conv3x3Bf16: run_bands(conv3x3_args(i, ctx.layout), kernels_.conv3x3_bf16); break;
    case LayerKernel::DwConv3x3:
    case LayerKernel::DwConv3x3Fp16: run_bands(dwconv_args(i, *ctx.workspace), depthwise_kernel(i, false)); break;
    case LayerKernel::Conv3x3Fp16: run_bands(conv3x3_args(i, ctx.layout), kernels_.fp16_conv3x3); break;
    case LayerKernel::GlobalAvgPool:
      run_tasks(pool, ns, batch, [&](int n) {
        kernels_.global_avgpool(in + n * in_image, s.in_h * s.in_w, s.in_c, out + n * out_image);
      });
      break;
    case LayerKernel::PackedGemmBf16:
      if (i > 0 && plan_.layers[i - 1].bf16_tiles) {
        run_pointwise_tiles(i, in, out, batch, pool);
        break;
      }
      [[fallthrough]];
    case LayerKernel::PackedGemm:
    case LayerKernel::BlasGemm:
    case LayerKernel::PackedGemmFp16: run_pointwise(i, in, out, int64_t{batch} * s.in_h * s.in_w, pool); break;
    case LayerKernel::Int8Conv3x3:
    case LayerKernel::Int8DwConv3x3:
    case LayerKernel::Int8Gemm:
    case LayerKernel::Int8AvgPool:
      run_int8_layer(i, reinterpret_cast<const uint8_t*>(in), reinterpret_cast<uint8_t*>(out), batch, ctx);
      break;
  }
}

void Executor::run_int8_layer(int i, const uint8_t* in, uint8_t* out, int batch, const RunContext& ctx) const {
  const Layer& layer = layers_[i];
  const LayerSpec& s = layer.spec;
  const PackedLayer& packed = packed_[i];
  const LayerKernel kernel = plan_.layers[i].kernel;
  const int64_t in_image = int64_t{s.in_h} * s.in_w * s.in_c, out_image = layer.out_size();
  const double ns = int8_estimated_ns(layer, batch);
  const int threads = ctx.threads();
  // n tasks on the pool, or on the calling thread alone.
  auto run_int8_tasks = [&](bool parallel, int n, auto&& fn) {
    if (parallel && n > 1 && ctx.pool != nullptr) return ctx.pool->parallel_for(n, fn);
    for (int t = 0; t < n; ++t) fn(t);
  };
  if (kernel == LayerKernel::Int8AvgPool) {
    run_int8_tasks(int8_tasks(ns, threads, batch) > 1, batch, [&](int n) {
      kernels_.int8_avgpool({in + n * in_image, s.in_h * s.in_w, s.in_c, out + n * out_image, s.int8.signed_values,
                             s.int8.act_min, s.int8.act_max, s.int8.mean, s.int8.in_zero_point, s.int8.out_zero_point,
                             packed.int8_param(1)[0], packed.int8_param(2)[0]});
    });
    return;
  }
  if (kernel == LayerKernel::Int8Gemm) {
    const int64_t m = int64_t{batch} * s.in_h * s.in_w;
    const Int8GemmArgs g = int8_gemm_args(i, in, out, static_cast<int>(m));
    // Few rows (the 7x7 and 14x14 layers, the classifier): the threads split the
    // columns, in groups of 64 (the kernels' widest tile), so each reads its own
    // part of B and prepares only its own columns' constants. (x86 only: there
    // a range of panels is a GEMM of its own, B's panels read where they start.)
    const int groups = (s.out_c + 63) / 64;
    const bool x86 = kernels_.isa == Isa::Avx512 || kernels_.isa == Isa::Avx2;
    if (x86 && threads > 1 && m < int64_t{32} * threads && groups >= 2) {
      const int tasks = std::min(2 * threads, int8_tasks(ns, threads, groups));
      run_int8_tasks(true, tasks, [&](int t) {
        const int n0 = 64 * (groups * t / tasks), n1 = std::min(s.out_c, 64 * (groups * (t + 1) / tasks));
        const Int8GemmArgs part = int8_gemm_columns(kernels_, g, n0, n1);
        kernels_.int8_gemm(part, 0, static_cast<int>(m));
      });
      return;
    }
    // Rows in nearly equal tasks (int8_tasks), split at multiples of the kernel's row block.
    const int64_t block = kernels_.int8_gemm_row_block, blocks = (m + block - 1) / block;
    const int tasks = int8_tasks(ns, threads, blocks);
    run_int8_tasks(true, tasks, [&](int t) {
      const int64_t begin = std::min(m, block * (blocks * t / tasks));
      const int64_t end = std::min(m, block * (blocks * (t + 1) / tasks));
      kernels_.int8_gemm(g, static_cast<int>(begin), static_cast<int>(end));
    });
    return;
  }
  const Int8ConvArgs a = int8_conv_args(i);
  auto run = kernel == LayerKernel::Int8Conv3x3 ? kernels_.int8_conv3x3 : kernels_.int8_dwconv3x3;
  // Bands of output rows in each image: as many as int8_tasks gives the batch.
  const int tasks = int8_tasks(ns, threads, int64_t{batch} * layer.out_h);
  const int bands = std::min(layer.out_h, (tasks + batch - 1) / batch);
  run_int8_tasks(tasks > 1, batch * bands, [&](int task) {
    Int8ConvArgs t = a;
    const int n = task / bands, band = task % bands;
    t.input = in + n * in_image;
    t.output = out + n * out_image;
    run(t, layer.out_h * band / bands, layer.out_h * (band + 1) / bands);
  });
}

Int8Requant Executor::int8_requant(int i) const {
  const LayerSpec& s = layers_[i].spec;
  const PackedLayer& packed = packed_[i];
  return {packed.int8_param(0),  packed.int8_param(1), packed.int8_param(2),
          s.int8.out_zero_point, s.int8.act_min,       s.int8.act_max};
}

Int8GemmArgs Executor::int8_gemm_args(int i, const uint8_t* in, uint8_t* out, int m) const {
  const LayerSpec& s = layers_[i].spec;
  const PackedLayer& packed = packed_[i];
  return {in,
          s.in_c,
          reinterpret_cast<const int8_t*>(packed.int8_weights.data()),
          packed.int8_param(3),
          has_int8_col_offset(packed, s.out_c),
          out,
          s.out_c,
          m,
          s.out_c,
          s.in_c,
          int8_requant(i),
          packed.int8_prepared.size() > 0 ? packed.int8_prepared.data() : nullptr,
          packed.int8_bounded.size() > 0 ? packed.int8_bounded.data() : nullptr,
          packed.int8_split.size() > 0 ? packed.int8_split.data() : nullptr};
}

Int8ConvArgs Executor::int8_conv_args(int i) const {
  const Layer& layer = layers_[i];
  const LayerSpec& s = layer.spec;
  const PackedLayer& packed = packed_[i];
  const LayerKernel kernel = plan_.layers[i].kernel;
  Int8ConvArgs a{};
  a.in_h = s.in_h, a.in_w = s.in_w, a.in_c = s.in_c;
  a.out_h = layer.out_h, a.out_w = layer.out_w, a.out_c = s.out_c;
  a.stride = s.stride, a.pad = s.pad;
  a.weights = reinterpret_cast<const int16_t*>(packed.int8_weights.data());
  a.channels_padded = packed.channels_padded;
  a.in_zero_point = s.int8.in_zero_point;
  a.rq = int8_requant(i);
  if (kernel == LayerKernel::Int8DwConv3x3) {
    // pack_int8_layer's layout: int16 taps, the dot blocks, the tail block, the zero point row.
    const int8_t* dot = reinterpret_cast<const int8_t*>(packed.int8_weights.data()) +
                        round_up(int64_t{9} * packed.channels_padded * 2, 64);
    const int blocks = int8_dwconv_dot_blocks(s.in_c);
    const bool tail = int8_dwconv_tail_pixels(s.in_c, s.stride) > 0;
    if (tail) a.dot_tail = dot + blocks * kInt8DwDotBlockBytes;
    if (packed.int8_prepared.size() > 0) a.dw_prepared = packed.int8_prepared.data();
    if (blocks > 0) {
      a.dot = dot, a.dot_blocks = blocks;
      a.zero_point_row = reinterpret_cast<const uint8_t*>(dot + (blocks + (tail ? 1 : 0)) * kInt8DwDotBlockBytes);
    }
  }
  if (int8_stem_packs(kernel, s.in_c, s.out_c))  // pack_int8_layer's layout: int16 taps, then the stem block
    a.stem = reinterpret_cast<const int8_t*>(packed.int8_weights.data()) +
             round_up(int64_t{9} * s.in_c * packed.channels_padded * 2, 64);
  return a;
}

DwConvArgs Executor::dwconv_args(int i, const Workspace& ws) const {
  const LayerPlan& plan = plan_.layers[i];
  const PackedLayer& packed = packed_[i];
  DwConvArgs a = dwconv_shape_args(layers_[i], plan.in_stride, plan.out_stride);
  a.weights = packed.weights.data(), a.bias = packed.bias.data(), a.channels_padded = packed.channels_padded;
  a.zero_row = ws.zero_row.data();
  if (plan.kernel == LayerKernel::DwConv3x3Fp16) {
    a.weights_fp16 = reinterpret_cast<const uint16_t*>(packed.weights.data());
    a.bias_fp16 = reinterpret_cast<const uint16_t*>(packed.bias.data());
  }
  return a;
}

Conv3x3Args Executor::conv3x3_args(int i, InputLayout layout) const {
  const PackedLayer& packed = packed_[i];
  Conv3x3Args a = stem_shape_args(layers_[i], layout);
  a.weights = packed.weights.data(), a.bias = packed.bias.data(), a.out_c_padded = packed.channels_padded;
  a.pair_weights = packed.pair_weights.size() > 0 ? packed.pair_weights.data() : nullptr;
  if (plan_.layers[i].kernel == LayerKernel::Conv3x3Fp16) {
    a.weights_fp16 = reinterpret_cast<const uint16_t*>(packed.weights.data());
    a.bias_fp16 = reinterpret_cast<const uint16_t*>(packed.bias.data());
  }
  if (plan_.layers[i].kernel == LayerKernel::Conv3x3Bf16) {
    a.weights = nullptr, a.pair_weights = nullptr;
    a.weights_bf16 = reinterpret_cast<const uint32_t*>(packed.weights.data());
  }
  return a;
}

DwKernel Executor::depthwise_kernel(int i, bool fused) const {
  const LayerPlan& p = plan_.layers[i];
  if (fused ? p.fused_bf16_tiles : p.bf16_tiles) return kernels_.dwconv3x3_bf16_tiles;
  if (p.bf16_rows) return kernels_.dwconv3x3_bf16_rows;
  return p.kernel == LayerKernel::DwConv3x3Fp16 ? kernels_.fp16_dwconv3x3 : kernels_.dwconv3x3;
}

int Executor::gemm_panels(int i) const {
  const int width = plan_.layers[i].kernel == LayerKernel::PackedGemmFp16 ? kFp16PanelWidth : kernels_.gemm_panel_width;
  return (layers_[i].spec.out_c + width - 1) / width;
}

// ------------------------------------------------------------- pointwise GEMMs

void Executor::pointwise_block(int i, const float* in, float* out, int m0, int m1, int p0, int p1, int layer_rows,
                               bool bf16_tiles) const {
  const LayerSpec& s = layers_[i].spec;
  const LayerPlan& plan = plan_.layers[i];
  const PackedLayer& packed = packed_[i];
  const int k = s.in_c, n = s.out_c, lda = plan.in_stride, ldc = plan.out_stride;
  const Clamp clamp = clamp_for(s.activation);
  if (plan.kernel == LayerKernel::BlasGemm) {
    const int nr = kernels_.gemm_panel_width;
    const int n0 = p0 * nr, n1 = std::min(n, p1 * nr);
    float* c = out + int64_t{m0} * ldc + n0;
    blas_sgemm(m1 - m0, n1 - n0, k, in + int64_t{m0} * lda, lda, packed.weights.data() + n0, n, c, ldc);
    // Bias and activation while the block is still in cache.
    kernels_.bias_activation(c, m1 - m0, n1 - n0, ldc, packed.bias.data() + n0, clamp);
  } else if (plan.kernel == LayerKernel::PackedGemmBf16) {
    const uint32_t* b = reinterpret_cast<const uint32_t*>(packed.weights.data());
    GemmBf16Args g{in, lda, b, packed.bias.data(), out, ldc, m1, n, k, clamp, layer_rows};
    if (bf16_tiles) g.a_tiles = reinterpret_cast<const uint16_t*>(in);
    if (i > 0 && plan_.layers[i - 1].bf16_rows)
      g.a_pairs = reinterpret_cast<const uint32_t*>(in), g.a_pair_stride = lda;
    kernels_.gemm_bf16(g, m0, m1, p0, p1);
  } else if (plan.kernel == LayerKernel::PackedGemmFp16) {
    const GemmFp16Args g{in,
                         lda,
                         reinterpret_cast<const uint16_t*>(packed.weights.data()),
                         reinterpret_cast<const uint16_t*>(packed.bias.data()),
                         out,
                         ldc,
                         m1,
                         n,
                         k,
                         clamp};
    kernels_.fp16_gemm(g, m0, m1, p0, p1);
  } else {
    GemmArgs g{in, lda, packed.weights.data(), packed.bias.data(), out, ldc, m1, n, k, clamp, layer_rows};
    g.k_block_bytes = plan_.gemm_k_block_bytes;
    kernels_.gemm(g, m0, m1, p0, p1);
  }
}

void Executor::run_pointwise(int i, const float* in, float* out, int64_t m64, ThreadPool* pool) const {
  const LayerSpec& s = layers_[i].spec;
  const int m = static_cast<int>(m64), k = s.in_c, n = s.out_c;
  const int threads = pool ? pool->threads() : 1;
  const int mr = kernels_.gemm_tile_rows;
  const int panels = gemm_panels(i);
  // Row blocks whose A rows stay in L2 while every B panel streams past them.
  const int64_t max_rows = std::max<int64_t>(mr, kGemmBlockBytes / (int64_t{k} * 4));
  int row_blocks = static_cast<int>((m + max_rows - 1) / max_rows);
  // At least a row block per thread, when the weights are small enough for each
  // thread to read them all: thread t then reads the rows it wrote in the layer before.
  const int tiles = (m + mr - 1) / mr;
  if (row_blocks < threads && tiles >= 2 * threads && int64_t{k} * n * 4 <= kRowSplitMaxWeightBytes)
    row_blocks = threads;
  row_blocks = std::max(1, std::min(row_blocks, tiles));
  // Enough tasks to keep every thread busy to the end: split columns too when rows are few.
  const int target_tasks = threads > 1 ? 4 * threads : 1;
  const int col_blocks =
      row_blocks >= target_tasks ? 1 : std::min(panels, (target_tasks + row_blocks - 1) / row_blocks);
  int panels_per_block = (panels + col_blocks - 1) / col_blocks;
  // Whole pairs of panels where the float GEMM's widest tile spans two (AVX-512):
  // a lone panel runs a tile of half its width (1.0/224's conv_pw_1 on 2 threads,
  // 7 row blocks of 2 panels, went in blocks of one). Kept while every thread
  // still gets two tasks.
  const int group = plan_.layers[i].kernel == LayerKernel::PackedGemm ? kernels_.gemm_tile_panels : 1;
  const int grouped = (panels_per_block + group - 1) / group * group;
  if (row_blocks * ((panels + grouped - 1) / grouped) >= 2 * threads) panels_per_block = grouped;
  const double ns = estimated_ns(s, m64 * k * n);
  run_tasks(pool, ns, row_blocks * col_blocks, [&](int task) {
    const int rb = task / col_blocks, cb = task % col_blocks;
    // Equal row blocks (the kernel deals each block's rows into tiles of nearly equal height).
    const int m0 = static_cast<int>(m64 * rb / row_blocks), m1 = static_cast<int>(m64 * (rb + 1) / row_blocks);
    const int p0 = cb * panels_per_block, p1 = std::min(panels, p0 + panels_per_block);
    if (p0 < p1) pointwise_block(i, in, out, m0, m1, p0, p1, m);
  });
}

// A GEMM whose A is the depthwise layer's bf16 tiles (LayerPlan::bf16_tiles):
// each image's tiles start at their own in_image, so rows are split per image,
// in blocks of whole 32-row tile pairs (a block that began inside a pair
// would compute that pair again), with columns split too when the blocks are few.
void Executor::run_pointwise_tiles(int i, const float* in, float* out, int batch, ThreadPool* pool) const {
  const LayerSpec& s = layers_[i].spec;
  const LayerPlan& plan = plan_.layers[i];
  const int m = s.in_h * s.in_w, threads = pool ? pool->threads() : 1;
  constexpr int kPair = 2 * kBf16TileRows;
  const int pairs = (m + kPair - 1) / kPair, panels = gemm_panels(i);
  const int64_t out_image = plan.out_image;
  const int target_tasks = threads > 1 ? 4 * threads : 1;
  // At least one block per thread where the weights are small enough for each thread to read them all.
  int row_blocks = 1;
  if (threads > 1 && int64_t{s.in_c} * s.out_c * 4 <= kRowSplitMaxWeightBytes) row_blocks = std::min(pairs, threads);
  const int col_blocks = batch * row_blocks >= target_tasks
                             ? 1
                             : std::min(panels, (target_tasks + batch * row_blocks - 1) / (batch * row_blocks));
  const int panels_per_block = (panels + col_blocks - 1) / col_blocks;
  const double ns = estimated_ns(s, int64_t{batch} * m * s.in_c * s.out_c);
  run_tasks(pool, ns, batch * row_blocks * col_blocks, [&](int task) {
    const int n = task / (row_blocks * col_blocks), rb = task / col_blocks % row_blocks, cb = task % col_blocks;
    const int m0 = std::min(m, pairs * rb / row_blocks * kPair),
              m1 = std::min(m, pairs * (rb + 1) / row_blocks * kPair);
    const int p0 = cb * panels_per_block, p1 = std::min(panels, p0 + panels_per_block);
    if (p0 < p1 && m0 < m1) pointwise_block(i, in + n * plan.in_image, out + n * out_image, m0, m1, p0, p1, m, true);
  });
}

// ------------------------------------------------------------ fused pairs

void Executor::run_fused(int i, const float* in, float* out, int batch, const RunContext& ctx) const {
  if (plan_.layers[i].precision == Precision::Int8)
    return run_int8_fused(i, reinterpret_cast<const uint8_t*>(in), reinterpret_cast<uint8_t*>(out), batch, ctx);
  const Layer& dw = layers_[i];
  const Layer& pw = layers_[i + 1];
  const LayerPlan& dw_plan = plan_.layers[i];
  const int64_t in_image = dw_plan.in_image;
  const int64_t out_image = plan_.layers[i + 1].out_image;
  const int pw_stride = plan_.layers[i + 1].out_stride;
  // Bands of at most fused_band_rows rows, as many for each thread, of nearly
  // equal height. With one band per thread, where the rows do not split evenly
  // (7 rows on 2 threads), the bands split the pixels instead, and the one
  // depthwise row two bands share is computed by both.
  const int threads = ctx.threads();
  const int width = dw.out_w;
  int bands = (dw.out_h + dw_plan.fused_band_rows - 1) / dw_plan.fused_band_rows;
  bands = std::min(dw.out_h, (bands + threads - 1) / threads * threads);
  const int64_t units = bands > threads || dw.out_h % threads == 0 ? dw.out_h : int64_t{dw.out_h} * width;
  const int unit = units == dw.out_h ? width : 1;  // pixels per unit
  const DwConvArgs args = dwconv_args(i, *ctx.workspace);
  float* band_buffers = ctx.workspace->bands.data();
  // When profiling, each part's thread time splits the pair's wall time between the two layers.
  std::atomic<int64_t> dw_ns{0}, pw_ns{0};
  const LayerTimer wall(ctx.layer_ns);
  const double ns = estimated_ns(dw.spec, batch * layer_macs(dw)) + estimated_ns(pw.spec, batch * layer_macs(pw));
  run_tasks(ctx.pool, ns, batch * bands, [&](int task, int thread) {
    const int n = task / bands, band = task % bands;
    const int q0 = static_cast<int>(units * band / bands) * unit,
              q1 = static_cast<int>(units * (band + 1) / bands) * unit;
    const int y0 = q0 / width, y1 = (q1 + width - 1) / width;
    DwConvArgs a = args;
    a.input = in + n * in_image;
    int64_t times[2] = {0, 0};
    run_fused_band(i + 1, a, band_buffers + thread * plan_.buffers.band, y0, y1, q0 - y0 * width, q1 - y0 * width,
                   out + n * out_image + int64_t{y0} * width * pw_stride, wall.timing() ? times : nullptr);
    dw_ns += times[0];
    pw_ns += times[1];
  });
  if (wall.timing()) {
    const int64_t wall_ns = wall.elapsed_ns();
    const double dw_share = static_cast<double>(dw_ns) / std::max<int64_t>(1, dw_ns + pw_ns);
    ctx.layer_ns[i] += static_cast<int64_t>(wall_ns * dw_share);
    ctx.layer_ns[i + 1] += wall_ns - static_cast<int64_t>(wall_ns * dw_share);
  }
}

void Executor::run_int8_fused(int i, const uint8_t* in, uint8_t* out, int batch, const RunContext& ctx) const {
  const Layer& dw = layers_[i];
  const Layer& pw = layers_[i + 1];
  const int threads = ctx.threads();
  // Bands of whole rows, a multiple of the threads (int8_tasks: more than one a
  // thread where the pair is long enough to pay for the balance), so that each
  // thread's rows line up with its rows of the layer before; but no more than
  // the plan's bound (each band's GEMM at least a row block: on AMX tiles a call
  // costs ~0.7 us before its first product, and computes its rows in tiles of 16).
  const double ns = int8_estimated_ns(dw, batch) + int8_estimated_ns(pw, batch);
  const int most = static_cast<int>(plan_.layers[i].fused_max_threads);
  const int bands = std::min(most, std::max(threads, int8_tasks(ns, threads, most) / threads * threads));
  const int64_t in_image = int64_t{dw.spec.in_h} * dw.spec.in_w * dw.spec.in_c, out_image = pw.out_size();
  const int64_t row = int64_t{dw.out_w} * dw.spec.out_c;  // bytes of a depthwise output row
  const int pw_row = dw.out_w * pw.spec.out_c;
  const Int8ConvArgs args = int8_conv_args(i);
  // Each thread's depthwise rows at their places in its buffer of the whole layer's output.
  uint8_t* buffers = reinterpret_cast<uint8_t*>(ctx.workspace->bands.data());
  const int64_t buffer_bytes = plan_.buffers.band * int64_t{sizeof(float)};
  std::atomic<int64_t> dw_ns{0}, pw_ns{0};
  const LayerTimer wall(ctx.layer_ns);
  auto task = [&](int t, int thread) {
    const int n = t / bands, band = t % bands;
    const int y0 = dw.out_h * band / bands, y1 = dw.out_h * (band + 1) / bands;
    uint8_t* mid = buffers + thread * buffer_bytes;
    Int8ConvArgs a = args;
    a.input = in + n * in_image;
    a.output = mid;
    int64_t times[2] = {0, 0};
    LayerTimer timer(wall.timing() ? times : nullptr);
    kernels_.int8_dwconv3x3(a, y0, y1);
    timer.lap(0);
    const Int8GemmArgs g =
        int8_gemm_args(i + 1, mid + y0 * row, out + n * out_image + int64_t{y0} * pw_row, (y1 - y0) * dw.out_w);
    kernels_.int8_gemm(g, 0, g.m);
    timer.lap(1);
    dw_ns += times[0];
    pw_ns += times[1];
  };
  if (ctx.pool != nullptr && threads > 1)
    ctx.pool->parallel_for(batch * bands, task);
  else
    for (int t = 0; t < batch * bands; ++t) task(t, 0);
  if (wall.timing()) {
    const int64_t wall_ns = wall.elapsed_ns();
    const double dw_share = static_cast<double>(dw_ns) / std::max<int64_t>(1, dw_ns + pw_ns);
    ctx.layer_ns[i] += static_cast<int64_t>(wall_ns * dw_share);
    ctx.layer_ns[i + 1] += wall_ns - static_cast<int64_t>(wall_ns * dw_share);
  }
}

void Executor::run_fused_band(int pw, DwConvArgs a, float* band, int y0, int y1, int p0, int p1, float* out,
                              int64_t* times) const {
  a.output = band;
  a.output_row_offset = y0;
  LayerTimer timer(times);
  // bf16 tiles: rows of 16 pixels from the band's first, as the GEMM reads them.
  depthwise_kernel(pw - 1, true)(a, y0, y1);
  timer.lap(0);
  pointwise_block(pw, band, out, p0, p1, 0, gemm_panels(pw), layers_[pw].out_h * layers_[pw].out_w,
                  plan_.layers[pw - 1].fused_bf16_tiles);
  timer.lap(1);
}

// ------------------------------------------------------------ the row pipeline

void Executor::run_stage_rows(int k, const float* in, float* out, int y0, int y1, float* band,
                              const RunContext& ctx) const {
  const PipelineStage& stage = plan_.stages[k];
  const int i = stage.first;
  const Layer& layer = layers_[i];
  const int in_ring = k > 0 ? plan_.stages[k - 1].ring_rows : 0, out_ring = stage.ring_rows;
  const int64_t out_row = int64_t{layer.out_w} * plan_.layers[stage.first + stage.count - 1].out_stride;
  auto out_slot = [&](int y) { return out_ring > 0 ? y % out_ring : y; };
  LayerTimer timer(ctx.layer_ns);
  // Segments of rows that wrap around neither ring (row-contiguous in memory).
  for (int a = y0; a < y1;) {
    int b = y1;
    if (out_ring > 0) b = std::min(b, (a / out_ring + 1) * out_ring);
    if (layer.spec.kind == LayerKind::Conv1x1 && in_ring > 0) b = std::min(b, (a / in_ring + 1) * in_ring);
    const int offset = a - out_slot(a);  // output row y goes to slot y - offset
    switch (plan_.layers[i].kernel) {
      case LayerKernel::Conv3x3:
      case LayerKernel::Conv3x3Bf16:
      case LayerKernel::Conv3x3Fp16: {
        Conv3x3Args args = conv3x3_args(i, ctx.layout);
        args.input = in, args.output = out, args.output_row_offset = offset;
        const LayerKernel kernel = plan_.layers[i].kernel;
        (kernel == LayerKernel::Conv3x3Fp16   ? kernels_.fp16_conv3x3
         : kernel == LayerKernel::Conv3x3Bf16 ? kernels_.conv3x3_bf16
                                              : kernels_.conv3x3)(args, a, b);
        timer.lap(i);
        break;
      }
      case LayerKernel::PackedGemm:
      case LayerKernel::BlasGemm:
      case LayerKernel::PackedGemmBf16:
      case LayerKernel::PackedGemmFp16: {
        const int w = layer.out_w;
        const float* rows = in + int64_t{in_ring > 0 ? a % in_ring : a} * w * plan_.layers[i].in_stride;
        pointwise_block(i, rows, out + out_slot(a) * out_row, 0, (b - a) * w, 0, gemm_panels(i),
                        layer.out_h * layer.out_w);
        timer.lap(i);
        break;
      }
      default: {
        DwConvArgs args = dwconv_args(i, *ctx.workspace);
        args.input = in, args.in_ring_rows = in_ring;
        if (stage.count == 1) {
          args.output = out, args.output_row_offset = offset;
          depthwise_kernel(i, false)(args, a, b);
          timer.lap(i);
          break;
        }
        // A fused pair (its two layers' times go to layer_ns[first] and [first + 1]).
        const int band_rows = plan_.layers[i].fused_band_rows;
        for (int b0 = a; b0 < b; b0 += band_rows) {
          const int b1 = std::min(b, b0 + band_rows);
          run_fused_band(i + 1, args, band, b0, b1, 0, (b1 - b0) * layer.out_w, out + out_slot(b0) * out_row,
                         ctx.layer_ns ? ctx.layer_ns + i : nullptr);
        }
      }
    }
    a = b;
  }
}

Executor::PipelineStatus Executor::run_pipeline(const float* in, float* out, int lane, int y0, int y1, int slab,
                                                int slabs, const RunContext& ctx) const {
  Workspace& ws = *ctx.workspace;
  const int count = static_cast<int>(plan_.stages.size());
  AlignedBuffer* rings = ws.stage_outputs.data() + size_t(lane) * (count - 1);
  float* band = ws.bands.data() + lane * plan_.buffers.band;
  // Scans input rows [r0, r1) for NaN/Inf; each slab scans its share of the rows.
  const float* check_input = ctx.check_input;
  const LayerSpec& head = layers_[plan_.stages[0].first].spec;
  const int check_end = head.in_h * (slab + 1) / slabs;
  int checked = head.in_h * slab / slabs;
  auto scan = [&](int r1) {
    r1 = std::min(r1, check_end);
    bool ok = true;
    if (ctx.layout == InputLayout::NHWC) {
      const int64_t row = int64_t{head.in_w} * head.in_c;
      ok = r1 <= checked || kernels_.all_finite(check_input + checked * row, (r1 - checked) * row);
    } else {
      const int64_t plane = int64_t{head.in_h} * head.in_w;
      for (int c = 0; c < head.in_c && ok && r1 > checked; ++c)
        ok = kernels_.all_finite(check_input + c * plane + int64_t{checked} * head.in_w,
                                 int64_t{r1 - checked} * head.in_w);
    }
    checked = std::max(checked, r1);
    return ok;
  };
  PipelineStatus status = PipelineStatus::Ok;
  schedule_.for_each_step(y0, y1, [&](int k, int r0, int r1, const int* done) {
    if (status != PipelineStatus::Ok) return;
    // A ring overrun would silently corrupt rows: the dry runs that sized the
    // rings must have covered this schedule. (No throw here: this may be a pool task.)
    if (k + 1 < count && r1 - schedule_.first_input_row(k + 1, done[k + 1]) > plan_.stages[k].ring_rows) {
      status = PipelineStatus::RingOverrun;
      return;
    }
    run_stage_rows(k, k == 0 ? in : rings[k - 1].data(), k + 1 == count ? out : rings[k].data(), r0, r1, band, ctx);
    // Right after the first stage has read them: the rows up to its last input row.
    if (k == 0 && check_input && !scan(schedule_.last_input_row(0, r1 - 1) + 1)) status = PipelineStatus::NonFinite;
  });
  // Rows no output needed (VALID padding) are scanned too.
  if (status == PipelineStatus::Ok && check_input && !scan(check_end)) status = PipelineStatus::NonFinite;
  return status;
}

void softmax_rows(float* scores, int rows, int64_t cols) {
  for (int n = 0; n < rows; ++n) {
    float* row = scores + int64_t{n} * cols;
    const float top = *std::max_element(row, row + cols);
    double sum = 0.0;
    for (int64_t j = 0; j < cols; ++j) sum += (row[j] = std::exp(row[j] - top));
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}

}  // namespace mobilenet
