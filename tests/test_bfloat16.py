"""precision="bfloat16": the 1x1 convolutions and the classifier on bf16 weights and
inputs with float32 sums, the stem, depthwise and pooling layers in float32.

Checked against the oracle's plain bf16 version (mobilenet.reference, precision=
"bfloat16"), against float32 on random networks and on the real float model, on
every instruction set that runs bf16 here (the scalar reference everywhere,
AVX512_BF16 where the CPU has it).

Measured bounds (largest |difference| over the largest float32 logit, 2 images
each, alpha 0.25/0.5/0.75/1.0 x resolution 96/160/224 x seeds 0 and 1, AVX512_BF16):
  bf16 against float32:              at most 6.4e-3; asserted 1.5e-2 (2.3x margin;
                                     the issue allows 3e-2)
  bf16 against the oracle's bf16:    at most 2.6e-3; asserted 6e-3 (2.3x margin).
The engine and the oracle round the same values the same way; they differ
because float32 and float64 sums round some activation to the other side of a
bf16 step, and that difference then travels through the layers after it.
"""
import pickle

import numpy as np
import pytest

import mobilenet
from mobilenet import reference
from mobilenet.precision import PrecisionNotAvailable, fast_precisions, precision_unavailable

from conftest import ISAS, max_rel_error
from model_files import FLOAT_TFLITE, shared_models

BF16_VS_FLOAT32 = 1.5e-2
BF16_VS_ORACLE = 6e-3
BF16_ISAS = [isa for isa in ISAS if not precision_unavailable("bfloat16", isa)]
FAST = "bfloat16" in fast_precisions()
needs_fast_bf16 = pytest.mark.skipif(not FAST, reason="this CPU has no bf16 instructions (avx512_bf16 or ARM bf16)")


def test_oracle_rounds_to_nearest_even_and_flushes_denormals():
    bits = np.array([0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0xBF818000, 0x7F7FFFFF,
                     0x00000001, 0x807FFFFF, 0x00800000], np.uint32)
    want = np.array([0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0xBF82, 0x7F80, 0x0000, 0x8000, 0x0080], np.uint32)
    got = reference.round_to_bfloat16(bits.view(np.float32)).astype(np.float32).view(np.uint32)
    assert np.array_equal(got, want << 16)
    assert np.isnan(reference.round_to_bfloat16(np.array([np.nan], np.float32))).all()


def test_oracle_bf16_differs_from_float32_only_in_the_gemms(rng):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    x = rng.standard_normal((1, 64, 64, 3)).astype(np.float32)
    exact, bf16 = reference.forward(net.layers, net.params, x), reference.forward(net.layers, net.params, x,
                                                                                precision="bfloat16")
    assert 0 < max_rel_error(bf16, exact) < BF16_VS_FLOAT32
    with pytest.raises(ValueError, match="no 'float16' version"):
        reference.forward(net.layers, net.params, x, precision="float16")


@pytest.mark.parametrize("isa", BF16_ISAS)
@pytest.mark.parametrize("alpha,resolution", [(0.25, 96), (0.5, 128), (0.75, 96), (1.0, 128)])
def test_random_networks_within_the_measured_bounds(isa, alpha, resolution, rng):
    if isa == "scalar" and alpha > 0.5:
        pytest.skip("the scalar reference emulates bf16 slowly: the small networks cover it")
    net = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, isa=isa, threads=2)
    bf16 = net.with_precision("bfloat16")
    x = rng.standard_normal((2, resolution, resolution, 3)).astype(np.float32)
    got = bf16.logits(x)
    assert max_rel_error(got, net.logits(x)) <= BF16_VS_FLOAT32
    assert max_rel_error(got, reference.forward(net.layers, net.params, x, precision="bfloat16")) <= BF16_VS_ORACLE


@needs_fast_bf16
def test_paper_network_within_the_measured_bounds(rng):
    net = mobilenet.MobileNetV1(alpha=1.0, resolution=224, threads=2)
    bf16 = net.with_precision("bfloat16")
    x = rng.standard_normal((1, 224, 224, 3)).astype(np.float32)
    got = bf16.logits(x)
    assert max_rel_error(got, net.logits(x)) <= BF16_VS_FLOAT32
    assert max_rel_error(got, reference.forward(net.layers, net.params, x, precision="bfloat16")) <= BF16_VS_ORACLE


@pytest.mark.skipif(len(BF16_ISAS) < 2, reason="only the scalar reference runs bf16 here")
def test_native_kernels_agree_with_the_scalar_reference(rng):
    x = rng.standard_normal((2, 64, 64, 3)).astype(np.float32)
    nets = [mobilenet.MobileNetV1(alpha=0.5, resolution=64, isa=isa, threads=1, precision="bfloat16")
            for isa in BF16_ISAS]
    oracle = reference.forward(nets[0].layers, nets[0].params, x, precision="bfloat16")
    for net in nets:
        assert max_rel_error(net.logits(x), oracle) <= BF16_VS_ORACLE, net.isa


@needs_fast_bf16
def test_real_float_model_keeps_its_top5():
    """The shared float model (0.25/224) on the four test images: top-1 identical,
    top-5 overlap at least 4 of 5. Measured: top-1 identical on all four, overlap 4
    (chelsea) and 5, largest probability error 0.030 (chelsea, Egyptian cat 0.676
    in float32, 0.647 in bf16)."""
    pytest.importorskip("tflite")
    models = shared_models()
    f32 = mobilenet.load(models / FLOAT_TFLITE, threads=2)
    bf16 = f32.with_precision("bfloat16")
    inputs = np.load(models / "test_inputs.npz")
    worst = 0.0
    for image in ("chelsea", "coffee", "astronaut", "rocket"):
        x = mobilenet.preprocess(inputs[f"{image}_224"], f32)
        want, got = f32(x)[0], bf16(x)[0]
        top_want, top_got = np.argsort(-want)[:5], np.argsort(-got)[:5]
        assert top_got[0] == top_want[0], image
        assert len(set(top_got) & set(top_want)) >= 4, image
        worst = max(worst, float(np.abs(got - want).max()))
    print(f"largest probability error, bf16 against float32: {worst:.4f}")
    assert worst <= 0.06  # measured 0.030


@pytest.mark.parametrize("isa", BF16_ISAS)
def test_layers_report_their_precision_and_kernel(isa):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, isa=isa, threads=1, precision="bfloat16")
    assert net.precision == "bfloat16"
    for layer, precision, kernel in zip(net.layers, net.layer_precisions, net.kernel_names):
        gemm = layer.type in ("conv1x1", "fc")
        assert precision == ("bfloat16" if gemm else "float32"), layer.name
        assert ("bf16gemm" in kernel) == gemm, kernel
    assert mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1).layer_precisions == ["float32"] * len(
        net.layers)


@needs_fast_bf16
def test_weights_are_packed_in_half_the_bytes():
    net = mobilenet.MobileNetV1(alpha=1.0, resolution=224, threads=1)
    f32, bf16 = net._engine.packed_weight_bytes, net.with_precision("bfloat16")._engine.packed_weight_bytes
    assert bf16 < 0.6 * f32  # the GEMMs' weights (99% of them) halve; the rest stay float32


def test_precision_survives_pickling_and_with_precision():
    isa = BF16_ISAS[-1]
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, isa=isa, threads=1, precision="bfloat16")
    x = np.random.default_rng(3).standard_normal((1, 64, 64, 3)).astype(np.float32)
    again = pickle.loads(pickle.dumps(net))
    assert again.precision == "bfloat16" and np.array_equal(again(x), net(x))
    back = net.with_precision("float32")
    assert back.precision == "float32" and net.precision == "bfloat16"
    assert np.array_equal(back(x), mobilenet.MobileNetV1(alpha=0.25, resolution=64, isa=isa, threads=1)(x))


@pytest.mark.skipif("avx2" not in ISAS, reason="needs an x86-64 CPU with AVX2")
def test_bf16_refused_where_the_kernels_lack_it():
    with pytest.raises(PrecisionNotAvailable, match="avx512_bf16.*avx2 kernels"):
        mobilenet.MobileNetV1(alpha=0.25, resolution=64, isa="avx2", threads=1, precision="bfloat16")
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, isa="avx2", threads=1)
    with pytest.raises(PrecisionNotAvailable, match="avx512_bf16"):
        net.with_precision("bfloat16")
    assert "bfloat16" not in fast_precisions("avx2") and "bfloat16" not in fast_precisions("scalar")


@pytest.mark.skipif("neon" in ISAS, reason="x86: float16 is ARM's")
def test_float16_refused_on_x86_naming_the_arm_feature():
    with pytest.raises(PrecisionNotAvailable, match="float16.*AArch64.*asimdhp"):
        mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1, precision="float16")
    assert "float16" not in fast_precisions()


def test_bf16_runs_on_the_gemm_backend_only():
    if not mobilenet._core.blas_available():
        pytest.skip("this build has no BLAS backend")
    with pytest.raises(ValueError, match="backend='gemm' only"):
        mobilenet.MobileNetV1(alpha=0.25, resolution=64, isa=BF16_ISAS[-1], threads=1, precision="bfloat16",
                              backend="blas")
