"""pytest-benchmark suites: `pytest bench --benchmark-only` (never part of `python -m pytest`, whose testpaths
is tests/). They measure and never assert a time; CI runs each once with --benchmark-disable so they cannot rot."""
from __future__ import annotations

import time

import pytest

import mobilenet


def pytest_benchmark_update_machine_info(config, machine_info):
    """What a saved run needs for `pytest-benchmark compare` to be read fairly: the kernels and BLAS in use."""
    machine_info["mobilenet"] = {"version": mobilenet.__version__, "isa": mobilenet.isa(),
                                 "supported_isas": mobilenet.supported_isas(),
                                 "blas": mobilenet._core.blas_config(),
                                 "physical_cores": mobilenet._core.physical_cores()}


class EngineLayerClock:
    """A clock that advances only by the time the engine's own clock gives its layer.

    A one-layer engine's forward pass also copies the input into its arena and
    the output out of it, and pays for a Python call: as much as the kernel
    itself for the small layers (a 4x4x256 depthwise takes 1.3 us of a 2.7 us
    call). pytest-benchmark times its target with a clock of our choice, so
    this clock makes each round the kernel's time alone (the per-layer time of
    Network.profile, read with steady_clock around the layer in C++).
    """

    def __init__(self, engine, x):
        self.engine, self.x, self.ns = engine, x, 0

    def __call__(self) -> float:
        return self.ns / 1e9

    def __repr__(self) -> str:  # what a saved run records as its timer
        return "EngineLayerClock (the engine's per-layer steady_clock)"

    def run_layer(self):
        result = self.engine.profile(self.x, "NHWC", False, 1, 0)
        self.ns += int(result["layer_ns"][0, 0])
        return result["output"]


@pytest.fixture
def time_layer(benchmark, request):
    """time_layer(engine, x): benchmark a one-layer engine's kernel alone (see EngineLayerClock)."""
    def run(engine, x):
        clock = EngineLayerClock(engine, x)
        if benchmark.disabled:
            return benchmark.pedantic(clock.run_layer)
        # pedantic mode, because the default mode calibrates by calling the clock
        # until it ticks; this one ticks only when the layer runs. The fixture
        # keeps its clock in a private attribute: fail loudly if that changes.
        if not hasattr(benchmark, "_timer"):
            raise RuntimeError("this pytest-benchmark has no BenchmarkFixture._timer; update bench/conftest.py")
        benchmark._timer = clock
        start = time.perf_counter()
        for _ in range(3):
            clock.run_layer()
        call_s = (time.perf_counter() - start) / 3
        # As many rounds as --benchmark-max-time allows in wall time, at least --benchmark-min-rounds.
        max_time = float(request.config.getoption("benchmark_max_time"))
        min_rounds = int(request.config.getoption("benchmark_min_rounds"))
        rounds = max(min_rounds, min(2000, int(max_time / call_s)))
        return benchmark.pedantic(clock.run_layer, rounds=rounds, warmup_rounds=5)
    return run
