// The engine's one thread pool. The calling thread takes part in the work, so a
// pool of T threads starts T-1 workers. Workers spin briefly between parallel
// regions (layers follow each other within microseconds), then sleep.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace mobilenet {

class ThreadPool {
 public:
  // Pools are shared (a forward pass in flight keeps its pool alive across
  // set_threads) and made only here, so that a forked child never destroys one.
  // Throws std::runtime_error naming `threads` when a worker cannot be started
  // (ulimit -u, address space): the workers already started are stopped and
  // joined first, so a failure neither aborts nor leaves threads behind.
  static std::shared_ptr<ThreadPool> create(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // A forked child inherits this object but none of the worker threads:
  // there the pool runs everything on the calling thread and never joins.
  bool forked_away() const;
  // In a forked child, replaces a pool made before the fork with a new one of
  // the same size; keeps it (running on the calling thread) if that fails.
  static void renew_after_fork(std::shared_ptr<ThreadPool>& pool);

  // Runs fn(i) -- or fn(i, thread) with thread in [0, threads()) -- for i in
  // [0, n). The calling thread is thread 0. If another caller is using the
  // pool, the tasks run on the calling thread alone: correct, never deadlocked.
  // Task i's home is thread i * threads() / n: each thread runs its own
  // contiguous share in order, then takes what is left of the others' shares
  // from their ends. Callers that split every layer the same way (rows top to
  // bottom) thus keep each thread on the rows it wrote in the layer before,
  // while a thread the OS has descheduled delays no one.
  template <class F>
  void parallel_for(int n, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    auto trampoline = [](void* ctx, int i, int thread) {
      if constexpr (std::is_invocable_v<Fn&, int, int>)
        (*static_cast<Fn*>(ctx))(i, thread);
      else
        (*static_cast<Fn*>(ctx))(i);
    };
    run(n, trampoline, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  explicit ThreadPool(int threads);
  using TaskFn = void (*)(void*, int task, int thread);
  void run(int n, TaskFn fn, void* ctx);
  void run_region(int first, int n, TaskFn fn, void* ctx);
  void worker_loop(int thread);
  void drain(uint32_t generation, int thread);

  void stop_workers();  // stops and joins every worker started

  std::vector<std::thread> workers_;
  const uint64_t fork_generation_;  // forks seen by this process when the pool was made
  std::mutex busy_;                 // held by the caller that owns the current parallel region

  // The current region's generation; workers wake when it changes.
  std::atomic<uint32_t> region_{0};
  uint32_t generation_ = 0;  // written only by the busy_ owner (wraps; compared for equality only)
  // Each thread's share of the region's tasks, in its own cache line:
  // (generation << 32) | (front << 16) | back. A task is claimed by a CAS that
  // checks the generation, so a worker late from a finished region can never
  // claim a task of the next one. Regions have at most kMaxRegionTasks tasks.
  static constexpr int kMaxRegionTasks = 0xFFFF;
  struct alignas(64) Share {
    std::atomic<uint64_t> word{0};
  };
  std::unique_ptr<Share[]> shares_;
  // Atomic (relaxed) only because a late worker may read them while the
  // owner rewrites them; the CAS on a share decides whether they are used.
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> first_{0};  // task index of the region's task 0
  std::atomic<int> n_{0};
  std::atomic<int> done_{0};
  // The owner sleeps here when the last tasks run long on other threads.
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  std::atomic<bool> owner_sleeping_{false};

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};

  // Keeps the workers off the calling thread's CPU. Linux wakes a sleeping
  // thread on its waker's CPU when it can ("wake-affine"): a worker woken
  // there shares that core with the caller for milliseconds, until the load
  // balancer moves it, and the layers run one thread's speed or worse.
  void keep_workers_off(int cpu);
  std::vector<int> allowed_cpus_;  // the process's CPUs when the pool was made
  int workers_kept_off_ = -1;      // CPU the workers' affinity excludes (busy_ owner only)
};

// Tests only: every pool made from now on fails to start its nth worker
// (1 = the first) as if the system had refused it; 0 turns this off. Lets
// the C++ driver test a failed start without exhausting the machine.
void fail_worker_start_for_testing(int nth);

}  // namespace mobilenet
