#include "kernels.h"

namespace mobilenet {

namespace scalar { const KernelTable& table(); }
#if defined(MBN_HAVE_AVX2)
namespace avx2 { const KernelTable& table(); }
#endif
#if defined(MBN_HAVE_AVX512)
namespace avx512 { const KernelTable& table(); }
#endif
#if defined(MBN_HAVE_NEON)
namespace neon { const KernelTable& table(); }
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

int64_t packed_gemm_size(int k, int n, int panel_width) {
  return static_cast<int64_t>(k) * round_up(n, panel_width);
}

void pack_gemm_weights(const float* b, int k, int n, int panel_width, float* packed) {
  const int panels = static_cast<int>(round_up(n, panel_width) / panel_width);
  for (int p = 0; p < panels; ++p)
    for (int kk = 0; kk < k; ++kk)
      for (int j = 0; j < panel_width; ++j) {
        const int col = p * panel_width + j;
        *packed++ = col < n ? b[static_cast<int64_t>(kk) * n + col] : 0.0f;
      }
}

}  // namespace mobilenet
