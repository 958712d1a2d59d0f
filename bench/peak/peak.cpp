// One core's FP32 FMA peak and its bf16 dot-product (vdpbf16ps) peak, measured: many independent FMA chains (enough to
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
// against the FMA's 16.
//
// Usage: peak [--cpu N] [--repeats R] [--json]
#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Independent accumulators: at least FMA latency (4-5 cycles) x FMA ports (2),
// and few enough to stay in registers (32 zmm with AVX-512, only 16 ymm with AVX2).
constexpr int kChains512 = 24;
constexpr int kChains256 = 12;
constexpr int64_t kIterations = 2000000;  // 1.5 GFLOP with 512-bit vectors: ~6 ms per repeat at peak

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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

}  // namespace

int main(int argc, char** argv) {
  // Many short repeats, interleaved: on a shared (virtual) machine other work
  // only ever slows a repeat down, so the best repeat of each is the closest to the hardware.
  int cpu = 0, repeats = 40;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu") && i + 1 < argc) cpu = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--json")) json = true;
    else {
      std::fprintf(stderr, "usage: %s [--cpu N] [--repeats R] [--json]\n", argv[0]);
      return 2;
    }
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    std::perror("sched_setaffinity");
    return 1;
  }
  __builtin_cpu_init();
  const bool has_avx512 = __builtin_cpu_supports("avx512f");
  const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool has_bf16 = has_avx512 && __builtin_cpu_supports("avx512bf16");

  const int64_t add_iterations = 2000000;  // 16 adds each: 32 M cycles, ~10 ms
  double add_s = 1e30, avx512_s = 1e30, avx2_s = 1e30;
  for (int r = 0; r < repeats; ++r) {
    add_s = std::min(add_s, best_seconds([&] { return dependent_adds(add_iterations); }, 1));
    if (has_avx512) avx512_s = std::min(avx512_s, best_seconds([&] { return fma_avx512(kIterations); }, 1));
    if (has_avx2) avx2_s = std::min(avx2_s, best_seconds([&] { return fma_avx2(2 * kIterations); }, 1));
  }
  // The best chain count's rate (multiply-adds per second).
  double bf16_gmacs = 0;
  int bf16_chains = 0;
  if (has_bf16) {
    auto sweep = [&](auto run, int chains) {
      double best = 1e30;
      for (int r = 0; r < repeats / 4 + 1; ++r) best = std::min(best, best_seconds([&] { return run(kIterations); }, 1));
      const double gmacs = 32.0 * chains * kIterations / best / 1e9;
      if (gmacs > bf16_gmacs) bf16_gmacs = gmacs, bf16_chains = chains;
    };
    sweep(dpbf16_avx512<4>, 4);
    sweep(dpbf16_avx512<6>, 6);
    sweep(dpbf16_avx512<8>, 8);
    sweep(dpbf16_avx512<10>, 10);
    sweep(dpbf16_avx512<12>, 12);
    sweep(dpbf16_avx512<16>, 16);
    sweep(dpbf16_avx512<24>, 24);
  }
  const double ghz = 16.0 * add_iterations / add_s / 1e9;
  const double avx512 = has_avx512 ? 2.0 * kChains512 * 16 * kIterations / avx512_s / 1e9 : 0;
  const double avx2 = has_avx2 ? 2.0 * kChains256 * 8 * (2 * kIterations) / avx2_s / 1e9 : 0;
  if (json) {
    std::printf("{\"cpu\": %d, \"ghz\": %.3f, \"avx512_gflops\": %.2f, \"avx2_gflops\": %.2f, "
                "\"avx512_flop_per_cycle\": %.2f, \"avx2_flop_per_cycle\": %.2f, \"avx512_fma_gmacs\": %.2f, "
                "\"avx512_bf16_gmacs\": %.2f, \"avx512_bf16_chains\": %d}\n",
                cpu, ghz, avx512, avx2, avx512 / ghz, avx2 / ghz, avx512 / 2, bf16_gmacs, bf16_chains);
  } else {
    std::printf("core %d clock (dependent integer adds): %.3f GHz\n", cpu, ghz);
    if (has_avx512)
      std::printf("AVX-512 FP32 FMA peak: %.1f GFLOP/s (%.1f FLOP/cycle)\n", avx512, avx512 / ghz);
    else
      std::printf("AVX-512: not supported\n");
    if (has_bf16)
      std::printf("AVX512_BF16 vdpbf16ps peak: %.1f GMAC/s (best of 4-24 chains: %d), %.2fx the FP32 FMA's %.1f\n",
                  bf16_gmacs, bf16_chains, bf16_gmacs / (avx512 / 2), avx512 / 2);
    else
      std::printf("AVX512_BF16: not supported\n");
    if (has_avx2)
      std::printf("AVX2    FP32 FMA peak: %.1f GFLOP/s (%.1f FLOP/cycle)\n", avx2, avx2 / ghz);
    else
      std::printf("AVX2+FMA: not supported\n");
  }
  return 0;
}
