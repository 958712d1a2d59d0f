"""Whole networks at the grid's configurations (bench/compare.py's: alphas x resolutions on 1 and 2 threads,
batch 8 at 1.0/224), ours and onnxruntime's (when installed) in one benchmark group per configuration.

Ours is net.logits(x), wall time as a Python caller sees it; onnxruntime runs
the ONNX graph of the same network and weights (net.to_onnx, as compare.py
does) with as many intra-op threads. Both are checked to agree, so a suite that
measures the wrong thing fails; no time is ever asserted. bench/compare.py stays
the interleaved harness for ratios; these are for tracking runs over time with
`pytest-benchmark compare`.

    pytest bench/test_network_benchmarks.py --benchmark-only
"""
from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest

import mobilenet

import compare  # bench/compare.py: the grid and the onnxruntime session it measures against

RUNTIMES = ("mobilenet", "onnxruntime")


def configurations():
    """(alpha, resolution, threads, batch), in compare.py's order."""
    for threads in (1, 2):
        for alpha in compare.ALPHAS:
            for resolution in compare.RESOLUTIONS:
                yield alpha, resolution, threads, 1
        yield 1.0, 224, threads, 8


CASES = [pytest.param(*config, runtime, id=f"{config[0]}-{config[1]}-t{config[2]}-b{config[3]}-{runtime}")
         for config in configurations() for runtime in RUNTIMES]


@functools.lru_cache(maxsize=1)
def network(alpha, resolution, threads):
    return mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, threads=threads)


def inputs(net, batch):
    rng = np.random.default_rng(batch * 1000 + net.input_shape[0])  # compare.py's seed
    return rng.uniform(-1, 1, (batch,) + tuple(net.input_shape)).astype(np.float32)


def warm(benchmark, call, times=3):
    """A few untimed calls first (caches, the pool's threads, onnxruntime's first-run planning)."""
    if benchmark.enabled:
        for _ in range(times):
            call()


@pytest.mark.parametrize("alpha, resolution, threads, batch, runtime", CASES)
def test_network(benchmark, tmp_path, alpha, resolution, threads, batch, runtime):
    net = network(alpha, resolution, threads)
    x = inputs(net, batch)
    benchmark.group = f"network {alpha}/{resolution} batch {batch} threads {threads}"
    benchmark.extra_info.update(runtime=runtime, alpha=alpha, resolution=resolution, threads=threads, batch=batch,
                                mult_adds=batch * sum(layer.mult_adds for layer in net.layers))
    if runtime == "mobilenet":
        benchmark.extra_info.update(isa=net.isa, backend=net.backend)
        warm(benchmark, lambda: net.logits(x))
        out = benchmark(net.logits, x)
    else:
        for module in ("onnx", "onnxruntime"):
            if importlib.util.find_spec(module) is None:
                pytest.skip(f"{module} is not installed (pip install '.[bench]')")
        net.to_onnx(tmp_path / "net.onnx")
        peer = compare.onnxruntime_peer(tmp_path / "net.onnx", np.ascontiguousarray(x.transpose(0, 3, 1, 2)), threads)
        benchmark.extra_info.update(note=peer.note)
        warm(benchmark, peer.run)
        out = benchmark(peer.run)
        del peer  # its session's spinning threads must not outlive this test
    np.testing.assert_allclose(out, net.logits(x), rtol=1e-3, atol=1e-3 * float(np.abs(out).max()))
