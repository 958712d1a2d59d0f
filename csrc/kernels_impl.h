// Kernel templates written once over `Vec` and compiled once per instruction
// set. A kernels_<isa>.cpp file defines MBN_KERNEL_NS, one MBN_VEC_* macro,
// the GEMM tile (MBN_GEMM_MR rows x MBN_GEMM_NR_VECS vectors) and the stem's
// accumulator count (MBN_STEM_ACCUMULATORS), then includes this file, which
// includes one header per kernel family from kernels/. Everything lives in
// that ISA's namespace: no std:: algorithms are used here, so no out-of-line
// function compiled with wide instructions can be shared with (and picked by
// the linker for) a narrower translation unit.
#include <cstdint>
#include <type_traits>

#include "kernels.h"

#if defined(MBN_VEC_SCALAR)
#include "bf16.h"  // the scalar reference rounds as the bf16 instructions do
#include "fp16.h"  // and computes fp16 as FP16 arithmetic does
#endif
#if defined(MBN_FP16_KERNELS_NS)
// This table's fp16 kernels live in their own translation unit, compiled with
// FP16 arithmetic, and enter the table only where the CPU has it.
namespace mobilenet {
namespace MBN_FP16_KERNELS_NS {
void fp16_conv3x3_kernel(const Conv3x3Args& args, int row_begin, int row_end);
void fp16_dwconv3x3_kernel(const DwConvArgs& args, int row_begin, int row_end);
void fp16_gemm_kernel(const GemmFp16Args& args, int m_begin, int m_end, int panel_begin, int panel_end);
const char* fp16_gemm_kernel_variant(const GemmFp16Args& args);
}  // namespace MBN_FP16_KERNELS_NS
}  // namespace mobilenet
#endif
#if defined(MBN_BF16_KERNELS_NS)
// This table's bf16 kernels live in their own translation unit, compiled with
// the bf16 instructions, and enter the table only where the CPU has them.
namespace mobilenet {
namespace MBN_BF16_KERNELS_NS {
void gemm_bf16_kernel(const GemmBf16Args& args, int m_begin, int m_end, int panel_begin, int panel_end);
const char* gemm_bf16_kernel_variant(const GemmBf16Args& args);
// The depthwise kernel that writes the GEMM (vdpbf16ps, bfdot) its A as rows of bf16 pairs.
void dwconv3x3_bf16_rows_kernel(const DwConvArgs& args, int row_begin, int row_end);
#if defined(MBN_BF16_BY_FMA)
// The AVX-512 table's stem on vdpbf16ps (kernels_avx512_bf16.cpp).
void conv3x3_bf16_kernel(const Conv3x3Args& args, int row_begin, int row_end);
#endif
}  // namespace MBN_BF16_KERNELS_NS
#if defined(MBN_HAVE_AMX_BF16) && defined(MBN_BF16_BY_FMA)
// The AVX-512 table's bf16 GEMM on AMX tiles, where the CPU and the OS allow it (kernels_amx.cpp).
#define MBN_BF16_AMX 1
// The depthwise kernel that writes its output for it (kernels_avx512_bf16.cpp).
namespace MBN_BF16_KERNELS_NS {
void dwconv3x3_bf16_tiles_kernel(const DwConvArgs& args, int row_begin, int row_end);
}  // namespace MBN_BF16_KERNELS_NS
namespace amx {
void conv3x3_bf16_kernel(const Conv3x3Args& args, int row_begin, int row_end);
void gemm_bf16_kernel(const GemmBf16Args& args, int m_begin, int m_end, int panel_begin, int panel_end);
const char* gemm_bf16_kernel_variant(const GemmBf16Args& args);
}  // namespace amx
#endif
}  // namespace mobilenet
#endif

#if defined(MBN_HAVE_AMX_INT8) && defined(MBN_VEC_AVX512)
// The AVX-512 table's int8 GEMM on AMX tiles, where the CPU and the OS allow it (kernels_amx_int8.cpp).
#define MBN_INT8_AMX 1
namespace mobilenet {
namespace amx {
void int8_gemm_kernel(const Int8GemmArgs& args, int m_begin, int m_end);
const char* int8_gemm_kernel_variant(const Int8GemmArgs& args);
extern const int kInt8GemmRowBlock;  // the rows it computes as one block
}  // namespace amx
}  // namespace mobilenet
#endif

namespace mobilenet {
namespace MBN_KERNEL_NS {

#include "simd_vec.h"

namespace {

#include "kernels/shared.h"

#include "kernels/stem.h"
#include "kernels/depthwise.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"
#include "kernels/input_check.h"
#include "kernels/int8.h"
#if defined(MBN_VEC_SCALAR) || defined(MBN_BF16_BY_FMA)
#include "kernels/gemm_bf16.h"
#endif
#if defined(MBN_VEC_SCALAR)
#include "kernels/fp16.h"
#endif

#if defined(MBN_INT8_AMX)
// Fewer rows than one AMX tile holds (the classifier at batch 1-15): the tiles
// would multiply mostly zero rows and their per-call setup outweighs them, so
// vpdpbusd runs those (the same packed panels, the same exact epilogue).
constexpr int kInt8AmxMinRows = 16;
void int8_gemm_tiles_or_dot(const Int8GemmArgs& g, int m_begin, int m_end) {
  if (g.m < kInt8AmxMinRows) return int8_gemm(g, m_begin, m_end);
  amx::int8_gemm_kernel(g, m_begin, m_end);
}
const char* int8_gemm_tiles_or_dot_variant(const Int8GemmArgs& g) {
  return g.m < kInt8AmxMinRows ? int8_gemm_variant(g) : amx::int8_gemm_kernel_variant(g);
}
#endif

}  // namespace

const KernelTable& table() {
  static const KernelTable t = {
      MBN_KERNEL_ISA,
      MBN_KERNEL_NAME,
      W,
      kGemmNR,
      kGemmMR,
      kTilePanels,
      conv3x3,
      conv3x3_variant,
      conv3x3_uses_pair_weights,
      dwconv3x3,
      dwconv3x3_variant,
      bias_activation,
      global_avgpool,
      gemm,
      gemm_variant,
      all_finite,
      int8_quantize_row,
      int8_conv3x3,
      int8_dwconv3x3,
#if defined(MBN_INT8_AMX)
      int8_amx_preferred() ? int8_gemm_tiles_or_dot : int8_gemm,
      int8_amx_preferred() ? int8_gemm_tiles_or_dot_variant : int8_gemm_variant,
      int8_amx_preferred() ? amx::kInt8GemmRowBlock : 1,
#else
      int8_gemm,
      int8_gemm_variant,
      1,
#endif
      int8_dwconv3x3_variant,
      int8_avgpool,
#if defined(MBN_VEC_SCALAR)
      gemm_bf16,
      gemm_bf16_variant,
      false,
      true,
      false,
#elif defined(MBN_BF16_AMX)
      // AMX tiles where the CPU and the OS allow them; else the dot product
      // instruction where it is the faster way on this CPU, else FMAs.
      bf16_amx_preferred()           ? amx::gemm_bf16_kernel
      : bf16_dot_product_preferred() ? MBN_BF16_KERNELS_NS::gemm_bf16_kernel
                                     : gemm_bf16,
      bf16_amx_preferred()           ? amx::gemm_bf16_kernel_variant
      : bf16_dot_product_preferred() ? MBN_BF16_KERNELS_NS::gemm_bf16_kernel_variant
                                     : gemm_bf16_variant,
      true,
      bf16_amx_preferred() || bf16_dot_product_preferred(),
      bf16_amx_preferred(),
#elif defined(MBN_BF16_BY_FMA) && defined(MBN_BF16_KERNELS_NS)
      // The dot product instruction where it is the faster way on this CPU, else FMAs.
      bf16_dot_product_preferred() ? MBN_BF16_KERNELS_NS::gemm_bf16_kernel : gemm_bf16,
      bf16_dot_product_preferred() ? MBN_BF16_KERNELS_NS::gemm_bf16_kernel_variant : gemm_bf16_variant,
      true,
      bf16_dot_product_preferred(),
      false,
#elif defined(MBN_BF16_BY_FMA)
      gemm_bf16,
      gemm_bf16_variant,
      true,
      false,
      false,
#elif defined(MBN_BF16_KERNELS_NS)
      cpu_has(MBN_BF16_CPU_FEATURE) ? MBN_BF16_KERNELS_NS::gemm_bf16_kernel : nullptr,
      cpu_has(MBN_BF16_CPU_FEATURE) ? MBN_BF16_KERNELS_NS::gemm_bf16_kernel_variant : nullptr,
      cpu_has(MBN_BF16_CPU_FEATURE),
      true,
      false,
#else
      nullptr,
      nullptr,
      false,
      false,
      false,
#endif
#if defined(MBN_VEC_SCALAR)
      fp16_conv3x3,
      fp16_dwconv3x3,
      fp16_gemm,
      fp16_gemm_variant,
      false,
#elif defined(MBN_FP16_KERNELS_NS)
      cpu_has(CpuFeature::ArmFp16) ? MBN_FP16_KERNELS_NS::fp16_conv3x3_kernel : nullptr,
      cpu_has(CpuFeature::ArmFp16) ? MBN_FP16_KERNELS_NS::fp16_dwconv3x3_kernel : nullptr,
      cpu_has(CpuFeature::ArmFp16) ? MBN_FP16_KERNELS_NS::fp16_gemm_kernel : nullptr,
      cpu_has(CpuFeature::ArmFp16) ? MBN_FP16_KERNELS_NS::fp16_gemm_kernel_variant : nullptr,
      cpu_has(CpuFeature::ArmFp16),
#else
      nullptr,
      nullptr,
      nullptr,
      nullptr,
      false,
#endif
#if defined(MBN_BF16_AMX)
      bf16_tiles_preferred() ? MBN_BF16_KERNELS_NS::dwconv3x3_bf16_tiles_kernel : nullptr,
      !bf16_stem_preferred() ? nullptr
      : bf16_amx_preferred() ? amx::conv3x3_bf16_kernel
                             : MBN_BF16_KERNELS_NS::conv3x3_bf16_kernel,
      !bf16_amx_preferred() && bf16_dot_product_preferred() && bf16_rows_allowed()
          ? MBN_BF16_KERNELS_NS::dwconv3x3_bf16_rows_kernel
          : nullptr,
#elif defined(MBN_BF16_BY_FMA) && defined(MBN_BF16_KERNELS_NS)
      nullptr,
      bf16_stem_preferred() ? MBN_BF16_KERNELS_NS::conv3x3_bf16_kernel : nullptr,
      bf16_dot_product_preferred() && bf16_rows_allowed() ? MBN_BF16_KERNELS_NS::dwconv3x3_bf16_rows_kernel : nullptr,
#elif defined(MBN_VEC_SCALAR)
      nullptr,
      nullptr,
      bf16_rows_allowed() ? dwconv3x3_bf16_rows : nullptr,
#elif defined(MBN_BF16_KERNELS_NS)
      nullptr,
      nullptr,
      cpu_has(MBN_BF16_CPU_FEATURE) && bf16_rows_allowed() ? MBN_BF16_KERNELS_NS::dwconv3x3_bf16_rows_kernel : nullptr,
#else
      nullptr,
      nullptr,
      nullptr,
#endif
#if defined(MBN_VEC_AVX512)
      int8_dw_prepared_bytes,
      int8_dw_prepare_blocks,
      int8_gemm_prepared_bytes,
      int8_gemm_prepare,
#else
      nullptr,
      nullptr,
      nullptr,
      nullptr,
#endif
#if defined(MBN_VEC_AVX2)
      !int8_dot_product(Isa::Avx2),
#else
      false,
#endif
#if defined(MBN_VEC_AVX512)
      int8_dot_product(Isa::Avx512),
#else
      false,
#endif
  };
  return t;
}

}  // namespace MBN_KERNEL_NS
}  // namespace mobilenet
