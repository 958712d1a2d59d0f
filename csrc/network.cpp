#include "network.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iterator>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "blas.h"
#include "float_env.h"

namespace mobilenet {

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::Conv3x3: return "conv3x3";
    case LayerKind::DwConv3x3: return "dwconv3x3";
    case LayerKind::Conv1x1: return "conv1x1";
    case LayerKind::GlobalAvgPool: return "avgpool";
    case LayerKind::FullyConnected: return "fc";
  }
  return "unknown";
}

namespace {

// Rows of a GEMM's A block that stay in L2 while the B panels stream past them.
constexpr int64_t kGemmBlockBytes = 256 * 1024;
constexpr int64_t kRowSplitMaxWeightBytes = 512 * 1024;
// A depthwise layer is fused with the next pointwise layer when its output is
// large next to the pointwise weights (the GEMM re-reads its weights per band).
constexpr int64_t kFuseMinActivationToWeightRatio = 8;
// Bytes of depthwise output per band: small enough to stay in L1 until the
// GEMM reads it (measured: 32 KB bands 0.98x the unfused time, 128-512 KB ~1.0x).
constexpr int64_t kFuseBandBytes = 32 * 1024;

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

// Trailing layers with at most this many input pixels per image run on the
// whole batch at once, so their large weights are read once per batch (and
// their GEMMs get more rows); the layers before them run image by image, so
// each image's activations stay in L2 (batched, the 1.0/224 depthwise layers
// read them from L3 and ran 1.7-2.7x slower per image).
constexpr int64_t kBatchedMaxPixels = 64;

// The leading layers run as a pipeline of row bands (each band consumed by the
// next layer while still in L1/L2) as long as the tensor between two of them
// is at least this large (bench/ab_builds.py: 256 KB gains 0-4% on 1 thread and
// 1-9% on 2, where the pipeline also skips a barrier per layer).
constexpr int64_t kPipelineMinBytes = 256 * 1024;
// Rows of the first stage per pipeline step: the later stages follow right behind.
constexpr int kPipelineHeadRows = 4;
// With T threads each runs the pipeline on its own horizontal slab of the
// image (recomputing the few rows where slabs meet), up to this many slabs.
constexpr int kMaxPipelineLanes = 8;
// The schedule keeps per-stage row counters on the stack.
constexpr int kMaxPipelineStages = 32;
// Where the two activation buffers start within a 4 KB page. A layer reads one
// and writes the other; when they sat at the same address modulo 2 KB (as
// malloc may place them), MobileNet's depthwise layers, whose rows are
// multiples of 4 KB (W x C = 7168 floats at alpha 1), ran up to 1.7x slower:
// 14x14x512 17 -> 29 us (bench/RESULTS.md, log entry 32).
constexpr size_t kActivationPageOffset[2] = {64, 1024};
// A tensor of at least kPaddedPixelMinChannels channels that a depthwise layer
// reads keeps its pixels kPixelPadding floats further apart than its channels.
// At 512 channels a pixel is 2 KB, so the 3x3 window's loads of one channel
// vector land in 2 of L1's 64 sets and evict each other; one more cache line
// per pixel spreads them over all sets (bench/RESULTS.md, log entry 34: the
// kernel alone 13-34% faster at 128-1024 channels, no gain below).
// Padding the depthwise outputs too slowed the GEMMs that read them by 1-2%.
constexpr int kPaddedPixelMinChannels = 128;
constexpr int kPixelPadding = 16;

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

int64_t layer_macs(const LayerSpec& s, int out_h, int out_w) {
  const int64_t pixels = int64_t{out_h} * out_w;
  switch (s.kind) {
    case LayerKind::Conv3x3: return pixels * s.out_c * 9 * s.in_c;
    case LayerKind::DwConv3x3: return pixels * s.out_c * 9;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected: return pixels * s.in_c * s.out_c;
    case LayerKind::GlobalAvgPool: return int64_t{s.in_h} * s.in_w * s.in_c;
  }
  return 0;
}

std::string where(size_t index, const LayerSpec& s) {
  return "layer " + std::to_string(index) + " (" + layer_kind_name(s.kind) + ")";
}

int64_t expected_weight_count(const LayerSpec& s) {
  switch (s.kind) {
    case LayerKind::Conv3x3: return int64_t{9} * s.in_c * s.out_c;
    case LayerKind::DwConv3x3: return int64_t{9} * s.in_c;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected: return int64_t{s.in_c} * s.out_c;
    case LayerKind::GlobalAvgPool: return 0;
  }
  return 0;
}

}  // namespace

Network::Network(std::vector<LayerSpec> specs, Isa isa, int threads, PointwiseBackend backend, bool fuse)
    : kernels_(&kernel_table(isa)), backend_(backend) {
  MBN_CHECK(!specs.empty(), "a network needs at least one layer");
  MBN_CHECK(backend != PointwiseBackend::Blas || blas_available(), "this build has no BLAS backend");
  MBN_CHECK(threads >= 1 && threads <= 1024, "threads must be between 1 and 1024");
  int h = specs.front().in_h, w = specs.front().in_w, c = specs.front().in_c;
  for (size_t i = 0; i < specs.size(); ++i) {
    LayerSpec& s = specs[i];
    const std::string at = where(i, s);
    MBN_CHECK(s.in_h == h && s.in_w == w && s.in_c == c,
              at + ": input shape does not match the previous layer's output");
    MBN_CHECK(h >= 1 && w >= 1 && c >= 1 && s.out_c >= 1, at + ": dimensions must be positive");
    MBN_CHECK(int64_t{h} * w * std::max(c, s.out_c) < (int64_t{1} << 31), at + ": activation too large");
    Layer layer;
    switch (s.kind) {
      case LayerKind::Conv3x3:
      case LayerKind::DwConv3x3: {
        MBN_CHECK(s.stride == 1 || s.stride == 2, at + ": stride must be 1 or 2");
        for (int p : {s.pad.top, s.pad.left, s.pad.bottom, s.pad.right})
          MBN_CHECK(p >= 0 && p <= 2, at + ": padding must be between 0 and 2");
        const int padded_h = h + s.pad.top + s.pad.bottom, padded_w = w + s.pad.left + s.pad.right;
        MBN_CHECK(padded_h >= 3 && padded_w >= 3, at + ": input smaller than the 3x3 kernel");
        layer.out_h = (padded_h - 3) / s.stride + 1;
        layer.out_w = (padded_w - 3) / s.stride + 1;
        if (s.kind == LayerKind::DwConv3x3) MBN_CHECK(s.out_c == c, at + ": depthwise output channels must equal input channels");
        break;
      }
      case LayerKind::Conv1x1:
      case LayerKind::FullyConnected:
        MBN_CHECK(s.stride == 1, at + ": stride must be 1");
        if (s.kind == LayerKind::FullyConnected) MBN_CHECK(h == 1 && w == 1, at + ": input must be 1x1 (pool first)");
        layer.out_h = h;
        layer.out_w = w;
        break;
      case LayerKind::GlobalAvgPool:
        MBN_CHECK(s.out_c == c, at + ": pooling keeps the channel count");
        layer.out_h = layer.out_w = 1;
        break;
    }
    MBN_CHECK(static_cast<int64_t>(s.weight.size()) == expected_weight_count(s),
              at + ": weight has " + std::to_string(s.weight.size()) + " values, expected " +
                  std::to_string(expected_weight_count(s)));
    MBN_CHECK(s.bias.empty() || static_cast<int>(s.bias.size()) == s.out_c,
              at + ": bias must be empty or have one value per output channel");
    for (float v : s.weight) MBN_CHECK(std::isfinite(v), at + ": weight contains NaN or Inf");
    for (float v : s.bias) MBN_CHECK(std::isfinite(v), at + ": bias contains NaN or Inf");
    h = layer.out_h;
    w = layer.out_w;
    c = s.out_c;
    layer.spec = std::move(s);
    pack(layer);
    layers_.push_back(std::move(layer));
  }
  if (fuse) plan_fusion();
  plan_pipeline();
  if (fuse) plan_parallel_fusion();
  plan_pixel_strides();
  batched_from_ = num_layers();
  while (batched_from_ > 0 &&
         int64_t{layers_[batched_from_ - 1].spec.in_h} * layers_[batched_from_ - 1].spec.in_w <= kBatchedMaxPixels)
    --batched_from_;
  // A fused pair runs as one: it stays on one side of the split.
  if (batched_from_ > 0 && batched_from_ < num_layers() &&
      (layers_[batched_from_ - 1].fused_with_next || layers_[batched_from_ - 1].fused_when_parallel))
    --batched_from_;
  pool_ = ThreadPool::create(threads);
}

void Network::plan_fusion() {
  for (size_t i = 0; i + 1 < layers_.size(); ++i) {
    Layer& dw = layers_[i];
    const Layer& pw = layers_[i + 1];
    if (dw.spec.kind != LayerKind::DwConv3x3 || pw.spec.kind != LayerKind::Conv1x1) continue;
    const int64_t activation_bytes = dw.out_size() * 4;
    const int64_t weight_bytes = int64_t{pw.spec.in_c} * pw.spec.out_c * 4;
    if (activation_bytes < kFuseMinActivationToWeightRatio * weight_bytes) continue;
    dw.fused_with_next = true;
    plan_fused_bands(dw);
    ++i;  // the pointwise layer is consumed by this fusion
  }
}

void Network::plan_parallel_fusion() {
  // After the pipeline, the pairs whose GEMM already splits by rows (its weights
  // are small enough for every thread to read them all).
  for (int i = pipelined_layers(); i + 1 < num_layers(); ++i) {
    Layer& dw = layers_[i];
    const Layer& pw = layers_[i + 1];
    if (dw.spec.kind != LayerKind::DwConv3x3 || pw.spec.kind != LayerKind::Conv1x1 || dw.fused_with_next) continue;
    if (int64_t{pw.spec.in_c} * pw.spec.out_c * 4 > kRowSplitMaxWeightBytes) continue;
    dw.fused_when_parallel = true;
    plan_fused_bands(dw);
    ++i;
  }
}

void Network::plan_fused_bands(Layer& dw) {
  const int64_t row_floats = int64_t{dw.out_w} * dw.spec.out_c;
  dw.fused_band_rows = static_cast<int>(std::clamp<int64_t>(kFuseBandBytes / (row_floats * 4), 1, dw.out_h));
  // Bands of pixels (see run_fused) may start and end inside a row: room for one more.
  max_band_floats_ = std::max(max_band_floats_, std::min(dw.fused_band_rows + 1, dw.out_h) * row_floats);
}

bool Network::fused_at(int i, int threads) const {
  const Layer& dw = layers_[i];
  if (dw.fused_with_next) return true;
  if (!dw.fused_when_parallel || threads == 1) return false;
  // Each thread's rows must fill two GEMM tiles, as for the row split in run_pointwise.
  return int64_t{dw.out_h} * dw.out_w >= int64_t{2} * threads * kernels_->gemm_tile_rows;
}

void Network::plan_pixel_strides() {
  for (int i = 0; i < num_layers(); ++i) {
    Layer& layer = layers_[i];
    layer.in_stride = i == 0 ? layer.spec.in_c : layers_[i - 1].out_stride;
    layer.out_stride = layer.spec.out_c;
    // Only the pointwise and depthwise kernels write strided pixels (the stem
    // writes dense ones), a fused depthwise layer writes its band dense, and
    // the network's output is the caller's dense array.
    const LayerKind kind = layer.spec.kind;
    if (i + 1 == num_layers() || layer.fused_with_next || (kind != LayerKind::Conv1x1 && kind != LayerKind::DwConv3x3))
      continue;
    if (layers_[i + 1].spec.kind == LayerKind::DwConv3x3 && layer.spec.out_c >= kPaddedPixelMinChannels)
      layer.out_stride += kPixelPadding;
  }
  for (const Layer& layer : layers_) {
    max_activation_ = std::max(max_activation_, layer.out_image());
    if (layer.spec.kind == LayerKind::DwConv3x3)
      max_zero_row_ = std::max<int64_t>(max_zero_row_, int64_t{layer.spec.in_w} * layer.in_stride);
  }
}

void Network::plan_pipeline() {
  stages_.clear();
  for (int i = 0; i < num_layers();) {
    const Layer& layer = layers_[i];
    if (layer.spec.kind != LayerKind::Conv3x3 && layer.spec.kind != LayerKind::DwConv3x3 &&
        layer.spec.kind != LayerKind::Conv1x1)
      break;
    if (!stages_.empty() && layers_[i - 1].out_size() * int64_t{sizeof(float)} < kPipelineMinBytes) break;
    if (static_cast<int>(stages_.size()) == kMaxPipelineStages) break;
    const int count = layer.fused_with_next ? 2 : 1;
    // A GEMM run on bands of a few rows re-reads its weights per band: like
    // fusion, only where the tensor is large next to them.
    const LayerSpec& gemm = layers_[i + count - 1].spec;
    if (i > 0 && gemm.kind == LayerKind::Conv1x1 &&
        int64_t{gemm.in_c} * gemm.out_c * kFuseMinActivationToWeightRatio > layers_[i - 1].out_size())
      break;
    stages_.push_back({i, count, 0});
    i += count;
  }
  if (stages_.size() < 2) stages_.clear();
  if (stages_.empty()) return;
  // Size each ring by dry runs of the schedule, for every slab a pool of up to
  // kMaxPipelineLanes threads gives a thread: the most rows of a stage's output
  // alive at once, from the oldest its consumer still needs to the newest written.
  const int count = static_cast<int>(stages_.size());
  const int rows = stage_out_rows(count - 1);
  for (int lanes = 1; lanes <= kMaxPipelineLanes; ++lanes)
    for (int t = 0; t < lanes; ++t)
      for_each_pipeline_step(rows * t / lanes, rows * (t + 1) / lanes,
                             [&](int k, int /*y0*/, int y1, const int* done) {
                               if (k + 1 < count)
                                 stages_[k].ring_rows =
                                     std::max(stages_[k].ring_rows, y1 - first_input_row(k + 1, done[k + 1]));
                             });
}

int Network::pipelined_layers() const {
  return stages_.empty() ? 0 : stages_.back().first + stages_.back().count;
}

int Network::stage_out_rows(int k) const { return layers_[stages_[k].first].out_h; }

int Network::first_input_row(int k, int out_row) const {
  const LayerSpec& s = layers_[stages_[k].first].spec;
  if (s.kind == LayerKind::Conv1x1) return out_row;
  return std::max(0, out_row * s.stride - s.pad.top);
}

int Network::last_input_row(int k, int out_row) const {
  const LayerSpec& s = layers_[stages_[k].first].spec;
  if (s.kind == LayerKind::Conv1x1) return out_row;
  return std::min(s.in_h - 1, out_row * s.stride - s.pad.top + 2);
}

int Network::ready_rows(int k, int avail) const {
  const Layer& layer = layers_[stages_[k].first];
  if (avail >= layer.spec.in_h) return layer.out_h;
  if (layer.spec.kind == LayerKind::Conv1x1) return avail;
  const int last = avail - 3 + layer.spec.pad.top;  // output row y needs input rows up to (y - 1) * stride - pad.top + 2
  return last < 0 ? 0 : std::min(layer.out_h, last / layer.spec.stride + 1);
}

template <class F>
void Network::for_each_pipeline_step(int y0, int y1, F&& run) const {
  const int count = static_cast<int>(stages_.size());
  if (y0 >= y1) return;
  // Rows [lo[k], hi[k]) of each stage that the last stage's rows [y0, y1) need
  // (on the stack: this runs inside every forward pass).
  int lo[kMaxPipelineStages], hi[kMaxPipelineStages], done[kMaxPipelineStages];
  lo[count - 1] = y0, hi[count - 1] = y1;
  for (int k = count - 1; k > 0; --k) {
    lo[k - 1] = first_input_row(k, lo[k]);
    hi[k - 1] = last_input_row(k, hi[k] - 1) + 1;
  }
  std::copy_n(lo, count, done);
  while (done[0] < hi[0]) {
    const int head_end = std::min(hi[0], done[0] + kPipelineHeadRows);
    run(0, done[0], head_end, done);
    done[0] = head_end;
    for (int k = 1; k < count; ++k) {
      const int ready = done[k - 1] >= hi[k - 1] ? hi[k] : std::min(hi[k], ready_rows(k, done[k - 1]));
      if (ready > done[k]) {
        run(k, done[k], ready, done);
        done[k] = ready;
      }
    }
  }
}

void Network::pack(Layer& layer) {
  LayerSpec& s = layer.spec;
  const int pad_to = std::max(kChannelPad, kernels_->gemm_panel_width);
  layer.channels_padded = static_cast<int>(round_up(s.out_c, pad_to));
  layer.bias = AlignedBuffer(layer.channels_padded);
  std::copy(s.bias.begin(), s.bias.end(), layer.bias.data());
  const int cp = layer.channels_padded;
  switch (s.kind) {
    case LayerKind::Conv3x3:
      layer.weights = AlignedBuffer(size_t{9} * s.in_c * cp);
      for (int64_t t = 0; t < int64_t{9} * s.in_c; ++t)
        std::copy_n(s.weight.data() + t * s.out_c, s.out_c, layer.weights.data() + t * cp);
      if (kernels_->conv3x3_uses_pair_weights(conv3x3_args(layer, InputLayout::NHWC))) {
        layer.pair_weights = AlignedBuffer(stem_pair_weights_size(s.out_c));
        pack_stem_pair_weights(layer.weights.data(), layer.bias.data(), s.out_c, cp, layer.pair_weights.data());
      }
      break;
    case LayerKind::DwConv3x3:
      layer.weights = AlignedBuffer(size_t{9} * cp);
      for (int t = 0; t < 9; ++t)
        std::copy_n(s.weight.data() + int64_t{t} * s.out_c, s.out_c, layer.weights.data() + int64_t{t} * cp);
      break;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected:
      if (backend_ == PointwiseBackend::Blas) {
        layer.weights = AlignedBuffer(s.weight.size());
        std::copy(s.weight.begin(), s.weight.end(), layer.weights.data());
      } else {
        layer.weights = AlignedBuffer(packed_gemm_size(s.in_c, s.out_c, kernels_->gemm_panel_width));
        pack_gemm_weights(s.weight.data(), s.in_c, s.out_c, kernels_->gemm_panel_width, layer.weights.data());
      }
      break;
    case LayerKind::GlobalAvgPool: break;
  }
  s.weight = {};
  s.bias = {};
}

int64_t Network::input_size() const {
  const LayerSpec& s = layers_.front().spec;
  return int64_t{s.in_h} * s.in_w * s.in_c;
}

void Network::stage_input(const float* input, int batch, InputLayout layout, float* staged) const {
  const LayerSpec& s = layers_.front().spec;
  const int64_t hw = int64_t{s.in_h} * s.in_w, size = input_size();
  if (layout == InputLayout::NHWC) {
    std::copy_n(input, batch * size, staged);
    return;
  }
  for (int n = 0; n < batch; ++n)
    for (int64_t p = 0; p < hw; ++p)
      for (int c = 0; c < s.in_c; ++c) staged[n * size + p * s.in_c + c] = input[n * size + c * hw + p];
}

std::vector<int> Network::output_shape(int layer) const {
  MBN_CHECK(layer >= 0 && layer < num_layers(), "layer index out of range");
  const Layer& l = layers_[layer];
  return {l.out_h, l.out_w, l.spec.out_c};
}

int Network::out_pixel_stride(int layer) const {
  MBN_CHECK(layer >= 0 && layer < num_layers(), "layer index out of range");
  return layers_[layer].out_stride;
}

std::string Network::kernel_name(int index) const {
  MBN_CHECK(index >= 0 && index < num_layers(), "layer index out of range");
  const int t = threads();
  const bool fused = fused_at(index, t) || (index > 0 && fused_at(index - 1, t));
  const Layer& layer = layers_[index];
  const LayerSpec& s = layer.spec;
  const std::string isa = std::string(fused ? "fused_" : "") + kernels_->name;
  // The variant is the kernel's own choice for the arguments the layer runs with.
  switch (s.kind) {
    case LayerKind::Conv3x3:
      return "conv3x3s" + std::to_string(s.stride) + "_" +
             kernels_->conv3x3_variant(conv3x3_args(layer, InputLayout::NHWC)) + "_" + isa;
    case LayerKind::DwConv3x3:
      return "dwconv3x3s" + std::to_string(s.stride) + "_" + kernels_->dwconv3x3_variant(dwconv_args(layer, {})) +
             "_" + isa;
    case LayerKind::GlobalAvgPool: return "avgpool_" + isa;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected: {
      const std::string op = s.kind == LayerKind::Conv1x1 ? "conv1x1" : "fc";
      if (backend_ == PointwiseBackend::Blas) return op + "_openblas+bias_" + isa;
      GemmArgs g{};
      g.m = g.layer_rows = layer.out_h * layer.out_w;
      g.n = s.out_c, g.k = s.in_c;
      g.lda = layer.in_stride, g.ldc = layer.out_stride;
      return op + "_" + kernels_->gemm_variant(g) + "_" + isa;
    }
  }
  return "unknown";
}

int Network::threads() const {
  std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(pool_mutex_));
  return pool_->threads();
}

void Network::set_threads(int threads) {
  MBN_CHECK(threads >= 1 && threads <= 1024, "threads must be between 1 and 1024");
  auto pool = ThreadPool::create(threads);
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_ = std::move(pool);  // a forward in flight keeps its own reference to the old pool
}

int64_t Network::packed_weight_bytes() const {
  int64_t bytes = 0;
  for (const Layer& l : layers_) bytes += (l.weights.size() + l.bias.size() + l.pair_weights.size()) * sizeof(float);
  return bytes;
}

std::unique_ptr<Network::Workspace> Network::acquire_workspace(int batch, int threads) {
  {
    std::lock_guard<std::mutex> lock(workspace_mutex_);
    for (auto it = free_workspaces_.begin(); it != free_workspaces_.end(); ++it) {
      if ((*it)->batch >= batch && (*it)->threads >= threads) {
        auto ws = std::move(*it);
        free_workspaces_.erase(it);
        return ws;
      }
    }
  }
  auto ws = std::make_unique<Workspace>();
  ws->batch = batch;
  ws->threads = threads;
  ws->bands = AlignedBuffer(threads * max_band_floats_ + kBufferSlack);
  for (int b = 0; b < 2; ++b)
    ws->activations[b] = AlignedBuffer(batch * max_activation_ + kBufferSlack, kActivationPageOffset[b]);
  ws->zero_row = AlignedBuffer(max_zero_row_ + kBufferSlack);
  if (layers_.front().spec.kind != LayerKind::Conv3x3) ws->staged_input = AlignedBuffer(batch * input_size() + kBufferSlack);
  return ws;
}

void Network::release_workspace(std::unique_ptr<Workspace> ws) {
  std::lock_guard<std::mutex> lock(workspace_mutex_);
  // Keep the largest ones: a later call of that batch size (or less) allocates nothing.
  free_workspaces_.push_back(std::move(ws));
  std::sort(free_workspaces_.begin(), free_workspaces_.end(),
            [](const auto& a, const auto& b) { return a->batch < b->batch; });
  if (free_workspaces_.size() > 8) free_workspaces_.erase(free_workspaces_.begin());
}

void Network::trim_workspaces(int max_batch) {
  std::vector<std::unique_ptr<Workspace>> dropped;
  {
    std::lock_guard<std::mutex> lock(workspace_mutex_);
    auto keep_end = std::stable_partition(free_workspaces_.begin(), free_workspaces_.end(),
                                          [&](const auto& ws) { return ws->batch <= max_batch; });
    std::move(keep_end, free_workspaces_.end(), std::back_inserter(dropped));
    free_workspaces_.erase(keep_end, free_workspaces_.end());
  }
  if (dropped.empty()) return;
  dropped.clear();  // freed outside the lock
#ifdef __GLIBC__
  // Buffers below glibc's mmap threshold (which rises to 32 MB as large
  // buffers are freed) go back to its heap, not to the system, without this.
  malloc_trim(0);
#endif
}

void Network::forward(const float* input, int batch, InputLayout layout, float* output, bool softmax,
                      int64_t* layer_ns, bool check_finite) {
  MBN_CHECK(input != nullptr && output != nullptr, "null input or output");
  MBN_CHECK(batch >= 1 && batch <= kMaxBatch, "batch size must be between 1 and " + std::to_string(kMaxBatch));
  FlushDenormalsGuard flush_denormals;
  std::shared_ptr<ThreadPool> pool;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool = pool_;
  }
  std::unique_ptr<Workspace> ws = acquire_workspace(batch, pool->threads());
  const int split = batch > 1 ? batched_from_ : 0;
  bool finite = true;
  if (split > 0) {
    finite = run_images(split, input, batch, layout, output, *ws, *pool, layer_ns, check_finite);
    if (finite && split < num_layers())
      run_chain(split, num_layers(), ws->activations[0].data(), layout, output, batch, *ws, pool.get(), layer_ns,
                nullptr);
  } else {
    const float* in = input;
    // Only the stem reads the caller's array in place (through strides); any
    // other first layer gets an NHWC copy that ends with readable slack.
    if (layers_.front().spec.kind != LayerKind::Conv3x3) {
      stage_input(input, batch, layout, ws->staged_input.data());
      in = ws->staged_input.data();
    }
    finite = run_chain(0, num_layers(), in, layout, output, batch, *ws, pool.get(), layer_ns,
                       check_finite ? input : nullptr);
  }
  release_workspace(std::move(ws));
  if (!finite) throw std::invalid_argument("input contains NaN or Inf");
  if (softmax) {
    const int64_t k = output_size();
    for (int n = 0; n < batch; ++n) {
      float* row = output + int64_t{n} * k;
      const float top = *std::max_element(row, row + k);
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += (row[j] = std::exp(row[j] - top));
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < k; ++j) row[j] *= inv;
    }
  }
}

bool Network::run_chain(int first, int end, const float* in, InputLayout layout, float* out, int batch,
                        Workspace& ws, ThreadPool* pool, int64_t* layer_ns, const float* check_input) const {
  // Layers alternate between the two activation buffers, starting with the one `in` is not in.
  int next_buffer = in == ws.activations[0].data() ? 1 : 0;
  const int pipeline_end = pipelined_layers();
  if (first == 0 && pipeline_end > 0 && end >= pipeline_end) {
    const int lanes = pool ? std::min(pool->threads(), kMaxPipelineLanes) : 1;
    float* dst = pipeline_end == end ? out : ws.activations[next_buffer].data();
    next_buffer ^= 1;
    const int64_t in_image = input_size(), out_image = layers_[pipeline_end - 1].out_image();
    const int rows = layers_[pipeline_end - 1].out_h;
    // Rings for every lane, made here, before any thread uses them.
    const size_t per_lane = stages_.size() - 1;
    while (ws.stage_outputs.size() < lanes * per_lane) {
      const Stage& st = stages_[ws.stage_outputs.size() % per_lane];
      const Layer& last = layers_[st.first + st.count - 1];
      ws.stage_outputs.emplace_back(int64_t{st.ring_rows} * last.out_w * last.out_stride + kBufferSlack);
    }
    std::atomic<bool> non_finite{false}, overrun{false};
    auto record = [&](PipelineStatus status) {
      if (status == PipelineStatus::NonFinite) non_finite = true;
      if (status == PipelineStatus::RingOverrun) overrun = true;
    };
    for (int n = 0; n < batch && !non_finite && !overrun; ++n) {
      const float* x = in + n * in_image;
      const float* check = check_input ? check_input + n * in_image : nullptr;
      float* y = dst + n * out_image;
      if (lanes == 1) {
        record(run_pipeline(x, layout, y, ws, 0, 0, rows, 0, 1, layer_ns, check));
      } else {
        // Each slab owns the rings and band of its own index: the thread that
        // runs it may be any of the pool's, and there are rings for `lanes` only.
        run_lanes(*pool, lanes, layer_ns, [&](int slab, int /*thread*/, int64_t* ns) {
          record(run_pipeline(x, layout, y, ws, slab, rows * slab / lanes, rows * (slab + 1) / lanes, slab, lanes,
                              ns, check));
        });
      }
    }
    if (overrun) throw std::logic_error("internal error: a row pipeline ring buffer is too small");
    if (non_finite) return false;
    in = dst;
    first = pipeline_end;
  }
  for (int i = first; i < end; ++i) {
    const Layer& layer = layers_[i];
    const bool fused = fused_at(i, pool ? pool->threads() : 1);
    const int last = fused ? i + 1 : i;  // a fused pair writes the pointwise output
    float* dst = last + 1 == end ? out : ws.activations[next_buffer].data();
    next_buffer ^= 1;
    if (fused) {
      run_fused(layer, layers_[i + 1], in, dst, batch, ws, pool, layer_ns ? layer_ns + i : nullptr);
    } else {
      const auto start = layer_ns ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      run_layer(layer, in, layout, dst, batch, ws, pool);
      if (layer_ns)
        layer_ns[i] += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
    }
    in = dst;
    i = last;
    if (i == 0 && check_input && !kernels_->all_finite(check_input, batch * input_size())) return false;
  }
  return true;
}

bool Network::run_images(int split, const float* input, int batch, InputLayout layout, float* output,
                         Workspace& ws, ThreadPool& pool, int64_t* layer_ns, bool check_finite) {
  const int threads = pool.threads();
  // Whole images side by side, one per thread (no synchronization inside an
  // image); the images left over after the last full round run one after
  // another with each layer split across the threads.
  const int side_by_side = threads > 1 ? batch / threads * threads : 0;
  std::vector<std::unique_ptr<Workspace>> image_ws;
  for (int t = 0; t < threads; ++t) image_ws.push_back(acquire_workspace(1, t == 0 ? threads : 1));
  std::atomic<bool> finite{true};
  const int64_t split_size = split < num_layers() ? layers_[split - 1].out_image() : output_size();
  float* split_out = split < num_layers() ? ws.activations[0].data() : output;
  auto run_image = [&](int n, int lane, ThreadPool* image_pool, int64_t* ns) {
    Workspace& iws = *image_ws[lane];
    const float* x = input + n * input_size();
    const float* in = x;
    if (layers_.front().spec.kind != LayerKind::Conv3x3) {
      stage_input(x, 1, layout, iws.staged_input.data());
      in = iws.staged_input.data();
    }
    if (!run_chain(0, split, in, layout, split_out + n * split_size, 1, iws, image_pool, ns, check_finite ? x : nullptr))
      finite = false;
  };
  if (side_by_side > 0)
    run_lanes(pool, side_by_side, layer_ns, [&](int n, int lane, int64_t* ns) { run_image(n, lane, nullptr, ns); });
  for (int n = side_by_side; n < batch; ++n) run_image(n, 0, &pool, layer_ns);
  for (auto& w : image_ws) release_workspace(std::move(w));
  return finite;
}

template <class F>
void Network::run_lanes(ThreadPool& pool, int n, int64_t* layer_ns, F&& fn) const {
  using Clock = std::chrono::steady_clock;
  const int threads = pool.threads();
  // Per-lane layer times: lanes run side by side, so they are scaled to the wall time.
  std::vector<int64_t> lane_ns(layer_ns ? size_t(threads) * num_layers() : 0, 0);
  const auto start = Clock::now();
  pool.parallel_for(n, [&](int task, int lane) {
    fn(task, lane, layer_ns ? lane_ns.data() + size_t(lane) * num_layers() : nullptr);
  });
  if (!layer_ns) return;
  const int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  int64_t busy = 0;
  for (int64_t ns : lane_ns) busy += ns;
  const double scale = static_cast<double>(wall) / std::max<int64_t>(1, busy);
  for (int i = 0; i < num_layers(); ++i) {
    int64_t sum = 0;
    for (int t = 0; t < threads; ++t) sum += lane_ns[size_t(t) * num_layers() + i];
    layer_ns[i] += static_cast<int64_t>(sum * scale);
  }
}

void Network::run_layer(const Layer& layer, const float* in, InputLayout layout, float* out, int batch,
                        Workspace& ws, ThreadPool* pool) const {
  const LayerSpec& s = layer.spec;
  const int64_t in_image = layer.in_image();
  const int64_t out_image = layer.out_image();
  // Spatial layers split each image into bands of output rows, a few per thread.
  const double ns = estimated_ns(s, batch * layer_macs(s, layer.out_h, layer.out_w));
  const int threads = pool ? pool->threads() : 1;
  const int bands = threads == 1 ? 1 : std::min(layer.out_h, 4 * threads);
  const int band_rows = (layer.out_h + bands - 1) / bands;
  switch (s.kind) {
    case LayerKind::Conv3x3: {
      const Conv3x3Args a = conv3x3_args(layer, layout);
      run_tasks(pool, ns, batch * bands, [&](int task) {
        Conv3x3Args t = a;
        const int n = task / bands, band = task % bands;
        t.input = in + n * in_image;
        t.output = out + n * out_image;
        kernels_->conv3x3(t, band * band_rows, std::min(layer.out_h, (band + 1) * band_rows));
      });
      break;
    }
    case LayerKind::DwConv3x3: {
      const DwConvArgs a = dwconv_args(layer, ws);
      run_tasks(pool, ns, batch * bands, [&](int task) {
        DwConvArgs t = a;
        const int n = task / bands, band = task % bands;
        t.input = in + n * in_image;
        t.output = out + n * out_image;
        kernels_->dwconv3x3(t, band * band_rows, std::min(layer.out_h, (band + 1) * band_rows));
      });
      break;
    }
    case LayerKind::GlobalAvgPool:
      run_tasks(pool, ns, batch, [&](int n) {
        kernels_->global_avgpool(in + n * in_image, s.in_h * s.in_w, s.in_c, out + n * out_image);
      });
      break;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected:
      run_pointwise(layer, in, out, int64_t{batch} * s.in_h * s.in_w, pool);
      break;
  }
}

DwConvArgs Network::dwconv_args(const Layer& layer, const Workspace& ws) const {
  const LayerSpec& s = layer.spec;
  DwConvArgs a{};
  a.in_h = s.in_h, a.in_w = s.in_w, a.channels = s.in_c;
  a.in_pixel_stride = layer.in_stride, a.out_pixel_stride = layer.out_stride;
  a.out_h = layer.out_h, a.out_w = layer.out_w;
  a.stride = s.stride, a.pad = s.pad;
  a.weights = layer.weights.data(), a.bias = layer.bias.data(), a.channels_padded = layer.channels_padded;
  a.zero_row = ws.zero_row.data();
  a.clamp = clamp_for(s.activation);
  return a;
}

void Network::pointwise_block(const Layer& layer, const float* in, float* out, int m0, int m1, int p0, int p1,
                              int layer_rows) const {
  const LayerSpec& s = layer.spec;
  const int k = s.in_c, n = s.out_c, lda = layer.in_stride, ldc = layer.out_stride;
  const Clamp clamp = clamp_for(s.activation);
  if (backend_ == PointwiseBackend::Blas) {
    const int nr = kernels_->gemm_panel_width;
    const int n0 = p0 * nr, n1 = std::min(n, p1 * nr);
    float* c = out + int64_t{m0} * ldc + n0;
    blas_sgemm(m1 - m0, n1 - n0, k, in + int64_t{m0} * lda, lda, layer.weights.data() + n0, n, c, ldc);
    // Bias and activation while the block is still in cache.
    kernels_->bias_activation(c, m1 - m0, n1 - n0, ldc, layer.bias.data() + n0, clamp);
  } else {
    GemmArgs g{in, lda, layer.weights.data(), layer.bias.data(), out, ldc, m1, n, k, clamp, layer_rows};
    kernels_->gemm(g, m0, m1, p0, p1);
  }
}

void Network::run_pointwise(const Layer& layer, const float* in, float* out, int64_t m64, ThreadPool* pool) const {
  const LayerSpec& s = layer.spec;
  const int m = static_cast<int>(m64), k = s.in_c, n = s.out_c;
  const int threads = pool ? pool->threads() : 1;
  const int mr = kernels_->gemm_tile_rows;
  const int panels = gemm_panels(layer);
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
  const int col_blocks = row_blocks >= target_tasks ? 1 : std::min(panels, (target_tasks + row_blocks - 1) / row_blocks);
  const int panels_per_block = (panels + col_blocks - 1) / col_blocks;
  const double ns = estimated_ns(s, m64 * k * n);
  run_tasks(pool, ns, row_blocks * col_blocks, [&](int task) {
    const int rb = task / col_blocks, cb = task % col_blocks;
    // Equal row blocks (the kernel deals each block's rows into tiles of nearly equal height).
    const int m0 = static_cast<int>(m64 * rb / row_blocks), m1 = static_cast<int>(m64 * (rb + 1) / row_blocks);
    const int p0 = cb * panels_per_block, p1 = std::min(panels, p0 + panels_per_block);
    if (p0 < p1) pointwise_block(layer, in, out, m0, m1, p0, p1, m);
  });
}

void Network::run_fused(const Layer& dw, const Layer& pw, const float* in, float* out, int batch, Workspace& ws,
                        ThreadPool* pool, int64_t* layer_ns) const {
  using Clock = std::chrono::steady_clock;
  const int64_t in_image = dw.in_image();
  const int64_t out_image = pw.out_image();
  // Bands of at most fused_band_rows rows, as many for each thread, of nearly
  // equal height. With one band per thread, where the rows do not split evenly
  // (7 rows on 2 threads), the bands split the pixels instead, and the one
  // depthwise row two bands share is computed by both.
  const int threads = pool ? pool->threads() : 1;
  const int width = dw.out_w;
  int bands = (dw.out_h + dw.fused_band_rows - 1) / dw.fused_band_rows;
  bands = std::min(dw.out_h, (bands + threads - 1) / threads * threads);
  const int64_t units = bands > threads || dw.out_h % threads == 0 ? dw.out_h : int64_t{dw.out_h} * width;
  const int unit = units == dw.out_h ? width : 1;  // pixels per unit
  const DwConvArgs args = dwconv_args(dw, ws);
  // When profiling, each part's thread time splits the pair's wall time between the two layers.
  std::atomic<int64_t> dw_ns{0}, pw_ns{0};
  const auto start = layer_ns ? Clock::now() : Clock::time_point{};
  const double ns = estimated_ns(dw.spec, batch * layer_macs(dw.spec, dw.out_h, dw.out_w)) +
                    estimated_ns(pw.spec, batch * layer_macs(pw.spec, pw.out_h, pw.out_w));
  run_tasks(pool, ns, batch * bands, [&](int task, int thread) {
    const int n = task / bands, band = task % bands;
    const int q0 = static_cast<int>(units * band / bands) * unit, q1 = static_cast<int>(units * (band + 1) / bands) * unit;
    const int y0 = q0 / width, y1 = (q1 + width - 1) / width;
    DwConvArgs a = args;
    a.input = in + n * in_image;
    int64_t times[2] = {0, 0};
    run_fused_band(pw, a, ws.bands.data() + thread * max_band_floats_, y0, y1, q0 - y0 * width, q1 - y0 * width,
                   out + n * out_image + int64_t{y0} * width * pw.out_stride, layer_ns ? times : nullptr);
    dw_ns += times[0];
    pw_ns += times[1];
  });
  if (layer_ns) {
    const int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    const double dw_share = static_cast<double>(dw_ns) / std::max<int64_t>(1, dw_ns + pw_ns);
    layer_ns[0] += static_cast<int64_t>(wall * dw_share);
    layer_ns[1] += wall - static_cast<int64_t>(wall * dw_share);
  }
}

void Network::run_fused_band(const Layer& pw, DwConvArgs a, float* band, int y0, int y1, int p0, int p1, float* out,
                             int64_t* times) const {
  using Clock = std::chrono::steady_clock;
  a.output = band;
  a.output_row_offset = y0;
  const auto t0 = times ? Clock::now() : Clock::time_point{};
  kernels_->dwconv3x3(a, y0, y1);
  const auto t1 = times ? Clock::now() : Clock::time_point{};
  pointwise_block(pw, band, out, p0, p1, 0, gemm_panels(pw), pw.out_h * pw.out_w);
  if (times) {
    times[0] += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    times[1] += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t1).count();
  }
}

int Network::gemm_panels(const Layer& layer) const {
  return (layer.spec.out_c + kernels_->gemm_panel_width - 1) / kernels_->gemm_panel_width;
}

Conv3x3Args Network::conv3x3_args(const Layer& layer, InputLayout layout) const {
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
  a.weights = layer.weights.data(), a.bias = layer.bias.data(), a.out_c_padded = layer.channels_padded;
  a.clamp = clamp_for(s.activation);
  a.pair_weights = layer.pair_weights.size() > 0 ? layer.pair_weights.data() : nullptr;
  return a;
}

void Network::run_stage_rows(int k, const float* in, InputLayout layout, float* out, int y0, int y1, float* band,
                             const Workspace& ws, int64_t* layer_ns) const {
  using Clock = std::chrono::steady_clock;
  const Stage& stage = stages_[k];
  const Layer& layer = layers_[stage.first];
  const int in_ring = k > 0 ? stages_[k - 1].ring_rows : 0, out_ring = stage.ring_rows;
  const int64_t out_row = int64_t{layer.out_w} * layers_[stage.first + stage.count - 1].out_stride;
  auto out_slot = [&](int y) { return out_ring > 0 ? y % out_ring : y; };
  auto t0 = layer_ns ? Clock::now() : Clock::time_point{};
  auto add_time = [&](int index) {
    if (!layer_ns) return;
    const auto t1 = Clock::now();
    layer_ns[index] += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    t0 = t1;
  };
  // Segments of rows that wrap around neither ring (row-contiguous in memory).
  for (int a = y0; a < y1;) {
    int b = y1;
    if (out_ring > 0) b = std::min(b, (a / out_ring + 1) * out_ring);
    if (layer.spec.kind == LayerKind::Conv1x1 && in_ring > 0) b = std::min(b, (a / in_ring + 1) * in_ring);
    const int offset = a - out_slot(a);  // output row y goes to slot y - offset
    switch (layer.spec.kind) {
      case LayerKind::Conv3x3: {
        Conv3x3Args args = conv3x3_args(layer, layout);
        args.input = in, args.output = out, args.output_row_offset = offset;
        kernels_->conv3x3(args, a, b);
        add_time(stage.first);
        break;
      }
      case LayerKind::Conv1x1: {
        const int w = layer.out_w;
        const float* rows = in + int64_t{in_ring > 0 ? a % in_ring : a} * w * layer.in_stride;
        pointwise_block(layer, rows, out + out_slot(a) * out_row, 0, (b - a) * w, 0, gemm_panels(layer),
                        layer.out_h * layer.out_w);
        add_time(stage.first);
        break;
      }
      default: {
        DwConvArgs args = dwconv_args(layer, ws);
        args.input = in, args.in_ring_rows = in_ring;
        if (stage.count == 1) {
          args.output = out, args.output_row_offset = offset;
          kernels_->dwconv3x3(args, a, b);
          add_time(stage.first);
          break;
        }
        // A fused pair (its two layers' times go to layer_ns[first] and [first + 1]).
        for (int b0 = a; b0 < b; b0 += layer.fused_band_rows) {
          const int b1 = std::min(b, b0 + layer.fused_band_rows);
          run_fused_band(layers_[stage.first + 1], args, band, b0, b1, 0, (b1 - b0) * layer.out_w,
                         out + out_slot(b0) * out_row, layer_ns ? layer_ns + stage.first : nullptr);
        }
      }
    }
    a = b;
  }
}

Network::PipelineStatus Network::run_pipeline(const float* in, InputLayout layout, float* out, Workspace& ws,
                                              int lane, int y0, int y1, int slab, int slabs, int64_t* layer_ns,
                                              const float* check_input) const {
  const int count = static_cast<int>(stages_.size());
  AlignedBuffer* rings = ws.stage_outputs.data() + size_t(lane) * (count - 1);
  float* band = ws.bands.data() + lane * max_band_floats_;
  // Scans input rows [r0, r1) for NaN/Inf; each slab scans its share of the rows.
  const LayerSpec& head = layers_[stages_[0].first].spec;
  const int check_end = head.in_h * (slab + 1) / slabs;
  int checked = head.in_h * slab / slabs;
  auto scan = [&](int r1) {
    r1 = std::min(r1, check_end);
    bool ok = true;
    if (layout == InputLayout::NHWC) {
      const int64_t row = int64_t{head.in_w} * head.in_c;
      ok = r1 <= checked || kernels_->all_finite(check_input + checked * row, (r1 - checked) * row);
    } else {
      const int64_t plane = int64_t{head.in_h} * head.in_w;
      for (int c = 0; c < head.in_c && ok && r1 > checked; ++c)
        ok = kernels_->all_finite(check_input + c * plane + int64_t{checked} * head.in_w,
                                  int64_t{r1 - checked} * head.in_w);
    }
    checked = std::max(checked, r1);
    return ok;
  };
  PipelineStatus status = PipelineStatus::Ok;
  for_each_pipeline_step(y0, y1, [&](int k, int r0, int r1, const int* done) {
    if (status != PipelineStatus::Ok) return;
    // A ring overrun would silently corrupt rows: the dry runs that sized the
    // rings must have covered this schedule. (No throw here: this may be a pool task.)
    if (k + 1 < count && r1 - first_input_row(k + 1, done[k + 1]) > stages_[k].ring_rows) {
      status = PipelineStatus::RingOverrun;
      return;
    }
    run_stage_rows(k, k == 0 ? in : rings[k - 1].data(), layout, k + 1 == count ? out : rings[k].data(), r0, r1,
                   band, ws, layer_ns);
    // Right after the first stage has read them: the rows up to its last input row.
    if (k == 0 && check_input && !scan(last_input_row(0, r1 - 1) + 1)) status = PipelineStatus::NonFinite;
  });
  // Rows no output needed (VALID padding) are scanned too.
  if (status == PipelineStatus::Ok && check_input && !scan(check_end)) status = PipelineStatus::NonFinite;
  return status;
}

}  // namespace mobilenet
