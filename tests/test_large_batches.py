"""Large batches run in chunks: bounded memory, nothing kept after the call, the bits of one call."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mobilenet
import mobilenet.model


@pytest.mark.parametrize("isa", mobilenet.supported_isas())
@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_chunks_give_the_bits_of_one_call(monkeypatch, isa, threads):
    monkeypatch.setattr(mobilenet.model, "CHUNK_BYTES", 1)  # every chunk at its smallest (MIN_CHUNK images)
    for alpha, resolution in [(0.25, 64), (0.5, 32), (0.25, (96, 64))]:
        net = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, threads=threads, isa=isa)
        assert net.chunk_size == mobilenet.model.MIN_CHUNK
        for n in (41, 100):
            x = np.random.default_rng(n).uniform(-1, 1, (n,) + net.input_shape).astype(np.float32)
            one_call = net._engine.forward(x, "NHWC", True, True)
            np.testing.assert_array_equal(net(x), one_call)
            np.testing.assert_array_equal(net.logits(x), net._engine.forward(x, "NHWC", False, True))
            nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            np.testing.assert_array_equal(net(nchw, layout="NCHW"), one_call)


def test_blas_chunks_agree_to_rounding(monkeypatch):
    # OpenBLAS may pick another kernel for a chunk's smaller GEMMs: on 2+ threads, and on some
    # CPUs on one thread too (its Haswell kernels on AMD Zen 3 differ in the last bit).
    monkeypatch.setattr(mobilenet.model, "CHUNK_BYTES", 1)
    for threads in (1, 2):
        net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=threads, backend="blas")
        x = np.random.default_rng(0).uniform(-1, 1, (100,) + net.input_shape).astype(np.float32)
        one_call = net._engine.forward(x, "NHWC", False, True)
        np.testing.assert_allclose(net.logits(x), one_call, rtol=1e-5, atol=1e-5)


def test_chunk_size_bounds_the_activations():
    net = mobilenet.MobileNetV1(alpha=1.0, resolution=224, threads=1)
    assert net.chunk_size == mobilenet.model.MIN_CHUNK  # 8 MB an image: 32 fit in 256 MB, but at least 40
    small = mobilenet.MobileNetV1(alpha=0.25, resolution=128, threads=1)
    per_image = 2 * 4 * 64 * 64 * (16 + 16)  # the largest output, padded, in two buffers
    assert small.chunk_size == mobilenet.model.CHUNK_BYTES // per_image


def test_float64_and_errors_in_a_later_chunk(monkeypatch):
    monkeypatch.setattr(mobilenet.model, "CHUNK_BYTES", 1)
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, threads=2)
    x = np.random.default_rng(1).uniform(-1, 1, (90, 32, 32, 3))
    np.testing.assert_array_equal(net(x), net(x.astype(np.float32)))
    x[85, 3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        net(x)
    np.testing.assert_array_equal(net(x[:80]), net(x[:80].astype(np.float32)))  # still works after it


MEMORY_SCRIPT = textwrap.dedent("""
    import numpy as np, mobilenet

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

    net = mobilenet.MobileNetV1(alpha=0.5, resolution=128, threads=2)
    x = np.random.default_rng(0).uniform(-1, 1, (1000, 128, 128, 3)).astype(np.float32)
    net(x[:1]); net(x[:2])       # the workspaces a small batch keeps
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")             # peak RSS := current RSS
    out = net(x)
    peak = status("VmHWM") - before
    del out
    after = status("VmRSS") - before
    print(peak, after, net.chunk_size)
""")


def test_batch_of_1000_is_bounded_and_releases_its_memory():
    """At 0.5/128 an image's activations take 1.2 MB: one call of 1000 images kept 1.2 GB on main."""
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr
    peak, after, chunk = map(int, result.stdout.split())
    output = 1000 * 1000 * 4
    activations = 2 * 4 * 64 * 64 * (32 + 16)  # per image, the largest output padded, two buffers
    assert chunk * activations <= max(mobilenet.model.CHUNK_BYTES, mobilenet.model.MIN_CHUNK * activations)
    # the output, a chunk's workspace, and slack for the allocator and the per-chunk results
    assert peak <= output + chunk * activations + (64 << 20), (peak, chunk)
    assert after <= 8 << 20, after  # within a few MB of before: the chunk's workspace is freed
