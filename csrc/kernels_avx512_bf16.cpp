// AVX512_BF16 kernels (compiled with -mavx512bf16 on top of the AVX-512 flags):
// the bf16 GEMM on vdpbf16ps, entered into the AVX-512 table only where the
// CPU has AVX512_BF16 (kernels_impl.h). 32 zmm registers: a 12x32 tile uses 24
// accumulators, each vdpbf16ps two multiply-adds per lane.
#include <immintrin.h>

#include <type_traits>

#include "kernels.h"

#define MBN_VEC_AVX512 1
#define MBN_GEMM_NR_VECS 2
#define MBN_GEMM_BF16_MR 12

namespace mobilenet {
namespace avx512_bf16 {

#include "simd_vec.h"

namespace {

#include "kernels/shared.h"

#include "kernels/gemm_bf16.h"

}  // namespace

void gemm_bf16_kernel(const GemmBf16Args& args, int m_begin, int m_end, int panel_begin, int panel_end) {
  gemm_bf16(args, m_begin, m_end, panel_begin, panel_end);
}
const char* gemm_bf16_kernel_variant(const GemmBf16Args& args) { return gemm_bf16_variant(args); }

}  // namespace avx512_bf16
}  // namespace mobilenet
