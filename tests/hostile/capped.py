"""Runs mobilenet.load in a child process whose address space is capped, to prove a loader's memory bound."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_CHILD = textwrap.dedent("""
    import importlib, resource, sys
    import mobilenet
    for module in sys.argv[3:]:  # readers import their packages lazily: map them before the cap
        importlib.import_module(module)
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
    limit = vm + int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        mobilenet.load(sys.argv[1])
    except (ValueError, MemoryError) as e:
        print(f"{type(e).__name__}: {e}")
        sys.exit(0)
    print("loaded")
""")


def load_capped(path, headroom=256 << 20, modules=(), timeout=120):
    """(returncode, output) of mobilenet.load(path) with at most headroom bytes of address space to spare."""
    if not sys.platform.startswith("linux"):
        import pytest
        pytest.skip("the address-space cap needs Linux (RLIMIT_AS and /proc/self/status)")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _CHILD, os.fspath(path), str(headroom), *modules],
                          capture_output=True, text=True, timeout=timeout, env=env)
    return done.returncode, (done.stdout + done.stderr).strip()
