"""Bad model files raise FileNotFoundError / ValueError naming the file and the problem, never crash."""
import numpy as np
import pytest

import mobilenet

from model_files import FLOAT_TFLITE, keras_mobilenet_arrays, mobilenet_v2_like_tflite, shared_models, write_keras_h5


def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.tflite"):
        mobilenet.load(tmp_path / "nothing.tflite")


def test_directory(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        mobilenet.load(tmp_path)


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match=r"empty\.tflite: the file is empty"):
        mobilenet.load(_write(tmp_path, "empty.tflite", b""))


def test_not_a_path():
    with pytest.raises(TypeError, match="path"):
        mobilenet.load(42)


@pytest.mark.parametrize("data, name", [(b"hello, world\n", "notes.txt"), (b"\xff\xd8\xff\xe0" + bytes(100), "a.jpg"),
                                        (bytes(range(256)) * 4, "noise.bin")])
def test_unrecognized_content(tmp_path, data, name):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        mobilenet.load(_write(tmp_path, name, data))


def test_garbage_with_onnx_extension(tmp_path):
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match=r"junk\.onnx"):
        mobilenet.load(_write(tmp_path, "junk.onnx", b"\x08" + bytes(range(200))))


@pytest.fixture(scope="module")
def real_tflite():
    pytest.importorskip("tflite")
    return (shared_models() / FLOAT_TFLITE).read_bytes()


@pytest.mark.parametrize("keep", [8, 64, 1000, 100_000, 0.5, -16])
def test_truncated_tflite(tmp_path, real_tflite, keep):
    end = int(len(real_tflite) * keep) if isinstance(keep, float) else keep
    path = _write(tmp_path, "cut.tflite", real_tflite[:end])
    with pytest.raises(ValueError, match=r"cut\.tflite"):
        mobilenet.load(path)


def test_tflite_with_a_broken_identifier(tmp_path, real_tflite):
    data = bytearray(real_tflite)
    data[5] ^= 0x40  # "TFL3" -> "TfL3"
    with pytest.raises(ValueError, match=r"flipped\.tflite: unrecognized model format"):
        mobilenet.load(_write(tmp_path, "flipped.tflite", bytes(data)))


def test_tflite_with_a_corrupted_table(tmp_path, real_tflite):
    data = bytearray(real_tflite)
    data[0:4] = (len(data) + 1000).to_bytes(4, "little")  # the root table offset points past the end
    with pytest.raises(ValueError, match=r"root\.tflite"):
        mobilenet.load(_write(tmp_path, "root.tflite", bytes(data)))


def test_tflite_of_another_architecture(tmp_path):
    path = _write(tmp_path, "mobilenet_v2.tflite", mobilenet_v2_like_tflite())
    with pytest.raises(ValueError, match=r"mobilenet_v2\.tflite: op 4 \(ADD\).*not a MobileNet v1"):
        mobilenet.load(path)


# ---------------------------------------------------------------- PyTorch state_dicts

@pytest.fixture
def state_dict():
    pytest.importorskip("torch")
    from model_files import timm_mobilenetv1
    return timm_mobilenetv1(1.0, False, num_classes=10).state_dict()


def _save_state(tmp_path, state, name="sd.pth"):
    import torch
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_state_dict_missing_tensor(tmp_path, state_dict):
    del state_dict["blocks.3.2.conv_pw.weight"]
    with pytest.raises(ValueError, match=r"sd\.pth.*blocks\.3\.2"):
        mobilenet.load(_save_state(tmp_path, state_dict))


def test_state_dict_missing_batch_norm_statistic(tmp_path, state_dict):
    del state_dict["blocks.1.0.bn2.running_var"]
    with pytest.raises(ValueError, match=r"sd\.pth: missing tensor 'blocks\.1\.0\.bn2\.running_var'"):
        mobilenet.load(_save_state(tmp_path, state_dict))


def test_state_dict_misshapen_tensor(tmp_path, state_dict):
    import torch
    state_dict["blocks.2.1.conv_dw.weight"] = torch.zeros(256, 1, 5, 5)
    with pytest.raises(ValueError, match=r"sd\.pth: blocks\.2\.1\.conv_dw\.weight has shape \(256, 1, 5, 5\)"):
        mobilenet.load(_save_state(tmp_path, state_dict))
    state_dict["blocks.2.1.conv_dw.weight"] = torch.zeros(255, 1, 3, 3)  # channels do not chain
    with pytest.raises(ValueError, match=r"sd\.pth: .*blocks\.2\.1\.conv_dw.*expected \(3, 3, 256\)"):
        mobilenet.load(_save_state(tmp_path, state_dict))


def test_state_dict_of_another_architecture(tmp_path):
    torch = pytest.importorskip("torch")
    torchvision_style = {"features.0.0.weight": torch.zeros(32, 3, 3, 3), "classifier.1.weight": torch.zeros(10, 8)}
    with pytest.raises(ValueError, match=r"other\.pth: no 'conv_stem\.weight'"):
        mobilenet.load(_save_state(tmp_path, torchvision_style, "other.pth"))
    v2_block = {"conv_stem.weight": torch.zeros(32, 3, 3, 3), "blocks.1.0.conv_pwl.weight": torch.zeros(24, 96, 1, 1)}
    with pytest.raises(ValueError, match=r"v2\.pth: unexpected tensor 'blocks\.1\.0\.conv_pwl\.weight'"):
        mobilenet.load(_save_state(tmp_path, v2_block, "v2.pth"))


def test_checkpoint_with_code_is_refused(tmp_path):
    pytest.importorskip("torch")
    import pathlib
    path = _save_state(tmp_path, {"opaque": pathlib.PurePosixPath("/etc")}, "code.pth")
    with pytest.raises(ValueError, match=r"code\.pth"):
        mobilenet.load(path)  # weights_only=True: no arbitrary objects are unpickled


# ---------------------------------------------------------------- Keras

def test_keras_file_without_classifier(tmp_path):
    arrays = keras_mobilenet_arrays()
    del arrays["conv_preds"]
    write_keras_h5(tmp_path / "notop.h5", arrays)
    with pytest.raises(ValueError, match=r"notop\.h5: no 'conv_preds' classifier"):
        mobilenet.load(tmp_path / "notop.h5")


def test_keras_file_with_a_misshapen_kernel(tmp_path):
    arrays = keras_mobilenet_arrays()
    arrays["conv_pw_5"]["kernel"] = arrays["conv_pw_5"]["kernel"][:, :, :-1]
    write_keras_h5(tmp_path / "bad.h5", arrays)
    with pytest.raises(ValueError, match=r"bad\.h5: .*conv_pw_5"):
        mobilenet.load(tmp_path / "bad.h5")


def test_hdf5_file_that_is_not_keras_mobilenet(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = np.arange(10)
    with pytest.raises(ValueError, match=r"data\.h5: no 'conv1' layer"):
        mobilenet.load(tmp_path / "data.h5")


# ---------------------------------------------------------------- npz and options

def test_labels_that_do_not_fit(tmp_path):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1)
    net.save(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="3 labels for a network with 4 classes"):
        mobilenet.load(tmp_path / "net.npz", labels=["a", "b", "c"])
    (tmp_path / "labels.txt").write_text("a\nb\nc\nd\n")
    assert mobilenet.load(tmp_path / "net.npz", labels=tmp_path / "labels.txt").labels == ["a", "b", "c", "d"]


def test_npz_with_a_tampered_tensor(tmp_path):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1)
    net.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz") as f:
        arrays = dict(f)
    arrays["conv_pw_3/weight"] = arrays["conv_pw_3/weight"][:, :-1]
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ValueError, match=r"tampered\.npz: array 'conv_pw_3/weight': shape \(32, 31\) in its header, "
                                         r"the layer needs \(32, 32\)"):
        mobilenet.load(tmp_path / "tampered.npz")
    arrays = dict(np.load(tmp_path / "net.npz"))
    arrays["conv1/weight"] = arrays["conv1/weight"] * np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(ValueError, match=r"nan\.npz: .*conv1.*finite"):
        mobilenet.load(tmp_path / "nan.npz")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_of_any_reader_are_named_once(tmp_path, bad):
    """Readers check structure; the one scan for NaN / Inf (params.check_params) names the layer."""
    pytest.importorskip("tflite")
    pytest.importorskip("flatbuffers")
    from mobilenet.io.tflite_writer import to_tflite
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1)
    net.params["conv_pw_2"]["weight"][3, 1] = bad
    to_tflite(net, tmp_path / "bad.tflite")
    with pytest.raises(ValueError, match=r"bad\.tflite: layer 'conv_pw_2': weight must be finite"):
        mobilenet.load(tmp_path / "bad.tflite")


# ---------------------------------------------------------------- missing optional packages

@pytest.mark.parametrize("module, name, data, hint", [
    ("torch", "sd.pth", b"PK\x03\x04", "torch==2.13.0"),
    ("tflite", "m.tflite", b"\x1c\x00\x00\x00TFL3" + bytes(64), "mobilenet[tflite]"),
    ("h5py", "m.h5", b"\x89HDF\r\n\x1a\n" + bytes(64), "mobilenet[keras]"),
    ("onnx", "m.onnx", b"\x08\x07" + bytes(64), "mobilenet[onnx]"),
])
def test_missing_reader_package_is_named(tmp_path, monkeypatch, module, name, data, hint):
    if module == "torch":
        import zipfile
        with zipfile.ZipFile(tmp_path / name, "w") as z:  # what torch.save writes: <name>/data.pkl inside a zip
            z.writestr("sd/data.pkl", b"\x80\x02}q\x00.")
        path = tmp_path / name
    else:
        path = _write(tmp_path, name, data)
    monkeypatch.setitem(__import__("sys").modules, module, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=hint.replace("[", r"\[").replace("]", r"\]")):
        mobilenet.load(path)


def test_resolution_cannot_change_a_fixed_input_size(tmp_path):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, num_classes=4, threads=1)
    net.save(tmp_path / "net.npz")
    assert mobilenet.load(tmp_path / "net.npz", resolution=64).input_shape == (64, 64, 3)
    with pytest.raises(ValueError, match=r"net\.npz: the model's input size is fixed at 64x64"):
        mobilenet.load(tmp_path / "net.npz", resolution=96)
    with pytest.raises(ValueError, match="fixed at 64x64"):
        mobilenet.load(tmp_path / "net.npz", resolution=(64, 96))
    with pytest.raises(ValueError, match="height, width"):
        mobilenet.load(tmp_path / "net.npz", resolution=(64, 64, 3))
    with pytest.raises(TypeError, match="resolution"):
        mobilenet.load(tmp_path / "net.npz", resolution=64.0)
    with pytest.raises(ValueError, match="format must be one of"):
        mobilenet.load(tmp_path / "net.npz", format="caffe")
    with pytest.raises(ValueError, match=r"net\.npz: not a readable tflite model"):
        mobilenet.load(tmp_path / "net.npz", format="tflite")


def test_npz_header_declaring_a_huge_array(tmp_path):
    import io
    import zipfile
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1)
    net.save(tmp_path / "net.npz")
    forged = io.BytesIO()
    np.lib.format.write_array_header_1_0(forged, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 13,)})
    forged.write(bytes(64))
    with zipfile.ZipFile(tmp_path / "net.npz") as src, zipfile.ZipFile(tmp_path / "huge.npz", "w") as dst:
        for info in src.infolist():
            data = forged.getvalue() if info.filename == "conv1/weight.npy" else src.read(info)
            dst.writestr(info.filename, data)
    with pytest.raises(ValueError, match=r"huge\.npz: array 'conv1/weight': shape \(10000000000000,\) needs more"):
        mobilenet.load(tmp_path / "huge.npz")
