// Planning: what runs each layer, and how, decided once at model build as an
// immutable Plan. make_plan runs the passes in one visible order; each is a
// pure function of the previous one's result.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels.h"
#include "layer.h"
#include "pipeline.h"

namespace mobilenet {

// The arithmetic a layer runs in: a network's precision (PlanOptions) sets
// each layer's, where a kernel of that precision pays.
enum class Precision : int {
  Float32 = 0,
  // TFLite's integer arithmetic (uint8 storage, int32 sums), bit-exact to its reference kernels.
  Int8 = 1,
  // Half-precision floats: bf16 products summed in float32 (bf16.h); float16 arithmetic (ARM).
  BFloat16 = 16,
  Float16 = 17,
};
const char* precision_name(Precision precision);
// Why a network in this precision cannot run on these kernels (the CPU
// feature it lacks), or the empty string when it can.
std::string precision_unavailable(Precision precision, const KernelTable& kernels);

// The kernel that runs a layer (a KernelTable entry, or BLAS for the pointwise
// backend): execution and packing dispatch on it, nothing else.
enum class LayerKernel : int {
  Conv3x3 = 0,        // the stem (KernelTable::conv3x3)
  DwConv3x3 = 1,      // depthwise (KernelTable::dwconv3x3)
  PackedGemm = 2,     // 1x1 conv and classifier, our GEMM on weights packed into panels
  BlasGemm = 3,       // the same through BLAS, with the bias and activation as its epilogue
  GlobalAvgPool = 4,  // KernelTable::global_avgpool
  // Precision::Int8
  Int8Conv3x3 = 5,    // KernelTable::int8_conv3x3
  Int8DwConv3x3 = 6,  // KernelTable::int8_dwconv3x3
  Int8Gemm = 7,       // KernelTable::int8_gemm, weights in Int8GemmArgs' panels
  Int8AvgPool = 8,    // KernelTable::int8_avgpool
  // bfloat16
  PackedGemmBf16 = 16,  // 1x1 conv and classifier on bf16 weights (KernelTable::gemm_bf16)
  Conv3x3Bf16 = 20,     // the stem in bf16, on AMX tiles or vdpbf16ps (KernelTable::conv3x3_bf16)
  // float16
  Conv3x3Fp16 = 17,     // KernelTable::fp16_conv3x3
  DwConv3x3Fp16 = 18,   // KernelTable::fp16_dwconv3x3
  PackedGemmFp16 = 19,  // 1x1 conv on fp16 weights (KernelTable::fp16_gemm)
};
bool is_int8(LayerKernel kernel);
bool is_fp16(LayerKernel kernel);

// GEMMs split by rows (each thread reads all the weights) only when their
// weights are at most this large; small depthwise/pointwise pairs are fused
// on threads under the same bound.
constexpr int64_t kRowSplitMaxWeightBytes = 512 * 1024;

struct LayerPlan {
  LayerKernel kernel = LayerKernel::Conv3x3;
  Precision precision = Precision::Float32;
  // A depthwise layer fused with the pointwise layer after it: bands of
  // fused_band_rows output rows go straight from the depthwise kernel into
  // the GEMM through a per-thread buffer that stays in L2.
  bool fused_with_next = false;
  // The same, but only when the layers are split across threads (Plan::fused_at):
  // each thread then makes its rows of both layers with no barrier between.
  bool fused_when_parallel = false;
  // ... and only on at most this many threads: each thread's rows must fill
  // two GEMM tiles, as for the row split in Executor::run_pointwise.
  int64_t fused_max_threads = 0;
  int fused_band_rows = 0;
  // bfloat16 on AMX, a fused depthwise layer whose GEMM is on AMX tiles: the
  // band between them holds bf16 in the A-tile layout (kernels.h), written by
  // KernelTable::dwconv3x3_bf16_tiles and loaded by the GEMM as it lies. The
  // same numbers as a float32 band that the GEMM rounds (plan_bf16_bands).
  bool fused_bf16_tiles = false;
  // The same for the whole output of a depthwise layer run on its own (its
  // out_image and the GEMM's in_image are then the layout's, in floats): where
  // neither is inside the row pipeline's rings (the depthwise layer may be its last stage).
  bool bf16_tiles = false;
  // bfloat16 on vdpbf16ps or bfdot, a depthwise layer before a bf16 GEMM: its outputs,
  // fused band or whole, go to the GEMM as rows of bf16 pairs (kernels.h),
  // written by KernelTable::dwconv3x3_bf16_rows and read as they lie: its
  // out_stride and the GEMM's in_stride are then channels / 2 floats. The same
  // numbers as float32 rows that the GEMM rounds (plan_bf16_rows).
  bool bf16_rows = false;
  // Floats from one pixel to the next in this layer's input and output
  // buffers: the channel count, or a little more (plan_pixel_strides).
  int in_stride = 0, out_stride = 0;
  // Floats per image in the layer's input and output buffers, pixel strides included.
  int64_t in_image = 0, out_image = 0;
};

// Floats of the buffers a forward pass needs, per image or per thread.
struct BufferSizes {
  int64_t activation = 0;  // the largest layer output, per image
  int64_t zero_row = 0;    // the widest depthwise input row
  int64_t band = 0;        // a fused depthwise band, per thread
};

struct PlanOptions {
  PointwiseBackend backend = PointwiseBackend::Gemm;
  // Run large depthwise layers in bands straight into the next pointwise layer.
  bool fuse = true;
  Precision precision = Precision::Float32;
};

struct Plan {
  const KernelTable* kernels = nullptr;  // the instruction set every layer's kernel comes from
  PointwiseBackend backend = PointwiseBackend::Gemm;
  std::vector<LayerPlan> layers;
  // The row pipeline's stages (none, or at least two), from layer 0.
  std::vector<PipelineStage> stages;
  // Layers before this one run image by image in a batch; the rest on the whole batch.
  int batched_from = 0;
  BufferSizes buffers;
  // The float32 GEMM's k block for this CPU (GemmArgs::k_block_bytes).
  int64_t gemm_k_block_bytes = 0;

  // Layers [0, pipelined_layers()) run as a pipeline of row bands.
  int pipelined_layers() const { return stages.empty() ? 0 : stages.back().first + stages.back().count; }
  // Whether layer i runs fused with layer i + 1 on `threads` threads (only
  // depthwise layers are ever planned for it).
  bool fused_at(int i, int threads) const {
    const LayerPlan& p = layers[i];
    return p.fused_with_next || (p.fused_when_parallel && threads > 1 && threads <= p.fused_max_threads);
  }
};

// An int8 layer's rough one-thread time on `batch` images, in ns: what splitting it across threads may save.
double int8_estimated_ns(const Layer& layer, int batch);

// layers: validated (each one's input is the previous one's output).
Plan make_plan(const std::vector<Layer>& layers, const KernelTable& kernels, const PlanOptions& options);

}  // namespace mobilenet
