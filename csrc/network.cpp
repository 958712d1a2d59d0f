#include "network.h"

#include <algorithm>
#include <cmath>

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

// The layers' shapes, after checking that they chain and that every weight
// and bias is there and finite (throws std::invalid_argument naming the layer).
std::vector<Layer> validate(const std::vector<LayerSpec>& specs, int threads, PointwiseBackend backend) {
  MBN_CHECK(!specs.empty(), "a network needs at least one layer");
  MBN_CHECK(backend != PointwiseBackend::Blas || blas_available(), "this build has no BLAS backend");
  MBN_CHECK(threads >= 1 && threads <= 1024, "threads must be between 1 and 1024");
  std::vector<Layer> layers;
  int h = specs.front().in_h, w = specs.front().in_w, c = specs.front().in_c;
  for (size_t i = 0; i < specs.size(); ++i) {
    const LayerSpec& s = specs[i];
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
        if (s.kind == LayerKind::DwConv3x3)
          MBN_CHECK(s.out_c == c, at + ": depthwise output channels must equal input channels");
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
    // The shape alone: the weights go to packing.
    layer.spec.kind = s.kind;
    layer.spec.in_h = s.in_h, layer.spec.in_w = s.in_w, layer.spec.in_c = s.in_c, layer.spec.out_c = s.out_c;
    layer.spec.stride = s.stride, layer.spec.pad = s.pad, layer.spec.activation = s.activation;
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace

// Validate, plan, pack: the plan decides each layer's kernel, which decides its weights' layout.
Network::Network(std::vector<LayerSpec> specs, Isa isa, int threads, PointwiseBackend backend, bool fuse,
                 Precision precision)
    : layers_(validate(specs, threads, backend)),
      plan_(make_plan(layers_, kernel_table(isa), PlanOptions{backend, fuse, precision})),
      packed_(pack_layers(specs, layers_, plan_)),
      workspaces_(layers_, plan_),
      pool_(ThreadPool::create(threads)) {}

int64_t Network::input_size() const {
  const LayerSpec& s = layers_.front().spec;
  return int64_t{s.in_h} * s.in_w * s.in_c;
}

std::vector<int> Network::output_shape(int layer) const {
  MBN_CHECK(layer >= 0 && layer < num_layers(), "layer index out of range");
  const Layer& l = layers_[layer];
  return {l.out_h, l.out_w, l.spec.out_c};
}

int Network::out_pixel_stride(int layer) const {
  MBN_CHECK(layer >= 0 && layer < num_layers(), "layer index out of range");
  return plan_.layers[layer].out_stride;
}

std::string Network::kernel_name(int index) const {
  MBN_CHECK(index >= 0 && index < num_layers(), "layer index out of range");
  const int t = threads();
  const bool fused = plan_.fused_at(index, t) || (index > 0 && plan_.fused_at(index - 1, t));
  const Layer& layer = layers_[index];
  const LayerSpec& s = layer.spec;
  const LayerPlan& lp = plan_.layers[index];
  const KernelTable& kernels = *plan_.kernels;
  const std::string isa = std::string(fused ? "fused_" : "") + kernels.name;
  const std::string op = s.kind == LayerKind::FullyConnected ? "fc" : "conv1x1";
  // The variant is the kernel's own choice for the shape the layer runs with.
  switch (lp.kernel) {
    case LayerKernel::Conv3x3:
      return "conv3x3s" + std::to_string(s.stride) + "_" + kernels.conv3x3_variant(stem_shape_args(layer)) + "_" + isa;
    case LayerKernel::DwConv3x3:
      return "dwconv3x3s" + std::to_string(s.stride) + "_" +
             kernels.dwconv3x3_variant(dwconv_shape_args(layer, lp.in_stride, lp.out_stride)) + "_" + isa;
    case LayerKernel::GlobalAvgPool: return "avgpool_" + isa;
    case LayerKernel::BlasGemm: return op + "_openblas+bias_" + isa;
    case LayerKernel::PackedGemm: {
      GemmArgs g{};
      g.m = g.layer_rows = layer.out_h * layer.out_w;
      g.n = s.out_c, g.k = s.in_c;
      g.lda = lp.in_stride, g.ldc = lp.out_stride;
      return op + "_" + kernels.gemm_variant(g) + "_" + isa;
    }
    case LayerKernel::PackedGemmBf16: {
      GemmBf16Args g{};
      g.m = g.layer_rows = layer.out_h * layer.out_w;
      g.n = s.out_c, g.k = s.in_c;
      g.lda = lp.in_stride, g.ldc = lp.out_stride;
      return op + "_" + kernels.gemm_bf16_variant(g) + "_" + isa;
    }
  }
  return "unknown";
}

int Network::threads() const {
  std::lock_guard<ForkSafeMutex> lock(pool_mutex_);
  return pool_->threads();
}

void Network::set_threads(int threads) {
  MBN_CHECK(threads >= 1 && threads <= 1024, "threads must be between 1 and 1024");
  auto pool = ThreadPool::create(threads);
  std::lock_guard<ForkSafeMutex> lock(pool_mutex_);
  // A forward in flight keeps its own reference to the old pool; otherwise it
  // is destroyed (its workers joined) after the lock is released, which fork() waits for.
  pool_.swap(pool);
}

int64_t Network::packed_weight_bytes() const {
  int64_t bytes = 0;
  for (const PackedLayer& l : packed_) bytes += l.bytes();
  return bytes;
}

void Network::forward(const float* input, int batch, InputLayout layout, float* output, bool softmax, int64_t* layer_ns,
                      bool check_finite) {
  MBN_CHECK(input != nullptr && output != nullptr, "null input or output");
  MBN_CHECK(batch >= 1 && batch <= kMaxBatch, "batch size must be between 1 and " + std::to_string(kMaxBatch));
  FlushDenormalsGuard flush_denormals;
  std::shared_ptr<ThreadPool> pool;
  {
    std::lock_guard<ForkSafeMutex> lock(pool_mutex_);
    ThreadPool::renew_after_fork(pool_);
    pool = pool_;
  }
  std::unique_ptr<Workspace> ws = workspaces_.acquire(batch, pool->threads());
  const RunContext ctx{layout, ws.get(), pool.get(), layer_ns, check_finite ? input : nullptr};
  const bool finite = Executor(layers_, packed_, plan_).run(input, batch, output, ctx, workspaces_);
  workspaces_.release(std::move(ws));
  if (!finite) throw std::invalid_argument("input contains NaN or Inf");
  if (softmax) softmax_rows(output, batch, output_size());
}

}  // namespace mobilenet
