#include "cpu_features.h"

#include <cstdlib>

#include "common.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define MBN_X86 1
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace mobilenet {

namespace {

#if MBN_X86
struct X86Features {
  bool avx2_fma = false;
  bool avx512 = false;
  bool avx512_vnni = false;  // vpdpbusd on zmm
  bool avx_vnni = false;     // vpdpbusd, VEX-encoded (ymm)
  bool avx512_bf16 = false;
  bool amx_bf16 = false;  // AMX-TILE and AMX-BF16, tile state enabled and granted to this process
  bool amx_int8 = false;  // AMX-TILE and AMX-INT8, likewise
};

uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// Linux hands out the AMX tile data state (8 KB of XSAVE area) only to a
// process that asks for it, once, before its first tile instruction: without
// it the first one faults (SIGILL). The permission is the whole process's,
// threads started before or after included.
bool request_tile_state() {
#if defined(__x86_64__) && defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;  // other systems: no AMX kernels until their permission is handled here
#endif
}

X86Features detect_x86() {
  X86Features f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool fma = ecx & (1u << 12);
  const bool osxsave = ecx & (1u << 27);
  const bool avx = ecx & (1u << 28);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // XMM and YMM state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;  // plus opmask and ZMM state
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  const bool avx2 = ebx & (1u << 5);
  const bool avx512f = ebx & (1u << 16);
  const bool avx512dq = ebx & (1u << 17);
  const bool avx512bw = ebx & (1u << 30);
  const bool avx512vl = ebx & (1u << 31);
  f.avx2_fma = os_ymm && avx2 && fma;
  f.avx512 = f.avx2_fma && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
  f.avx512_vnni = f.avx512 && (ecx & (1u << 11));
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx_vnni = f.avx2_fma && (eax & (1u << 4));
  if (f.avx512 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx512_bf16 = eax & (1u << 5);
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    const bool amx_bf16 = edx & (1u << 22), amx_tile = edx & (1u << 24), amx_int8 = edx & (1u << 25);
    const bool os_tiles = (xcr0 & (3u << 17)) == (3u << 17);  // XTILECFG and XTILEDATA
    const bool tiles = f.avx512 && amx_tile && os_tiles && (amx_bf16 || amx_int8) && request_tile_state();
    f.amx_bf16 = tiles && amx_bf16;
    f.amx_int8 = tiles && amx_int8;
  }
  return f;
}

const X86Features& x86_features() {
  static const X86Features f = detect_x86();
  return f;
}
#endif

}  // namespace

bool int8_dot_product(Isa isa) {
  static const bool allowed = [] {
    const char* env = std::getenv("MOBILENET_INT8_DOT");
    return !(env && std::string(env) == "off");
  }();
  if (!allowed) return false;
  switch (isa) {
#if MBN_X86
    case Isa::Avx512: return x86_features().avx512_vnni;
    case Isa::Avx2: return x86_features().avx_vnni;
#endif
#if defined(__aarch64__) && defined(__linux__) && defined(MBN_HAVE_NEON_INT8_DOT)
    case Isa::Neon: return getauxval(AT_HWCAP) & (1ul << 20);  // HWCAP_ASIMDDP: sdot, udot
#endif
    default: return false;
  }
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
#if MBN_X86 && defined(MBN_HAVE_AVX2)
    case Isa::Avx2: return x86_features().avx2_fma;
#endif
#if MBN_X86 && defined(MBN_HAVE_AVX512)
    case Isa::Avx512: return x86_features().avx512;
#endif
#if defined(__aarch64__) && defined(MBN_HAVE_NEON)
    case Isa::Neon: return true;  // Advanced SIMD is mandatory on AArch64
#endif
    default: return false;
  }
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

Isa best_isa() { return supported_isas().back(); }

Isa parse_isa(const std::string& name) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (name == isa_name(isa)) {
      MBN_CHECK(isa_supported(isa), "instruction set '" + name + "' is not supported by this CPU or build");
      return isa;
    }
  }
  throw std::invalid_argument("mobilenet: unknown instruction set '" + name +
                              "' (expected scalar, avx2, avx512 or neon)");
}

bool cpu_has(CpuFeature feature) {
  switch (feature) {
#if MBN_X86
    case CpuFeature::Avx512Bf16: return x86_features().avx512_bf16;
    case CpuFeature::AmxBf16: return x86_features().amx_bf16;
    case CpuFeature::AmxInt8: return x86_features().amx_int8;
#endif
#if defined(__aarch64__) && defined(__linux__)
    // The kernel's hwcap bits (asm/hwcap.h): HWCAP_FPHP (9), HWCAP_ASIMDHP (10), HWCAP2_BF16 (14).
    case CpuFeature::ArmFp16: {
      const unsigned long hw = getauxval(AT_HWCAP);
      return (hw & (1ul << 9)) && (hw & (1ul << 10));
    }
    case CpuFeature::ArmBf16: return getauxval(AT_HWCAP2) & (1ul << 14);
#endif
    default: return false;
  }
}

namespace {
bool amd_cpu() {
#if MBN_X86
  unsigned eax, ebx, ecx, edx;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return ebx == 0x68747541u;  // "Auth" of AuthenticAMD
#endif
  return false;
}
}  // namespace

bool bf16_dot_product_preferred() {
  if (!cpu_has(CpuFeature::Avx512Bf16)) return false;
  const char* forced = std::getenv("MOBILENET_BF16_DOT");
  if (forced && *forced) return forced[0] == '1';
  return amd_cpu();
}

int64_t gemm_k_block_bytes(Isa isa) {
  const char* forced = std::getenv("MOBILENET_GEMM_K_BLOCKS");
  if (forced && *forced) return forced[0] == '0' ? kGemmL2KBlockBytes : 0;
  return isa == Isa::Avx512 && amd_cpu() ? kGemmL2KBlockBytes : 0;
}

#if defined(MBN_HAVE_AMX_BF16) || defined(MBN_HAVE_AMX_INT8)
namespace {
bool amx_allowed() {
  const char* forced = std::getenv("MOBILENET_AMX");
  return !(forced && forced[0] == '0');
}
}  // namespace
#endif

bool bf16_tiles_preferred() {
  const char* forced = std::getenv("MOBILENET_BF16_TILES");
  return bf16_amx_preferred() && !(forced && forced[0] == '0');
}

bool bf16_rows_allowed() {
  const char* forced = std::getenv("MOBILENET_BF16_ROWS");
  return !(forced && forced[0] == '0');
}

bool bf16_stem_preferred() {
  const char* forced = std::getenv("MOBILENET_BF16_STEM");
  return (bf16_amx_preferred() || bf16_dot_product_preferred()) && !(forced && forced[0] == '0');
}

bool bf16_amx_preferred() {
#if defined(MBN_HAVE_AMX_BF16)
  static const bool preferred = amx_allowed() && cpu_has(CpuFeature::AmxBf16) && cpu_has(CpuFeature::Avx512Bf16);
  return preferred;
#else
  return false;
#endif
}

bool int8_amx_preferred() {
#if defined(MBN_HAVE_AMX_INT8)
  // tdpbusd is the tile form of vpdpbusd: MOBILENET_INT8_DOT=off turns both off.
  static const bool preferred = amx_allowed() && cpu_has(CpuFeature::AmxInt8) && int8_dot_product(Isa::Avx512);
  return preferred;
#else
  return false;
#endif
}

const char* cpu_feature_name(CpuFeature feature) {
  switch (feature) {
    case CpuFeature::Avx512Bf16: return "avx512_bf16";
    case CpuFeature::ArmBf16: return "bf16";
    case CpuFeature::ArmFp16: return "asimdhp";
    case CpuFeature::AmxBf16: return "amx_bf16";
    case CpuFeature::AmxInt8: return "amx_int8";
  }
  return "unknown";
}

Isa isa_from_environment() {
  const char* forced = std::getenv("MOBILENET_ISA");
  if (forced && *forced) return parse_isa(forced);
  return best_isa();
}

}  // namespace mobilenet
