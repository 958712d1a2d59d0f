// AVX2 + FMA kernels (compiled with -mavx2 -mfma; selected only when CPUID says so).
// 16 ymm registers: a 6x16 GEMM tile uses 12 accumulators, 2 B vectors and a broadcast.
#include <immintrin.h>
#include "scratch.h"  // the int8 GEMM's int16 copies
#define MBN_KERNEL_NS avx2
#define MBN_KERNEL_ISA Isa::Avx2
#define MBN_KERNEL_NAME "avx2"
#define MBN_VEC_AVX2 1
#define MBN_GEMM_MR 6
#define MBN_GEMM_NR_VECS 2
#define MBN_STEM_ACCUMULATORS 12
#include "kernels_impl.h"
