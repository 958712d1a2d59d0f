// AVX-512 (F/DQ/BW/VL) kernels. 32 zmm registers: a 12x32 GEMM tile uses 24
// accumulators, enough independent FMA chains to cover the FMA latency.
#include <immintrin.h>
#define MBN_KERNEL_NS avx512
#define MBN_KERNEL_ISA Isa::Avx512
#define MBN_KERNEL_NAME "avx512"
#define MBN_VEC_AVX512 1
#define MBN_GEMM_MR 12
#define MBN_GEMM_NR_VECS 2
#define MBN_STEM_ACCUMULATORS 24
// bfloat16 by FMA on unpacked bf16 pairs (kernels/gemm_bf16.h), or through
// vdpbf16ps where the CPU has it and it is the faster way (bf16_dot_product_preferred).
#define MBN_BF16_BY_FMA 1
#define MBN_GEMM_BF16_MR 12
#if defined(MBN_HAVE_AVX512_BF16)
#define MBN_BF16_KERNELS_NS avx512_bf16
#define MBN_BF16_CPU_FEATURE CpuFeature::Avx512Bf16
#endif
#include "kernels_impl.h"
