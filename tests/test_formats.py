"""The format registry: each format recognized by its bytes, and read by its entry."""
import io
import zipfile

import pytest

from mobilenet.io import FORMATS, sniff
from mobilenet.io._formats import BY_NAME, REGISTRY, read


def _zip(**members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_every_format_has_one_entry():
    assert FORMATS == tuple(f.name for f in REGISTRY) == tuple(BY_NAME)
    assert set(FORMATS) == {"tflite", "keras", "torch", "safetensors", "onnx", "npz"}


@pytest.mark.parametrize("data, path, expected", [
    (b"\x1c\x00\x00\x00TFL3" + bytes(64), "m.bin", "tflite"),
    (b"\x1c\x00\x00\x00TFL3" + bytes(64), "m.onnx", "tflite"),  # bytes first, the extension breaks ties only
    (b"\x89HDF\r\n\x1a\n" + bytes(64), "m.onnx", "keras"),
    (b"\x80\x02}q\x00.", "m.onnx", "torch"),
    (_zip(**{"sd/data.pkl": b"\x80\x02}q\x00."}), "m.onnx", "torch"),
    (_zip(**{"__mobilenet__.npy": b"", "sd/data.pkl": b""}), "m.pth", "npz"),
    ((12).to_bytes(8, "little") + b'{"a": "b"}  ', "m", "safetensors"),
    (b"\x08\x07" + bytes(64), "m.bin", "onnx"),
    (b"\x00" * 64, "m.onnx", "onnx"),
])
def test_sniff_recognizes(data, path, expected):
    assert sniff(data, path) == expected


@pytest.mark.parametrize("data, path, message", [
    (b"\x00" * 64, "m.bin", "unrecognized model format"),
    (_zip(**{"a.npy": b"x"}), "m.npz", "an .npz without mobilenet metadata"),
    (_zip(**{"readme.txt": b"x"}), "m.onnx", "neither a mobilenet .npz, a torch.save checkpoint nor a Keras 3 .keras"),
    (b"PK\x03\x04" + bytes(64), "m.npz", "a damaged zip archive"),
])
def test_sniff_refuses(data, path, message):
    with pytest.raises(ValueError, match=message):
        sniff(data, path)


def test_read_refuses_an_unknown_format():
    with pytest.raises(ValueError, match=r"unknown format 'caffe'; one of \('tflite'"):
        read("caffe", io.BytesIO(b""), "m.caffemodel", None)
