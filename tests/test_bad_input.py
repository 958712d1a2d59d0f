"""Bad input gets a clear exception (or documented behaviour), never a crash."""
import numpy as np
import pytest

import mobilenet


@pytest.fixture(scope="module")
def net():
    return mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=2)


def image(*shape, dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("x,message", [
    (image(64, 64, 3), "for one image, pass x\\[None\\]"),
    (image(1, 1, 64, 64, 3), "does not match"),
    (image(1, 64, 64, 4), "does not match"),
    (image(1, 65, 64, 3), "does not match"),
    (image(2, 3, 64, 64), "looks like NCHW"),
])
def test_wrong_shapes(net, x, message):
    with pytest.raises(ValueError, match=message):
        net(x)


def test_nhwc_given_as_nchw(net):
    with pytest.raises(ValueError, match="looks like NHWC"):
        net(image(1, 64, 64, 3), layout="NCHW")


def test_unknown_layout(net):
    with pytest.raises(ValueError, match="layout"):
        net(image(1, 64, 64, 3), layout="HWC")


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.bool_, np.complex64])
def test_non_float_dtypes_raise(net, dtype):
    with pytest.raises(TypeError, match="float32"):
        net(np.zeros((1, 64, 64, 3), dtype))


def test_other_float_dtypes_are_converted(net):
    x = image(1, 64, 64, 3)
    np.testing.assert_allclose(net(x.astype(np.float64)), net(x), rtol=1e-6)


def test_object_and_list_inputs(net):
    with pytest.raises(TypeError):
        net(np.array([[object()]]))
    np.testing.assert_allclose(net(image(1, 64, 64, 3).tolist()), net(image(1, 64, 64, 3)), rtol=1e-6)


def test_non_contiguous_and_negative_strides(net):
    x = image(2, 64, 64, 3)
    flipped = x[:, ::-1, ::-1, :]
    np.testing.assert_array_equal(net.logits(flipped), net.logits(np.ascontiguousarray(flipped)))
    wide = image(2, 64, 128, 3)[:, :, ::2, :]
    np.testing.assert_array_equal(net.logits(wide), net.logits(np.ascontiguousarray(wide)))
    fortran = np.asfortranarray(x)
    np.testing.assert_array_equal(net.logits(fortran), net.logits(x))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises(net, bad):
    x = image(1, 64, 64, 3)
    x[0, 10, 20, 1] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        net(x)
    out = net.logits(x, check_finite=False)  # documented: the check can be skipped
    assert out.shape == (1, 1000)


def test_empty_batch(net):
    assert net(np.zeros((0, 64, 64, 3), np.float32)).shape == (0, 1000)


@pytest.mark.parametrize("kw,error,message", [
    (dict(alpha=0), ValueError, "alpha"), (dict(alpha=-0.5), ValueError, "alpha"),
    (dict(alpha=float("nan")), ValueError, "alpha"), (dict(alpha="1"), TypeError, "alpha"),
    (dict(resolution=31), ValueError, "resolution"), (dict(resolution=0), ValueError, "resolution"),
    (dict(resolution=224.0), TypeError, "resolution"), (dict(num_classes=0), ValueError, "num_classes"),
    (dict(resolution=(64,)), ValueError, "height, width"), (dict(resolution=(64, 64, 3)), ValueError, "height, width"),
    (dict(resolution=(64, 31)), ValueError, "resolution"), (dict(resolution=(64, "64")), TypeError, "resolution"),
    (dict(activation="gelu"), ValueError, "activation"), (dict(padding="valid"), ValueError, "padding"),
    (dict(channel_rounding="up"), ValueError, "channel_rounding"), (dict(threads=0), ValueError, "threads"),
    (dict(threads=1.5), TypeError, "threads"), (dict(backend="mkl"), ValueError, "backend"),
    (dict(isa="sse9"), ValueError, "instruction set"),
])
def test_nonsense_hyperparameters(kw, error, message):
    with pytest.raises(error, match=message):
        mobilenet.MobileNetV1(**kw)


def test_bad_params_are_named():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    params = {k: dict(v) for k, v in net.params.items()}
    params["conv_pw_3"]["weight"] = params["conv_pw_3"]["weight"][:, :5]
    with pytest.raises(ValueError, match="conv_pw_3.*shape"):
        mobilenet.MobileNetV1.from_layers(net.layers, params)
    del params["conv_pw_3"]
    with pytest.raises(ValueError, match="missing weight for layer 'conv_pw_3'"):
        mobilenet.MobileNetV1.from_layers(net.layers, params)


def test_set_threads_validates(net):
    with pytest.raises(ValueError):
        net.set_threads(0)
    with pytest.raises(TypeError):
        net.set_threads("2")
