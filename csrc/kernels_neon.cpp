// AArch64 Advanced SIMD kernels. 32 q registers: an 8x8 GEMM tile uses 16 accumulators.
#include <arm_neon.h>
#define MBN_KERNEL_NS neon
#define MBN_KERNEL_ISA Isa::Neon
#define MBN_KERNEL_NAME "neon"
#define MBN_VEC_NEON 1
#define MBN_GEMM_MR 8
#define MBN_GEMM_NR_VECS 2
#define MBN_STEM_ACCUMULATORS 24
#include "kernels_impl.h"
