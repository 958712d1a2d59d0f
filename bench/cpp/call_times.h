// The timing loop of the single-kernel benchmarks (int8_gemm, gemm): 320 calls of `call`
// with the data cache-warm, the first 20 untimed; their median and fastest, in ns. The
// fastest too: on a shared host the median moves with the neighbours' load.
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

struct CallTimes {
  double median_ns, fastest_ns;
};

template <class F>
CallTimes time_calls(F&& call) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> times;
  for (int rep = 0; rep < 320; ++rep) {
    const auto t0 = Clock::now();
    call();
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    if (rep >= 20) times.push_back(ns);
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return {times[times.size() / 2], *std::min_element(times.begin(), times.end())};
}
