"""fork() while other threads are inside net(x): the child can run a forward pass.

A forward pass runs with the GIL released, so the child may be made while
another thread holds one of the network's locks (it would never be released
in the child, which has only the forking thread) or is in the middle of a
parallel region of the thread pool, whose workers the child does not have.
"""
import os
import signal
import threading
import time

import numpy as np
import pytest

import mobilenet

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns on fork() in a process with threads: here that is the point.
    pytest.mark.filterwarnings(r"ignore:This process \(pid=\d+\) is multi-threaded, use of fork\(\) may lead to "
                               r"deadlocks in the child\.:DeprecationWarning"),
]

CHILD_TIMEOUT_S = 60
CHILD_FAILURES = {1: "got other results", 2: "lost its thread count", 3: "has no worker threads", 4: "raised"}


def _os_threads():
    """Threads in this process (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    except (OSError, StopIteration):
        return None


def _wait(pid, timeout):
    """The child's exit code, or None after killing it if it has not exited within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.001)


def _forks_during_forward_passes(net, x, forks, background_threads, spread_s):
    want, want_threads = net(x), net.threads
    stop = threading.Event()
    running = threading.Barrier(background_threads + 1)
    errors = []

    def forward_loop():
        try:
            running.wait(60)
            while not stop.is_set():
                if not np.array_equal(net(x), want):
                    errors.append("the parent's forward pass changed")
        except BaseException as e:  # noqa: BLE001 -- reported by the main thread
            errors.append(repr(e))

    threads = [threading.Thread(target=forward_loop, daemon=True) for _ in range(background_threads)]
    for t in threads:
        t.start()
    try:
        running.wait(60)
        for i in range(forks):
            time.sleep((i % 7) * spread_s)  # so that the forks land in different layers
            pid = os.fork()
            if pid == 0:
                code = 4
                try:
                    if not np.array_equal(net(x), want):
                        code = 1
                    elif net.threads != want_threads:
                        code = 2
                    elif want_threads > 1 and _os_threads() not in (None, want_threads):
                        code = 3  # the pool made before the fork, whose workers stayed in the parent
                    else:
                        code = 0
                finally:
                    os._exit(code)
            code = _wait(pid, CHILD_TIMEOUT_S)
            assert code is not None, f"fork {i}: the child hung in net(x) (killed after {CHILD_TIMEOUT_S} s)"
            assert code == 0, f"fork {i}: the child's network {CHILD_FAILURES.get(code, code)}"
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors


def test_fork_during_forward_passes(rng):
    """The paper's network on 2 threads, forked at many points of a forward pass."""
    net = mobilenet.MobileNetV1(alpha=1.0, resolution=224, threads=2)
    x = rng.standard_normal((1, 224, 224, 3)).astype(np.float32)
    _forks_during_forward_passes(net, x, forks=40, background_threads=1, spread_s=0.0007)


def test_fork_while_the_network_locks_are_busy(rng):
    """A small network called in a loop by three threads takes and releases its locks
    (pool, workspaces) thousands of times a second: forks that catch one held."""
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, threads=2)
    x = rng.standard_normal((2, 32, 32, 3)).astype(np.float32)
    _forks_during_forward_passes(net, x, forks=300, background_threads=3, spread_s=0.00003)
