// Portable kernels: the fallback on every CPU and the baseline the SIMD ones are tested against.
#define MBN_KERNEL_NS scalar
#define MBN_KERNEL_ISA Isa::Scalar
#define MBN_KERNEL_NAME "scalar"
#define MBN_VEC_SCALAR 1
#define MBN_GEMM_MR 4
#define MBN_GEMM_NR_VECS 4
#define MBN_STEM_ACCUMULATORS 8
#define MBN_GEMM_BF16_MR 4
#include "kernels_impl.h"
