"""Bounded fuzzing: mutated bytes of the real TFLite model and of a saved .npz either load or raise ValueError.

Nothing else is acceptable: no other exception, no crash, no hang. Mutations
aim at the flatbuffer's tables (its first bytes and its last 16 KiB, where
TOCO puts the tensors and operators) as well as anywhere in the file.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import mobilenet

from model_files import FLOAT_TFLITE, shared_models

FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _mutations(size: int, table_region: int):
    position = st.one_of(st.integers(0, min(63, size - 1)), st.integers(max(0, size - table_region), size - 1),
                         st.integers(0, size - 1))
    flips = st.lists(st.tuples(position, st.integers(0, 255)), min_size=1, max_size=8)
    cut = st.one_of(st.none(), st.integers(0, size - 1))
    return st.tuples(flips, cut)


def _mutate(data: bytes, mutation) -> bytes:
    flips, cut = mutation
    out = bytearray(data)
    for position, value in flips:
        out[position] = value
    return bytes(out if cut is None else out[:cut])


def _check_loads_or_refuses(path, data: bytes):
    path.write_bytes(data)
    try:
        net = mobilenet.load(path, threads=1)
    except ValueError as e:
        assert str(path) in str(e)  # the message names the file
        return False
    x = np.zeros((1,) + net.input_shape, np.float32)
    assert net.logits(x).shape == (1, net.num_classes)
    return True


@pytest.fixture(scope="module")
def tflite_bytes():
    pytest.importorskip("tflite")
    return (shared_models() / FLOAT_TFLITE).read_bytes()


@pytest.fixture(scope="module")
def npz_bytes(tmp_path_factory):
    net = mobilenet.MobileNetV1(alpha=0.125, resolution=32, num_classes=8, shallow=True, threads=1)
    net.labels = [str(i) for i in range(8)]
    path = tmp_path_factory.mktemp("npz") / "small.npz"
    net.save(path)
    return path.read_bytes()


def test_fuzz_tflite(tflite_bytes, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "mutated.tflite"
    outcomes = []

    @FUZZ
    @given(_mutations(len(tflite_bytes), 16384))
    def run(mutation):
        outcomes.append(_check_loads_or_refuses(path, _mutate(tflite_bytes, mutation)))

    run()
    print(f"{sum(outcomes)} of {len(outcomes)} mutated files loaded, the rest raised ValueError")
    assert len(outcomes) >= 500 and 0 < sum(outcomes) < len(outcomes)  # both outcomes were exercised


def test_fuzz_npz(npz_bytes, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "mutated.npz"
    outcomes = []

    @FUZZ
    @given(_mutations(len(npz_bytes), 8192))  # the zip directory and the JSON metadata sit at the end
    def run(mutation):
        outcomes.append(_check_loads_or_refuses(path, _mutate(npz_bytes, mutation)))

    run()
    print(f"{sum(outcomes)} of {len(outcomes)} mutated files loaded, the rest raised ValueError")
    assert len(outcomes) >= 500 and 0 < sum(outcomes) < len(outcomes)  # both outcomes were exercised


def _check_quantized_loads_or_refuses(path, data: bytes):
    path.write_bytes(data)
    try:
        net = mobilenet.load(path, threads=1)  # int8, the default for a quantized file
    except ValueError as e:
        assert str(path) in str(e)
        return False
    x = np.zeros((1,) + net.input_shape, net.quantization.input.numpy_dtype)
    assert net(x, quantized_output=True).shape == (1, net.num_classes)
    return True


def test_fuzz_quantized_tflite(tmp_path_factory):
    pytest.importorskip("tflite")
    data = (shared_models() / "mobilenet_v1_0.25_128_quant.tflite").read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / "mutated_quant.tflite"
    outcomes = []

    @settings(FUZZ, max_examples=300)
    @given(_mutations(len(data), 16384))
    def run(mutation):
        outcomes.append(_check_quantized_loads_or_refuses(path, _mutate(data, mutation)))

    run()
    print(f"{sum(outcomes)} of {len(outcomes)} mutated quantized files loaded, the rest raised ValueError")
    assert len(outcomes) >= 150 and 0 < sum(outcomes) < len(outcomes)
