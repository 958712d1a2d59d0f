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

int64_t stem_pair_weights_size(int out_c) { return int64_t{kStemPairVectors} * ((out_c + 7) / 8) * 16; }

void pack_stem_pair_weights(const float* weights, const float* bias, int out_c, int out_c_padded, float* packed) {
  const int nv = (out_c + 7) / 8;
  for (int ky = 0; ky < 3; ++ky)
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < 8 * nv; ++c)
        for (int t = 0; t < 2; ++t) {
          const int tap = 2 * j + t;  // kx = tap / 3, input channel = tap % 3: the 9 floats of one window row
          packed[((ky * 5 + j) * nv + c / 8) * 16 + 2 * (c % 8) + t] =
              tap < 9 && c < out_c ? weights[static_cast<int64_t>(ky * 9 + tap) * out_c_padded + c] : 0.0f;
        }
  const int bias_at = (kStemPairVectors - 1) * nv * 16;
  for (int c = 0; c < 8 * nv; ++c) {
    packed[bias_at + (c / 8) * 16 + 2 * (c % 8)] = c < out_c ? bias[c] : 0.0f;
    packed[bias_at + (c / 8) * 16 + 2 * (c % 8) + 1] = 0.0f;
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
