"""The default thread count: physical cores in the affinity mask, capped by the cgroup CPU quota.

The cgroup and sysfs roots are parameters of the C++ functions, so the quota
and topology logic runs here against fake trees: cgroup v1 and v2, "max" and
-1 (no quota), nested cgroups, containers that mount their own cgroup as the
root. taskset checks the real affinity mask end to end.
"""
import os
import shutil
import subprocess
import sys

import pytest

import mobilenet
from mobilenet import _core


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _proc(tmp_path, *lines):
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("".join(line + "\n" for line in lines))
    return str(proc)


# ---------------------------------------------------------------- cgroup v2

@pytest.mark.parametrize("cpu_max,want", [
    (None, 0),                 # no cpu.max at all
    ("max 100000", 0),         # "max": no quota
    ("200000 100000", 2),
    ("250000 100000", 2),      # 2.5 CPUs: rounded down
    ("50000 100000", 1),       # half a CPU: at least 1
    ("100000 50000", 2),       # another period
    ("1500000 1000000", 1),
    ("garbage", 0), ("", 0), ("-5 100000", 0), ("100000 0", 0),
])
def test_cgroup_v2_quota(tmp_path, cpu_max, want):
    root = tmp_path / "cgroup"
    (root / "user.slice" / "app.scope").mkdir(parents=True)
    if cpu_max is not None:
        _write(root / "user.slice" / "app.scope" / "cpu.max", cpu_max + "\n")
    proc = _proc(tmp_path, "0::/user.slice/app.scope")
    assert _core.cgroup_cpu_limit(proc, str(root)) == want


@pytest.mark.parametrize("levels,want", [
    ({"a": "max 100000", "a/b": "max 100000", "a/b/c": "max 100000"}, 0),
    ({"a": "100000 100000", "a/b": "max 100000", "a/b/c": "400000 100000"}, 1),   # an ancestor's is smaller
    ({"a": "800000 100000", "a/b": "300000 100000", "a/b/c": "max 100000"}, 3),
    ({"a/b/c": "600000 100000"}, 6),
    ({"": "300000 100000"}, 3),  # the root folder's (a container's own cgroup mounted as the root)
])
def test_cgroup_v2_nested(tmp_path, levels, want):
    root = tmp_path / "cgroup"
    (root / "a" / "b" / "c").mkdir(parents=True)
    for level, text in levels.items():
        _write(root / level / "cpu.max", text + "\n")
    assert _core.cgroup_cpu_limit(_proc(tmp_path, "0::/a/b/c"), str(root)) == want


def test_cgroup_v2_path_missing_under_the_mount(tmp_path):
    """A container without its own cgroup namespace: /proc/self/cgroup names the host's path,
    which does not exist under the container's mount; its quota is at the mount's root."""
    root = tmp_path / "cgroup"
    _write(root / "cpu.max", "200000 100000\n")
    assert _core.cgroup_cpu_limit(_proc(tmp_path, "0::/docker/0123abcd"), str(root)) == 2
    assert _core.cgroup_cpu_limit(_proc(tmp_path, "0::/../../escaped"), str(root)) == 2


# ---------------------------------------------------------------- cgroup v1

@pytest.mark.parametrize("mount", ["cpu,cpuacct", "cpu"])
@pytest.mark.parametrize("quota,period,want", [
    ("-1", "100000", 0), ("300000", "100000", 3), ("150000", "100000", 1), ("20000", "100000", 1),
    ("400000", "200000", 2), ("x", "100000", 0),
])
def test_cgroup_v1_quota(tmp_path, mount, quota, period, want):
    root = tmp_path / "cgroup"
    leaf = root / mount / "docker" / "abc"
    _write(leaf / "cpu.cfs_quota_us", quota + "\n")
    _write(leaf / "cpu.cfs_period_us", period + "\n")
    proc = _proc(tmp_path, "12:memory:/docker/abc", "4:cpu,cpuacct:/docker/abc", "1:name=systemd:/docker/abc")
    assert _core.cgroup_cpu_limit(proc, str(root)) == want


def test_cgroup_v1_nested_and_root(tmp_path):
    root = tmp_path / "cgroup" / "cpu,cpuacct"
    for level, quota in [("", "-1"), ("kubepods", "-1"), ("kubepods/pod1", "200000"), ("kubepods/pod1/c1", "-1")]:
        _write(root / level / "cpu.cfs_quota_us", quota + "\n")
        _write(root / level / "cpu.cfs_period_us", "100000\n")
    # The controllers listed in another order than the mount's name: found through the "cpu" link beside it.
    proc = _proc(tmp_path, "3:cpuacct,cpu:/kubepods/pod1/c1")
    (tmp_path / "cgroup" / "cpu").symlink_to(root)
    assert _core.cgroup_cpu_limit(proc, str(tmp_path / "cgroup")) == 2


def test_cgroup_v1_without_cpu_controller_and_hybrid(tmp_path):
    root = tmp_path / "cgroup"
    _write(root / "memory" / "x" / "cpu.cfs_quota_us", "100000\n")  # not the cpu hierarchy: ignored
    _write(root / "memory" / "x" / "cpu.cfs_period_us", "100000\n")
    assert _core.cgroup_cpu_limit(_proc(tmp_path, "5:memory:/x"), str(root)) == 0
    # Hybrid: v1 controllers and the v2 unified hierarchy side by side; the v1 cpu quota applies.
    _write(root / "cpu" / "x" / "cpu.cfs_quota_us", "300000\n")
    _write(root / "cpu" / "x" / "cpu.cfs_period_us", "100000\n")
    assert _core.cgroup_cpu_limit(_proc(tmp_path, "5:memory:/x", "2:cpu:/x", "0::/x"), str(root)) == 3


def test_cgroup_unreadable(tmp_path):
    assert _core.cgroup_cpu_limit(str(tmp_path / "missing"), str(tmp_path)) == 0
    assert _core.cgroup_cpu_limit(_proc(tmp_path, "nonsense", "", "::"), str(tmp_path)) == 0


# ---------------------------------------------------------------- SMT siblings

def _sysfs(tmp_path, siblings, name="core_cpus_list"):
    """A fake /sys/devices/system/cpu: siblings maps each CPU to its core's CPU list."""
    root = tmp_path / "cpu"
    for cpu, text in siblings.items():
        _write(root / f"cpu{cpu}" / "topology" / name, text + "\n")
    return str(root)


def test_smt_siblings_count_once(tmp_path):
    # 4 cores with 2 threads each, Linux's usual numbering: CPU n and n + 4 share a core.
    sysfs = _sysfs(tmp_path, {c: f"{c % 4},{c % 4 + 4}" for c in range(8)})
    assert _core.physical_cores_of(list(range(8)), sysfs) == 4
    assert _core.physical_cores_of([0, 4], sysfs) == 1          # both threads of one core
    assert _core.physical_cores_of([0, 1], sysfs) == 2
    assert _core.physical_cores_of([0, 1, 5], sysfs) == 2
    assert _core.physical_cores_of([3], sysfs) == 1


def test_smt_siblings_older_kernels_and_ranges(tmp_path):
    sysfs = _sysfs(tmp_path, {0: "0-1", 1: "0-1", 2: "2-3", 3: "2-3"}, name="thread_siblings_list")
    assert _core.physical_cores_of([0, 1, 2, 3], sysfs) == 2


def test_unknown_topology_counts_each_cpu(tmp_path):
    sysfs = _sysfs(tmp_path, {0: "0,1", 1: "0,1"})
    assert _core.physical_cores_of([0, 1, 2, 3], sysfs) == 3  # CPUs 2 and 3 have no topology
    assert _core.physical_cores_of([0, 1], str(tmp_path / "nowhere")) == 2
    assert _core.physical_cores_of([], sysfs) == 1


# ---------------------------------------------------------------- together

def _own_cores(tmp_path):
    """A fake sysfs where every CPU of this process's mask is a core of its own."""
    return _sysfs(tmp_path, {c: str(c) for c in os.sched_getaffinity(0)})


def test_default_is_the_affinity_mask_capped_by_the_quota(tmp_path):
    cpus = len(os.sched_getaffinity(0))
    sysfs = _own_cores(tmp_path)
    root = tmp_path / "cgroup"
    (root / "job").mkdir(parents=True)
    proc = _proc(tmp_path, "0::/job")
    assert _core.default_threads(sysfs, proc, str(root)) == cpus        # no quota
    _write(root / "job" / "cpu.max", "100000 100000\n")
    assert _core.default_threads(sysfs, proc, str(root)) == 1
    _write(root / "job" / "cpu.max", f"{100000 * (cpus + 8)} 100000\n")
    assert _core.default_threads(sysfs, proc, str(root)) == cpus        # a quota above the mask


def test_default_matches_the_machine():
    want = _core.physical_cores_of(sorted(os.sched_getaffinity(0)))
    quota = _core.cgroup_cpu_limit()
    if quota:
        want = min(want, quota)
    assert mobilenet.default_threads() == _core.default_threads() == max(1, want)
    assert sorted(_core.affinity_cpus()) == sorted(os.sched_getaffinity(0))
    assert mobilenet.MobileNetV1(alpha=0.25, resolution=32).threads == min(mobilenet.default_threads(), 1024)


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_taskset_one_cpu_gives_one_thread():
    cpu = min(os.sched_getaffinity(0))
    code = ("import mobilenet; "
            "print(mobilenet.MobileNetV1(alpha=0.25, resolution=32).threads, mobilenet.default_threads())")
    out = subprocess.run(["taskset", "-c", str(cpu), sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.split() == ["1", "1"]
