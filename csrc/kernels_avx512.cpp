// AVX-512 (F/DQ/BW/VL) kernels. 32 zmm registers: a GEMM tile of 6x64 (two
// 32-column panels) or 12x32 uses 24 accumulators, enough independent FMA
// chains to cover the FMA latency.
#include <immintrin.h>

#include <new>  // the int8 depthwise constants prepared at packing
#define MBN_KERNEL_NS avx512
#define MBN_KERNEL_ISA Isa::Avx512
#define MBN_KERNEL_NAME "avx512"
#define MBN_VEC_AVX512 1
#define MBN_GEMM_MR 12
#define MBN_GEMM_NR_VECS 2
#define MBN_GEMM_TILE_PANELS 2
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

namespace mobilenet {
namespace avx512 {

// The requantization epilogue alone (kernels/int8_requant_avx512.h), for the C++
// driver's exactness test: x[i] (count a multiple of 16, column i % 16 of 16
// with multiplier[i % 16] and shift[i % 16]) to out_zero_point + the
// requantized value, unclamped; act_min as int8_rq_prepare takes it.
void int8_requantize_lanes(const int32_t* x, int count, const int32_t* multiplier, const int32_t* shift,
                           int out_zero_point, int act_min, int32_t* out) {
  Int8Rq16 c;
  int8_rq_prepare(multiplier, shift, out_zero_point, c, act_min);
  const __m512i zero_point = _mm512_set1_epi32(out_zero_point);
  for (int i = 0; i + 16 <= count; i += 16)
    _mm512_storeu_si512(out + i, int8_rq_apply(_mm512_loadu_si512(x + i), c, zero_point));
}

}  // namespace avx512
}  // namespace mobilenet
