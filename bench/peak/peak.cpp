// One core's FP32 FMA peak, its bf16 dot-product (vdpbf16ps) peak and its int8 dot-product (vpdpbusd) peak,
// measured: many independent FMA chains (enough to
// cover the FMA latency on every FMA port), a long loop, best of several
// repeats, pinned to one core. Also the core clock, from a chain of dependent
// integer adds (1 cycle each on every x86-64 core), so GFLOP/s can be read as
// FLOP per cycle.
//
// Build: CMake's MOBILENET_BUILD_BENCH option (target `peak`, -O2; the
// AVX-512 and AVX2 functions get their instruction sets from target
// attributes, so one binary runs both and checks the CPU before calling either).
//
// vdpbf16ps is measured over several chain counts (its best differs between
// CPUs: on family 6 model 207 more than 10 independent chains ran slower, not
// faster), and its rate is given in multiply-adds: 32 per zmm instruction,
// against the FMA's 16. The int8 dot product likewise, in both encodings where
// the CPU has them: vpdpbusd zmm (AVX512-VNNI, 64 u8 x s8 multiply-adds per
// instruction) and the VEX form on ymm (AVX-VNNI, 32; Zen 4 lacks it, Zen 5 and
// Intel's cores since Alder Lake / Sapphire Rapids have it).
//
// AMX-INT8 (Intel since Sapphire Rapids, where Linux grants the tile state):
// tdpbusd, 16 x 16 x 64 = 16384 u8 x s8 multiply-adds per instruction, on four
// independent accumulator tiles.
//
// On AArch64 (the same CMake option): NEON's FP32 FMA (fmla .4s) and, where the
// CPU has the ARMv8.2 dot product, sdot .4s (16 int8 multiply-adds per instruction).
//
// Usage: peak [--cpu N] [--repeats R] [--json]
#include <sched.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

volatile double g_sink;  // keeps the results alive

template <class F>
double best_seconds(F&& run, int repeats) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    g_sink = static_cast<double>(run());
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// The options, and this thread pinned to --cpu; false (after a message) on a bad command line.
bool setup(int argc, char** argv, int& cpu, int& repeats, bool& json) {
  // Many short repeats, interleaved: on a shared (virtual) machine other work
  // only ever slows a repeat down, so the best repeat of each is the closest to the hardware.
  cpu = 0, repeats = 40, json = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu") && i + 1 < argc)
      cpu = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc)
      repeats = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--json"))
      json = true;
    else {
      std::fprintf(stderr, "usage: %s [--cpu N] [--repeats R] [--json]\n", argv[0]);
      return false;
    }
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    std::perror("sched_setaffinity");
    return false;
  }
  return true;
}

// Each dot product's best chain count and its rate (multiply-adds per second).
struct Best {
  double gmacs = 0;
  int chains = 0;
};

}  // namespace

#if defined(__x86_64__)
namespace {

// Independent accumulators: at least FMA latency (4-5 cycles) x FMA ports (2),
// and few enough to stay in registers (32 zmm with AVX-512, only 16 ymm with AVX2).
constexpr int kChains512 = 24;
constexpr int kChains256 = 12;
constexpr int64_t kIterations = 2000000;  // 1.5 GFLOP with 512-bit vectors: ~6 ms per repeat at peak

// Each iteration: kChains FMAs of `lanes` floats = 2 * kChains * lanes FLOP.
__attribute__((target("avx512f"), noinline)) double fma_avx512(int64_t iterations) {
  constexpr int kChains = kChains512;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

// Each iteration: CHAINS vdpbf16ps of 16 lanes x 2 products = 32 * CHAINS multiply-adds.
template <int CHAINS>
__attribute__((target("avx512f,avx512bf16"), noinline)) double dpbf16_avx512(int64_t iterations) {
  __m512 acc[CHAINS];
  for (int i = 0; i < CHAINS; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  // bf16 pairs (1.0, 1.0) and (2^-20, 2^-20): the sums grow slowly and stay normal.
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x35803580);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < CHAINS; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < CHAINS; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

// The loop of the dot-product peaks, after its asm statement has defined the assembler macro
// mobilenet_peak_dot (one instruction on the accumulator register whose number it is given):
// %[left] iterations of %c[chains] uses of it, numbered by .altmacro's "%i" from 0.
#define MBN_PEAK_DOT_LOOP                           \
  "1:\n\t"                                          \
  ".altmacro\n\t"                                   \
  ".set mobilenet_peak_i, 0\n\t"                    \
  ".rept %c[chains]\n\t"                            \
  "mobilenet_peak_dot %%mobilenet_peak_i\n\t"       \
  ".set mobilenet_peak_i, mobilenet_peak_i + 1\n\t" \
  ".endr\n\t"                                       \
  ".noaltmacro\n\t"                                 \
  ".purgem mobilenet_peak_dot\n\t"                  \
  "dec %[left]\n\t"                                 \
  "jnz 1b"

// Each iteration: CHAINS vpdpbusd of 16 lanes x 4 products = 64 * CHAINS multiply-adds. The whole
// loop is one asm block with the accumulators in zmm0..zmm(CHAINS-1) and the operands in zmm30/31:
// with intrinsics, or with one asm statement per instruction on an array of accumulators, GCC 12
// kept the accumulators in memory (a load and a store around every vpdpbusd), so memory, not the
// dot product, set the rate. The lanes wrap, which is harmless: integer timing is data-independent.
template <int CHAINS>
__attribute__((target("avx512f,avx512vnni"), noinline)) double dpbusd_avx512(int64_t iterations) {
  static_assert(CHAINS <= 30, "zmm30 and zmm31 hold the operands");
  if (iterations <= 0) return 0;
  int64_t left = iterations;
  asm volatile(
      ".macro mobilenet_peak_dot reg\n\t"
      "vpdpbusd %%zmm31, %%zmm30, %%zmm\\reg\n\t"
      ".endm\n\t"
      "mov $0x01010101, %%eax\n\t"
      "vpbroadcastd %%eax, %%zmm30\n\t"
      "vpbroadcastd %%eax, %%zmm31\n\t" MBN_PEAK_DOT_LOOP
      : [left] "+r"(left)
      : [chains] "n"(CHAINS)
      : "eax", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
        "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
  return static_cast<double>(iterations);
}

// The sum of the int32 lanes of CHAINS accumulators (keeps the results alive).
template <int CHAINS>
__attribute__((target("avx2"))) inline double sum_epi32_lanes(const __m256i (&acc)[CHAINS]) {
  __m256i sum = acc[0];
  for (int i = 1; i < CHAINS; ++i) sum = _mm256_add_epi32(sum, acc[i]);
  int32_t lanes[8];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), sum);
  double total = 0;
  for (int32_t v : lanes) total += v;
  return total;
}

// The VEX (AVX-VNNI) vpdpbusd on ymm: 8 lanes x 4 products = 32 * CHAINS multiply-adds per iteration
// ({vex}: without it the assembler picks the EVEX form, which is AVX512-VNNI's).
template <int CHAINS>
__attribute__((target("avx2,avxvnni"), noinline)) double dpbusd_avxvnni(int64_t iterations) {
  static_assert(CHAINS <= 14, "ymm14 and ymm15 hold the operands");
  if (iterations <= 0) return 0;
  int64_t left = iterations;
  asm volatile(  // as dpbusd_avx512, on ymm0..ymm(CHAINS-1)
      ".macro mobilenet_peak_dot reg\n\t"
      "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm\\reg\n\t"
      ".endm\n\t"
      "mov $0x01010101, %%eax\n\t"
      "vmovd %%eax, %%xmm14\n\t"
      "vpbroadcastd %%xmm14, %%ymm14\n\t"
      "vmovdqa %%ymm14, %%ymm15\n\t" MBN_PEAK_DOT_LOOP
      : [left] "+r"(left)
      : [chains] "n"(CHAINS)
      : "eax", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15");
  return static_cast<double>(iterations);
}

// Plain AVX2's exact int8 multiply-adds (no VNNI), the AVX2 int8 GEMM's inner loops (int8_avx2.h):
// BYTES false: vpmaddwd on int16 (8 lanes x 2 products) and the vpaddd that accumulates it, 16
// multiply-adds; BYTES true: vpmaddubsw first (two uint8 x int8 products into an int16: the GEMM on
// weights split where it cannot saturate), then vpmaddwd by ones and vpaddd, 32 multiply-adds.
// Each chain multiplies its own accumulator (latency of the vpmaddwd pair: 4 cycles on Zen 3), so
// that the compiler can neither hoist nor share the products; the lanes wrap, which is harmless here.
template <int CHAINS, bool BYTES>
__attribute__((target("avx2"), noinline)) double madd_avx2(int64_t iterations) {
  __m256i acc[CHAINS];
  for (int i = 0; i < CHAINS; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i b = BYTES ? _mm256_set1_epi8(3) : _mm256_set1_epi16(3), ones = _mm256_set1_epi16(1);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; ++i) {
      const __m256i product =
          BYTES ? _mm256_madd_epi16(_mm256_maddubs_epi16(acc[i], b), ones) : _mm256_madd_epi16(acc[i], b);
      acc[i] = _mm256_add_epi32(acc[i], product);
    }
  }
  return sum_epi32_lanes(acc);
}

__attribute__((target("avx2,fma"), noinline)) double fma_avx2(int64_t iterations) {
  constexpr int kChains = kChains256;
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  double total = 0;
  for (float v : lanes) total += v;
  return total;
}

// A chain of dependent 1-cycle integer adds: cycles = adds, so adds / seconds = clock.
__attribute__((noinline)) uint64_t dependent_adds(int64_t iterations) {
  uint64_t x = 0;
  for (int64_t it = 0; it < iterations; ++it) {
    asm volatile(
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        : "+r"(x));
  }
  return x;
}

// AVX-VNNI: CPUID leaf 7 subleaf 1, EAX bit 4 (GCC 12's __builtin_cpu_supports does not know it).
bool cpu_has_avxvnni() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return (eax >> 4) & 1;
}

// AMX-TILE and AMX-INT8 (CPUID leaf 7, EDX bits 24 and 25), the tile state enabled by the OS
// (XCR0 bits 17-18) and granted to this process (Linux's arch_prctl, before any tile instruction).
bool amx_int8_usable() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false;  // OSXSAVE
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 24)) || !(edx & (1u << 25))) return false;
  uint32_t xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

// Each iteration: 4 tdpbusd (tiles 0-3 += tile 4 . tile 5), 16384 multiply-adds each.
__attribute__((target("amx-tile,amx-int8"), noinline)) double tdpbusd_amx(int64_t iterations) {
  struct alignas(64) {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
  } config;
  for (int t = 0; t < 6; ++t) config.colsb[t] = 64, config.rows[t] = 16;
  alignas(64) int8_t ones[16 * 64];
  std::memset(ones, 1, sizeof(ones));
  alignas(64) int32_t out[16 * 16];
  _tile_loadconfig(&config);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  for (int64_t it = 0; it < iterations; ++it) {
    _tile_dpbusd(0, 4, 5);
    _tile_dpbusd(1, 4, 5);
    _tile_dpbusd(2, 4, 5);
    _tile_dpbusd(3, 4, 5);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  return out[0];
}

}  // namespace

int main(int argc, char** argv) {
  int cpu, repeats;
  bool json;
  if (!setup(argc, argv, cpu, repeats, json)) return 2;
  __builtin_cpu_init();
  const bool has_avx512 = __builtin_cpu_supports("avx512f");
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool has_bf16 = has_avx512 && __builtin_cpu_supports("avx512bf16");
  const bool has_vnni512 = has_avx512 && __builtin_cpu_supports("avx512vnni");
  const bool has_avxvnni = has_avx2 && cpu_has_avxvnni();
  const bool has_amx_int8 = has_avx512 && amx_int8_usable();

  const int64_t add_iterations = 2000000;  // 16 adds each: 32 M cycles, ~10 ms
  double add_s = 1e30, avx512_s = 1e30, avx2_s = 1e30;
  for (int r = 0; r < repeats; ++r) {
    add_s = std::min(add_s, best_seconds([&] { return dependent_adds(add_iterations); }, 1));
    if (has_avx512) avx512_s = std::min(avx512_s, best_seconds([&] { return fma_avx512(kIterations); }, 1));
    if (has_avx2) avx2_s = std::min(avx2_s, best_seconds([&] { return fma_avx2(2 * kIterations); }, 1));
  }
  auto sweep = [&](Best& best, auto run, int chains, double macs_per_instruction) {
    double seconds = 1e30;
    for (int r = 0; r < repeats / 4 + 1; ++r)
      seconds = std::min(seconds, best_seconds([&] { return run(kIterations); }, 1));
    const double gmacs = macs_per_instruction * chains * kIterations / seconds / 1e9;
    if (gmacs > best.gmacs) best = {gmacs, chains};
  };
  Best bf16, vnni512, avxvnni, madd, maddubs;
  if (has_bf16) {
    sweep(bf16, dpbf16_avx512<4>, 4, 32);
    sweep(bf16, dpbf16_avx512<6>, 6, 32);
    sweep(bf16, dpbf16_avx512<8>, 8, 32);
    sweep(bf16, dpbf16_avx512<10>, 10, 32);
    sweep(bf16, dpbf16_avx512<12>, 12, 32);
    sweep(bf16, dpbf16_avx512<16>, 16, 32);
    sweep(bf16, dpbf16_avx512<24>, 24, 32);
  }
  if (has_vnni512) {
    sweep(vnni512, dpbusd_avx512<4>, 4, 64);
    sweep(vnni512, dpbusd_avx512<6>, 6, 64);
    sweep(vnni512, dpbusd_avx512<8>, 8, 64);
    sweep(vnni512, dpbusd_avx512<10>, 10, 64);
    sweep(vnni512, dpbusd_avx512<12>, 12, 64);
    sweep(vnni512, dpbusd_avx512<16>, 16, 64);
    sweep(vnni512, dpbusd_avx512<24>, 24, 64);
  }
  if (has_avxvnni) {  // 16 ymm registers: at most 12 chains stay in them
    sweep(avxvnni, dpbusd_avxvnni<4>, 4, 32);
    sweep(avxvnni, dpbusd_avxvnni<6>, 6, 32);
    sweep(avxvnni, dpbusd_avxvnni<8>, 8, 32);
    sweep(avxvnni, dpbusd_avxvnni<10>, 10, 32);
    sweep(avxvnni, dpbusd_avxvnni<12>, 12, 32);
  }
  if (has_avx2) {  // 16 ymm registers: a product register besides each chain
    sweep(madd, madd_avx2<4, false>, 4, 16);
    sweep(madd, madd_avx2<6, false>, 6, 16);
    sweep(madd, madd_avx2<8, false>, 8, 16);
    sweep(madd, madd_avx2<10, false>, 10, 16);
    sweep(madd, madd_avx2<12, false>, 12, 16);
    sweep(maddubs, madd_avx2<4, true>, 4, 32);
    sweep(maddubs, madd_avx2<6, true>, 6, 32);
    sweep(maddubs, madd_avx2<8, true>, 8, 32);
    sweep(maddubs, madd_avx2<10, true>, 10, 32);
    sweep(maddubs, madd_avx2<12, true>, 12, 32);
  }
  Best amx;  // 4 tdpbusd an iteration, each about 16 cycles: ~50 ms per repeat
  if (has_amx_int8) sweep(amx, tdpbusd_amx, 4, 16384);
  const double ghz = 16.0 * add_iterations / add_s / 1e9;
  const double avx512 = has_avx512 ? 2.0 * kChains512 * 16 * kIterations / avx512_s / 1e9 : 0;
  const double avx2 = has_avx2 ? 2.0 * kChains256 * 8 * (2 * kIterations) / avx2_s / 1e9 : 0;
  if (json) {
    std::printf(
        "{\"cpu\": %d, \"ghz\": %.3f, \"avx512_gflops\": %.2f, \"avx2_gflops\": %.2f, "
        "\"avx512_flop_per_cycle\": %.2f, \"avx2_flop_per_cycle\": %.2f, \"avx512_fma_gmacs\": %.2f, "
        "\"avx512_bf16_gmacs\": %.2f, \"avx512_bf16_chains\": %d, \"avx512_vnni_gmacs\": %.2f, "
        "\"avx512_vnni_chains\": %d, \"avx_vnni_gmacs\": %.2f, \"avx_vnni_chains\": %d, \"amx_int8_gmacs\": %.2f, "
        "\"avx2_madd_gmacs\": %.2f, \"avx2_madd_chains\": %d, \"avx2_maddubs_gmacs\": %.2f, "
        "\"avx2_maddubs_chains\": %d}\n",
        cpu, ghz, avx512, avx2, avx512 / ghz, avx2 / ghz, avx512 / 2, bf16.gmacs, bf16.chains, vnni512.gmacs,
        vnni512.chains, avxvnni.gmacs, avxvnni.chains, amx.gmacs, madd.gmacs, madd.chains, maddubs.gmacs,
        maddubs.chains);
  } else {
    std::printf("core %d clock (dependent integer adds): %.3f GHz\n", cpu, ghz);
    if (has_avx512)
      std::printf("AVX-512 FP32 FMA peak: %.1f GFLOP/s (%.1f FLOP/cycle)\n", avx512, avx512 / ghz);
    else
      std::printf("AVX-512: not supported\n");
    if (has_bf16)
      std::printf("AVX512_BF16 vdpbf16ps peak: %.1f GMAC/s (best of 4-24 chains: %d), %.2fx the FP32 FMA's %.1f\n",
                  bf16.gmacs, bf16.chains, bf16.gmacs / (avx512 / 2), avx512 / 2);
    else
      std::printf("AVX512_BF16: not supported\n");
    if (has_vnni512)
      std::printf("AVX512_VNNI vpdpbusd zmm peak: %.1f GMAC/s int8 (best of 4-24 chains: %d), %.2fx the FP32 FMA's\n",
                  vnni512.gmacs, vnni512.chains, vnni512.gmacs / (avx512 / 2));
    else
      std::printf("AVX512_VNNI: not supported\n");
    if (has_avxvnni)
      std::printf("AVX-VNNI    vpdpbusd ymm peak: %.1f GMAC/s int8 (best of 4-12 chains: %d)\n", avxvnni.gmacs,
                  avxvnni.chains);
    else
      std::printf("AVX-VNNI (VEX vpdpbusd): not supported\n");
    if (has_amx_int8)
      std::printf("AMX-INT8    tdpbusd peak: %.1f GMAC/s int8 (4 accumulator tiles), %.2fx vpdpbusd zmm's\n", amx.gmacs,
                  vnni512.gmacs > 0 ? amx.gmacs / vnni512.gmacs : 0.0);
    else
      std::printf("AMX-INT8: not supported (or the OS does not grant the tile state)\n");
    if (has_avx2)
      std::printf(
          "AVX2    FP32 FMA peak: %.1f GFLOP/s (%.1f FLOP/cycle); vpmaddwd+vpaddd (exact int8 on int16) "
          "peak: %.1f GMAC/s (best of 4-12 chains: %d); vpmaddubsw+vpmaddwd+vpaddd %.1f GMAC/s (%d)\n",
          avx2, avx2 / ghz, madd.gmacs, madd.chains, maddubs.gmacs, maddubs.chains);
    else
      std::printf("AVX2+FMA: not supported\n");
  }
  return 0;
}

#elif defined(__aarch64__)
namespace {

constexpr int64_t kIterations = 2000000;

// Each iteration: CHAINS fmla of 4 floats = 8 * CHAINS FLOP.
template <int CHAINS>
__attribute__((noinline)) double fma_neon(int64_t iterations) {
  float32x4_t acc[CHAINS];
  for (int i = 0; i < CHAINS; ++i) acc[i] = vdupq_n_f32(0.001f * i);
  const float32x4_t a = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-6f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < CHAINS; ++i) acc[i] = vfmaq_f32(b, acc[i], a);
  }
  float32x4_t sum = acc[0];
  for (int i = 1; i < CHAINS; ++i) sum = vaddq_f32(sum, acc[i]);
  return vaddvq_f32(sum);
}

// Each iteration: CHAINS sdot of 4 lanes x 4 products = 16 * CHAINS multiply-adds.
template <int CHAINS>
__attribute__((target("arch=armv8.2-a+dotprod"), noinline)) double sdot_neon(int64_t iterations) {
  int32x4_t acc[CHAINS];
  for (int i = 0; i < CHAINS; ++i) acc[i] = vdupq_n_s32(i);
  const int8x16_t a = vdupq_n_s8(1), b = vdupq_n_s8(1);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < CHAINS; ++i) acc[i] = vdotq_s32(acc[i], a, b);
  }
  int32x4_t sum = acc[0];
  for (int i = 1; i < CHAINS; ++i) sum = vaddq_s32(sum, acc[i]);
  return static_cast<double>(vaddvq_s32(sum));
}

}  // namespace

int main(int argc, char** argv) {
  int cpu, repeats;
  bool json;
  if (!setup(argc, argv, cpu, repeats, json)) return 2;
  const bool has_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
  Best fma, sdot;
  auto sweep = [&](Best& best, auto run, int chains, double units_per_instruction) {
    double seconds = 1e30;
    for (int r = 0; r < repeats / 4 + 1; ++r)
      seconds = std::min(seconds, best_seconds([&] { return run(kIterations); }, 1));
    const double rate = units_per_instruction * chains * kIterations / seconds / 1e9;
    if (rate > best.gmacs) best = {rate, chains};
  };
  // fmla: 8 FLOP per instruction (fma.gmacs holds GFLOP/s); 32 vector registers.
  sweep(fma, fma_neon<8>, 8, 8);
  sweep(fma, fma_neon<12>, 12, 8);
  sweep(fma, fma_neon<16>, 16, 8);
  sweep(fma, fma_neon<24>, 24, 8);
  if (has_dotprod) {
    sweep(sdot, sdot_neon<4>, 4, 16);
    sweep(sdot, sdot_neon<8>, 8, 16);
    sweep(sdot, sdot_neon<12>, 12, 16);
    sweep(sdot, sdot_neon<16>, 16, 16);
    sweep(sdot, sdot_neon<24>, 24, 16);
  }
  if (json) {
    std::printf(
        "{\"cpu\": %d, \"neon_gflops\": %.2f, \"neon_fma_chains\": %d, \"neon_sdot_gmacs\": %.2f, "
        "\"neon_sdot_chains\": %d}\n",
        cpu, fma.gmacs, fma.chains, sdot.gmacs, sdot.chains);
  } else {
    std::printf("NEON FP32 FMA (fmla .4s) peak: %.1f GFLOP/s (best of 8-24 chains: %d)\n", fma.gmacs, fma.chains);
    if (has_dotprod)
      std::printf("NEON sdot .4s peak: %.1f GMAC/s int8 (best of 4-24 chains: %d), %.2fx the FMA's %.1f\n", sdot.gmacs,
                  sdot.chains, sdot.gmacs / (fma.gmacs / 2), fma.gmacs / 2);
    else
      std::printf("NEON dot product (asimddp): not supported\n");
  }
  return 0;
}
#else
int main() {
  std::fprintf(stderr, "peak: only x86-64 and AArch64 have their peaks measured here\n");
  return 2;
}
#endif
