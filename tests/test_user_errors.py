"""User errors get one line naming the argument and its limit, never a traceback; Ctrl-C stops profiling."""
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import mobilenet


def run(*args, env=None, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "mobilenet", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout, proc.stderr


def one_line(err):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[:2000]
    return lines[0]




def test_profile_with_a_huge_warmup_is_a_usage_error():
    code, out, err = run("profile", "--warmup", "100000000000")
    assert code == 2 and out == ""
    assert "--warmup: must be at most 1,000,000" in one_line(err)


def test_bench_runs_have_the_same_limit():
    code, _, err = run("bench", "--runs", "2000000")
    assert code == 2 and "--runs: must be at most 1,000,000" in one_line(err)


def test_profile_runs_limit_in_python():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, threads=1)
    x = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(ValueError, match="runs must be between 1 and 1,000,000, got 2147483648") as info:
        net.profile(x, runs=2**31)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="warmup must be between 0 and 1,000,000"):
        net.profile(x, warmup=10**11)


def limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


@pytest.mark.parametrize("limit", [None, limit_address_space])
def test_bench_with_a_batch_too_large_for_memory_names_it(limit):
    # 70000 images at 224x224 are 42 GB of input, past this machine's memory or
    # the 8 GB address space given: one line naming the batch (on main, a traceback).
    args = ["bench", "--batch", "70000", "--runs", "1", "--warmup", "0", "--alpha", "0.25", "--threads", "1"]
    proc = subprocess.run([sys.executable, "-m", "mobilenet", *args], capture_output=True, text=True,
                          timeout=600, preexec_fn=limit)
    if limit is None and proc.returncode == 0:
        return  # a machine with the memory for it: it ran
    line = one_line(proc.stderr)
    assert proc.returncode == 1 and "out of memory for --batch 70000" in line, line


def test_bad_isa_in_the_environment_is_a_usage_error():
    code, out, err = run("info", env={"MOBILENET_ISA": "garbage"})
    assert code == 2 and out == ""
    line = one_line(err)
    assert "MOBILENET_ISA" in line and "'garbage'" in line


def test_ctrl_c_stops_profile_within_a_second():
    # The child takes Ctrl-C as a user's terminal gives it: a test run started in
    # the background (`cmd &` in a script) passes SIGINT on as ignored.
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from mobilenet import cli; print('ready', flush=True); "
            "sys.exit(cli.main(['profile', '--alpha', '0.25', '--resolution', '64', '--threads', '1', "
            "'--runs', '1000000', '--warmup', '1000000']))")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(1.0)  # inside the warm-up runs, in C++
            assert proc.poll() is None
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            returncode = proc.wait(timeout=10)
            elapsed = time.monotonic() - sent
            err = proc.stderr.read()
        finally:
            proc.kill()
    assert returncode == 130, err
    assert elapsed < 1.0, elapsed
