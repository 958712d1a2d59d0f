"""Smoke tests of bench/compare.py and bench/tflite_writer.py on tiny networks (no timing is asserted)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import mobilenet

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_bench_module(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_measure_one_tiny_configuration(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    compare = load_bench_module("compare")
    peers = [p for p in ("onnxruntime", "openvino", "litert") if compare.available(p)]
    result = compare.measure(0.25, 64, 1, 2, peers, runs=3, warmup=1, workdir=tmp_path, profile_runs=2, block=2)
    assert set(result["runtimes"]) >= {"mobilenet", "onnxruntime"}
    for name, r in result["runtimes"].items():
        assert 0 < r["min_ms"] <= r["median_ms"]
        if name != "mobilenet":
            assert r["max_abs_diff_vs_ours"] < 1e-4, name  # every peer ran the same network
            assert r["ours_over_peer"] > 0
    assert result["mult_adds"] == 2 * sum(layer.mult_adds for layer in mobilenet.build_layers(0.25, 64))
    assert 0 < result["profile"]["pointwise_share_of_time"] < 1


def test_time_interleaved_returns_runs_calls_per_runtime():
    compare = load_bench_module("compare")
    calls = []
    runtimes = [compare.Runtime(name, lambda name=name: calls.append(name)) for name in "ab"]
    times = compare.time_interleaved(runtimes, runs=5, warmup=1, block=2)
    assert {name: len(t) for name, t in times.items()} == {"a": 5, "b": 5}
    # warm-up a b, then turns of one untimed + 2 timed calls: a a a b b b, three rounds
    assert calls[:8] == list("ab") + list("aaabbb")


@pytest.mark.parametrize("alpha, resolution, padding, activation, batch, softmax", [
    (0.25, 96, "same", "relu6", 1, False),
    (0.5, 65, "symmetric", "relu", 2, False),  # PyTorch padding: explicit PAD ops
    (0.3, 97, "same", "relu", 3, True),
])
def test_tflite_writer_runs_our_network_in_litert(tmp_path, alpha, resolution, padding, activation, batch, softmax):
    pytest.importorskip("tflite")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    writer = load_bench_module("tflite_writer")
    net = mobilenet.MobileNetV1(alpha, resolution, padding=padding, activation=activation, threads=1, seed=2)
    path = tmp_path / "net.tflite"
    writer.to_tflite(net, path, softmax=softmax, batch=batch)
    interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    x = np.random.default_rng(0).uniform(-1, 1, (batch,) + net.input_shape).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, net(x) if softmax else net.logits(x), rtol=0, atol=1e-4)
