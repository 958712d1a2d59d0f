"""The precision API: one keyword for MobileNetV1 and load, fixed per network.

float32 and int8 (quantized files) run everywhere; bfloat16 where the CPU has
bf16 instructions (and on the scalar reference kernels), float16 nowhere yet:
a precision the CPU or this version cannot run is refused with
PrecisionNotAvailable naming what is missing (int8 from MobileNetV1 with an
error pointing to quantize). bfloat16 itself is tested in test_bfloat16.py,
int8 in test_int8_*.py.
"""
import pickle

import numpy as np
import pytest

import mobilenet
from mobilenet.precision import PRECISIONS, PrecisionNotAvailable, fast_precisions, precision_unavailable

from model_files import QUANT_TFLITES, shared_models


def test_float32_is_the_default_and_runs():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    assert net.precision == "float32" and net.quantization is None
    same = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1, precision="float32")
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype(np.float32)
    assert np.array_equal(net(x), same(x))
    assert pickle.loads(pickle.dumps(net)).precision == "float32"


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_half_precisions_run_or_name_what_is_missing(precision):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    reason = precision_unavailable(precision)
    if reason:
        with pytest.raises(PrecisionNotAvailable, match=f"precision='{precision}' is not available on this CPU"):
            mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1, precision=precision)
        with pytest.raises(PrecisionNotAvailable, match="needs|runs only|not available yet"):
            net.with_precision(precision)
    else:
        assert net.with_precision(precision).precision == precision
        assert precision in fast_precisions()
    assert net.precision == "float32"  # never changed in place


def test_int8_points_to_quantize():
    with pytest.raises(ValueError, match=r"net\.quantize\(calibration_images\)"):
        mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1, precision="int8")
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    with pytest.raises(ValueError, match="quantize"):
        net.with_precision("int8")
    assert net.quantize(np.zeros((2, 64, 64, 3), np.float32)).precision == "int8"  # tests/test_quantize.py
    with pytest.raises(ValueError, match="input shape"):  # calibration images are checked like inputs
        net.quantize(np.zeros((2, 32, 32, 3), np.float32))


def test_with_precision_returns_a_new_network():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    other = net.with_precision("float32")
    assert other is not net and other.precision == "float32"
    x = np.random.default_rng(1).standard_normal((2, 64, 64, 3)).astype(np.float32)
    assert np.array_equal(other(x), net(x))


@pytest.mark.parametrize("bad", ["fp32", "FLOAT32", 32, np.float32])
def test_unknown_precisions_are_refused_by_name(bad, tmp_path):
    with pytest.raises(ValueError, match="precision must be one of"):
        mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1, precision=bad)
    path = tmp_path / "net.npz"
    mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1).save(path)
    with pytest.raises(ValueError, match="precision must be one of"):
        mobilenet.load(path, precision=bad)
    assert set(PRECISIONS) == {"float32", "int8", "bfloat16", "float16"}


def test_float_files_default_to_float32(tmp_path):
    path = tmp_path / "net.npz"
    mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1).save(path)
    assert mobilenet.load(path).precision == "float32"
    if precision_unavailable("float16"):
        with pytest.raises(PrecisionNotAvailable):
            mobilenet.load(path, precision="float16")


def test_quantized_files_default_to_int8(tmp_path):
    pytest.importorskip("tflite")
    models = shared_models()
    name = sorted(QUANT_TFLITES)[0]
    net = mobilenet.load(models / name)  # the default for a quantized file is int8
    assert net.precision == "int8" and net.quantization.scheme == "per-tensor uint8"
    assert pickle.loads(pickle.dumps(net)).precision == "int8"
    net = mobilenet.load(models / name, precision="float32")  # dequantized
    assert net.precision == "float32" and net.quantization is None
    path = tmp_path / "net.npz"
    mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1).save(path)
    with pytest.raises(ValueError, match="needs a quantized model"):
        mobilenet.load(path, precision="int8")


def test_classify_takes_precision(capsys):
    pytest.importorskip("tflite")
    pytest.importorskip("PIL")
    from mobilenet.cli import main
    name = sorted(QUANT_TFLITES)[0]
    weights = str(shared_models() / name)
    assert main(["classify", "--sample", "--weights", weights, "--top", "1"]) == 0  # int8 by default
    assert "cat" in capsys.readouterr().out
    assert main(["classify", "--sample", "--weights", weights, "--precision", "float32", "--top", "1"]) == 0
    assert "cat" in capsys.readouterr().out
