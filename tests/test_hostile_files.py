"""Hostile model files (tests/hostile/make_corpus.py) are refused with a ValueError naming the problem,
within a bounded amount of memory, and nothing outside the model file is read."""
import os
import pathlib

import numpy as np
import pytest

import mobilenet

from hostile import make_corpus
from hostile.capped import load_capped
from model_files import keras_mobilenet_arrays, write_keras_h5


def _refused(path, pattern, **kwargs):
    code, output = load_capped(path, **kwargs)
    assert code == 0, output
    assert output.startswith("ValueError: "), output
    assert "MemoryError" not in output, output
    import re
    assert re.search(pattern, output), output


# ---------------------------------------------------------------- format detection

def test_sparse_file_is_not_read_whole(tmp_path):
    path = tmp_path / "huge.bin"
    make_corpus.sparse_file(path)  # 1.9 GB of zeros, no disk space
    _refused(path, r"huge\.bin: unrecognized model format")


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_character_device(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    with pytest.raises(ValueError, match=f"{device} is a character device, not a model file"):
        mobilenet.load(device)


def test_fifo_is_named_and_not_opened(tmp_path):
    path = tmp_path / "pipe.tflite"
    os.mkfifo(path)  # nobody writes: opening it for reading would block
    with pytest.raises(ValueError, match=r"pipe\.tflite is a FIFO \(named pipe\), not a model file"):
        mobilenet.load(path)


def test_proc_file_is_not_called_empty():
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc")
    with pytest.raises(ValueError, match=r"/proc/self/status is a file of the kernel's /proc filesystem"):
        mobilenet.load("/proc/self/status")


def test_empty_file_is_still_empty(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.npz: the file is empty"):
        mobilenet.load(tmp_path / "empty.npz")


# ---------------------------------------------------------------- zip bombs and lying headers

def test_tflite_labels_bomb(tmp_path):
    pytest.importorskip("tflite")
    path = tmp_path / "labels_bomb.tflite"
    make_corpus.tflite_labels_bomb(path)  # 1 MB of file, labels.txt inflates to 1 GiB
    assert path.stat().st_size < 2 * make_corpus.MiB
    _refused(path, r"labels file 'labels\.txt' in the model's metadata, decompressed, is larger than 16777216 bytes",
             modules=("tflite",))


def test_tflite_labels_within_the_cap_are_read(tmp_path):
    pytest.importorskip("tflite")
    labels = make_corpus.build_zip([("labels.txt", make_corpus.stored(b"a\nb\nc\nd\n"))])
    (tmp_path / "labelled.tflite").write_bytes(make_corpus.tiny_tflite() + labels)
    assert mobilenet.load(tmp_path / "labelled.tflite").labels == ["a", "b", "c", "d"]


@pytest.fixture
def small_npz(tmp_path):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1)
    net.save(tmp_path / "net.npz")
    return tmp_path / "net.npz"


def test_npz_header_read_from_the_stream(tmp_path, small_npz):
    path = tmp_path / "lying.npz"
    make_corpus.npz_lying_header(small_npz, path)  # conv1/weight: 2**28 floats in 1 MB, directory agrees
    _refused(path, r"lying\.npz: array 'conv1/weight': shape \(268435456,\) in its header, "
                   r"the layer needs \(3, 3, 3, 8\)")


def test_npz_network_larger_than_its_file_may_expand_to(tmp_path):
    path = tmp_path / "huge_network.npz"
    make_corpus.npz_huge_network(path)  # 3 MB whose metadata and tensors agree on a 1 GiB layer
    _refused(path, r"huge_network\.npz: array 'conv_pw_2/weight': 1073741824 bytes would exceed .* "
                   r"a decompression bomb")


def test_compressed_npz_still_loads(tmp_path, small_npz):
    with np.load(small_npz) as f:
        arrays = dict(f)
    np.savez_compressed(tmp_path / "compressed.npz", **arrays)
    net = mobilenet.load(tmp_path / "compressed.npz")
    x = np.random.default_rng(0).random((1, 32, 32, 3), np.float32)
    np.testing.assert_array_equal(net(x), mobilenet.load(small_npz)(x))


# ---------------------------------------------------------------- Keras HDF5

@pytest.fixture
def h5py():
    return pytest.importorskip("h5py")


def test_keras_external_storage_is_refused(tmp_path, h5py):
    path, secret = tmp_path / "external.h5", tmp_path / "secret.bin"
    make_corpus.keras_external_storage(path, secret)  # the secret holds valid floats: today it loads as weights
    with pytest.raises(ValueError, match=r"external\.h5: layer 'conv1': kernel is stored in external files "
                                         r"\['.*secret\.bin'\]; external storage is not read"):
        mobilenet.load(path)


def test_keras_virtual_dataset_is_refused(tmp_path, h5py):
    path = tmp_path / "virtual.h5"
    make_corpus.keras_virtual_dataset(path, tmp_path / "source.h5")
    with pytest.raises(ValueError, match=r"virtual\.h5: layer 'conv1': kernel is a virtual dataset"):
        mobilenet.load(path)


def test_keras_external_link_is_refused(tmp_path, h5py):
    path = tmp_path / "linked.h5"
    make_corpus.keras_external_link(path, tmp_path / "other.h5")
    with pytest.raises(ValueError, match=r"linked\.h5: layer 'conv_preds': 'conv_preds' is an external link to "
                                         r"'.*other\.h5'; links are not followed"):
        mobilenet.load(path)


def test_keras_soft_link_is_refused(tmp_path, h5py):
    path = tmp_path / "soft.h5"
    make_corpus.keras_soft_link(path)
    with pytest.raises(ValueError, match=r"soft\.h5: layer 'conv_pw_3_bn': 'gamma:0' is a soft link to "
                                         r"'/conv_pw_3_bn/conv_pw_3_bn/beta:0'"):
        mobilenet.load(path)


def test_keras_datasets_outside_the_architecture_are_never_read(tmp_path, h5py):
    path = tmp_path / "unread.h5"
    make_corpus.keras_unread_bombs(path)  # 4 x 512 MiB of gzip'd fill values beside conv1's kernel
    code, output = load_capped(path, modules=("h5py",))
    assert (code, output) == (0, "loaded")


def test_keras_fill_value_bomb_in_the_architecture(tmp_path, h5py):
    path = tmp_path / "fill.h5"
    make_corpus.keras_fill_bomb(path)  # conv_preds: 512 MiB never written, read back as zeros
    _refused(path, r"fill\.h5: layer 'conv_preds': kernel: 536870912 bytes would exceed", modules=("h5py",))


def test_keras_hard_link_cycle_terminates(tmp_path, h5py):
    path = tmp_path / "cycle.h5"
    make_corpus.keras_link_cycle(path)
    assert mobilenet.load(path).num_classes == 10


def test_keras_shape_and_dtype_checked_before_reading(tmp_path, h5py):
    arrays = keras_mobilenet_arrays()
    write_keras_h5(tmp_path / "ok.h5", arrays)
    with h5py.File(tmp_path / "ok.h5", "r+") as f:
        del f["conv_dw_4/conv_dw_4/depthwise_kernel:0"]
        f["conv_dw_4/conv_dw_4/depthwise_kernel:0"] = np.zeros((3, 3, 31, 1), np.float32)
    with pytest.raises(ValueError, match=r"ok\.h5: layer 'conv_dw_4': depthwise_kernel has shape \(3, 3, 31, 1\), "
                                         r"expected \(3, 3, 32, 1\)"):
        mobilenet.load(tmp_path / "ok.h5")
    with h5py.File(tmp_path / "ok.h5", "r+") as f:
        del f["conv_dw_4/conv_dw_4/depthwise_kernel:0"]
        f["conv_dw_4/conv_dw_4/depthwise_kernel:0"] = np.array([b"x" * 10] * 288).reshape(3, 3, 32, 1)
    with pytest.raises(ValueError, match=r"ok\.h5: layer 'conv_dw_4': depthwise_kernel has dtype \|S10, "
                                         r"not floating point"):
        mobilenet.load(tmp_path / "ok.h5")


# ---------------------------------------------------------------- PyTorch pickles

class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize("legacy", [False, True])
def test_checkpoint_that_would_run_code(tmp_path, legacy):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"conv_stem.weight": torch.zeros(8, 3, 3, 3), "x": _RunsCode(marker)}, path,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ValueError, match=r"evil\.pth"):
        mobilenet.load(path)
    assert not marker.exists()


def test_torch_whose_weights_only_can_run_code_is_refused(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    torch.save({"conv_stem.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "sd.pth")
    monkeypatch.setattr(torch, "__version__", "2.5.1")
    with pytest.raises(ImportError, match=r"torch>=2\.6.*CVE-2025-32434"):
        mobilenet.load(tmp_path / "sd.pth")
