// The default thread count: the cores this process may actually use.
//
// The machine's core count overstates it wherever the process is confined:
// by its CPU affinity (taskset, cpusets, a container's --cpuset-cpus) or by a
// cgroup CPU quota (a container's --cpus, a Kubernetes CPU limit), and a pool
// larger than that only makes threads wait for each other. The file-system
// roots are parameters so that tests can point them at fake trees.
#pragma once
#include <string>
#include <vector>

namespace mobilenet {

// CPUs in this process's affinity mask (sched_getaffinity); where it cannot be
// read, CPUs 0 to hardware_concurrency - 1.
std::vector<int> affinity_cpus();

// Physical cores among `cpus`: CPUs that are SMT siblings of one core (the
// same <sysfs_cpu_dir>/cpuN/topology/core_cpus_list, or thread_siblings_list
// on older kernels) count once. A CPU whose topology cannot be read counts as
// a core of its own. At least 1.
int physical_cores(const std::vector<int>& cpus, const std::string& sysfs_cpu_dir = "/sys/devices/system/cpu");

// The physical cores of every online CPU (what the machine has, not what this
// process may use).
int physical_core_count();

// Whole CPUs the cgroup CPU quota allows (rounded down, at least 1), or 0 when
// no quota is set. The cgroups are read from `proc_self_cgroup` (the format of
// /proc/self/cgroup); each cgroup and its ancestors are looked up under
// `cgroup_root`: cgroup v2's cpu.max ("max" = no quota), cgroup v1's
// cpu.cfs_quota_us / cpu.cfs_period_us (-1 = none) under the cpu controller's
// folder. The smallest quota found applies. An ancestor folder that does not
// exist is skipped, so a container that mounts its own cgroup as the root (no
// cgroup namespace) still finds its quota there.
int cgroup_cpu_limit(const std::string& proc_self_cgroup = "/proc/self/cgroup",
                     const std::string& cgroup_root = "/sys/fs/cgroup");

// The physical cores in the affinity mask, capped by the cgroup CPU quota; at least 1.
int default_thread_count(const std::string& sysfs_cpu_dir = "/sys/devices/system/cpu",
                         const std::string& proc_self_cgroup = "/proc/self/cgroup",
                         const std::string& cgroup_root = "/sys/fs/cgroup");

}  // namespace mobilenet
