#include "thread_pool.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <pthread.h>
#if defined(__linux__)
#include <sched.h>
#endif

#include "float_env.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MBN_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define MBN_PAUSE() __asm__ __volatile__("yield")
#else
#define MBN_PAUSE() ((void)0)
#endif

namespace mobilenet {

namespace {
// Counts forks in this process's lineage (a child's handler bumps its copy),
// so a pool can tell, without a system call, that it was made before a fork.
std::atomic<uint64_t> fork_count{0};
const bool kForkHandlerInstalled = [] {
  pthread_atfork(nullptr, nullptr, [] { fork_count.fetch_add(1); });
  return true;
}();
// Spins while cond() holds, for at most `limit`. The condition is checked
// after every pause: a pause takes ~24 ns on this EPYC (~140 cycles on Intel
// since Skylake), and each layer loses the time between two checks twice, at
// the worker's start and at the caller's end: with 64 pauses per check that
// was about 1 us per layer (bench/RESULTS.md, log entry 44). The clock is
// read less often.
template <class Cond>
void spin_while(Cond&& cond, std::chrono::microseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (!cond()) return;
      MBN_PAUSE();
    }
    if (std::chrono::steady_clock::now() >= until) return;
  }
}
}  // namespace

bool ThreadPool::forked_away() const { return fork_count.load(std::memory_order_relaxed) != fork_generation_; }

namespace {
std::atomic<int> fail_worker_start{0};  // fail_worker_start_for_testing
}  // namespace

void fail_worker_start_for_testing(int nth) { fail_worker_start.store(nth); }

ThreadPool::ThreadPool(int threads) : fork_generation_(fork_count.load()), shares_(new Share[threads]) {
  workers_.reserve(threads - 1);  // so that only starting a thread can throw below
  try {
    for (int i = 1; i < threads; ++i) {
      if (i == fail_worker_start.load()) throw std::system_error(EAGAIN, std::generic_category(), "test hook");
      workers_.emplace_back([this, i] { worker_loop(i); });
    }
  } catch (...) {
    // Joinable threads would call std::terminate when workers_ is destroyed.
    const int started = static_cast<int>(workers_.size());
    stop_workers();
    std::string why;
    try {
      throw;
    } catch (const std::system_error& e) {
      why = e.code().message();
    } catch (const std::exception& e) {
      why = e.what();
    }
    throw std::runtime_error("could not start a pool of threads=" + std::to_string(threads) +
                             ": the system refused worker thread " + std::to_string(started + 1) + " (" + why +
                             "); lower threads, or raise the process's thread or memory limits");
  }
#if defined(__linux__)
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &mask)) allowed_cpus_.push_back(cpu);
#endif
}

void ThreadPool::keep_workers_off(int cpu) {
#if defined(__linux__)
  // Only when every thread can have a CPU of its own: oversubscribed pools
  // (more threads than CPUs) are left to the scheduler.
  if (cpu < 0 || cpu == workers_kept_off_ || allowed_cpus_.size() <= workers_.size()) return;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  bool caller_cpu_allowed = false;
  for (int c : allowed_cpus_) {
    if (c == cpu)
      caller_cpu_allowed = true;
    else
      CPU_SET(c, &mask);
  }
  if (!caller_cpu_allowed) return;
  workers_kept_off_ = cpu;
  // Failure (the process's CPUs changed since) leaves a worker where it is: still correct.
  for (auto& t : workers_) pthread_setaffinity_np(t.native_handle(), sizeof mask, &mask);
#else
  (void)cpu;
#endif
}

std::shared_ptr<ThreadPool> ThreadPool::create(int threads) {
  return std::shared_ptr<ThreadPool>(new ThreadPool(threads), [](ThreadPool* pool) {
    // In a forked child the workers do not exist: joining them would hang, and
    // so would destroying the condition variables they waited on in the
    // parent. The child's copy of the pool is left alone (a small leak).
    if (!pool->forked_away()) delete pool;
  });
}

void ThreadPool::renew_after_fork(std::shared_ptr<ThreadPool>& pool) {
  if (!pool || !pool->forked_away()) return;
  try {
    pool = create(pool->threads());
  } catch (const std::exception&) {
    // The child's limits allow no workers: the old pool still runs everything, on one thread.
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {
constexpr uint64_t share_word(uint32_t generation, int front, int back) {
  return uint64_t{generation} << 32 | uint64_t(front) << 16 | uint64_t(back);
}
}  // namespace

void ThreadPool::drain(uint32_t generation, int thread) {
  const int threads = this->threads();
  int ran = 0;  // added to done_ once, at the end: one contended atomic per thread, not per task
  // Own share first, from its front; then the next threads' shares, from their backs.
  for (int k = 0; k < threads; ++k) {
    const bool own = k == 0;
    std::atomic<uint64_t>& word = shares_[(thread + k) % threads].word;
    uint64_t s = word.load(std::memory_order_acquire);
    for (;;) {
      if (static_cast<uint32_t>(s >> 32) != generation) break;
      const int front = static_cast<int>(s >> 16 & 0xFFFF), back = static_cast<int>(s & 0xFFFF);
      if (front >= back) break;
      const int task = own ? front : back - 1;
      const uint64_t claimed = own ? share_word(generation, front + 1, back) : share_word(generation, front, back - 1);
      if (!word.compare_exchange_weak(s, claimed, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed),
                                          first_.load(std::memory_order_relaxed) + task, thread);
      ++ran;
      s = word.load(std::memory_order_acquire);
    }
  }
  if (ran > 0 && done_.fetch_add(ran) + ran == n_.load(std::memory_order_relaxed) && owner_sleeping_.load()) {
    std::lock_guard<std::mutex> lock(done_mutex_);
    done_cv_.notify_one();
  }
}

void ThreadPool::run(int n, TaskFn fn, void* ctx) {
  if (n <= 0) return;
  std::unique_lock<std::mutex> owner(busy_, std::try_to_lock);
  if (workers_.empty() || n == 1 || !owner.owns_lock() || forked_away()) {
    for (int i = 0; i < n; ++i) fn(ctx, i, 0);
    return;
  }
#if defined(__linux__)
  keep_workers_off(sched_getcpu());
#endif
  for (int first = 0; first < n; first += kMaxRegionTasks)
    run_region(first, std::min(kMaxRegionTasks, n - first), fn, ctx);
}

void ThreadPool::run_region(int first, int n, TaskFn fn, void* ctx) {
  fn_.store(fn, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  first_.store(first, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = ++generation_;
  const int threads = this->threads();
  for (int t = 0; t < threads; ++t)
    shares_[t].word.store(share_word(generation, int(int64_t{n} * t / threads), int(int64_t{n} * (t + 1) / threads)),
                          std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    region_.store(generation, std::memory_order_release);
  }
  wake_.notify_all();
  drain(generation, 0);
  // Tasks still running on other threads: spin briefly, then sleep until the
  // last one finishes. A spinning owner keeps its core busy, so a worker that
  // shares the other core with another process would never be moved here.
  spin_while([&] { return done_.load() < n; }, std::chrono::microseconds(50));
  if (done_.load() < n) {
    std::unique_lock<std::mutex> lock(done_mutex_);
    owner_sleeping_.store(true);  // seq_cst with the workers' done_ increment: no lost wake-up
    while (done_.load() < n) done_cv_.wait_for(lock, std::chrono::milliseconds(1));
    owner_sleeping_.store(false);
  }
}

void ThreadPool::worker_loop(int thread) {
  FlushDenormalsGuard flush_denormals;  // for the life of this worker thread
  uint32_t seen = 0;
  auto current = [this] { return region_.load(std::memory_order_acquire); };
  for (;;) {
    // Spin for a short while: the next layer usually starts within microseconds.
    spin_while([&] { return current() == seen && !stop_.load(std::memory_order_relaxed); },
               std::chrono::microseconds(200));
    if (current() == seen) {
      std::unique_lock<std::mutex> lock(wake_mutex_);
      wake_.wait(lock, [&] { return stop_.load() || current() != seen; });
    }
    if (stop_.load()) return;
    seen = current();
    drain(seen, thread);
  }
}

}  // namespace mobilenet
