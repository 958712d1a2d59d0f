// AArch64 BF16 kernels (compiled with -march=armv8.2-a+bf16): the bf16 GEMM on
// bfdot, entered into the NEON table only where the CPU has BF16 (hwcap2 bf16;
// kernels_impl.h). 32 q registers: an 8x8 tile uses 16 accumulators. Also the
// float32 depthwise kernel writing its outputs as the GEMM's rows of bf16 pairs
// (KernelTable::dwconv3x3_bf16_rows).
#include <arm_neon.h>

#include <type_traits>

#include "kernels.h"

#define MBN_VEC_NEON 1
#define MBN_GEMM_NR_VECS 2
#define MBN_GEMM_BF16_MR 8
#define MBN_BF16_NEON 1

namespace mobilenet {
namespace neon_bf16 {

#include "simd_vec.h"

namespace {

#include "kernels/shared.h"

#include "kernels/gemm_bf16.h"

// The depthwise templates, for the kernel that writes bf16 rows (not the table's float32 entry points).
#define MBN_DW_TEMPLATES_ONLY 1
#include "kernels/depthwise.h"

}  // namespace

void dwconv3x3_bf16_rows_kernel(const DwConvArgs& args, int row_begin, int row_end) {
  dwconv3x3_bf16_rows(args, row_begin, row_end);
}

void gemm_bf16_kernel(const GemmBf16Args& args, int m_begin, int m_end, int panel_begin, int panel_end) {
  gemm_bf16(args, m_begin, m_end, panel_begin, panel_end);
}
const char* gemm_bf16_kernel_variant(const GemmBf16Args& args) { return gemm_bf16_variant(args); }

}  // namespace neon_bf16
}  // namespace mobilenet
