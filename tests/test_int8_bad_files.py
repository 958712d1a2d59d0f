"""Quantized TFLite files with bad quantization parameters: a clear ValueError naming the problem,
never a crash. Each case patches one field of a real quantized model's flatbuffer in place."""
import numpy as np
import pytest

import mobilenet

from model_files import shared_models

CORAL = "mobilenet_v1_0.25_128_quant.tflite"
PER_CHANNEL = "converted/tfconv_mobilenet_0.5_160_int8.tflite"


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("tflite")
    return shared_models()


class Patcher:
    """Byte positions of a TFLite file's tensor fields, found through the tflite schema package."""

    def __init__(self, data: bytes):
        import tflite
        self.data = bytearray(data)
        self.base = np.frombuffer(bytes(data), np.uint8)
        self.model = tflite.Model.GetRootAsModel(bytes(data), 0)
        self.graph = self.model.Subgraphs(0)
        self._bytes = bytes(data)
        self._base_address = np.frombuffer(self._bytes, np.uint8).__array_interface__["data"][0]

    def _offset_of(self, array: np.ndarray) -> int:
        return array.__array_interface__["data"][0] - self._base_address

    def tensor(self, index: int):
        return self.graph.Tensors(index)

    def op_output(self, op: int) -> int:
        return int(self.graph.Operators(op).OutputsAsNumpy()[0])

    def op_input(self, op: int, k: int) -> int:
        return int(self.graph.Operators(op).InputsAsNumpy()[k])

    def set_scale(self, tensor: int, value: float) -> None:
        scale = self.tensor(tensor).Quantization().ScaleAsNumpy()
        at = self._offset_of(scale)
        self.data[at:at + 4 * scale.size] = np.full(scale.size, value, "<f4").tobytes()

    def set_zero_point(self, tensor: int, value: int) -> None:
        zp = self.tensor(tensor).Quantization().ZeroPointAsNumpy()
        at = self._offset_of(zp)
        self.data[at:at + 8 * zp.size] = np.full(zp.size, value, "<i8").tobytes()

    def drop_scales(self, tensor: int) -> None:
        scale = self.tensor(tensor).Quantization().ScaleAsNumpy()
        at = self._offset_of(scale) - 4  # the vector's length precedes its data
        self.data[at:at + 4] = (0).to_bytes(4, "little")

    def set_type(self, tensor: int, tensor_type: int) -> None:
        t = self.tensor(tensor)
        field = t._tab.Offset(6)  # Tensor.type
        assert field, "the type field is stored (not the default)"
        self.data[t._tab.Pos + field] = tensor_type

    def set_axis(self, tensor: int, axis: int) -> None:
        q = self.tensor(tensor).Quantization()
        field = q._tab.Offset(16)  # QuantizationParameters.quantized_dimension
        assert field, "the axis field is stored (not the default)"
        self.data[q._tab.Pos + field:q._tab.Pos + field + 4] = axis.to_bytes(4, "little")

    def write(self, path) -> None:
        path.write_bytes(bytes(self.data))


def patched(models, tmp_path, name, change):
    p = Patcher((models / name).read_bytes())
    change(p)
    path = tmp_path / "bad.tflite"
    p.write(path)
    return path


CASES = {
    "zero activation scale": (CORAL, lambda p: p.set_scale(p.op_output(0), 0.0), "scale 0.0 is not a positive"),
    "negative weight scale": (CORAL, lambda p: p.set_scale(p.op_input(1, 1), -0.5), "scale not positive"),
    "activation zero point out of range": (CORAL, lambda p: p.set_zero_point(p.op_output(2), 300),
                                           "zero point 300 is out of the uint8 range"),
    "weight zero point out of range": (CORAL, lambda p: p.set_zero_point(p.op_input(2, 1), -5),
                                       "weight zero point out of the uint8 range"),
    "int16 activations": (CORAL, lambda p: p.set_type(p.op_output(1), 7), "int16 activations"),
    "missing quantization": (CORAL, lambda p: p.drop_scales(p.op_output(3)), "without quantization parameters"),
    "pool rescales": (CORAL, lambda p: p.set_scale(p.op_output(27), 0.5), "does not rescale"),
    "per-axis on the wrong axis": (PER_CHANNEL, lambda p: p.set_axis(p.op_input(1, 1), 0), "axis 0"),
    "asymmetric int8 weights": (PER_CHANNEL, lambda p: p.set_zero_point(p.op_input(2, 1), 3), "zero point 0"),
    "softmax output scale": (CORAL, lambda p: p.set_scale(p.op_output(30), 0.01), "scale 1/256"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_quantization_is_refused_by_name(models, tmp_path, case):
    name, change, message = CASES[case]
    path = patched(models, tmp_path, name, change)
    with pytest.raises(ValueError, match=message) as info:
        mobilenet.load(path)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match=message):  # the float32 precision reads the same parameters
        mobilenet.load(path, precision="float32")


def test_unpatched_files_load(models, tmp_path):
    path = patched(models, tmp_path, CORAL, lambda p: None)
    assert mobilenet.load(path).precision == "int8"
