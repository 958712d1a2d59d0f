// AArch64 Advanced SIMD kernels. 32 q registers: an 8x8 GEMM tile uses 16 accumulators.
#include <arm_neon.h>
#define MBN_KERNEL_NS neon
#define MBN_KERNEL_ISA Isa::Neon
#define MBN_KERNEL_NAME "neon"
#define MBN_VEC_NEON 1
#define MBN_GEMM_MR 8
#define MBN_GEMM_NR_VECS 2
#define MBN_STEM_ACCUMULATORS 24
#if defined(MBN_HAVE_NEON_BF16)
// bfloat16 on bfdot (kernels_neon_bf16.cpp), where the CPU has Armv8.6 BF16.
#define MBN_BF16_KERNELS_NS neon_bf16
#define MBN_BF16_CPU_FEATURE CpuFeature::ArmBf16
#endif
#if defined(MBN_HAVE_NEON_INT8_DOT)
// int8 on sdot (kernels_neon_int8dot.cpp), where the CPU has the ARMv8.2 dot product.
#include "kernels.h"
namespace mobilenet {
namespace neon_dot {
void int8_gemm(const Int8GemmArgs& g, int m_begin, int m_end);
void int8_dwconv3x3(const Int8ConvArgs& a, int row_begin, int row_end);
}  // namespace neon_dot
}  // namespace mobilenet
#endif
#if defined(MBN_HAVE_NEON_FP16)
// float16 on Armv8.2 FP16 arithmetic (kernels_neon_fp16.cpp), where the CPU has it.
#define MBN_FP16_KERNELS_NS neon_fp16
#endif
#include "kernels_impl.h"
