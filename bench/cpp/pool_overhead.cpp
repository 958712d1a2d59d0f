// The thread pool's cost per parallel region (bench/RESULTS.md, log entry 44):
// the median time of parallel_for over n tasks that together keep each thread
// busy for `work` ns, minus that work, and the cost of one pause instruction,
// which sets how often a spinning thread looks for work. Build and run (from
// the repository root; the CMake option builds every C++ micro-benchmark):
//   cmake -S . -B build/bench -DMOBILENET_BUILD_BENCH=ON -DMOBILENET_BUILD_PYTHON=OFF -DMOBILENET_WITH_BLAS=OFF
//   cmake --build build/bench --target pool_overhead && build/bench/pool_overhead [threads]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define PAUSE() __asm__ __volatile__("yield")
#else
#define PAUSE() ((void)0)
#endif

using namespace mobilenet;
using Clock = std::chrono::steady_clock;

static double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

static void busy_for(double ns) {
  const auto t0 = Clock::now();
  while (ns_since(t0) < ns) {
  }
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const auto t0 = Clock::now();
  for (int i = 0; i < 1000000; ++i) PAUSE();
  std::printf("pause: %.1f ns\n", ns_since(t0) / 1e6);
  auto pool = ThreadPool::create(threads);
  for (double work : {0.0, 1000.0, 5000.0, 20000.0}) {
    for (int tasks : {threads, 2 * threads, 4 * threads}) {
      std::vector<double> times;
      for (int rep = 0; rep < 3000; ++rep) {
        const auto start = Clock::now();
        pool->parallel_for(tasks, [&](int) { busy_for(work * threads / tasks); });
        times.push_back(ns_since(start));
      }
      std::sort(times.begin(), times.end());
      const double median = times[times.size() / 2];
      std::printf("%d threads, %2d tasks, %5.0f ns of work per thread: region %7.0f ns, overhead %4.0f ns\n", threads,
                  tasks, work, median, median - work);
    }
  }
}
