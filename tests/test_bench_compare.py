"""Smoke tests of bench/compare.py on tiny networks (no timing is asserted)."""
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


def test_measure_one_int8_configuration(tmp_path):
    pytest.importorskip("tflite")
    from model_files import shared_models
    folder = shared_models()
    compare = load_bench_module("compare")
    peers = [p for p in ("onnxruntime", "openvino", "litert") if compare.available(p)]
    qdq = compare.qdq_model(0.25, 128, tmp_path) if "onnxruntime" in peers else None
    result = compare.measure_int8("0.25/128", 1, peers, runs=3, warmup=1, folder=folder, qdq=qdq, profile_runs=2,
                                  block=2)
    runtimes = result["runtimes"]
    assert {"mobilenet-int8", "mobilenet"} <= set(runtimes)
    assert ("onnxruntime-int8" in runtimes) == ("onnxruntime" in peers)
    for name, r in runtimes.items():
        assert 0 < r["min_ms"] <= r["median_ms"] and r["ours_over_peer"] > 0, name
    if "litert" in runtimes:  # the same file: XNNPACK's uint8 output within a few LSB of ours (the reference's)
        assert 0 <= runtimes["litert"]["max_lsb_diff_vs_ours"] <= 16
    net = mobilenet.load(folder / "mobilenet_v1_0.25_128_quant.tflite")
    assert result["mult_adds"] == sum(layer.mult_adds for layer in net.layers)
    markdown = compare.markdown([], None, None, [result])
    assert "| 0.25/128 t1 |" in markdown and "mobilenet-int8" in markdown


def test_bf16_ceiling_takes_the_1x1_layers_to_the_peak():
    compare = load_bench_module("compare")
    peak = {"avx512_bf16_gmacs": 100.0}

    def result(gflops, share, threads=1, note="bfloat16: 14 of 14 GEMMs in bf16 (bf16gemm6x64), the rest float32"):
        profile = {"pointwise_gflops": gflops, "pointwise_share_of_time": share, "layer_ns_median": {}}
        runtimes = {name: {"median_ms": ms, "cpu_median_ms": ms}
                    for name, ms in (("mobilenet", 20.0), ("mobilenet-bf16", 10.0), ("openvino-default", 8.0))}
        return {"alpha": 1.0, "resolution": 224, "batch": 1, "threads": threads, "tflite": False,
                "bf16": {"note": note, "profile": profile, "ours_bf16_over_ours_f32": 0.5}, "runtimes": runtimes}

    assert compare.bf16_ceiling_ms(result(200.0, 0.8), peak) == pytest.approx(10.0)  # already at the peak
    # 1x1 layers at half the peak, 80% of the time: they would take half that, 0.4 of the call
    assert compare.bf16_ceiling_ms(result(100.0, 0.8), peak) == pytest.approx(6.0)
    assert compare.bf16_ceiling_ms(result(200.0, 0.8, threads=2), peak) == pytest.approx(6.0)  # peak per thread
    assert compare.bf16_ceiling_ms(result(100.0, 0.8, note="bfloat16: (bf16fma12x32)"), peak) is None
    assert compare.bf16_ceiling_ms(result(100.0, 0.8), {}) is None
    row = compare.bf16_markdown([result(100.0, 0.8)], peak)[2]
    assert "| 50% | 0.75 |" in row  # 6.0 ms against OpenVINO's 8.0


def test_paired_rounds_alternate_and_keep_each_rounds_fastest_call():
    compare = load_bench_module("compare")
    calls = []
    runtimes = [lambda name=name: calls.append(name) for name in "ab"]
    fastest = compare.paired_fastest(runtimes, rounds=4, block=2)
    assert fastest.shape == (4, 2) and (fastest > 0).all()
    # 10 warm-up calls each, then rounds of 2 calls each, the order alternating
    assert calls[20:] == list("aabb" "bbaa" "aabb" "bbaa")
    summary = compare.paired_summary(np.array([[1e-3, 2e-3], [3e-3, 4e-3], [2e-3, 2e-3]]), "peer")
    assert summary.startswith("ours / peer median 0.750 (quartiles 0.625-0.875)")
    assert summary.endswith("ours 2.000 ms, peer 2.000 ms")
