"""User errors get one line naming the argument and its limit, never a traceback; Ctrl-C stops profiling."""
import os
import pickle
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


# ------------------------------------------------------------------ item 8: the command line and profile


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
    code = ("import sys; from mobilenet import cli; print('ready', flush=True); "
            "sys.exit(cli.main(['profile', '--alpha', '0.25', '--resolution', '64', '--threads', '1', "
            "'--runs', '1000000', '--warmup', '1000000']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # inside the warm-up runs, in C++
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        returncode = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert returncode == 130, proc.stderr.read()
    assert elapsed < 1.0, elapsed


# ------------------------------------------------------------------ item 9: papercuts


@pytest.mark.parametrize("kw,error,message", [
    (dict(shallow="no"), TypeError, "shallow must be True or False, got 'no'"),
    (dict(shallow=1), TypeError, "shallow"),
    (dict(seed=-1), ValueError, "seed must be a non-negative integer, got -1"),
    (dict(seed=1.5), TypeError, "seed must be an integer"),
    (dict(seed="a"), TypeError, "seed"),
    (dict(isa=5), TypeError, "isa must be a string or None, got int"),
    (dict(isa="sse9"), ValueError, "isa must be an instruction set"),
    (dict(alpha=np.bool_(True)), TypeError, "alpha"),
    (dict(resolution=np.float64(64)), TypeError, "resolution"),
])
def test_messages_name_the_parameter(kw, error, message):
    with pytest.raises(error, match=message) as info:
        mobilenet.MobileNetV1(**dict(dict(alpha=0.25, resolution=32, threads=1), **kw))
    assert len(str(info.value)) < 300  # no array dumped into it


def test_load_labels_names_the_parameter(tmp_path):
    path = tmp_path / "net.npz"
    mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=5, threads=1).save(path)
    with pytest.raises(TypeError, match="labels must be a labels file or a list of class names, got int"):
        mobilenet.load(path, labels=5)
    assert mobilenet.load(path, labels=list("abcde")).labels == list("abcde")


def test_numpy_scalars_for_alpha_and_resolution():
    net = mobilenet.MobileNetV1(alpha=np.float32(0.25), resolution=np.int64(64), num_classes=np.int32(7),
                                seed=np.uint8(3), threads=np.int64(1))
    same = mobilenet.MobileNetV1(alpha=0.25, resolution=64, num_classes=7, seed=3, threads=1)
    assert type(net.resolution) is int and net.alpha == 0.25 and net.num_classes == 7 and net.seed == 3
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(net(x), same(x))
    pair = mobilenet.MobileNetV1(alpha=np.float64(0.25), resolution=(np.int16(64), np.int64(96)), threads=1)
    assert pair.resolution == (64, 96)
    assert mobilenet.MobileNetV1(alpha=0.25, resolution=32, shallow=np.bool_(True), threads=1).shallow is True


def test_size_limits_are_checked_before_weights_are_built():
    start = time.monotonic()
    with pytest.raises(ValueError, match="past the engine's limit"):
        mobilenet.MobileNetV1(alpha=16, resolution=4096)
    assert time.monotonic() - start < 1.0


def test_finite_input_that_overflows_raises():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, threads=1)
    x = np.full((2, 32, 32, 3), 3e38, np.float32)
    assert np.isfinite(x).all()
    with pytest.raises(ValueError, match="overflow"):
        net(x)
    with pytest.raises(ValueError, match="overflow"):
        net.logits(x)
    assert not np.isfinite(net(x, check_finite=False)).all()


def test_unpickled_network_honours_mobilenet_isa():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, threads=1, isa=mobilenet.supported_isas()[-1])
    blob = pickle.dumps(net)
    code = "import pickle, sys; net = pickle.loads(sys.stdin.buffer.read()); print(net.isa)"

    def unpickled_isa(env):
        out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, timeout=120, env=env)
        assert out.returncode == 0, out.stderr
        return out.stdout.decode().strip()

    for isa in mobilenet.supported_isas():
        assert unpickled_isa(dict(os.environ, MOBILENET_ISA=isa)) == isa
    env = {k: v for k, v in os.environ.items() if k != "MOBILENET_ISA"}
    assert unpickled_isa(env) == net.isa  # unset: the pickled one
