// AArch64 FP16 kernels (compiled with -march=armv8.2-a+fp16): the stem, the
// depthwise layers and the 1x1 GEMM in half-precision arithmetic (kernels/fp16.h),
// entered into the NEON table only where the CPU has FP16 arithmetic (hwcap
// fphp and asimdhp; kernels_impl.h). 32 q registers: the GEMM's 8x16 tile
// holds 16 accumulators and 8 vectors of A.
#include <arm_neon.h>

#include <type_traits>

#include "kernels.h"

#define MBN_VEC_NEON 1
#define MBN_FP16_NEON 1

namespace mobilenet {
namespace neon_fp16 {

#include "simd_vec.h"

namespace {

#include "kernels/shared.h"

#include "kernels/fp16.h"

}  // namespace

void fp16_conv3x3_kernel(const Conv3x3Args& args, int row_begin, int row_end) {
  fp16_conv3x3(args, row_begin, row_end);
}
void fp16_dwconv3x3_kernel(const DwConvArgs& args, int row_begin, int row_end) {
  fp16_dwconv3x3(args, row_begin, row_end);
}
void fp16_gemm_kernel(const GemmFp16Args& args, int m_begin, int m_end, int panel_begin, int panel_end) {
  fp16_gemm(args, m_begin, m_end, panel_begin, panel_end);
}
const char* fp16_gemm_kernel_variant(const GemmFp16Args& args) { return fp16_gemm_variant(args); }

}  // namespace neon_fp16
}  // namespace mobilenet
