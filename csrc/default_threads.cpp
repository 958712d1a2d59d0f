#include "default_threads.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace mobilenet {

namespace {

// The first line of a file, without its newline; "" when it cannot be read.
std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

// A kernel CPU list such as "0-3,8,10-11"; empty when malformed.
std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    const size_t dash = part.find('-');
    try {
      const int lo = std::stoi(part.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
      if (lo < 0 || hi < lo || hi - lo > (1 << 20)) return {};
      for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    } catch (const std::exception&) {
      return {};
    }
  }
  return cpus;
}

int hardware_cpus() {
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

// A non-negative integer, or -1 (also for "max", "-1" and anything malformed).
int64_t parse_count(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 18) return -1;
  return std::stoll(text);
}

// Whole CPUs of quota / period, at least 1; 0 when there is no quota.
int64_t whole_cpus(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return 0;
  return std::max<int64_t>(1, quota / period);
}

// The cgroup path and its ancestors, deepest first, ending with "" (the root).
// A path that climbs out of the cgroup namespace ("/..") is the root alone.
std::vector<std::string> self_and_ancestors(std::string path) {
  std::vector<std::string> out;
  if (path.find("..") != std::string::npos) path.clear();
  while (!path.empty() && path.back() == '/') path.pop_back();
  while (!path.empty()) {
    out.push_back(path);
    const size_t slash = path.rfind('/');
    path.resize(slash == std::string::npos ? 0 : slash);
  }
  out.push_back("");
  return out;
}

}  // namespace

std::vector<int> affinity_cpus() {
#if defined(__linux__)
  // A mask large enough for the machine: grown until the kernel accepts it.
  for (int size = 1024; size <= (1 << 20); size *= 2) {
    cpu_set_t* mask = CPU_ALLOC(size);
    if (mask == nullptr) break;
    const size_t bytes = CPU_ALLOC_SIZE(size);
    CPU_ZERO_S(bytes, mask);
    if (sched_getaffinity(0, bytes, mask) == 0) {
      std::vector<int> cpus;
      for (int cpu = 0; cpu < size; ++cpu)
        if (CPU_ISSET_S(cpu, bytes, mask)) cpus.push_back(cpu);
      CPU_FREE(mask);
      if (!cpus.empty()) return cpus;
      break;
    }
    CPU_FREE(mask);
    if (errno != EINVAL) break;
  }
#endif
  std::vector<int> cpus(hardware_cpus());
  for (size_t i = 0; i < cpus.size(); ++i) cpus[i] = static_cast<int>(i);
  return cpus;
}

int physical_cores(const std::vector<int>& cpus, const std::string& sysfs_cpu_dir) {
  std::set<std::string> cores;
  for (int cpu : cpus) {
    const std::string topology = sysfs_cpu_dir + "/cpu" + std::to_string(cpu) + "/topology/";
    std::string siblings = read_line(topology + "core_cpus_list");
    if (siblings.empty()) siblings = read_line(topology + "thread_siblings_list");
    // Compared as sets, so that "0,4" and "0, 4" or a reordered list still match.
    const std::vector<int> set = parse_cpu_list(siblings);
    std::string key;
    if (set.empty() || std::find(set.begin(), set.end(), cpu) == set.end()) {
      key = "cpu" + std::to_string(cpu);  // unknown topology: a core of its own
    } else {
      key = "core" + std::to_string(*std::min_element(set.begin(), set.end()));
    }
    cores.insert(key);
  }
  return std::max<int>(1, static_cast<int>(cores.size()));
}

int physical_core_count() {
  std::vector<int> online = parse_cpu_list(read_line("/sys/devices/system/cpu/online"));
  if (online.empty()) {
    online.resize(hardware_cpus());
    for (size_t i = 0; i < online.size(); ++i) online[i] = static_cast<int>(i);
  }
  return physical_cores(online);
}

int cgroup_cpu_limit(const std::string& proc_self_cgroup, const std::string& cgroup_root) {
  std::ifstream file(proc_self_cgroup);
  int64_t limit = 0;  // 0: no quota found
  auto apply = [&](int64_t cpus) {
    if (cpus > 0) limit = limit == 0 ? cpus : std::min(limit, cpus);
  };
  std::string line;
  while (std::getline(file, line)) {
    // "hierarchy-ID:controller-list:cgroup-path"; the path may hold ':'.
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    const std::vector<std::string> levels = self_and_ancestors(line.substr(b + 1));
    if (id == "0" && controllers.empty()) {
      // cgroup v2: "quota period" or "max period" in every cgroup but the root.
      for (const std::string& level : levels) {
        std::istringstream max(read_line(cgroup_root + level + "/cpu.max"));
        std::string quota, period;
        if (max >> quota >> period) apply(whole_cpus(parse_count(quota), parse_count(period)));
      }
      continue;
    }
    // cgroup v1: the hierarchy that has the cpu controller, usually mounted
    // as cpu,cpuacct with a cpu symlink beside it.
    std::stringstream names(controllers);
    std::string name;
    bool has_cpu = false;
    while (std::getline(names, name, ',')) has_cpu |= name == "cpu";
    if (!has_cpu) continue;
    for (const std::string& mount : {cgroup_root + "/" + controllers, cgroup_root + "/cpu"}) {
      bool found = false;
      for (const std::string& level : levels) {
        const std::string quota = read_line(mount + level + "/cpu.cfs_quota_us");
        if (quota.empty()) continue;
        found = true;
        apply(whole_cpus(parse_count(quota), parse_count(read_line(mount + level + "/cpu.cfs_period_us"))));
      }
      if (found) break;
    }
  }
  return static_cast<int>(std::min<int64_t>(limit, 1 << 20));
}

int default_thread_count(const std::string& sysfs_cpu_dir, const std::string& proc_self_cgroup,
                         const std::string& cgroup_root) {
  int cores = physical_cores(affinity_cpus(), sysfs_cpu_dir);
  const int quota = cgroup_cpu_limit(proc_self_cgroup, cgroup_root);
  if (quota > 0) cores = std::min(cores, quota);
  return std::max(1, cores);
}

}  // namespace mobilenet
