"""A worker thread that cannot start gives a RuntimeError naming the count.

The limits are real: RLIMIT_NPROC (ulimit -u), which root ignores, so that
case runs as an unprivileged uid; and RLIMIT_AS (ulimit -v), where a pool of
1000 threads cannot map its stacks. Each runs in a subprocess; the network
built before the failure must keep working on its old pool.
"""
import os
import pwd
import shutil
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import mobilenet

    def refused(make, threads):
        try:
            make()
        except RuntimeError as e:
            assert f"threads={threads}" in str(e), f"the message does not name threads={threads}: {e}"
            return
        raise AssertionError(f"threads={threads} started under the limit: raise it in the test")

    threads = int(sys.argv[1])
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=2)
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    want = net(x)
    refused(lambda: mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=threads), threads)
    refused(lambda: net.set_threads(threads), threads)
    assert net.threads == 2, net.threads
    assert np.array_equal(net(x), want), "the old pool gives other results after a failed set_threads"
    net.set_threads(3)  # below the limit: still works
    assert net.threads == 3 and np.array_equal(net(x), want)
    print("refused as expected")
""")

# One BLAS thread: OpenBLAS in numpy would otherwise start one per CPU at import.
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def _run(prefix, threads):
    return subprocess.run([*prefix, sys.executable, "-c", CHILD, str(threads)], env=ENV, cwd="/",
                          capture_output=True, text=True, timeout=120)


def _check(proc):
    assert proc.returncode == 0 and "refused as expected" in proc.stdout, (
        f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-3000:]}")


def _drop_privileges():
    """A command prefix that runs as an unprivileged uid (root ignores ulimit -u), or a reason it cannot."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, "dropping to an unprivileged uid needs root"
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return None, "no 'nobody' user to drop to"
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"], None
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"], None
    return None, "neither setpriv nor runuser is installed"


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_thread_limit_ulimit_u():
    drop, reason = _drop_privileges()
    if drop is None:
        pytest.skip(reason)
    probe = subprocess.run([*drop, sys.executable, "-c", "import mobilenet"], env=ENV, cwd="/",
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, (
        f"the unprivileged uid ({drop}) cannot import mobilenet with {sys.executable}: the venv and the "
        f"package must be readable by it (chmod a+rX, and a+x on the folders above)\n{probe.stderr[-2000:]}")
    # 32 processes and threads for the uid: enough for the interpreter and a
    # 2- and 3-thread pool, not for 200.
    _check(_run(["prlimit", "--nproc=32", *drop], 200))


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_thread_limit_ulimit_v():
    # 1 GB of address space: the interpreter with numpy and a small network
    # uses about 200 MB; 999 workers' stacks would need 8 GB.
    _check(_run(["prlimit", f"--as={1 << 30}"], 1000))
