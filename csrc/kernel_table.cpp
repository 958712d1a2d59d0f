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

// The packed weight layouts are defined in pack.cpp.

}  // namespace mobilenet
