// A mutex that a fork() never leaves locked in the child.
//
// A child process is a copy of one thread of its parent: a mutex that another
// thread held at the fork stays locked forever in the child, and the child's
// first forward pass would wait on it. Every ForkSafeMutex is locked (by the
// forking thread) just before fork() and unlocked right after it, in the parent
// and in the child (pthread_atfork), so the child finds them all free and in a
// consistent state.
//
// Rule: never take a ForkSafeMutex while holding another one. fork() takes
// them all, in no particular order, and would otherwise deadlock against such
// a thread. Hold them briefly: fork() waits for every holder.
#pragma once
#include <mutex>

namespace mobilenet {

class ForkSafeMutex {
 public:
  ForkSafeMutex();
  ~ForkSafeMutex();
  ForkSafeMutex(const ForkSafeMutex&) = delete;
  ForkSafeMutex& operator=(const ForkSafeMutex&) = delete;

  void lock() { mutex_.lock(); }
  bool try_lock() { return mutex_.try_lock(); }
  void unlock() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

}  // namespace mobilenet
