"""Each kernel at every layer shape of MobileNet v1 1.0/224 and 0.25/128, alone.

One benchmark group per distinct layer shape (the five identical 14x14 blocks
are measured once); its members are the ISA variants this CPU runs, and the
OpenBLAS backend for the 1x1 and fully connected layers. Each runs as a
one-layer engine (the same packing, dispatch and executor the network uses) on
one thread, timed by the engine's own clock around the layer (see
EngineLayerClock in conftest.py).

    pytest bench/test_kernel_benchmarks.py --benchmark-only
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import mobilenet
from mobilenet import _core
from mobilenet.model import engine_specs

CONFIGS = ((1.0, 224), (0.25, 128))


def distinct_layers(alpha, resolution):
    """(index, names) of each distinct layer shape, in network order: repeated blocks share one entry."""
    seen = {}
    for i, layer in enumerate(mobilenet.build_layers(alpha, resolution)):
        key = (layer.type, layer.in_shape, layer.out_shape, layer.stride, layer.padding)
        seen.setdefault(key, (i, []))[1].append(layer.name)
    return [(i, names) for i, names in seen.values()]


def variants(layer_type):
    """(isa, backend) pairs: every ISA's kernels; OpenBLAS too where a GEMM does the work."""
    pairs = [(isa, "gemm") for isa in mobilenet.supported_isas()]
    if layer_type in ("conv1x1", "fc") and _core.blas_available():
        pairs.append((mobilenet.isa(), "blas"))
    return pairs


def cases():
    for alpha, resolution in CONFIGS:
        layers = mobilenet.build_layers(alpha, resolution)
        for index, names in distinct_layers(alpha, resolution):
            name = names[0] if len(names) == 1 else f"{names[0]}..{names[-1].rsplit('_', 1)[1]}"
            for isa, backend in variants(layers[index].type):
                yield pytest.param(alpha, resolution, index, name, isa, backend,
                                   id=f"{alpha}-{resolution}-{name}-{isa}-{backend}")


@functools.lru_cache(maxsize=1)
def specs(alpha, resolution):
    """The engine's layer specs of a seeded random network (weights only change the values, not the work)."""
    net = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, threads=1)
    return net.layers, engine_specs(net.layers, net.params)


@pytest.mark.parametrize("alpha, resolution, index, name, isa, backend", list(cases()))
def test_kernel(time_layer, benchmark, alpha, resolution, index, name, isa, backend):
    layers, all_specs = specs(alpha, resolution)
    layer, spec = layers[index], all_specs[index]
    engine = _core.Network([spec], isa=isa, threads=1, backend=backend)
    x = np.random.default_rng(index).uniform(-1, 1, (1, spec.in_h, spec.in_w, spec.in_c))
    x = x.astype(np.float32)
    (h, w, cin), (oh, ow, cout) = layer.in_shape, layer.out_shape
    benchmark.group = f"kernel {alpha}/{resolution} {name}: {layer.type} {h}x{w}x{cin} -> {oh}x{ow}x{cout}"
    benchmark.extra_info.update(kernel=engine.kernel_names[0], isa=isa, backend=backend, layers=name,
                                mult_adds=layer.mult_adds, clock="engine per-layer steady_clock")
    out = time_layer(engine, x)
    assert out.shape == (1, oh * ow * cout) and np.isfinite(out).all()
