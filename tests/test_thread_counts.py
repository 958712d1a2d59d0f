"""Every thread count gives the answer of one thread, bit for bit.

No plan step of our own kernels splits a reduction across threads: the GEMM
splits rows and column panels, never k; depthwise and stem layers split
output rows (and the depthwise kernel's summation order depends on the
layer's shape, not on the band a thread gets); the row pipeline splits each
image into slabs of rows; pooling and the classifier split images. The one
exception is listed in NOT_BIT_IDENTICAL and held to the oracle's tolerance.
(Thread counts far past this machine's cores run oversubscribed: correct,
not fast.)
"""
import numpy as np
import pytest

import mobilenet
from mobilenet import reference

from conftest import ISAS, max_rel_error

# Plan steps whose summation order changes with the thread split, held to
# the oracle's tolerance instead of bit-identity.
NOT_BIT_IDENTICAL = {
    # OpenBLAS picks its kernel (and so the order it sums k in) by the size of
    # the block each thread hands it, and the blocks change with the threads.
    "backend=blas pointwise layers",
}

# Each exercises a different part of the plan: the row pipeline with its
# rings per slab (224 at alpha 1.0 and 0.75, TF padding, NCHW), depthwise and
# pointwise pairs fused at load and on threads (alpha 0.25), layers split
# across threads after the pipeline (0.5/128), images side by side in a
# batch, the BLAS backend and odd sizes.
CONFIGS = [
    (dict(alpha=1.0, resolution=224), "NHWC", 1),
    (dict(alpha=0.75, resolution=224, padding="same"), "NCHW", 1),
    (dict(alpha=0.25, resolution=224), "NHWC", 3),
    (dict(alpha=0.5, resolution=128), "NHWC", 5),
    (dict(alpha=0.35, resolution=97, padding="same", activation="relu"), "NCHW", 2),
    (dict(alpha=0.25, resolution=(75, 131)), "NHWC", 1),
]
if mobilenet._core.blas_available():
    CONFIGS.append((dict(alpha=0.5, resolution=160, backend="blas"), "NHWC", 2))


def _input(cfg, layout, batch, rng):
    res = cfg["resolution"]
    h, w = (res, res) if isinstance(res, int) else res
    x = rng.standard_normal((batch, h, w, 3)).astype(np.float32)
    return x, (np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "NCHW" else x)


@pytest.mark.parametrize("cfg,layout,batch", CONFIGS, ids=lambda v: str(v))
def test_thread_counts_1_to_64_are_bit_identical(cfg, layout, batch, rng):
    net = mobilenet.MobileNetV1(threads=1, **cfg)
    x, xin = _input(cfg, layout, batch, rng)
    want = net.logits(xin, layout=layout)
    want_one = net.logits(xin[:1], layout=layout)
    oracle = reference.forward(net.layers, net.params, x)
    assert max_rel_error(want, oracle) <= 1e-4
    exact = cfg.get("backend") != "blas" or "backend=blas pointwise layers" not in NOT_BIT_IDENTICAL
    for threads in range(2, 65):
        net.set_threads(threads)
        assert net.threads == threads
        got = net.logits(xin, layout=layout)
        got_one = net.logits(xin[:1], layout=layout)
        if exact:
            assert np.array_equal(got, want), f"threads={threads}: differs by {np.abs(got - want).max()}"
            assert np.array_equal(got_one, want_one), f"threads={threads}, one image"
        else:
            assert max_rel_error(got, oracle) <= 1e-4, f"threads={threads}"
            assert max_rel_error(got_one, oracle[:1]) <= 1e-4, f"threads={threads}, one image"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", [9, 16, 33])
def test_every_isa_past_eight_threads(isa, threads, rng):
    """More threads than the pipeline has slabs (8): the case that crashed."""
    net = mobilenet.MobileNetV1(alpha=1.0, resolution=224, isa=isa, threads=1)
    x = rng.standard_normal((2, 224, 224, 3)).astype(np.float32)
    want, want_one = net.logits(x), net.logits(x[:1])
    net.set_threads(threads)
    for _ in range(3):
        assert np.array_equal(net.logits(x), want)
        assert np.array_equal(net.logits(x[:1]), want_one)


def test_1024_threads_smoke(rng):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=128, threads=1)
    x = rng.standard_normal((3, 128, 128, 3)).astype(np.float32)
    want = net.logits(x)
    net.set_threads(1024)
    assert net.threads == 1024
    assert np.array_equal(net.logits(x), want)
    net.set_threads(1)
    assert np.array_equal(net.logits(x), want)


BF16_ISAS = [isa for isa in ISAS if not mobilenet.precision.precision_unavailable("bfloat16", isa)]


@pytest.mark.parametrize("isa", BF16_ISAS)
@pytest.mark.parametrize("cfg,layout,batch", CONFIGS[:4], ids=lambda v: str(v))
def test_bfloat16_thread_counts_are_bit_identical(isa, cfg, layout, batch, rng):
    """The bf16 GEMM splits rows and panels like the float32 one, and each call
    rounds its own rows of A the same way: no thread count changes a bit."""
    if isa == "scalar" and cfg["alpha"] > 0.5:
        pytest.skip("the scalar reference emulates bf16 slowly: the small networks cover it")
    net = mobilenet.MobileNetV1(threads=1, isa=isa, precision="bfloat16", **cfg)
    x, xin = _input(cfg, layout, batch, rng)
    want, want_one = net.logits(xin, layout=layout), net.logits(xin[:1], layout=layout)
    for threads in (2, 3, 4, 5, 7, 8, 9, 16, 33, 64):
        net.set_threads(threads)
        assert np.array_equal(net.logits(xin, layout=layout), want), f"threads={threads}"
        assert np.array_equal(net.logits(xin[:1], layout=layout), want_one), f"threads={threads}, one image"


INT8_CONFIGS = [(dict(alpha=1.0, resolution=224), 2), (dict(alpha=0.25, resolution=(75, 131)), 3)]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("cfg,batch", INT8_CONFIGS, ids=lambda v: str(v))
def test_int8_thread_counts_are_bit_identical(isa, cfg, batch, rng):
    """Integer sums are exact, so no split of rows, columns or bands may change a byte: the GEMM's
    row tasks end at multiples of its row block (32 on AMX tiles), the few-row layers split columns."""
    float_net = mobilenet.MobileNetV1(threads=1, isa=isa, **cfg)
    x, _ = _input(cfg, "NHWC", batch, rng)
    net = float_net.quantize(x)
    want, want_one = net(x, quantized_output=True), net(x[:1], quantized_output=True)
    for threads in (2, 3, 4, 5, 7, 8, 9, 16, 33, 64):
        net.set_threads(threads)
        assert np.array_equal(net(x, quantized_output=True), want), f"threads={threads}"
        assert np.array_equal(net(x[:1], quantized_output=True), want_one), f"threads={threads}, one image"
