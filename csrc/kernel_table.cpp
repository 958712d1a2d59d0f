#include "kernels.h"

namespace mobilenet {

namespace scalar {
const KernelTable& table();
}
#if defined(MBN_HAVE_AVX2)
namespace avx2 {
const KernelTable& table();
}
#endif
#if defined(MBN_HAVE_AVX512)
namespace avx512 {
const KernelTable& table();
}
#endif
#if defined(MBN_HAVE_NEON)
namespace neon {
const KernelTable& table();
}
#endif

const KernelTable& kernel_table(Isa isa) {
  MBN_CHECK(isa_supported(isa), std::string("instruction set '") + isa_name(isa) + "' is not available here");
  switch (isa) {
#if defined(MBN_HAVE_AVX2)
    case Isa::Avx2: return avx2::table();
#endif
#if defined(MBN_HAVE_AVX512)
    case Isa::Avx512: return avx512::table();
#endif
#if defined(MBN_HAVE_NEON)
    case Isa::Neon: return neon::table();
#endif
    default: return scalar::table();
  }
}

Int8GemmArgs int8_gemm_columns(const KernelTable& kt, const Int8GemmArgs& g, int n0, int n1) {
  MBN_CHECK(n0 % kInt8PanelWidth == 0 && 0 <= n0 && n0 <= n1 && n1 <= g.n, "int8 GEMM columns out of range");
  Int8GemmArgs part = g;
  part.packed_b += int64_t{n0 / kInt8PanelWidth} * ((g.k + 3) / 4) * 4 * kInt8PanelWidth;
  part.col_offset += n0;
  part.c += n0;
  part.n = n1 - n0;
  part.rq.bias += n0, part.rq.multiplier += n0, part.rq.shift += n0;
  if (part.rq_prepared != nullptr)
    part.rq_prepared = static_cast<const char*>(part.rq_prepared) +
                       n0 / kInt8PanelWidth * kt.int8_gemm_prepared_bytes(kInt8PanelWidth);
  if (part.bounded != nullptr)
    part.bounded = static_cast<const char*>(part.bounded) + n0 / kInt8PanelWidth * int8_bounded_panel_bytes(g.k);
  if (part.split != nullptr) part.split = static_cast<const int32_t*>(part.split) + n0 / kInt8PanelWidth;
  return part;
}

// The packed weight layouts are defined in pack.cpp.

}  // namespace mobilenet
