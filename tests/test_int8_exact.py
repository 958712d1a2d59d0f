"""Integer inference bit-exact to LiteRT's reference kernels (OpResolverType.BUILTIN_REF), every
intermediate tensor: the NumPy oracle (mobilenet.reference.forward_int8) and the engine."""
import os

import numpy as np
import pytest

import mobilenet
from mobilenet import _core, quantization as qz, reference
from mobilenet.io import tflite as tflite_reader

from model_files import QUANT_TFLITES, reference_interpreter, shared_models

IMAGES = ("chelsea", "coffee", "astronaut", "rocket")
EMBEDDING = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
HEAD = "mobilenet_v1_1.0_224_quant_head_layers.tflite"


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("tflite")
    return shared_models()


def run(it, x):
    detail = it.get_input_details()[0]
    it.set_tensor(detail["index"], x.reshape(detail["shape"]).astype(detail["dtype"]))
    it.invoke()


def inputs(models, size, count_random=2, seed=0):
    """The four test images, then random uint8 images: (name, [1, size, size, 3] uint8)."""
    images = np.load(models / "test_inputs.npz")
    rng = np.random.default_rng(seed + size)
    out = [(name, images[f"{name}_{size}"][None]) for name in IMAGES]
    out += [(f"random{i}", rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)) for i in range(count_random)]
    return out


def read(path):
    layers, _, attributes = tflite_reader.read(path.read_bytes(), str(path))
    return layers, attributes["quantization"]


def assert_layers_match(it, layers, quant, outputs, where):
    for layer, y in zip(layers, outputs):
        expected = it.get_tensor(quant.layers[layer.name].tensor).reshape(y.shape)
        diff = np.abs(expected.astype(np.int64) - y.astype(np.int64))
        assert diff.max() == 0, f"{where}: {layer.name}: {np.count_nonzero(diff)} values differ, up to {diff.max()} LSB"


@pytest.mark.parametrize("name", sorted(QUANT_TFLITES))
def test_oracle_every_tensor_matches_reference_kernels(models, name):
    layers, quant = read(models / name)
    assert quant.scheme == "per-tensor uint8" and quant.softmax is not None
    it = reference_interpreter(models / name)
    for image, x in inputs(models, QUANT_TFLITES[name]):
        run(it, x)
        outputs = reference.forward_int8(layers, quant, x, intermediates=True)
        assert_layers_match(it, layers, quant, outputs, f"{name} {image}")
        expected = it.get_tensor(quant.softmax_tensor).reshape(outputs[-1].shape)
        np.testing.assert_array_equal(outputs[-1], expected, err_msg=f"{name} {image}: softmax")


@pytest.mark.parametrize("name", sorted(QUANT_TFLITES))
def test_oracle_matches_stored_reference_outputs(models, name):
    layers, quant = read(models / name)
    stored = np.load(models / "expected_outputs.npz")
    for image, x in inputs(models, QUANT_TFLITES[name], count_random=0):
        out = reference.forward_int8(layers, quant, x)
        np.testing.assert_array_equal(out[0], stored[f"{name}|{image}|raw_uint8|builtin_ref"])


def test_oracle_embedding_and_head_match_reference_kernels(models):
    layers, quant = read(models / EMBEDDING)
    assert quant.softmax is None and layers[-1].type == "avgpool"
    it = reference_interpreter(models / EMBEDDING)
    head_it = reference_interpreter(models / HEAD)
    joined, joined_quant = tflite_reader.read((models / EMBEDDING).read_bytes(), EMBEDDING,
                                              head=(models / HEAD).read_bytes())[0::2]
    joined_quant = joined_quant["quantization"]
    assert [layer.name for layer in joined][-2:] == ["avgpool", "fc"]
    stored = np.load(models / "expected_1.0_224_quant.npz")
    for image, x in inputs(models, 224, count_random=1):
        run(it, x)
        outputs = reference.forward_int8(layers, quant, x, intermediates=True)
        assert_layers_match(it, layers, quant, outputs, f"embedding {image}")
        run(head_it, outputs[-1])
        probs = reference.forward_int8(joined, joined_quant, x)
        np.testing.assert_array_equal(probs.reshape(-1), head_it.get_output_details() and
                                      head_it.get_tensor(head_it.get_output_details()[0]["index"]).reshape(-1))
        if image in IMAGES:
            np.testing.assert_array_equal(outputs[-1].reshape(-1), stored[f"{image}|embedding_uint8|builtin_ref"])
            np.testing.assert_array_equal(probs.reshape(-1), stored[f"{image}|probs_uint8|builtin_ref"])


# ------------------------------------------------------------------ the arithmetic's pieces

def test_quantize_multiplier_round_trips():
    for real in (1e-6, 0.00683765672147274, 0.5, 0.999999999, 1.0, 3.7):
        q, shift = qz.quantize_multiplier(real)
        assert (1 << 30) <= q < (1 << 31)
        assert abs(q * 2.0 ** (shift - 31) - real) <= real * 2.0 ** -30
    assert qz.quantize_multiplier(0.0) == (0, 0)


def test_rounding_divide_by_pot_rounds_halves_away_from_zero():
    x = np.array([5, -5, 6, -6, 7, -7, 0])
    np.testing.assert_array_equal(qz.rounding_divide_by_pot(x, 1), [3, -3, 3, -3, 4, -4, 0])
    np.testing.assert_array_equal(qz.rounding_divide_by_pot(x, 2), [1, -1, 2, -2, 2, -2, 0])


def test_saturating_rounding_doubling_high_mul_saturates_the_one_overflow():
    assert qz.saturating_rounding_doubling_high_mul(qz.INT32_MIN, qz.INT32_MIN) == qz.INT32_MAX
    assert qz.saturating_rounding_doubling_high_mul(1 << 30, 1 << 30) == 1 << 29


def test_softmax_is_close_to_the_real_softmax():
    rng = np.random.default_rng(1)
    logits = rng.integers(0, 256, (3, 1001)).astype(np.uint8)
    out = qz.QParams(1 / 256, 0, "uint8")
    q = qz.softmax(logits, 0.1, out)
    real = reference.softmax(logits.astype(np.float64) * 0.1)
    assert np.abs(out.dequantize(q) - real).max() <= 1.5 / 256


@pytest.mark.parametrize("scale", [0.004, 0.05, 0.1, 0.35, 1.0, 8.0])
def test_engine_softmax_matches_the_oracle(scale):
    """The engine's integer softmax (a table per distinct distance from the row maximum) against the
    oracle's plain one, on rows of every shape of distribution: wide, peaked, constant, two values, tiny."""
    rng = np.random.default_rng(int(scale * 1000))
    rows = [rng.integers(0, 256, 1001), rng.integers(200, 256, 1001), np.full(1001, 17), np.full(3000, 255),
            np.where(rng.random(1001) < 0.5, 3, 250), rng.integers(0, 256, 1), rng.integers(0, 256, 7),
            np.minimum(rng.geometric(0.05, 1001), 255), 255 - np.minimum(rng.geometric(0.3, 1001), 255)]
    out = qz.QParams(1 / 256, 0, "uint8")
    multiplier, left_shift, diff_min = qz.softmax_parameters(scale)
    for row in rows:
        x = row.astype(np.uint8)[None, :]
        got = _core.softmax_int8(x, multiplier, left_shift, diff_min)
        np.testing.assert_array_equal(got, qz.softmax(x, scale, out), err_msg=f"scale {scale}, row {row[:8]}...")
    batch = rng.integers(0, 256, (5, 1001)).astype(np.uint8)
    np.testing.assert_array_equal(_core.softmax_int8(batch, multiplier, left_shift, diff_min),
                                  qz.softmax(batch, scale, out))


def test_qparams_refuse_bad_values():
    with pytest.raises(ValueError, match="scale"):
        qz.QParams(0.0, 0, "uint8")
    with pytest.raises(ValueError, match="scale"):
        qz.QParams(-1.0, 0, "uint8")
    with pytest.raises(ValueError, match="zero point"):
        qz.QParams(0.1, 300, "uint8")
    with pytest.raises(ValueError, match="zero point"):
        qz.QParams(0.1, -129, "int8")
    with pytest.raises(ValueError, match="uint8 or int8"):
        qz.QParams(0.1, 0, "int16")


def test_quantize_and_dequantize_as_tflite():
    p = qz.QParams(0.5, 10, "uint8")
    np.testing.assert_array_equal(p.quantize(np.array([0.25, -0.25, 1000.0, -1000.0])), [11, 9, 255, 0])
    np.testing.assert_allclose(p.dequantize(np.array([10, 12], np.uint8)), [0.0, 1.0])
    assert mobilenet.precision.PRECISIONS[1] == "int8"


# ------------------------------------------------------------------ the engine (Precision::Int8)

def batch_of(models, size, seed=3):
    """The four test images and two random ones, as one (6, size, size, 3) uint8 batch."""
    return np.concatenate([x for _, x in inputs(models, size, count_random=2, seed=seed)])


@pytest.mark.parametrize("isa", mobilenet._core.supported_isas())
@pytest.mark.parametrize("name", sorted(QUANT_TFLITES))
def test_engine_matches_oracle_bit_for_bit(models, name, isa):
    net = mobilenet.load(models / name, isa=isa, threads=1)
    assert net.precision == "int8" and net.quantization.scheme == "per-tensor uint8"
    assert all(kernel.startswith("int8_") for kernel in net.kernel_names)
    x = batch_of(models, QUANT_TFLITES[name])
    expected = reference.forward_int8(net.layers, net.quantization, x)
    got = net(x, quantized_output=True)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    net.set_threads(2)
    np.testing.assert_array_equal(net(x, quantized_output=True), expected)
    np.testing.assert_array_equal(net(x[:1], quantized_output=True), expected[:1])


# Where the small depthwise/pointwise pairs must run fused across threads (each thread its rows
# of both layers, no barrier between them): 8 and 16 threads are past this machine's cores.
FUSED_THREADS = {"mobilenet_v1_0.25_128_quant.tflite": (2, 3, 8, 16), "mobilenet_v1_0.5_160_quant.tflite": (2, 3)}


@pytest.mark.parametrize("isa", mobilenet._core.supported_isas())
@pytest.mark.parametrize("name", sorted(FUSED_THREADS))
def test_pairs_fused_across_threads_are_exact(models, name, isa):
    """The fused pairs are planned only on more than one thread, come as a depthwise layer and its
    pointwise one, and give TFLite's reference arithmetic (the oracle, itself checked against
    LiteRT's reference kernels above) on every thread count, batch 1 and a batch."""
    net = mobilenet.load(models / name, isa=isa, threads=1)
    x = batch_of(models, QUANT_TFLITES[name])
    expected = reference.forward_int8(net.layers, net.quantization, x)
    for threads in (1, 2, 3, 8, 16):
        net.set_threads(threads)
        fused = [i for i, kernel in enumerate(net.kernel_names) if "_fused_" in kernel]
        if threads == 1 or threads not in FUSED_THREADS[name]:
            assert threads > 1 or fused == [], net.kernel_names
        else:
            assert fused, f"{threads} threads: no pair fused: {net.kernel_names}"
        assert len(fused) % 2 == 0
        for dw, pw in zip(fused[::2], fused[1::2]):
            assert pw == dw + 1, fused
            assert net.kernel_names[dw].startswith("int8_dwconv3x3"), net.kernel_names[dw]
            assert net.kernel_names[pw].startswith("int8_conv1x1"), net.kernel_names[pw]
        np.testing.assert_array_equal(net(x, quantized_output=True), expected, err_msg=f"{threads} threads")
        np.testing.assert_array_equal(net(x[:1], quantized_output=True), expected[:1], err_msg=f"{threads} threads")


def test_engine_every_layer_matches_reference_kernels(models):
    """The engine's layer outputs, run as prefixes of the network, against LiteRT's tensors."""
    name = "mobilenet_v1_0.25_128_quant.tflite"
    net = mobilenet.load(models / name, threads=1)
    it = reference_interpreter(models / name)
    x = batch_of(models, 128)[:1]
    run(it, x)
    for end in range(1, len(net.layers) + 1):
        layers = net.layers[:end]
        engine = mobilenet.model.engine_specs_int8(layers, net.quantization)
        prefix = mobilenet._core.Network(engine, threads=1, precision=mobilenet._core.Precision.INT8)
        got = prefix.forward_int8(x)
        expected = it.get_tensor(net.quantization.layers[layers[-1].name].tensor).reshape(got.shape)
        np.testing.assert_array_equal(got, expected, err_msg=layers[-1].name)


def test_float_input_is_quantized_as_tflite(models):
    name = "mobilenet_v1_0.5_160_quant.tflite"
    net = mobilenet.load(models / name)
    images = batch_of(models, 160)
    x = np.concatenate([mobilenet.preprocess(image, net) for image in images])
    assert x.dtype == np.float32
    np.testing.assert_array_equal(net.quantization.input.quantize(x), images)
    np.testing.assert_array_equal(net(x, quantized_output=True), net(images, quantized_output=True))
    probs = net(x)
    assert probs.dtype == np.float32 and probs.shape == (6, 1001)
    np.testing.assert_array_equal(probs, net(images, quantized_output=True).astype(np.float32) / 256)
    nchw = net(images.transpose(0, 3, 1, 2), layout="NCHW", quantized_output=True)
    np.testing.assert_array_equal(nchw, net(images, quantized_output=True))
    stored = np.load(models / "expected_outputs.npz")
    for i, image in enumerate(IMAGES):
        np.testing.assert_array_equal(net(images[i:i + 1], quantized_output=True)[0],
                                      stored[f"{name}|{image}|raw_uint8|builtin_ref"])


def test_int8_input_errors_name_the_problem(models):
    net = mobilenet.load(models / "mobilenet_v1_0.25_128_quant.tflite")
    with pytest.raises(TypeError, match="uint8"):
        net(np.zeros((1, 128, 128, 3), np.int8))
    with pytest.raises(ValueError, match="does not match"):
        net(np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        net(np.full((1, 128, 128, 3), np.nan, np.float32))
    float_net = mobilenet.load(models / "mobilenet_v1_0.25_128_quant.tflite", precision="float32")
    with pytest.raises(ValueError, match="int8 networks"):
        float_net(np.zeros((1, 128, 128, 3), np.float32), quantized_output=True)


def test_embedding_alone_and_joined_with_its_head(models):
    stored = np.load(models / "expected_1.0_224_quant.npz")
    images = np.concatenate([x for _, x in inputs(models, 224, count_random=0)])
    features = mobilenet.load(models / EMBEDDING, threads=2)
    assert features.layers[-1].type == "avgpool" and features.num_classes == 1024
    embedding = features(images, quantized_output=True)
    assert embedding.shape == (4, 1024) and embedding.dtype == np.uint8
    full = mobilenet.load(models / EMBEDDING, head=models / HEAD, threads=2)
    assert full.num_classes == 1001 and [layer.type for layer in full.layers][-2:] == ["avgpool", "fc"]
    probs = full(images, quantized_output=True)
    for i, image in enumerate(IMAGES):
        np.testing.assert_array_equal(embedding[i], stored[f"{image}|embedding_uint8|builtin_ref"])
        np.testing.assert_array_equal(probs[i], stored[f"{image}|probs_uint8|builtin_ref"])
        xnnpack = stored[f"{image}|embedding_uint8|xnnpack"].astype(int)
        print(f"{image}: XNNPACK's embedding differs from the reference by up to "
              f"{np.abs(xnnpack - embedding[i].astype(int)).max()} LSB")
    np.testing.assert_allclose(features(images), features.quantization.output.dequantize(embedding))


def test_head_must_continue_a_feature_extractor(models, tmp_path):
    with pytest.raises(ValueError, match="feature extractor"):
        mobilenet.load(models / "mobilenet_v1_0.25_128_quant.tflite", head=models / HEAD)
    with pytest.raises(FileNotFoundError):
        mobilenet.load(models / EMBEDDING, head=tmp_path / "missing.tflite")


def test_int8_and_float32_precisions_of_one_file(models):
    name = "mobilenet_v1_0.25_128_quant.tflite"
    net = mobilenet.load(models / name)
    assert net.precision == "int8" and "per-tensor uint8" in repr(net.quantization)
    as_float = net.with_precision("float32")
    assert as_float.precision == "float32" and as_float.quantization is None
    x = np.concatenate([mobilenet.preprocess(image, net) for image in batch_of(models, 128)])
    # Dequantized weights in float32 stay close to the integer network.
    assert np.abs(as_float(x) - net(x)).max() < 0.25
    clone = net.copy()
    assert clone.precision == "int8"
    np.testing.assert_array_equal(clone(x), net(x))


# ------------------------------------------------------------------ TFLiteConverter's per-channel int8 files

TFCONV = {"int8": 160, "int8_uint8_io": 160, "int8_float_io": 160, "int8@161": 161}


def tfconv_path(models, variant):
    name, _, size = variant.partition("@")
    return models / "converted" / f"tfconv_mobilenet_0.5_{size or 160}_{name}.tflite"


def tfconv_inputs(models, size, detail, count=3):
    """The stored inputs (float, as Keras saw them), in the file's input type as a TFLite user gives them."""
    x = np.load(models / "converted" / f"tfconv_mobilenet_0.5_{size}.expected.npz")["x"][:count]
    if detail["dtype"] == np.float32:
        return x
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])


@pytest.mark.parametrize("variant", sorted(TFCONV))
def test_per_channel_int8_files_match_reference_kernels(models, variant):
    path = tfconv_path(models, variant)
    layers, quant = read(path)
    assert quant.scheme == "per-channel int8" and any(q.mean for q in quant.layers.values())
    it = reference_interpreter(path)
    detail = it.get_input_details()[0]
    x = tfconv_inputs(models, TFCONV[variant], detail)
    net = mobilenet.load(path, threads=2)
    assert net.precision == "int8"
    for i in range(len(x)):
        run(it, x[i:i + 1])
        xq = quant.input.quantize(x[i:i + 1]) if x.dtype == np.float32 else x[i:i + 1]
        outputs = reference.forward_int8(layers, quant, xq, intermediates=True)
        assert_layers_match(it, layers, quant, outputs, f"{variant} image {i}")
        expected = it.get_tensor(it.get_output_details()[0]["index"])
        ours = net(x[i:i + 1], quantized_output=x.dtype != np.float32)
        if x.dtype == np.float32:  # float output: the file's DEQUANTIZE
            np.testing.assert_array_equal(quant.output.dequantize(outputs[-1]), expected)
        else:
            np.testing.assert_array_equal(outputs[-1], expected)
        np.testing.assert_array_equal(ours, expected)


def test_per_channel_int8_matches_stored_reference_outputs(models):
    stored = np.load(models / "converted" / "tfconv_mobilenet_0.5_160.expected.npz")
    for variant in ("int8", "int8_uint8_io", "int8_float_io"):
        path = tfconv_path(models, variant)
        net = mobilenet.load(path)
        x = stored["x"]
        if variant == "int8_float_io":
            np.testing.assert_array_equal(net(x), stored[f"{variant}|tflite_ref"])
        else:
            detail = {"dtype": np.int8 if variant == "int8" else np.uint8,
                      "quantization": ((net.quantization.io_input or net.quantization.input).scale,
                                       (net.quantization.io_input or net.quantization.input).zero_point)}
            xq = tfconv_inputs(models, 160, detail, count=len(x))
            np.testing.assert_array_equal(net(xq, quantized_output=True), stored[f"{variant}|tflite_ref"])


def run_in_process(tmp_path, script, args, **env):
    """Runs the Python `script` with `args` in a process of its own with `env` added (the kernel
    table is chosen once per process); asserts that it printed ok."""
    import subprocess
    import sys
    path = tmp_path / "script.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path), *map(str, args)], env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


def test_int8_kernels_without_dot_product_instructions(models, tmp_path):
    """MOBILENET_INT8_DOT=off: the kernels a CPU without VNNI runs (AVX2: vpmaddwd, and vpmaddubsw
    only on weights split where it cannot saturate; no AMX tiles either), bit for bit the oracle's,
    in a process of their own."""
    script = (
        "import sys, numpy as np, mobilenet\n"
        "from mobilenet import reference\n"
        "net = mobilenet.load(sys.argv[1], threads=1)\n"
        "x = np.random.default_rng(5).integers(0, 256, (3,) + net.input_shape, dtype=np.uint8)\n"
        "expected = reference.forward_int8(net.layers, net.quantization, x)\n"
        "for isa in mobilenet._core.supported_isas():\n"
        "    other = mobilenet.load(sys.argv[1], threads=1, isa=isa)\n"
        "    assert not any('vnni' in k or 'amx' in k for k in other.kernel_names), other.kernel_names\n"
        "    np.testing.assert_array_equal(other(x, quantized_output=True), expected)\n"
        "print('ok')\n")
    run_in_process(tmp_path, script, [models / "mobilenet_v1_0.25_128_quant.tflite"], MOBILENET_INT8_DOT="off")


# AMX: Intel Xeon from Sapphire Rapids on, with Linux's permission (arch_prctl); AMD CPUs have none.
@pytest.mark.skipif("amx_int8" not in mobilenet._core.cpu_features(),
                    reason="needs a CPU with AMX-INT8 and an OS that grants the tile state (AMD CPUs have no AMX)")
@pytest.mark.parametrize("amx, gemm", [("1", "_amx32x64_"), ("0", "_vnni6x64_")])
def test_int8_gemm_on_amx_tiles_and_without(models, tmp_path, amx, gemm):
    """The AVX-512 int8 1x1 layers on AMX tiles (tdpbusd) where the CPU has them, and on vpdpbusd
    with MOBILENET_AMX=0: each bit for bit the oracle's on every uint8 model and a per-channel
    int8 one, on 1 and 2 threads."""
    script = (
        "import sys, numpy as np, mobilenet\n"
        "from mobilenet import reference\n"
        "for path in sys.argv[2:]:\n"
        "    net = mobilenet.load(path, threads=1, isa='avx512')\n"
        "    gemms = [k for k in net.kernel_names if 'conv1x1' in k]\n"
        "    assert gemms and all(sys.argv[1] in k for k in gemms), net.kernel_names\n"
        "    q = net.quantization.input\n"
        "    x = np.random.default_rng(6).integers(q.qmin, q.qmax + 1, (2,) + net.input_shape).astype(q.numpy_dtype)\n"
        "    expected = reference.forward_int8(net.layers, net.quantization, x)\n"
        "    for threads in (1, 2):\n"
        "        net.set_threads(threads)\n"
        "        np.testing.assert_array_equal(net(x, quantized_output=True), expected)\n"
        "print('ok')\n")
    paths = [models / name for name in sorted(QUANT_TFLITES)] + [tfconv_path(models, "int8")]
    run_in_process(tmp_path, script, [gemm, *paths], MOBILENET_AMX=amx)


def test_int8_networks_profile(models):
    net = mobilenet.load(models / "mobilenet_v1_0.25_128_quant.tflite", threads=1)
    x = batch_of(models, 128)[:1]
    report = net.profile(x, runs=3, warmup=1)
    assert [row.kernel for row in report.rows] == net.kernel_names
    assert report.layer_ms.shape == (3, len(net.layers)) and (report.total_ms > 0).all()
    np.testing.assert_array_equal(report.output, net(x))
    assert "int8_conv1x1" in str(report)


# ------------------------------------------------------------------ top-5 as sets of scores

def top_k_as_score_sets(scores, k=5):
    """The top k of one output as sets of scores: the k largest scores (as a sorted tuple), the
    (class, score) pairs above the k-th score (all of them are in any top k), and every class
    scoring the k-th score (any of them may fill the last places: with uint8 scores, ties are common)."""
    scores = np.asarray(scores).reshape(-1)
    kth = np.sort(scores)[::-1][k - 1]
    above = np.flatnonzero(scores > kth)
    return (tuple(np.sort(scores)[::-1][:k].tolist()), frozenset(zip(above.tolist(), scores[above].tolist())),
            frozenset(np.flatnonzero(scores == kth).tolist()))


def assert_top_k_is_one_of_the_tied_orders(classes, scores, k=5):
    """A top-k list of classes (as the classify command picks it) is a valid top k of `scores`."""
    best, above, tied = top_k_as_score_sets(scores, k)
    scores = np.asarray(scores).reshape(-1)
    assert tuple(scores[list(classes)].tolist()) == best, "not the k largest scores, largest first"
    above_classes = {c for c, _ in above}
    assert above_classes <= set(classes) <= above_classes | tied


def test_top_k_as_score_sets_lets_tied_classes_swap():
    a = np.array([9, 1, 7, 1, 1, 3, 5, 0], np.uint8)
    b = a.copy()
    assert top_k_as_score_sets(a) == top_k_as_score_sets(b)
    for classes in ([0, 2, 6, 5, 1], [0, 2, 6, 5, 3], [0, 2, 6, 5, 4]):  # any of the three tied 1s is fifth
        assert_top_k_is_one_of_the_tied_orders(classes, a)
    with pytest.raises(AssertionError):
        assert_top_k_is_one_of_the_tied_orders([0, 2, 6, 5, 7], a)  # class 7 scores 0
    with pytest.raises(AssertionError):
        assert_top_k_is_one_of_the_tied_orders([0, 6, 2, 5, 1], a)  # out of order
    b[7] = 1  # one more class tied fifth: a different set of scores
    assert top_k_as_score_sets(a) != top_k_as_score_sets(b)
    b = a.copy()
    b[[2, 6]] = b[[6, 2]]  # two classes above the fifth score trade places: a different top 5
    assert top_k_as_score_sets(a) != top_k_as_score_sets(b)


@pytest.mark.parametrize("name", sorted(QUANT_TFLITES))
def test_top5_matches_reference_kernels_as_sets_of_scores(models, name):
    """The engine's top 5 against TFLite's reference outputs: equal as sets of scores, and the top 5
    that classify prints is one of the reference's tied orders. Ties at the fifth score are common
    here (0.25/128 chelsea: four classes score 1), so class lists alone would depend on the sort.
    Against XNNPACK (a few LSB off the reference) the overlap of the two top 5 is reported."""
    from mobilenet.batch_classify import top_indices
    net = mobilenet.load(models / name, threads=1)
    stored = np.load(models / "expected_outputs.npz")
    images = np.concatenate([x for _, x in inputs(models, QUANT_TFLITES[name], count_random=0)])
    ours = net(images, quantized_output=True)
    printed = top_indices(net(images), 5)  # what `mobilenet classify` lists, from the dequantized output
    ties = 0
    for i, image in enumerate(IMAGES):
        reference_out = stored[f"{name}|{image}|raw_uint8|builtin_ref"].reshape(-1)
        assert top_k_as_score_sets(ours[i]) == top_k_as_score_sets(reference_out), image
        assert_top_k_is_one_of_the_tied_orders(printed[i], reference_out)
        _, above, tied = top_k_as_score_sets(reference_out)
        ties += len(above) + len(tied) > 5
        xnnpack = stored[f"{name}|{image}|raw_uint8"].reshape(-1)
        _, x_above, x_tied = top_k_as_score_sets(xnnpack)
        # ours in any of XNNPACK's tied top 5 orders
        overlap = len(set(printed[i].tolist()) & ({c for c, _ in x_above} | x_tied))
        print(f"{name} {image}: top 5 with XNNPACK's in common: {overlap} of 5; largest difference "
              f"{np.abs(xnnpack.astype(int) - reference_out.astype(int)).max()} LSB")
    assert ties > 0 or name != "mobilenet_v1_0.25_128_quant.tflite"  # the tie case is exercised


def test_top5_of_the_joined_1_0_224_model_as_sets_of_scores(models):
    from mobilenet.batch_classify import top_indices
    net = mobilenet.load(models / EMBEDDING, head=models / HEAD, threads=2)
    stored = np.load(models / "expected_1.0_224_quant.npz")
    images = np.concatenate([x for _, x in inputs(models, 224, count_random=0)])
    ours, printed = net(images, quantized_output=True), top_indices(net(images), 5)
    for i, image in enumerate(IMAGES):
        reference_out = stored[f"{image}|probs_uint8|builtin_ref"].reshape(-1)
        assert top_k_as_score_sets(ours[i]) == top_k_as_score_sets(reference_out), image
        assert_top_k_is_one_of_the_tied_orders(printed[i], reference_out)


@pytest.mark.parametrize("name", ["mobilenet_v1_0.25_128_quant.tflite"]
                         + [f"converted/tfconv_mobilenet_0.5_160_{v}.tflite" for v in ("int8", "int8_uint8_io",
                                                                                      "int8_float_io")])
def test_direct_call_matches_the_checking_path(models, name):
    """An NHWC array goes straight to the engine and is dequantized in C++ (MobileNetV1._forward_int8);
    NCHW takes the path through NumPy: the same bits, probabilities and logits, every input type."""
    net = mobilenet.load(models / name)
    h, w, c = net.input_shape
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 256, (3, h, w, c), dtype=np.uint8)
    inputs = [stored.astype(np.float32) / 255, stored]
    if net.quantization.input.dtype == "int8":
        inputs.append((stored ^ np.uint8(0x80)).view(np.int8))
    for x in inputs:
        nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        for call in (net, net.logits):
            try:
                direct = call(x)
            except TypeError:  # a type this model does not take: both paths refuse it
                with pytest.raises(TypeError):
                    call(nchw, layout="NCHW")
                continue
            np.testing.assert_array_equal(direct, call(nchw, layout="NCHW"), err_msg=f"{x.dtype} {call}")
            assert direct.dtype == np.float32 and direct.shape == (3, net.num_classes)
    wide = np.zeros((1, h, 2 * w, c), np.uint8)
    wide[:, :, ::2] = stored[:1]
    if net.quantization.input.dtype == "uint8" or net.quantization.io_input is not None:
        np.testing.assert_array_equal(net(wide[:, :, ::2]), net(stored[:1]))  # strided: copied on the way in
