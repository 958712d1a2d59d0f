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
void validate_int8(const LayerSpec& s, const std::string& at) {
  const LayerSpec::Int8& q = s.int8;
  auto in_range = [](int v) { return v >= 0 && v <= 255; };
  MBN_CHECK(in_range(q.in_zero_point) && in_range(q.out_zero_point), at + ": zero points out of the 8-bit range");
  MBN_CHECK(in_range(q.act_min) && in_range(q.act_max) && q.act_min <= q.act_max,
            at + ": activation range out of the 8-bit range");
  if (s.kind == LayerKind::GlobalAvgPool) {
    if (q.mean)
      MBN_CHECK(q.multiplier.size() == 1 && q.shift.size() == 1 && q.multiplier[0] >= 0 && q.shift[0] >= -31 &&
                    q.shift[0] <= 30,
                at + ": MEAN needs one quantized multiplier and shift");
    return;
  }
  MBN_CHECK(static_cast<int64_t>(q.weight.size()) == expected_weight_count(s),
            at + ": int8 weight has " + std::to_string(q.weight.size()) + " values, expected " +
                std::to_string(expected_weight_count(s)));
  for (int32_t w : q.weight) MBN_CHECK(w >= -255 && w <= 255, at + ": int8 effective weight out of range");
  MBN_CHECK(q.bias.empty() || static_cast<int>(q.bias.size()) == s.out_c, at + ": int8 bias size");
  MBN_CHECK(static_cast<int>(q.multiplier.size()) == s.out_c && static_cast<int>(q.shift.size()) == s.out_c,
            at + ": one multiplier and shift per output channel");
  for (int c = 0; c < s.out_c; ++c)
    MBN_CHECK(q.multiplier[c] >= 0 && q.shift[c] >= -31 && q.shift[c] <= 30,
              at + ": quantized multiplier out of range");
}

std::vector<Layer> validate(const std::vector<LayerSpec>& specs, int threads, PointwiseBackend backend,
                            Precision precision) {
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
    if (precision == Precision::Int8) validate_int8(s, at);
    if (precision != Precision::Int8 || !s.weight.empty())
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
    // The int8 scalars (zero points, clamp) are the executor's; the arrays go to packing.
    layer.spec.int8.in_zero_point = s.int8.in_zero_point, layer.spec.int8.out_zero_point = s.int8.out_zero_point;
    layer.spec.int8.act_min = s.int8.act_min, layer.spec.int8.act_max = s.int8.act_max;
    layer.spec.int8.signed_values = s.int8.signed_values;
    layer.spec.int8.mean = s.int8.mean;
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace

// Validate, plan, pack: the plan decides each layer's kernel, which decides its weights' layout.
Network::Network(std::vector<LayerSpec> specs, Isa isa, int threads, PointwiseBackend backend, bool fuse,
                 Precision precision)
    : layers_(validate(specs, threads, backend, precision)),
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
  const std::string stride = "s" + std::to_string(s.stride) + "_";
  switch (lp.kernel) {
    case LayerKernel::Int8Conv3x3: return "int8_conv3x3" + stride + isa;
    case LayerKernel::Int8DwConv3x3: {
      Int8ConvArgs a{};
      a.in_h = s.in_h, a.in_w = s.in_w, a.in_c = s.in_c, a.out_c = s.out_c, a.stride = s.stride;
      return "int8_dwconv3x3" + stride + kernels.int8_dwconv3x3_variant(a) + "_" + isa;
    }
    case LayerKernel::Int8AvgPool: return "int8_avgpool_" + isa;
    case LayerKernel::Int8Gemm: {
      // One image's rows: a kernel that chooses by rows may run another variant for a large
      // batch (the AVX-512 table's classifier moves onto AMX tiles from 16 rows).
      Int8GemmArgs g{};
      g.m = layer.out_h * layer.out_w, g.n = s.out_c, g.k = s.in_c;
      if (packed_[index].int8_bounded.size() > 0) g.bounded = packed_[index].int8_bounded.data();
      return "int8_" + op + "_" + kernels.int8_gemm_variant(g) + "_" + isa;
    }
    case LayerKernel::Conv3x3:
      return "conv3x3s" + std::to_string(s.stride) + "_" + kernels.conv3x3_variant(stem_shape_args(layer)) + "_" + isa;
    case LayerKernel::DwConv3x3:
      // ">bf16": float32 arithmetic, its outputs rounded to bf16 as the GEMM's A
      // (LayerPlan::bf16_tiles, bf16_rows: the variant of float32 rows as wide).
      return "dwconv3x3s" + std::to_string(s.stride) + "_" +
             kernels.dwconv3x3_variant(
                 dwconv_shape_args(layer, lp.in_stride, lp.bf16_rows ? 2 * lp.out_stride : lp.out_stride)) +
             ((fused ? lp.fused_bf16_tiles : lp.bf16_tiles) || lp.bf16_rows ? ">bf16" : "") + "_" + isa;
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
    case LayerKernel::Conv3x3Bf16:
      return "conv3x3s" + std::to_string(s.stride) + (kernels.bf16_amx ? "_bf16amx_" : "_bf16gemm_") + isa;
    case LayerKernel::Conv3x3Fp16: return "fp16_conv3x3" + stride + isa;
    case LayerKernel::DwConv3x3Fp16: return "fp16_dwconv3x3" + stride + isa;
    case LayerKernel::PackedGemmFp16: {
      GemmFp16Args g{};
      g.m = layer.out_h * layer.out_w, g.n = s.out_c, g.k = s.in_c;
      return op + "_" + kernels.fp16_gemm_variant(g) + "_" + isa;
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

void Network::forward_int8(const uint8_t* input, int batch, uint8_t* output, int64_t* layer_ns) {
  MBN_CHECK(input != nullptr && output != nullptr, "null input or output");
  MBN_CHECK(precision() == Precision::Int8, "forward_int8 on a network that is not int8");
  MBN_CHECK(batch >= 1 && batch <= kMaxBatch, "batch size must be between 1 and " + std::to_string(kMaxBatch));
  std::shared_ptr<ThreadPool> pool;
  {
    std::lock_guard<ForkSafeMutex> lock(pool_mutex_);
    ThreadPool::renew_after_fork(pool_);
    pool = pool_;
  }
  std::unique_ptr<Workspace> ws = workspaces_.acquire(batch, pool->threads());
  const RunContext ctx{InputLayout::NHWC, ws.get(), pool.get(), layer_ns, nullptr};
  // The executor's buffers are typed float; int8 layers read them as uint8 storage.
  Executor(layers_, packed_, plan_)
      .run(reinterpret_cast<const float*>(input), batch, reinterpret_cast<float*>(output), ctx, workspaces_);
  workspaces_.release(std::move(ws));
}

void Network::forward(const float* input, int batch, InputLayout layout, float* output, bool softmax, int64_t* layer_ns,
                      bool check_finite) {
  MBN_CHECK(input != nullptr && output != nullptr, "null input or output");
  MBN_CHECK(precision() != Precision::Int8, "an int8 network runs through forward_int8");
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
