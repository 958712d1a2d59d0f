"""Post-training quantization (net.quantize, mobilenet.calibration) and int8 TFLite export (net.to_tflite):
TFLite's scheme, bit-exact to LiteRT's reference kernels on every tensor of the written file, round trips
through mobilenet.load, and the accuracy the real float 0.25/224 keeps."""
import numpy as np
import pytest

import mobilenet
from mobilenet import calibration as cal, quantization as qz, reference

from model_files import FLOAT_TFLITE, reference_interpreter, shared_models

IMAGES = ("chelsea", "coffee", "astronaut", "rocket")


def random_images(net, count, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, (count,) + net.input_shape).astype(np.float32)


def small_net(**kwargs):
    options = dict(alpha=0.25, resolution=64, threads=1, seed=3)
    options.update(kwargs)
    return mobilenet.MobileNetV1(**options)


# ------------------------------------------------------------------ the scheme's pieces

def test_activation_qparams_are_tflites():
    assert cal.activation_qparams(-1.0, 1.0) == qz.QParams(float(np.float32(2 / 255)), -1, "int8")
    assert cal.activation_qparams(0.0, 6.0) == qz.QParams(float(np.float32(6 / 255)), -128, "int8")
    assert cal.activation_qparams(0.5, 6.0) == cal.activation_qparams(0.0, 6.0)  # the range always holds 0
    assert cal.activation_qparams(-3.0, -1.0).zero_point == 127
    assert cal.activation_qparams(0.0, 0.0) == qz.QParams(1.0, -128, "int8")
    for lo, hi in [(-0.3, 5.1), (-7.5, 0.2), (-1e-3, 2e3)]:
        q = cal.activation_qparams(lo, hi)
        # 0 is exactly representable, and both ends are within a step of the representable range
        assert q.dequantize(np.int8(q.zero_point)) == 0.0
        assert q.dequantize(np.int8(-128)) <= lo + q.scale and q.dequantize(np.int8(127)) >= hi - q.scale
    with pytest.raises(ValueError, match="finite"):
        cal.activation_qparams(0.0, float("inf"))


def test_weights_are_symmetric_per_output_channel():
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.1, (3, 3, 4, 5)).astype(np.float32)
    weight[..., 2] = 0.0
    bias = rng.normal(0, 0.1, 5).astype(np.float32)
    q, scales, q_bias, b_scales = cal.quantize_layer(weight, bias, 0.02)
    assert q.dtype == np.int8 and q_bias.dtype == np.int32 and scales.dtype == np.float32
    peak = np.abs(weight).reshape(-1, 5).max(axis=0)
    np.testing.assert_array_equal(scales[[0, 1, 3, 4]], (peak[[0, 1, 3, 4]] / 127).astype(np.float32))
    assert scales[2] == 1.0 and not q[..., 2].any()
    assert (np.abs(q.reshape(-1, 5)).max(axis=0)[[0, 1, 3, 4]] == 127).all()
    assert np.abs(q.astype(np.float64) * scales - weight).max() <= scales.max() / 2 * (1 + 1e-6)
    np.testing.assert_array_equal(b_scales, (np.float64(np.float32(0.02)) * scales).astype(np.float32))
    assert np.abs(q_bias * b_scales.astype(np.float64) - bias).max() <= b_scales.max() / 2 * (1 + 1e-6)


def test_a_bias_too_large_for_int32_widens_its_weight_scale():
    weight = np.full((4, 2), 1e-6, np.float32)
    bias = np.array([1e6, 1e-7], np.float32)  # channel 1 fits: 1e-7 / (1e-3 * 1e-6 / 127) = 12700
    q, scales, q_bias, b_scales = cal.quantize_layer(weight, bias, 1e-3)
    assert scales[0] > 1e-6 / 127 and scales[1] == np.float32(1e-6 / 127)
    assert np.abs(q_bias.astype(np.int64)).max() < qz.INT32_MAX
    assert abs(q_bias[0] * float(b_scales[0]) - 1e6) < 1.0


@pytest.mark.parametrize("kind, stride, padding", [("conv3x3", 2, (0, 0, 1, 1)), ("dwconv3x3", 1, (1, 1, 1, 1)),
                                                   ("dwconv3x3", 2, (1, 1, 1, 1)), ("conv1x1", 1, (0, 0, 0, 0))])
def test_bias_correction_is_the_mean_shift_of_the_rounded_weights(kind, stride, padding):
    from mobilenet.graph import Layer
    rng = np.random.default_rng(1)
    cin, cout = 3 if kind == "conv3x3" else 5, 5
    h = 9
    oh = (h + padding[0] + padding[2] - (3 if kind != "conv1x1" else 1)) // stride + 1
    layer = Layer("l", kind, (h, h, cin), (oh, oh, cout), stride, padding)
    shape = {"conv3x3": (3, 3, cin, cout), "dwconv3x3": (3, 3, cout), "conv1x1": (cin, cout)}[kind]
    error = rng.normal(0, 1e-3, shape)
    x = rng.uniform(0, 6, (7, h, h, cin))
    direct = reference.apply_weights(layer, x, error).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(cal.weight_error_bias(layer, x.mean(axis=0), error), direct, rtol=1e-10, atol=1e-15)


def test_logit_headroom_widens_the_classifiers_range_only():
    net = small_net()
    x = random_images(net, 6)
    plain, wide = net.quantize(x, logit_headroom=1.0), net.quantize(x, logit_headroom=3.0)
    assert wide.quantization.extra["logit_headroom"] == 3.0
    for name, layer in plain.quantization.layers.items():
        other = wide.quantization.layers[name].output
        if name == "fc":
            assert abs(other.scale / layer.output.scale - 3.0) < 1e-6 and other.zero_point == layer.output.zero_point
        else:
            assert other == layer.output
    with pytest.raises(ValueError, match="logit_headroom"):
        net.quantize(x, logit_headroom=0.5)
    with pytest.raises(TypeError, match="logit_headroom"):
        net.quantize(x, logit_headroom=None)


def test_without_bias_correction_biases_are_the_rounded_folded_ones():
    net = small_net()
    x = random_images(net, 6)
    plain, corrected = net.quantize(x, bias_correction=False), net.quantize(x)
    assert plain.quantization.extra["bias_correction"] is False and corrected.quantization.extra["bias_correction"]
    x_q = plain.quantization.input
    changed = 0
    for layer in net.layers:
        q = plain.quantization.layers[layer.name]
        if layer.name not in net.params:
            x_q = q.output
            continue
        _, bias = mobilenet.params.fold_batch_norm(layer, net.params[layer.name])
        b_scales = cal.bias_scales(x_q.scale, q.weight_scale).astype(np.float64)
        np.testing.assert_array_equal(q.bias, qz.round_half_away(bias / b_scales))
        np.testing.assert_array_equal(corrected.quantization.layers[layer.name].weight, q.weight)
        changed += int((corrected.quantization.layers[layer.name].bias != q.bias).any())
        x_q = q.output
    assert changed >= len(net.params) // 2
    with pytest.raises(TypeError, match="bias_correction"):
        net.quantize(x, bias_correction="yes")


def test_percentile_ranges_clip_outliers():
    values = np.concatenate([np.linspace(-1, 4, 100_000), [50.0, -30.0]])
    minmax, pct = cal.RangeObserver("minmax"), cal.RangeObserver("percentile", 99.99)
    for chunk in np.array_split(np.random.default_rng(0).permutation(values), 7):
        minmax.update(chunk)
        pct.update(chunk)
    assert minmax.range() == (-30.0, 50.0)
    lo, hi = pct.range()
    # The 99.99th percentile of 100,002 values drops the top 10: bin edges make it an upper bound.
    assert 3.99 <= hi <= 4.0 + 50.0 * 2 / cal.HISTOGRAM_BINS
    assert -1.0 - 30.0 * 2 / cal.HISTOGRAM_BINS <= lo <= -0.99
    whole = cal.RangeObserver("percentile", 100.0)
    whole.update(values)
    assert whole.range()[1] == 50.0 and whole.range()[0] == -30.0


def test_round_half_away_is_std_round():
    x = np.array([0.49999997, -0.49999997, 0.5, -0.5, 1.5, -2.5, 2.4999998, 8388609.0, -8388609.0, 0.0], np.float32)
    np.testing.assert_array_equal(qz.round_half_away(x), [0, 0, 1, -1, 2, -3, 2, 8388609, -8388609, 0])
    assert qz.round_half_away(np.float64(0.49999999999999994)) == 0.0


@pytest.mark.parametrize("isa", mobilenet._core.supported_isas())
def test_float_input_quantizes_as_the_oracle(isa):
    """The engine's QUANTIZE of float input (C++, vectorized per instruction set) gives
    QParams.quantize's values for either type, both layouts, halves and values past the range, in
    every position of a vector; NaN or Inf anywhere is refused."""
    net = small_net(resolution=32, isa=isa)
    qnet = net.quantize(random_images(net, 2))
    assert qnet.isa == isa
    rng = np.random.default_rng(5)
    for dtype, zero_point, scale in [("uint8", 128, 1 / 127.5), ("uint8", 0, 0.5), ("uint8", 255, 0.01),
                                     ("int8", -1, 2 / 255), ("int8", 127, 0.3), ("int8", -128, 6 / 255)]:
        q = qz.QParams(float(np.float32(scale)), zero_point, dtype)
        x = rng.normal(0, 200 * q.scale, (3, 7, 5, 3)).astype(np.float32)
        halves = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 0.0, -0.0, 1e30, -1e30, 3e38],
                          np.float32)
        x.flat[rng.choice(x.size, halves.size, replace=False)] = halves * np.float32(q.scale)
        # quotients within a few ulps of a half-integer, where a multiply by 1 / scale can round otherwise
        near = (np.arange(-20, 21, dtype=np.float32) + np.float32(0.5)) * np.float32(q.scale)
        for ulps in (-3, -2, -1, 1, 2, 3):
            nudged = near.copy()
            for _ in range(abs(ulps)):
                nudged = np.nextafter(nudged, np.float32(np.sign(ulps) * np.inf))
            x.flat[rng.choice(x.size, near.size, replace=False)] = nudged
        expected = q.quantize(x)
        storage = expected.view(np.uint8) ^ np.uint8(0x80) if dtype == "int8" else expected
        offset = q.storage_offset
        got = qnet._engine.quantize_input(x, False, q.scale, zero_point, q.qmin, q.qmax, offset)
        np.testing.assert_array_equal(got, storage, err_msg=f"{dtype} {zero_point}")
        nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        got = qnet._engine.quantize_input(nchw, True, q.scale, zero_point, q.qmin, q.qmax, offset)
        np.testing.assert_array_equal(got, storage, err_msg=f"{dtype} {zero_point} NCHW")
    for position in (0, 7, 16, 104):
        for bad in (np.nan, np.inf, -np.inf):
            y = np.zeros((1, 7, 5, 3), np.float32)
            y.flat[position] = bad
            with pytest.raises(ValueError, match="NaN or Inf"):
                qnet._engine.quantize_input(y, False, 0.5, 0, 0, 255, 0)
    with pytest.raises(ValueError, match="scale"):
        qnet._engine.quantize_input(np.zeros((1, 2, 2, 3), np.float32), False, 0.0, 0, 0, 255, 0)
    with pytest.raises(ValueError, match="zero point"):
        qnet._engine.quantize_input(np.zeros((1, 2, 2, 3), np.float32), False, 0.5, 300, 0, 255, 0)
    # through the network: float input in either layout gives the quantized input's result
    x = random_images(qnet, 3, seed=9)
    xq = qnet.quantization.input.quantize(x)
    expected = qnet(xq, quantized_output=True)
    np.testing.assert_array_equal(qnet(x, quantized_output=True), expected)
    np.testing.assert_array_equal(qnet(x.transpose(0, 3, 1, 2), layout="NCHW", quantized_output=True), expected)


# ------------------------------------------------------------------ net.quantize

def test_quantize_gives_tflites_per_channel_int8_scheme():
    net = small_net()
    x = random_images(net, 24)
    q = net.quantize(x)
    assert q is not net and net.precision == "float32" and q.precision == "int8"
    assert q.quantization.scheme == "per-channel int8"
    assert q.quantization.softmax == qz.QParams(1 / 256, -128, "int8")
    assert q.quantization.extra["calibration_images"] == 24
    assert q.layers == net.layers and q.preprocessing == net.preprocessing and q.alpha == net.alpha
    assert all(kernel.startswith("int8_") for kernel in q.kernel_names)
    for layer in net.layers:
        ql = q.quantization.layers[layer.name]
        assert ql.output.dtype == "int8"
        if layer.type == "avgpool":
            assert ql.mean and ql.weight is None
            continue
        assert ql.weight.dtype == np.int8 and not ql.weight_zero_point.any() and ql.bias.dtype == np.int32
        assert ql.weight_scale.shape == (layer.out_shape[2],)
        if layer.activation == "relu6":
            assert ql.output.zero_point == -128  # post-ReLU6 ranges start at 0
    # The input range is the images': [-1, 1] within float rounding.
    assert q.quantization.input.zero_point in (-1, 0) and abs(q.quantization.input.scale - 2 / 255) < 1e-4
    # The engine runs the oracle's integer arithmetic, bit for bit.
    xq = q.quantization.input.quantize(x)
    np.testing.assert_array_equal(q(x, quantized_output=True), reference.forward_int8(q.layers, q.quantization, xq))
    # The weights it computes with, dequantized, are within half a step of the folded float ones.
    for layer in net.layers:
        if layer.name in q.params:
            folded, _ = mobilenet.params.fold_batch_norm(layer, net.params[layer.name])
            step = q.quantization.layers[layer.name].weight_scale
            assert (np.abs(q.params[layer.name]["weight"] - folded) <= step / 2 * (1 + 1e-5) + 1e-12).all()


def test_quantized_network_stays_close_to_the_float_one():
    net = small_net(alpha=0.5, resolution=96, activation="relu6", num_classes=20)
    x = random_images(net, 40, seed=1)
    q = net.quantize(x)
    probs, qprobs = net(x), q(x)
    # The integer softmax's probabilities are multiples of 1/256; the float ones are close to them.
    assert np.abs(probs - qprobs).max() < 0.1
    assert (probs.argmax(1) == qprobs.argmax(1)).mean() >= 0.8
    np.testing.assert_allclose(q.logits(x), net.logits(x), atol=0.25 * np.abs(net.logits(x)).max())


def test_calibration_as_array_iterable_or_generator_gives_the_same_network():
    net = small_net()
    x = random_images(net, 10, seed=2)
    a = net.quantize(x)
    b = net.quantize([x[:3], x[3], x[4:]])  # batches and single images
    for other in (b, net.quantize(image for image in x)):
        assert other.quantization.input == a.quantization.input
        for name, layer in a.quantization.layers.items():
            assert other.quantization.layers[name].output == layer.output
        np.testing.assert_array_equal(other(x, quantized_output=True), a(x, quantized_output=True))
    # The images are regrouped into batches of batch_size, whatever their grouping.
    c, d = net.quantize((image for image in x), batch_size=3), net.quantize([x[:1], x[1:7], x[7:]], batch_size=3)
    for name, layer in c.quantization.layers.items():
        assert d.quantization.layers[name].output == layer.output
    nchw = net.quantize(x.transpose(0, 3, 1, 2), layout="NCHW")
    np.testing.assert_array_equal(nchw(x, quantized_output=True), a(x, quantized_output=True))


def test_percentile_calibration_narrows_ranges():
    net = small_net(activation="relu")  # unbounded activations: the outliers are the largest values
    x = random_images(net, 16, seed=4)
    minmax, pct = net.quantize(x), net.quantize(x, method="percentile", percentile=99.9)
    assert pct.quantization.extra["calibration"] == "percentile"
    narrower = [pct.quantization.layers[n].output.scale < minmax.quantization.layers[n].output.scale
                for n in minmax.quantization.layers]
    assert sum(narrower) >= len(narrower) // 2
    assert all(pct.quantization.layers[n].output.scale <= minmax.quantization.layers[n].output.scale * (1 + 1e-6)
               for n in minmax.quantization.layers)
    xq = pct.quantization.input.quantize(x)
    np.testing.assert_array_equal(pct(x, quantized_output=True),
                                  reference.forward_int8(pct.layers, pct.quantization, xq))


def test_quantize_errors_name_the_problem():
    net = small_net()
    x = random_images(net, 2)
    with pytest.raises(ValueError, match="empty"):
        net.quantize(x[:0])
    with pytest.raises(ValueError, match="empty"):
        net.quantize([])
    with pytest.raises(ValueError, match="empty"):
        net.quantize(iter(()))
    with pytest.raises(ValueError, match="input shape"):
        net.quantize(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="item 1: .*input shape"):
        net.quantize([x[0], np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(TypeError, match="float32.*preprocess"):
        net.quantize(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(TypeError, match="iterable"):
        net.quantize(3.5)
    with pytest.raises(TypeError, match="iterable"):
        net.quantize("images/")
    bad = x.copy()
    bad[1, 5, 5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        net.quantize(bad)
    bad[1, 5, 5, 1] = np.inf
    with pytest.raises(ValueError, match="item 0: .*NaN or Inf"):
        net.quantize([bad])
    with pytest.raises(ValueError, match="overflows float32"):
        net.quantize(np.full((1, 64, 64, 3), 3e38, np.float32))
    with pytest.raises(ValueError, match="method"):
        net.quantize(x, method="mse")
    with pytest.raises(ValueError, match="percentile"):
        net.quantize(x, method="percentile", percentile=101)
    with pytest.raises(TypeError, match="percentile"):
        net.quantize(x, method="percentile", percentile="99")
    with pytest.raises(ValueError, match="batch_size"):
        net.quantize(x, batch_size=0)
    q = net.quantize(x)
    with pytest.raises(ValueError, match="already int8"):
        q.quantize(x)
    with pytest.raises(ValueError, match="quantize"):
        net.to_tflite("unused.tflite", io="int8")


def test_quantized_networks_copy_and_pickle():
    import pickle
    net = small_net()
    x = random_images(net, 4)
    q = net.quantize(x)
    for other in (q.copy(), pickle.loads(pickle.dumps(q))):
        assert other.precision == "int8" and other.quantization.scheme == "per-channel int8"
        np.testing.assert_array_equal(other(x), q(x))
    assert q.with_precision("float32").precision == "float32"  # the dequantized weights, in float32


# ------------------------------------------------------------------ net.to_tflite for int8 networks

def assert_same_scheme(a, b):
    """Two Quantizations hold the same integers and scales (the file's tensor indexes aside)."""
    assert (a.scheme, a.input, a.softmax) == (b.scheme, b.input, b.softmax)
    assert list(a.layers) == list(b.layers)
    for name, la in a.layers.items():
        lb = b.layers[name]
        assert (la.output, la.mean) == (lb.output, lb.mean), name
        for key in ("weight", "weight_scale", "weight_zero_point", "bias"):
            va, vb = getattr(la, key), getattr(lb, key)
            assert (va is None) == (vb is None), (name, key)
            if va is not None:
                np.testing.assert_array_equal(np.broadcast_to(va, np.shape(vb)), vb, err_msg=f"{name} {key}")
                assert va.dtype == vb.dtype or key == "weight_zero_point", (name, key)


def recast(q, dtype):
    """int8 <-> uint8: the same values, the zero point moved by 128."""
    if q.dtype == np.dtype(dtype):
        return q
    return (q.astype(np.int16) + (128 if dtype == "uint8" else -128)).astype(dtype)


def check_written_file(net, path, x, io):
    """Every tensor LiteRT's reference kernels compute on the written file is the oracle's (which the
    engine matches), the file's output is the network's, and mobilenet.load reads back the same network."""
    quant = net.quantization
    it = reference_interpreter(path)
    back = mobilenet.load(path, threads=1)
    assert back.precision == "int8" and back.layers == net.layers
    assert_same_scheme(net.quantization, back.quantization)
    for name, p in net.params.items():
        for key, value in p.items():
            np.testing.assert_array_equal(back.params[name][key], value, err_msg=f"{name} {key}")
    detail = it.get_input_details()[0]
    assert detail["dtype"] == np.dtype(io)
    xq = quant.input.quantize(x)
    feed = x if io == "float32" else recast(xq, io)
    it.set_tensor(detail["index"], feed)
    it.invoke()
    outputs = reference.forward_int8(net.layers, quant, xq, intermediates=True)
    for layer, y in zip(net.layers, outputs):
        got = it.get_tensor(back.quantization.layers[layer.name].tensor).reshape(y.shape)
        np.testing.assert_array_equal(got, y, err_msg=f"{path.name}: {layer.name}")
    if back.quantization.softmax_tensor is not None:
        np.testing.assert_array_equal(it.get_tensor(back.quantization.softmax_tensor), outputs[-1])
    out = it.get_tensor(it.get_output_details()[0]["index"])
    if io == "float32":
        np.testing.assert_array_equal(out, net(x))
    else:
        np.testing.assert_array_equal(out, recast(net(xq, quantized_output=True), io))
        np.testing.assert_array_equal(back(feed, quantized_output=True), out)
    np.testing.assert_array_equal(back(x), net(x))


@pytest.mark.parametrize("alpha, resolution, padding, activation, classes, batch, io", [
    (0.25, 64, "same", "relu6", 1000, 1, "float32"),
    (0.5, 65, "symmetric", "relu", 10, 2, "int8"),  # PyTorch padding: explicit PAD ops (zero point padding)
    (0.3, 97, "same", "relu", 1, 1, "uint8"),  # one class: a one-channel classifier, per-tensor in TFLite
    (0.75, 48, "same", "relu6", 7, 3, "float32"),
])
def test_written_int8_file_is_bit_exact_under_reference_kernels(tmp_path, alpha, resolution, padding, activation,
                                                                classes, batch, io):
    pytest.importorskip("tflite")
    net = mobilenet.MobileNetV1(alpha, resolution, num_classes=classes, padding=padding, activation=activation,
                                threads=1, seed=5)
    q = net.quantize(random_images(net, 12, seed=6))
    path = tmp_path / "int8.tflite"
    q.to_tflite(path, io=io, batch=batch)
    check_written_file(q, path, random_images(net, batch, seed=7, low=-1.2, high=1.2), io)


def test_written_feature_extractor_and_logits(tmp_path):
    pytest.importorskip("tflite")
    net = small_net(num_classes=12)
    q = net.quantize(random_images(net, 8))
    path = tmp_path / "logits.tflite"
    q.to_tflite(path, softmax=False, io="int8")
    back = mobilenet.load(path, threads=1)
    assert back.quantization.softmax is None
    x = random_images(net, 2, seed=9)
    np.testing.assert_array_equal(back.logits(x), q.logits(x))
    it = reference_interpreter(path)
    xq = q.quantization.input.quantize(x[:1])
    it.set_tensor(it.get_input_details()[0]["index"], xq)
    it.invoke()
    logits = reference.forward_int8(q.layers, q.quantization, xq, intermediates=True)[-2]
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), logits.reshape(1, -1))
    with pytest.raises(ValueError, match="io"):
        q.to_tflite(path, io="int16")
    with pytest.raises(ValueError, match="without its softmax"):
        q.to_tflite(path, io="uint8", softmax=False)


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("tflite")
    return shared_models()


@pytest.mark.parametrize("name, io", [("mobilenet_v1_0.25_128_quant.tflite", "uint8"),
                                      ("mobilenet_v1_0.25_128_quant.tflite", "float32"),
                                      ("converted/tfconv_mobilenet_0.5_161_int8.tflite", "int8"),
                                      ("converted/tfconv_mobilenet_0.5_160_int8_uint8_io.tflite", "uint8")])
def test_loaded_quantized_models_are_written_back(models, tmp_path, name, io):
    """The real uint8 model (per-tensor, AVERAGE_POOL_2D) and TFLiteConverter's int8 ones, rewritten."""
    net = mobilenet.load(models / name, threads=1)
    path = tmp_path / "rewritten.tflite"
    net.to_tflite(path, io=io)
    x = random_images(net, 1, seed=11)
    it = reference_interpreter(path)
    back = mobilenet.load(path, threads=1)
    assert back.layers == net.layers
    assert_same_scheme(net.quantization, back.quantization)
    xq = net.quantization.input.quantize(x)
    detail = it.get_input_details()[0]
    feed = x if io == "float32" else recast(xq, io)
    it.set_tensor(detail["index"], feed)
    it.invoke()
    outputs = reference.forward_int8(net.layers, net.quantization, xq, intermediates=True)
    for layer, y in zip(net.layers, outputs):
        got = it.get_tensor(back.quantization.layers[layer.name].tensor).reshape(y.shape)
        np.testing.assert_array_equal(got, y, err_msg=layer.name)
    np.testing.assert_array_equal(back(x), net(x))


# ------------------------------------------------------------------ the real float model, quantized

def _photos():
    """skimage's photos other than the four evaluated ones (chelsea, coffee, astronaut, rocket), as RGB uint8."""
    data = pytest.importorskip("skimage.data", reason="scikit-image ships the calibration photos")
    colour = ("stereo_motorcycle", "hubble_deep_field", "immunohistochemistry", "retina", "logo")
    grey = ("camera", "coins", "moon", "brick", "grass", "gravel", "clock", "page", "text", "cell")
    photos = []
    for name in colour + grey:
        try:
            image = getattr(data, name)()
        except Exception:  # a photo this scikit-image would download: the others suffice
            continue
        image = np.asarray(image[0] if isinstance(image, tuple) else image)  # the motorcycle's left view
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image[..., :3]
        if image.dtype != np.uint8:
            image = (np.clip(image.astype(np.float64) / max(image.max(), 1), 0, 1) * 255).astype(np.uint8)
        photos.append(image)
    if len(photos) < 8:
        pytest.skip(f"only {len(photos)} of scikit-image's photos are available offline")
    return photos


def calibration_images(net, count=320, seed=0):
    """Random crops (25% to 100% of the shorter side, any aspect up to 4:3), flips and colour jitter
    (brightness, contrast, saturation, per-channel gain) of the photos, preprocessed for net."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    photos = _photos()
    batch = np.empty((count,) + net.input_shape, np.float32)
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w, _ = photo.shape
        side = rng.uniform(0.25, 1.0) * min(h, w)
        ch = int(min(h, side * rng.uniform(0.75, 1.0 / 0.75) ** 0.5))
        cw = int(min(w, side * side / max(ch, 1)))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = photo[top:top + ch, left:left + cw].astype(np.float32)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        grey = crop.mean(axis=2, keepdims=True)
        crop = grey + (crop - grey) * rng.uniform(0.6, 1.4)                      # saturation
        crop = crop.mean() + (crop - crop.mean()) * rng.uniform(0.7, 1.3)       # contrast
        crop = crop * rng.uniform(0.7, 1.3) * rng.uniform(0.9, 1.1, 3)          # brightness, colour cast
        image = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8))
        batch[i] = mobilenet.preprocess(image, net)[0]
    return batch


def test_quantized_real_model_keeps_the_float_top1(models):
    """The float 0.25/224 quantized on 320 generated images keeps its top-1 on the four test images.

    This network is fragile: coffee's float top-1 (espresso 0.117) leads loupe (0.105) by 3/256, and the
    int8 network moves such scores by several 1/256. Measured on five calibration sets (seeds 0-3 here):
    method="percentile" kept all four top-1s on every set (coffee by 0 to 5/256, a tie counting as kept),
    "minmax" lost coffee on two of four; without bias correction coffee and rocket are lost; without the
    logit headroom the cat photo's three cat classes tie at the top of the logits' range."""
    net = mobilenet.load(models / FLOAT_TFLITE, threads=2)
    assert net.input_shape == (224, 224, 3) and net.precision == "float32"
    calibration = calibration_images(net)
    q = net.quantize(calibration, method="percentile")
    assert q.quantization.extra["calibration_images"] == len(calibration)
    images = np.load(models / "test_inputs.npz")
    x = np.concatenate([mobilenet.preprocess(images[f"{name}_224"], net) for name in IMAGES])
    probs, scores = net(x), q(x, quantized_output=True).astype(np.int64)
    overlap = []
    for i, name in enumerate(IMAGES):
        top5 = np.argsort(-probs[i])[:5]
        # Scores are compared as sets: classes with equal int8 scores may swap places.
        assert scores[i, top5[0]] == scores[i].max(), f"{name}: float top-1 {top5[0]} lost"
        fifth = np.sort(scores[i])[-5]
        overlap.append(int((scores[i, top5] >= fifth).sum()))
        runner_up = np.delete(scores[i], top5[0]).max()
        print(f"{name}: float top-5 {top5.tolist()}, int8 top-5 {np.argsort(-scores[i])[:5].tolist()}, "
              f"overlap {overlap[-1]}/5, top-1 {probs[i, top5[0]]:.4f} float, {(scores[i, top5[0]] + 128) / 256:.4f} "
              f"int8, ahead of the next by {scores[i, top5[0]] - runner_up}/256")
    print(f"top-5 overlap: {sum(overlap)}/{5 * len(IMAGES)}")
    # Measured: 17/20 (5, 5, 4, 3; scikit-image 0.26, Pillow 13). Margin: two classes more may drop out.
    assert sum(overlap) >= 15
    # The int8 network is the one its file runs: its output is LiteRT's reference kernels', bit for bit.
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "quantized.tflite"
        q.to_tflite(path)
        check_written_file(q, path, x[:1], "float32")
