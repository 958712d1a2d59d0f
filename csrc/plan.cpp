#include "plan.h"

#include <algorithm>
#include <string>

#include "cpu_features.h"

namespace mobilenet {

namespace {

// A depthwise layer is fused with the next pointwise layer when its output is
// large next to the pointwise weights (the GEMM re-reads its weights per band).
constexpr int64_t kFuseMinActivationToWeightRatio = 8;
// Bytes of depthwise output per band: small enough to stay in L1 until the
// GEMM reads it (measured: 32 KB bands 0.98x the unfused time, 128-512 KB ~1.0x).
constexpr int64_t kFuseBandBytes = 32 * 1024;

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

// A tensor of at least kPaddedPixelMinChannels channels that a depthwise layer
// reads keeps its pixels kPixelPadding floats further apart than its channels.
// At 512 channels a pixel is 2 KB, so the 3x3 window's loads of one channel
// vector land in 2 of L1's 64 sets and evict each other; one more cache line
// per pixel spreads them over all sets (bench/RESULTS.md, log entry 34: the
// kernel alone 13-34% faster at 128-1024 channels, no gain below).
// Padding the depthwise outputs too slowed the GEMMs that read them by 1-2%.
constexpr int kPaddedPixelMinChannels = 128;
constexpr int kPixelPadding = 16;

using LayerPlans = std::vector<LayerPlan>;

bool is_depthwise_pointwise_pair(const std::vector<Layer>& layers, size_t i) {
  return layers[i].spec.kind == LayerKind::DwConv3x3 && layers[i + 1].spec.kind == LayerKind::Conv1x1;
}

int64_t pointwise_weight_bytes(const LayerSpec& pw) { return int64_t{pw.in_c} * pw.out_c * 4; }

// A fused depthwise layer's band height.
int fused_band_rows(const Layer& dw) {
  const int64_t row_floats = int64_t{dw.out_w} * dw.spec.out_c;
  return static_cast<int>(std::clamp<int64_t>(kFuseBandBytes / (row_floats * 4), 1, dw.out_h));
}

LayerKernel choose_int8_kernel(LayerKind kind) {
  switch (kind) {
    case LayerKind::Conv3x3: return LayerKernel::Int8Conv3x3;
    case LayerKind::DwConv3x3: return LayerKernel::Int8DwConv3x3;
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected: return LayerKernel::Int8Gemm;
    case LayerKind::GlobalAvgPool: return LayerKernel::Int8AvgPool;
  }
  return LayerKernel::Int8Gemm;
}

// bfloat16: the GEMMs (1x1 and classifier: 95% of the multiply-adds) run on
// bf16 weights and inputs with float32 sums, and on AMX and vdpbf16ps the stem too (below).
// The depthwise layers, the pooling and elsewhere the stem stay float32: they
// are a few percent of the work, read activations that the row pipeline and
// the fusion keep in cache, and would gain no more than their conversions cost. (On AArch64, bfmlalb and
// bfmlalt, which round as the scalar reference does, do 4 multiply-adds per
// instruction as fmla on 4 floats does, and bfdot rounds once per pair of
// products: neither pays there either.) Where the bf16 GEMM does
// no more multiply-adds per instruction than the float32 one (the FMA way,
// KernelTable::bf16_every_gemm), only the GEMMs whose float32 weights exceed
// kBf16MinWeightBytes run in bf16: the others compute from cache, where bf16
// would cost accuracy and gain nothing (bench/RESULTS.md, entry 53).
constexpr int64_t kBf16MinWeightBytes = 1024 * 1024;
// The bf16 stem pays from this many output channels on. On AMX (one thread, the kernel
// alone, 1.0/224's shape): 0.78x the float32 time at 32 channels, 0.80x at 24, 0.92x at
// 16, 1.5x at 8. On vdpbf16ps (AMD Zen 4, in the network, bench/RESULTS.md entry 102):
// float32 1.21x its time at 32 channels, 1.11x at 24, 1.23x at 16, 0.79x at 8.
constexpr int kConv3x3Bf16MinOutC = 16;
// On AMX tiles k runs in blocks of 32 bf16 values, zero-padded: GEMMs with
// k <= kAmxFloat32MaxK (the first 1x1 layers at alpha 0.25 and 0.5) would
// multiply mostly zeros, and stay float32, which is faster there and exact
// (one thread, per layer: float32 0.38x the AMX time at k = 8, 0.61-0.67x at
// k = 16; at k = 24 and 32 AMX is the faster: bench/RESULTS.md, entry 60).
constexpr int kAmxFloat32MaxK = 16;

void choose_bf16_kernel(const Layer& layer, const KernelTable& kernels, const PlanOptions& options, LayerPlan& p) {
  if (options.precision != Precision::BFloat16) return;
  // The stem as a GEMM over its windows (9 * in_c <= 32 taps): on AMX one tile
  // product per 16 pixels and 16 channels, on vdpbf16ps 14 dot products per
  // vector, where the float32 kernel spends 27 FMAs per vector (15 per 8
  // channels for tap pairs): from kConv3x3Bf16MinOutC channels on
  // (bench/RESULTS.md, log entries 73 and 102).
  if (p.kernel == LayerKernel::Conv3x3 && kernels.conv3x3_bf16 != nullptr && layer.spec.in_c <= kConv3x3Bf16MaxInC &&
      layer.spec.out_c >= kConv3x3Bf16MinOutC) {
    p.kernel = LayerKernel::Conv3x3Bf16;
    p.precision = Precision::BFloat16;
    return;
  }
  if (p.kernel != LayerKernel::PackedGemm) return;
  if (layer.spec.in_c > kGemmBf16MaxK) return;  // too wide for the kernel's rounded rows: float32
  if (!kernels.bf16_every_gemm && pointwise_weight_bytes(layer.spec) <= kBf16MinWeightBytes) return;
  if (kernels.bf16_amx && layer.spec.in_c <= kAmxFloat32MaxK) return;
  p.kernel = LayerKernel::PackedGemmBf16;
  p.precision = Precision::BFloat16;
}

// float16: the stem, the depthwise layers and the 1x1 layers in fp16
// arithmetic. The classifier stays float32: its 1000 sums of up to 1024
// products would each carry fp16's rounding into the logits, and it reads its
// weights from memory in a few microseconds either way; so does the pooling
// (a sum of up to 49 values per channel), and the softmax runs on the float32 logits.
void choose_fp16_kernel(const Layer& layer, const PlanOptions& options, LayerPlan& p) {
  if (options.precision != Precision::Float16) return;
  switch (p.kernel) {
    case LayerKernel::Conv3x3: p.kernel = LayerKernel::Conv3x3Fp16; break;
    case LayerKernel::DwConv3x3: p.kernel = LayerKernel::DwConv3x3Fp16; break;
    case LayerKernel::PackedGemm:
      if (layer.spec.kind != LayerKind::Conv1x1 || layer.spec.in_c > kGemmFp16MaxK) return;
      p.kernel = LayerKernel::PackedGemmFp16;
      break;
    default: return;
  }
  p.precision = Precision::Float16;
}

// Pass 1: each layer's kernel and precision. The backend is chosen here, once.
LayerPlans choose_kernels(const std::vector<Layer>& layers, const KernelTable& kernels, const PlanOptions& options) {
  const std::string unavailable = precision_unavailable(options.precision, kernels);
  MBN_CHECK(unavailable.empty(), unavailable);
  const bool half = options.precision == Precision::BFloat16 || options.precision == Precision::Float16;
  MBN_CHECK(!half || options.backend == PointwiseBackend::Gemm,
            std::string("precision '") + precision_name(options.precision) + "' runs on the gemm backend only");
  LayerPlans plans(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerPlan& p = plans[i];
    if (options.precision == Precision::Int8) {
      p.precision = Precision::Int8;
      p.kernel = choose_int8_kernel(layers[i].spec.kind);
      continue;
    }
    p.precision = Precision::Float32;
    switch (layers[i].spec.kind) {
      case LayerKind::Conv3x3: p.kernel = LayerKernel::Conv3x3; break;
      case LayerKind::DwConv3x3: p.kernel = LayerKernel::DwConv3x3; break;
      case LayerKind::Conv1x1:
      case LayerKind::FullyConnected:
        p.kernel = options.backend == PointwiseBackend::Blas ? LayerKernel::BlasGemm : LayerKernel::PackedGemm;
        break;
      case LayerKind::GlobalAvgPool: p.kernel = LayerKernel::GlobalAvgPool; break;
    }
    choose_bf16_kernel(layers[i], kernels, options, p);
    choose_fp16_kernel(layers[i], options, p);
  }
  return plans;
}

// Pass 2: depthwise layers whose output is large next to the next layer's weights.
LayerPlans plan_fusion(const std::vector<Layer>& layers, LayerPlans plans) {
  for (size_t i = 0; i + 1 < layers.size(); ++i) {
    if (!is_depthwise_pointwise_pair(layers, i)) continue;
    const int64_t activation_bytes = layers[i].out_size() * 4;
    if (activation_bytes < kFuseMinActivationToWeightRatio * pointwise_weight_bytes(layers[i + 1].spec)) continue;
    plans[i].fused_with_next = true;
    plans[i].fused_band_rows = fused_band_rows(layers[i]);
    ++i;  // the pointwise layer is consumed by this fusion
  }
  return plans;
}

// Pass 3: the leading layers that run as a row pipeline (a fused pair is one
// stage, so this follows plan_fusion), with each stage's ring sized.
std::vector<PipelineStage> plan_pipeline(const std::vector<Layer>& layers, const LayerPlans& plans) {
  std::vector<PipelineStage> stages;
  const int num_layers = static_cast<int>(layers.size());
  for (int i = 0; i < num_layers;) {
    const Layer& layer = layers[i];
    if (layer.spec.kind != LayerKind::Conv3x3 && layer.spec.kind != LayerKind::DwConv3x3 &&
        layer.spec.kind != LayerKind::Conv1x1)
      break;
    if (!stages.empty() && layers[i - 1].out_size() * int64_t{sizeof(float)} < kPipelineMinBytes) break;
    if (static_cast<int>(stages.size()) == kMaxPipelineStages) break;
    const int count = plans[i].fused_with_next ? 2 : 1;
    // A GEMM run on bands of a few rows re-reads its weights per band: like
    // fusion, only where the tensor is large next to them.
    const LayerSpec& gemm = layers[i + count - 1].spec;
    if (i > 0 && gemm.kind == LayerKind::Conv1x1 &&
        int64_t{gemm.in_c} * gemm.out_c * kFuseMinActivationToWeightRatio > layers[i - 1].out_size())
      break;
    stages.push_back({i, count, 0});
    i += count;
  }
  if (stages.size() < 2) return {};
  // Size each ring by dry runs of the schedule, for every slab a pool of up to
  // kMaxPipelineLanes threads gives a thread: the most rows of a stage's output
  // alive at once, from the oldest its consumer still needs to the newest written.
  const PipelineSchedule schedule(layers, stages);
  const int count = static_cast<int>(stages.size());
  const int rows = schedule.stage_out_rows(count - 1);
  for (int lanes = 1; lanes <= kMaxPipelineLanes; ++lanes)
    for (int t = 0; t < lanes; ++t)
      schedule.for_each_step(rows * t / lanes, rows * (t + 1) / lanes, [&](int k, int /*y0*/, int y1, const int* done) {
        if (k + 1 < count)
          stages[k].ring_rows = std::max(stages[k].ring_rows, y1 - schedule.first_input_row(k + 1, done[k + 1]));
      });
  return stages;
}

// Pass 4: after the pipeline, the pairs whose GEMM already splits by rows (its
// weights are small enough for every thread to read them all).
LayerPlans plan_parallel_fusion(const std::vector<Layer>& layers, LayerPlans plans, int pipelined_layers,
                                const KernelTable& kernels) {
  for (size_t i = pipelined_layers; i + 1 < layers.size(); ++i) {
    if (!is_depthwise_pointwise_pair(layers, i) || plans[i].fused_with_next) continue;
    if (pointwise_weight_bytes(layers[i + 1].spec) > kRowSplitMaxWeightBytes) continue;
    plans[i].fused_when_parallel = true;
    plans[i].fused_max_threads = int64_t{layers[i].out_h} * layers[i].out_w / (int64_t{2} * kernels.gemm_tile_rows);
    plans[i].fused_band_rows = fused_band_rows(layers[i]);
    ++i;
  }
  return plans;
}

// Pass 4 for int8 (no row pipeline, no fusion on one thread): every
// depthwise/pointwise pair whose GEMM's weights every thread may read, split
// across threads by whole output rows, each thread making its rows of both
// layers with no barrier between them. The late layers of the small models
// (8x8 and 4x4 pixels, 1-3 us each) otherwise ran on one thread, since split
// layer by layer they paid more in barriers than they saved (bench/RESULTS.md,
// log entry 71). Only pairs estimated below kInt8FusedMaxNs on one thread:
// there a barrier is a large share of the time saved; longer pairs lost or
// gained nothing fused (1.0/224's 14x14 pairs 1.1x slower, the 64x64 ones of
// the small models unchanged). On 2 threads (AMX) the fused pairs of 0.5/160
// ran 0.6-0.8x their unfused time but for the 20x20 one (1.08x), those of
// 0.25/128 0.77-0.84x at stride 2 and 0.96-1.10x otherwise (bench/RESULTS.md,
// log entry 75). At least kInt8FusedMinRowPixels pixels per thread.
constexpr int kInt8FusedMinRowPixels = 4;
constexpr double kInt8FusedMaxNs = 30000;

LayerPlans plan_int8_parallel_fusion(const std::vector<Layer>& layers, LayerPlans plans, const KernelTable& kernels) {
  for (size_t i = 0; i + 1 < layers.size(); ++i) {
    if (plans[i].kernel != LayerKernel::Int8DwConv3x3 || plans[i + 1].kernel != LayerKernel::Int8Gemm ||
        layers[i + 1].spec.kind != LayerKind::Conv1x1)
      continue;
    const Layer& dw = layers[i];
    const LayerSpec& pw = layers[i + 1].spec;
    if (int64_t{pw.in_c} * pw.out_c > kRowSplitMaxWeightBytes) continue;  // int8 weights: a byte each
    if (int8_estimated_ns(dw, 1) + int8_estimated_ns(layers[i + 1], 1) > kInt8FusedMaxNs) continue;
    // Whole rows, at least a row block of the GEMM's (32 pixels on AMX tiles,
    // which compute a call's rows in tiles of 16: a 4x4 layer split in two
    // would compute as many tiles on each thread as on one).
    const int64_t min_pixels = std::max(kInt8FusedMinRowPixels, kernels.int8_gemm_row_block);
    const int64_t rows_per_thread = (min_pixels + dw.out_w - 1) / dw.out_w;
    plans[i].fused_when_parallel = true;
    plans[i].fused_max_threads = dw.out_h / rows_per_thread;
    ++i;
  }
  return plans;
}

// Pass 4b: the fused pairs whose band can be bf16 tiles: the GEMM on AMX
// tiles rounds its A to bf16 before any product, so the depthwise layer can
// round its (clamped) outputs instead, as the GEMM would, and write them in the
// tile layout: the GEMM's rounding pass over its rows goes (bench/RESULTS.md,
// log entry 60: 15-38% of conv_pw_1..5's time at 1.0/224), the numbers stay
// the same. The layout has no k padding: channels a multiple of 32.
LayerPlans plan_bf16_tiles(const std::vector<Layer>& layers, LayerPlans plans, int pipelined_layers,
                           const KernelTable& kernels) {
  if (!kernels.bf16_amx || kernels.dwconv3x3_bf16_tiles == nullptr) return plans;
  for (size_t i = 0; i + 1 < layers.size(); ++i) {
    LayerPlan& p = plans[i];
    if (p.kernel != LayerKernel::DwConv3x3 || plans[i + 1].kernel != LayerKernel::PackedGemmBf16 ||
        layers[i].spec.out_c % kBf16TileChannels != 0)
      continue;
    p.fused_bf16_tiles = p.fused_with_next || p.fused_when_parallel;
    // Run on its own: outside the pipeline (its GEMM too), or as its last stage (writing whole images).
    p.bf16_tiles = !p.fused_with_next && static_cast<int>(i) + 1 >= pipelined_layers;
  }
  return plans;
}

// Pass 4c: the depthwise layers that write the bf16 GEMM after them (vdpbf16ps, bfdot) its A
// as rows of bf16 pairs: the GEMM rounds its A to bf16 before any product, so
// the depthwise layer can round its (clamped) outputs instead, as the GEMM
// would. The GEMM's rounding pass goes and the depthwise layer writes half the
// bytes; the numbers stay the same. Fused or not, in the row pipeline or not:
// the layout is the float one at half the pixel stride.
LayerPlans plan_bf16_rows(const std::vector<Layer>& layers, LayerPlans plans, const KernelTable& kernels) {
  if (kernels.dwconv3x3_bf16_rows == nullptr) return plans;
  for (size_t i = 0; i + 1 < layers.size(); ++i)
    plans[i].bf16_rows = plans[i].kernel == LayerKernel::DwConv3x3 &&
                         plans[i + 1].kernel == LayerKernel::PackedGemmBf16 && bf16_rows_channels(layers[i].spec.out_c);
  return plans;
}

// Pass 5: pixel strides, once every fusion is known (a fused depthwise layer
// writes its band dense).
LayerPlans plan_pixel_strides(const std::vector<Layer>& layers, LayerPlans plans) {
  const int num_layers = static_cast<int>(layers.size());
  for (int i = 0; i < num_layers; ++i) {
    const Layer& layer = layers[i];
    LayerPlan& p = plans[i];
    p.in_stride = i == 0 ? layer.spec.in_c : plans[i - 1].out_stride;
    p.out_stride = p.bf16_rows ? layer.spec.out_c / 2 : layer.spec.out_c;
    // Only the pointwise and depthwise kernels write strided pixels (the stem
    // writes dense ones; the bf16 GEMM writes float32 as the float one does),
    // a fused depthwise layer writes its band dense, and the network's output
    // is the caller's dense array.
    const LayerKind kind = layer.spec.kind;
    const bool float_output = p.precision == Precision::Float32 || p.kernel == LayerKernel::PackedGemmBf16;
    if (float_output && i + 1 < num_layers && !p.fused_with_next &&
        (kind == LayerKind::Conv1x1 || kind == LayerKind::DwConv3x3) &&
        layers[i + 1].spec.kind == LayerKind::DwConv3x3 && layer.spec.out_c >= kPaddedPixelMinChannels)
      p.out_stride += kPixelPadding;
  }
  for (int i = 0; i < num_layers; ++i) {
    const LayerSpec& s = layers[i].spec;
    plans[i].in_image = static_cast<int64_t>(s.in_h) * s.in_w * plans[i].in_stride;
    plans[i].out_image = static_cast<int64_t>(layers[i].out_h) * layers[i].out_w * plans[i].out_stride;
    if (plans[i].bf16_tiles)
      plans[i].out_image =
          (bf16_tiles_elements(int64_t{layers[i].out_h} * layers[i].out_w, layers[i].spec.out_c) + 1) / 2;
    if (i > 0 && plans[i - 1].bf16_tiles) plans[i].in_image = plans[i - 1].out_image;
  }
  return plans;
}

// Pass 6: where a batch switches from image by image to the whole batch.
int plan_batch_split(const std::vector<Layer>& layers, const LayerPlans& plans) {
  const int num_layers = static_cast<int>(layers.size());
  // int8 layers run layer by layer on the whole batch (no image-parallel split yet).
  if (plans.front().precision == Precision::Int8) return 0;
  int batched_from = num_layers;
  while (batched_from > 0 &&
         int64_t{layers[batched_from - 1].spec.in_h} * layers[batched_from - 1].spec.in_w <= kBatchedMaxPixels)
    --batched_from;
  // A fused pair runs as one: it stays on one side of the split.
  if (batched_from > 0 && batched_from < num_layers &&
      (plans[batched_from - 1].fused_with_next || plans[batched_from - 1].fused_when_parallel))
    --batched_from;
  return batched_from;
}

// Pass 7: the buffers the plan's layers need.
BufferSizes plan_buffers(const std::vector<Layer>& layers, const LayerPlans& plans) {
  BufferSizes sizes;
  bool bf16_tiles = false;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    const LayerPlan& p = plans[i];
    sizes.activation = std::max(sizes.activation, p.out_image);
    if (layer.spec.kind == LayerKind::DwConv3x3)
      sizes.zero_row = std::max<int64_t>(sizes.zero_row, int64_t{layer.spec.in_w} * p.in_stride);
    if (p.fused_when_parallel && p.precision == Precision::Int8) {
      // A thread's rows of the depthwise output at their places in the whole
      // layer's (uint8 storage, 4 to a float), and a cache line that the
      // kernels may read past the last row without touching another thread's.
      sizes.band = std::max(sizes.band, (round_up(layer.out_size(), int64_t{64}) + 64) / 4);
    } else if (p.fused_with_next || p.fused_when_parallel) {
      // Bands of pixels (see Executor::run_fused) may start and end inside a row: room for one more.
      const int64_t row_floats = int64_t{layer.out_w} * layer.spec.out_c;
      const int rows = std::min(p.fused_band_rows + 1, layer.out_h);
      sizes.band = std::max(sizes.band, rows * row_floats);
      // bf16 tiles: whole groups of 16 pixels (the GEMM reads a band's last group whole), 2 per float.
      if (p.fused_bf16_tiles)
        sizes.band = std::max(sizes.band, (bf16_tiles_elements(int64_t{rows} * layer.out_w, layer.spec.out_c) + 1) / 2);
      bf16_tiles = bf16_tiles || p.fused_bf16_tiles;
    }
  }
  // Each thread's band then starts on a cache line, as the tiles do.
  if (bf16_tiles) sizes.band = round_up(sizes.band, int64_t{16});
  return sizes;
}

}  // namespace

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::Float32: return "float32";
    case Precision::Int8: return "int8";
    case Precision::BFloat16: return "bfloat16";
    case Precision::Float16: return "float16";
  }
  return "unknown";
}

bool is_fp16(LayerKernel kernel) {
  return kernel == LayerKernel::Conv3x3Fp16 || kernel == LayerKernel::DwConv3x3Fp16 ||
         kernel == LayerKernel::PackedGemmFp16;
}

bool is_int8(LayerKernel kernel) {
  return kernel == LayerKernel::Int8Conv3x3 || kernel == LayerKernel::Int8DwConv3x3 ||
         kernel == LayerKernel::Int8Gemm || kernel == LayerKernel::Int8AvgPool;
}

std::string precision_unavailable(Precision precision, const KernelTable& kernels) {
  const std::string kernel_set = std::string(" (the ") + kernels.name + " kernels)";
  switch (precision) {
    case Precision::Float32:
    case Precision::Int8: return "";  // scalar kernels on every instruction set
    case Precision::BFloat16:
      if (kernels.gemm_bf16 != nullptr) return "";
      if (kernels.isa == Isa::Neon)
        return std::string("precision 'bfloat16' needs the CPU feature '") + cpu_feature_name(CpuFeature::ArmBf16) +
               "' (Armv8.6 BF16), which this CPU lacks" + kernel_set;
      if (kernels.isa == Isa::Avx512)
        return std::string("precision 'bfloat16' needs the CPU feature '") + cpu_feature_name(CpuFeature::Avx512Bf16) +
               "' (vdpbf16ps), which this CPU or build lacks" + kernel_set;
      return std::string("precision 'bfloat16' needs the avx512 kernels on a CPU with '") +
             cpu_feature_name(CpuFeature::Avx512Bf16) + "'" + kernel_set;
    case Precision::Float16:
#if defined(__aarch64__)
      // The scalar kernels emulate fp16 (the reference); they run only where the CPU could run the real ones.
      if (kernels.fp16_gemm != nullptr && cpu_has(CpuFeature::ArmFp16)) return "";
      if (!cpu_has(CpuFeature::ArmFp16))
        return std::string("precision 'float16' needs the CPU feature '") + cpu_feature_name(CpuFeature::ArmFp16) +
               "' (Armv8.2 FP16 arithmetic), which this CPU lacks" + kernel_set;
      return std::string("precision 'float16' needs the neon kernels") + kernel_set;
#else
      return std::string("precision 'float16' runs only on AArch64 CPUs with the feature '") +
             cpu_feature_name(CpuFeature::ArmFp16) + "' (Armv8.2 FP16 arithmetic); this CPU has none" + kernel_set;
#endif
  }
  return "unknown precision";
}

// From per-layer profiles of the shared
// uint8 models on AVX-512 VNNI with AMX (Sapphire Rapids; bench/RESULTS.md, log
// entry 71), within 2x of the measured times: the stem and depthwise layers by
// outputs, the GEMMs by outputs (the epilogue) and mult-adds, or by the weights
// they stream where the rows are few (the classifier).
double int8_estimated_ns(const Layer& layer, int batch) {
  const LayerSpec& s = layer.spec;
  const double outputs = double{1} * batch * layer.out_h * layer.out_w * s.out_c;
  switch (s.kind) {
    case LayerKind::Conv3x3: return outputs * 0.8;
    case LayerKind::DwConv3x3:  // slower per output below 64 channels (the tail block), more so at stride 2
      return outputs * (0.27 + 4.0 / s.in_c + (s.in_c < 64 && s.stride == 2 ? 0.25 : 0.0));
    case LayerKind::Conv1x1:
    case LayerKind::FullyConnected:
      return std::max(outputs * 0.3 + outputs * s.in_c / 1000, double{1} * s.in_c * s.out_c / 80);
    case LayerKind::GlobalAvgPool: return double{1} * batch * s.in_h * s.in_w * s.in_c / 10;
  }
  return 0;
}

Plan make_plan(const std::vector<Layer>& layers, const KernelTable& kernels, const PlanOptions& options) {
  Plan plan;
  plan.kernels = &kernels;
  plan.backend = options.backend;
  LayerPlans layer_plans = choose_kernels(layers, kernels, options);
  // Fusion at load and the row pipeline are the float kernels' (int8 runs
  // layer by layer, fusing pairs only when they are split across threads).
  const bool float_kernels = options.precision != Precision::Int8;
  const bool fuse = options.fuse && float_kernels;
  if (fuse) layer_plans = plan_fusion(layers, std::move(layer_plans));
  if (float_kernels) plan.stages = plan_pipeline(layers, layer_plans);
  if (fuse) layer_plans = plan_parallel_fusion(layers, std::move(layer_plans), plan.pipelined_layers(), kernels);
  if (options.fuse && !float_kernels) layer_plans = plan_int8_parallel_fusion(layers, std::move(layer_plans), kernels);
  layer_plans = plan_bf16_tiles(layers, std::move(layer_plans), plan.pipelined_layers(), kernels);
  layer_plans = plan_bf16_rows(layers, std::move(layer_plans), kernels);
  layer_plans = plan_pixel_strides(layers, std::move(layer_plans));
  plan.batched_from = plan_batch_split(layers, layer_plans);
  plan.buffers = plan_buffers(layers, layer_plans);
  plan.layers = std::move(layer_plans);
  plan.gemm_k_block_bytes = gemm_k_block_bytes(kernels.isa);
  return plan;
}

}  // namespace mobilenet
