#include "fork_safe_mutex.h"

#include <algorithm>
#include <vector>

#include <pthread.h>

namespace mobilenet {

namespace {

struct Registry {
  std::mutex mutex;  // guards `all`; held by the forking thread across fork()
  std::vector<ForkSafeMutex*> all;
};

void lock_all();
void unlock_all();

// Never destroyed: a mutex may outlive static destruction (a leaked network),
// and the fork handlers may run at any time.
Registry& registry() {
  static Registry* r = [] {
    auto* made = new Registry;
    pthread_atfork(lock_all, unlock_all, unlock_all);
    return made;
  }();
  return *r;
}

void lock_all() {
  Registry& r = registry();
  r.mutex.lock();
  for (ForkSafeMutex* m : r.all) m->lock();
}

// In the child, the forking thread is the one that locked them: it may unlock them.
void unlock_all() {
  Registry& r = registry();
  for (ForkSafeMutex* m : r.all) m->unlock();
  r.mutex.unlock();
}

}  // namespace

ForkSafeMutex::ForkSafeMutex() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.all.push_back(this);
}

ForkSafeMutex::~ForkSafeMutex() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.all.erase(std::find(r.all.begin(), r.all.end(), this));
}

}  // namespace mobilenet
