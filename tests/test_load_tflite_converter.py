"""Files that TFLiteConverter (TensorFlow 2.21) wrote from a Keras 2 MobileNet 0.5/160 (and 161), against the
outputs of TFLite's own reference kernels stored beside them (../shared/models/converted/make_converted.py).

The network has random weights whose batch norms were calibrated so that the signal survives all 28 layers;
it is much more sensitive than a trained one: float32 rounding alone (TFLite's, ours) moves its probabilities
by about 2e-5 of the largest from the float64 oracle, and rounding the weights to float16 moves them by 4e-2.
The tolerances below are those measured facts, each stated where it is used.
"""
import numpy as np
import pytest

import mobilenet
from mobilenet import reference

from conftest import max_rel_error
from model_files import shared_models

pytest.importorskip("tflite")


def converted(name):
    path = shared_models() / "converted" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing (made by ../shared/models/converted/make_converted.py)")
    return path


def expected(size):
    return np.load(converted(f"tfconv_mobilenet_0.5_{size}.expected.npz"))


def tflite_file(size, variant):
    return converted(f"tfconv_mobilenet_0.5_{size}_{variant}.tflite")


def oracle_probs(net, x):
    return reference.softmax(reference.forward(net.layers, net.params, x))


# float32 arithmetic's error on this network, measured against the float64 oracle with the same weights:
# TFLite's reference kernels 2.2e-5 (160) and ours 2.2e-5 at most (per image 0.9e-5 .. 2.2e-5).
FLOAT32_NOISE = 3e-5


@pytest.mark.parametrize("size", [160, 161])
def test_float32_matches_tflite_reference_kernels(size):
    e = expected(size)
    net = mobilenet.load(tflite_file(size, "float32"))
    assert net.input_shape == (size, size, 3) and net.num_classes == 1000 and net.alpha == 0.5
    assert net.layers[-2].type == "avgpool" and net.layers[-1].type == "fc"
    got, want = net(e["x"]), e["float32|tflite_ref"]
    # The file is read right: ours and TFLite's are each within float32's noise of the float64 oracle,
    # so they are within twice that of each other, and agree on every top-1.
    oracle = oracle_probs(net, e["x"])
    assert max_rel_error(got, oracle) < FLOAT32_NOISE
    assert max_rel_error(want, oracle) < FLOAT32_NOISE
    assert max_rel_error(got, want) < 2 * FLOAT32_NOISE
    assert (got.argmax(1) == want.argmax(1)).all()


def test_odd_size_pad_ops_become_the_layers_padding():
    # Keras' ZeroPadding2D(((0, 1), (0, 1))) + 'valid': at 160 TFLiteConverter folds it into SAME
    # (the same pixels); at 161 it keeps explicit PAD ops, which must give the same layer padding.
    even = mobilenet.load(tflite_file(160, "float32"))
    odd = mobilenet.load(tflite_file(161, "float32"))
    strided_even = [layer.padding for layer in even.layers if layer.stride == 2]
    strided_odd = [layer.padding for layer in odd.layers if layer.stride == 2]
    assert strided_even == [(0, 0, 1, 1)] * 5
    assert strided_odd == [(1, 1, 1, 1)] + [(0, 0, 1, 1)] * 4  # the stem is 'same' over 161: one pixel each side
    assert [layer.in_shape for layer in odd.layers if layer.stride == 2][1] == (81, 81, 32)


def test_float16_weights_are_the_float32_files_rounded():
    f32 = mobilenet.load(tflite_file(160, "float32"))
    f16 = mobilenet.load(tflite_file(160, "float16"))
    assert [layer.name for layer in f16.layers] == [layer.name for layer in f32.layers]
    for name, p in f32.params.items():
        for key in ("weight", "bias"):
            if key in p:
                np.testing.assert_array_equal(f16.params[name][key], p[key].astype(np.float16).astype(np.float32))


def test_float16_matches_tflite_reference_kernels():
    # TFLite dequantizes float16 weights once and runs float32 kernels: the same float32 noise as above.
    e = expected(160)
    net = mobilenet.load(tflite_file(160, "float16"))
    got, want = net(e["x"]), e["float16|tflite_ref"]
    assert max_rel_error(got, want) < 2 * FLOAT32_NOISE
    assert (got.argmax(1) == want.argmax(1)).all()
    # Against the float32 file: what rounding the weights to float16 does to this network (4.4e-2 for TFLite's).
    f32_want = e["float32|tflite_ref"]
    assert max_rel_error(got, f32_want) <= max_rel_error(want, f32_want) + 2 * FLOAT32_NOISE


def test_dynamic_range_int8_loads_dequantized():
    f32 = mobilenet.load(tflite_file(160, "float32"))
    net = mobilenet.load(tflite_file(160, "dynamic_int8"))
    assert net.precision == "float32" and net.quantization is None  # float input and activations
    # TFLite quantizes each large weight per output channel, symmetric, to 127 steps of max |w| / 127:
    # dequantized, every weight is within half a step of the float32 file's (small layers stay float).
    quantized_layers = 0
    for name, p in f32.params.items():
        w, d = p["weight"], net.params[name]["weight"]
        axes = tuple(range(w.ndim - 1))
        step = np.abs(w).max(axis=axes) / 127
        error = np.abs(d - w).max(axis=axes)
        assert (error <= step * (0.5 + 1e-4)).all(), name
        quantized_layers += bool(error.any())
        np.testing.assert_array_equal(net.params[name].get("bias"), p.get("bias"))
    assert quantized_layers >= 20
    # Outputs: TFLite's hybrid kernels also quantize activations, so theirs move further from the float32
    # file's than ours, which carry the weights' rounding only (measured: ours 0.61, TFLite's 0.80).
    e = expected(160)
    ours = max_rel_error(net(e["x"]), e["float32|tflite_ref"])
    theirs = max_rel_error(e["dynamic_int8|tflite_ref"], e["float32|tflite_ref"])
    assert ours <= theirs


@pytest.mark.parametrize("size, variant", [(160, "int8"), (160, "int8_uint8_io"), (160, "int8_float_io"),
                                           (161, "int8")])
def test_full_integer_files_are_recognized(size, variant):
    # The integer arithmetic of these files belongs to integer inference; here, only that the graph
    # (MEAN, the dynamic-batch tail, PAD, QUANTIZE / DEQUANTIZE at the edges) is recognized as MobileNet v1.
    net = mobilenet.load(tflite_file(size, variant), precision="float32")
    assert net.num_classes == 1000 and net.input_shape == (size, size, 3) and net.alpha == 0.5
    stem = (1, 1, 1, 1) if size % 2 else (0, 0, 1, 1)
    assert [layer.padding for layer in net.layers if layer.stride == 2] == [stem] + [(0, 0, 1, 1)] * 4


def _padded_net_tflite(tmp_path, pads, after_pad="DEPTHWISE_CONV_2D"):
    """A small float32 .tflite whose stride-2 depthwise layer reads an explicit PAD op with paddings pads
    ([4, 2]); after_pad="none" leaves the PAD dangling before the pooling."""
    from model_files import build_tflite

    rng = np.random.default_rng(0)
    c = 8
    t = [("input", [1, 32, 32, 3], None),
         ("stem/w", [c, 3, 3, 3], rng.standard_normal((c, 3, 3, 3))), ("stem/b", [c], np.zeros(c)),
         ("stem", [1, 16, 16, c], None),
         ("paddings", [4, 2], np.array(pads), "int32"), ("padded", [1, 17, 17, c], None),
         ("dw/w", [1, 3, 3, c], rng.standard_normal((1, 3, 3, c))), ("dw/b", [c], np.zeros(c)),
         ("dw", [1, 8, 8, c], None),
         ("pw/w", [4, 1, 1, c], rng.standard_normal((4, 1, 1, c))), ("pw/b", [4], np.zeros(4)),
         ("pw", [1, 8, 8, 4], None), ("pool", [1, 1, 1, 4], None),
         ("fc/w", [3, 4], rng.standard_normal((3, 4))), ("fc/b", [3], np.zeros(3)), ("fc", [1, 3], None)]
    ops = [("CONV_2D", [0, 1, 2], [3], {"stride": 2, "activation": 3}), ("PAD", [3, 4], [5], None)]
    if after_pad == "none":
        ops += [("AVERAGE_POOL_2D", [5], [12], {"filter": 17})]
    else:
        ops += [("DEPTHWISE_CONV_2D", [5, 6, 7], [8], {"stride": 2, "activation": 3, "padding": "VALID"}),
                ("CONV_2D", [8, 9, 10], [11], {"activation": 3}),
                ("AVERAGE_POOL_2D", [11], [12], {"filter": 8})]
    ops += [("FULLY_CONNECTED", [12, 13, 14], [15], {})]
    path = tmp_path / "padded.tflite"
    path.write_bytes(build_tflite(t, ops, [0], [15]))
    return path


def test_pad_op_becomes_the_next_layers_padding(tmp_path):
    net = mobilenet.load(_padded_net_tflite(tmp_path, [[0, 0], [0, 1], [0, 1], [0, 0]]))
    assert net.layers[1].type == "dwconv3x3" and net.layers[1].padding == (0, 0, 1, 1)


@pytest.mark.parametrize("pads, after, message", [
    ([[0, 0], [0, 1], [0, 1], [0, 2]], "DEPTHWISE_CONV_2D", "padding the batch or channel axis"),
    ([[0, 0], [0, 1], [0, 1], [0, 0]], "none", "only a global average pooling"),
])
def test_pad_ops_that_are_not_mobilenet_padding_are_refused(tmp_path, pads, after, message):
    with pytest.raises(ValueError, match=message):
        mobilenet.load(_padded_net_tflite(tmp_path, pads, after))
