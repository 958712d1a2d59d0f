"""Papercuts: flags are bools, NumPy scalars are numbers, messages name the parameter, limits come
before the weights, overflow inside the network raises, unpickling honours MOBILENET_ISA."""
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

import mobilenet


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
