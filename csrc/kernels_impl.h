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

}  // namespace

const KernelTable& table() {
  static const KernelTable t = {
      MBN_KERNEL_ISA,
      MBN_KERNEL_NAME,
      W,
      kGemmNR,
      kGemmMR,
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
      int8_conv3x3,
      int8_dwconv3x3,
      int8_gemm,
      int8_gemm_variant,
      int8_avgpool,
  };
  return t;
}

}  // namespace MBN_KERNEL_NS
}  // namespace mobilenet
