"""Hostile model files: decompression bombs, lying headers, links and references out of the file.

Each maker writes one small file (kilobytes to a couple of megabytes) that
asks a careless loader for gigabytes of memory, or for data outside the model
file. The tests (test_hostile_files.py, test_hostile_onnx.py) make them in
fixtures, so nothing binary is committed; to get the corpus as files (for a
fuzzer, or another loader), run

    python tests/hostile/make_corpus.py OUT_DIR
"""
from __future__ import annotations

import json
import os
import pathlib
import struct
import sys
import zipfile
import zlib

import numpy as np

MiB = 1 << 20
GiB = 1 << 30


# ---------------------------------------------------------------- zip bombs

def deflate_zeros(prefix: bytes, zeros: int):
    """(raw deflate stream, crc32, size) of prefix followed by zeros bytes (a multiple of 1 MiB).

    A full flush byte-aligns the stream and resets the dictionary, so the
    compressed form of one MiB of zeros is repeated rather than compressing a
    whole GiB (1 GiB costs about 1 MB of file and a second to make).
    """
    assert zeros % MiB == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush(zlib.Z_FINISH)
    crc, chunk = zlib.crc32(prefix), bytes(MiB)
    for _ in range(zeros // MiB):
        crc = zlib.crc32(chunk, crc)
    return head + piece * (zeros // MiB) + tail, crc, len(prefix) + zeros


def stored(data: bytes):
    return data, zlib.crc32(data), len(data)


def build_zip(members) -> bytes:
    """A zip archive from [(name, (data, crc, size))]: deflated if size != len(data), else stored.

    zipfile cannot write data that is already compressed, hence this writer
    (no zip64: every size stays below 4 GiB).
    """
    out, central = bytearray(), bytearray()
    for name, (data, crc, size) in members:
        encoded = name.encode()
        method = 0 if size == len(data) else zipfile.ZIP_DEFLATED
        fields = (20, 0, method, 0, 0x21, crc, len(data), size, len(encoded))  # version, flags, method, time, date
        central += struct.pack("<IH", 0x02014B50, 20) + struct.pack("<HHHHHIIIH", *fields) + \
            struct.pack("<HHHHII", 0, 0, 0, 0, 0, len(out)) + encoded
        out += struct.pack("<I", 0x04034B50) + struct.pack("<HHHHHIIIH", *fields) + struct.pack("<H", 0) + encoded
        out += data
    count = len(members)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + eocd)


def npy_header(shape, descr="<f4") -> bytes:
    import io
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def npz_members(path):
    with zipfile.ZipFile(path) as z:
        return [(info.filename, stored(z.read(info))) for info in z.infolist()]


def npz_lying_header(valid_npz, out):
    """A net.save file whose conv1 weight header claims 2**28 floats, backed by a 1 GiB deflate bomb."""
    members = [(name, deflate_zeros(npy_header((1 << 28,)), GiB) if name == "conv1/weight.npy" else member)
               for name, member in npz_members(valid_npz)]
    pathlib.Path(out).write_bytes(build_zip(members))


def npz_huge_network(out):
    """Metadata for a network with a 16384 x 16384 pointwise layer (1 GiB), every tensor compressed zeros."""
    def layer(name, type_, cin, cout, size, stride=1, padding=(0, 0, 0, 0), bn=True):
        entry = {"name": name, "type": type_, "in_shape": [size, size, cin],
                 "out_shape": [size // stride, size // stride, cout], "stride": stride, "padding": list(padding),
                 "activation": "relu6" if bn else "none"}
        if bn:
            entry["bn_eps"] = 1e-3
        return entry
    wide = 16384
    layers = [layer("conv1", "conv3x3", 3, 8, 32, 2, (0, 0, 1, 1)), layer("conv_dw_1", "dwconv3x3", 8, 8, 16, 1,
              (1, 1, 1, 1)), layer("conv_pw_1", "conv1x1", 8, wide, 16), layer("conv_dw_2", "dwconv3x3", wide, wide,
              16, 1, (1, 1, 1, 1)), layer("conv_pw_2", "conv1x1", wide, wide, 16),
              {"name": "avgpool", "type": "avgpool", "in_shape": [16, 16, wide], "out_shape": [1, 1, wide],
               "stride": 1, "padding": [0, 0, 0, 0], "activation": "none"},
              layer("fc", "fc", wide, 4, 1, bn=False)]
    shapes = {"conv1": (3, 3, 3, 8), "conv_dw_1": (3, 3, 8), "conv_pw_1": (8, wide), "conv_dw_2": (3, 3, wide),
              "conv_pw_2": (wide, wide), "fc": (wide, 4)}
    meta = {"format": "mobilenet-npz", "version": 1, "layers": layers, "attributes": {"source": "hostile"}}
    text = np.array(json.dumps(meta))
    members = [("__mobilenet__.npy", stored(npy_header((), text.dtype.str) + text.tobytes()))]
    for name, shape in shapes.items():
        members.append((f"{name}/weight.npy", _zeros_member(shape)))
        cout = shape[-1]
        if name == "fc":
            members.append(("fc/bias.npy", _zeros_member((cout,))))
        else:
            members += [(f"{name}/bn/{key}.npy", _ones_member((cout,))) for key in ("gamma", "beta", "mean", "var")]
    pathlib.Path(out).write_bytes(build_zip(members))


def _zeros_member(shape):
    nbytes = int(np.prod(shape)) * 4
    if nbytes % MiB == 0:
        return deflate_zeros(npy_header(shape), nbytes)
    return stored(npy_header(shape) + bytes(nbytes))


def _ones_member(shape):
    return stored(npy_header(shape) + np.ones(shape, np.float32).tobytes())


def tiny_tflite() -> bytes:
    """A float MobileNet v1 of one block (32x32 input, 8 channels, 4 classes) as a TFLite flatbuffer."""
    from model_files import build_tflite
    rng = np.random.default_rng(0)
    t = [("input", [1, 32, 32, 3], None),
         ("stem/w", [8, 3, 3, 3], rng.standard_normal((8, 3, 3, 3))), ("stem/b", [8], np.zeros(8)),
         ("stem", [1, 16, 16, 8], None),
         ("dw/w", [1, 3, 3, 8], rng.standard_normal((1, 3, 3, 8))), ("dw/b", [8], np.zeros(8)),
         ("dw", [1, 16, 16, 8], None),
         ("pw/w", [8, 1, 1, 8], rng.standard_normal((8, 1, 1, 8))), ("pw/b", [8], np.zeros(8)),
         ("pw", [1, 16, 16, 8], None),
         ("pool", [1, 1, 1, 8], None),
         ("fc/w", [4, 1, 1, 8], rng.standard_normal((4, 1, 1, 8))), ("fc/b", [4], np.zeros(4)),
         ("logits", [1, 1, 1, 4], None)]
    ops = [("CONV_2D", [0, 1, 2], [3], {"stride": 2, "activation": 3}),
           ("DEPTHWISE_CONV_2D", [3, 4, 5], [6], {"activation": 3}),
           ("CONV_2D", [6, 7, 8], [9], {"activation": 3}),
           ("AVERAGE_POOL_2D", [9], [10], {"filter": 16}),
           ("CONV_2D", [10, 11, 12], [13], {})]
    return build_tflite(t, ops, [0], [13])


def tflite_labels_bomb(out, labels_size=GiB):
    """A valid TFLite model with TFLite metadata whose labels.txt inflates to 1 GiB."""
    bomb = build_zip([("labels.txt", deflate_zeros(b"cat\n", labels_size))])
    pathlib.Path(out).write_bytes(tiny_tflite() + bomb)


# ---------------------------------------------------------------- Keras HDF5

def keras_h5(out, edit):
    """Valid Keras 2 weights (alpha 0.25, 10 classes) written by model_files, then edit(h5py.File, folder)."""
    import h5py

    from model_files import keras_mobilenet_arrays, write_keras_h5
    write_keras_h5(out, keras_mobilenet_arrays())
    with h5py.File(out, "r+") as f:
        edit(f, pathlib.Path(out).parent)


def _replace(f, path, **kwargs):
    data = f[path][()]
    del f[path]
    return f.create_dataset(path, shape=data.shape, dtype=data.dtype, **kwargs), data


def keras_external_storage(out, secret):
    """conv1's kernel stored in another file (HDF5 external storage): the secret's bytes become weights."""
    def edit(f, folder):
        data = f["conv1/conv1/kernel:0"][()]
        pathlib.Path(secret).write_bytes(data.tobytes())
        del f["conv1/conv1/kernel:0"]
        f.create_dataset("conv1/conv1/kernel:0", shape=data.shape, dtype=data.dtype,
                         external=[(os.fspath(secret), 0, data.nbytes)])
    keras_h5(out, edit)


def keras_virtual_dataset(out, other):
    """conv1's kernel as a virtual dataset mapping a dataset of another file."""
    import h5py

    def edit(f, folder):
        data = f["conv1/conv1/kernel:0"][()]
        with h5py.File(other, "w") as g:
            g["secret"] = data
        layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        layout[...] = h5py.VirtualSource(os.fspath(other), "secret", shape=data.shape)
        del f["conv1/conv1/kernel:0"]
        f["conv1"].create_virtual_dataset("conv1/kernel:0", layout)
    keras_h5(out, edit)


def keras_external_link(out, other):
    """The classifier's group is an external link into another HDF5 file."""
    import h5py

    def edit(f, folder):
        with h5py.File(other, "w") as g:
            f.copy(f["conv_preds"], g, "conv_preds")
        del f["conv_preds"]
        f["conv_preds"] = h5py.ExternalLink(os.fspath(other), "/conv_preds")
    keras_h5(out, edit)


def keras_soft_link(out):
    """A batch norm's gamma is a soft link to another path of the file."""
    import h5py

    def edit(f, folder):
        del f["conv_pw_3_bn/conv_pw_3_bn/gamma:0"]
        f["conv_pw_3_bn/conv_pw_3_bn/gamma:0"] = h5py.SoftLink("/conv_pw_3_bn/conv_pw_3_bn/beta:0")
    keras_h5(out, edit)


def keras_unread_bombs(out, count=4):
    """Gzip'd datasets beside conv1's weights, 512 MiB each when read, never written (a few KB of file)."""
    def edit(f, folder):
        for i in range(count):
            f["conv1"].create_dataset(f"conv1/extra_{i}:0", shape=(1 << 26,), dtype="f8", chunks=(1 << 16,),
                                      compression="gzip", fillvalue=1.0)
    keras_h5(out, edit)


def keras_fill_bomb(out):
    """A classifier of 262144 classes whose 512 MiB kernel was never written (read back as its fill value)."""
    def edit(f, folder):
        cin = f["conv_preds/conv_preds/kernel:0"].shape[2]
        classes = (1 << 26) // cin
        del f["conv_preds/conv_preds/kernel:0"], f["conv_preds/conv_preds/bias:0"]
        f.create_dataset("conv_preds/conv_preds/kernel:0", shape=(1, 1, cin, classes), dtype="f8",
                         chunks=(1, 1, cin, 256), compression="gzip")
        f.create_dataset("conv_preds/conv_preds/bias:0", shape=(classes,), dtype="f8")
    keras_h5(out, edit)


def keras_link_cycle(out):
    """A layer group that contains itself through a hard link."""
    def edit(f, folder):
        f["conv_dw_2"]["again"] = f["conv_dw_2"]
    keras_h5(out, edit)


# ---------------------------------------------------------------- ONNX external data

ONNX_VARIANTS = ("valid", "symlink", "symlinked_folder", "absolute", "dotdot", "fifo", "directory", "past_end",
                 "huge_length", "attribute_symlink")


def onnx_external(folder, variant):
    """folder/model.onnx (alpha 0.25, 32x32, 4 classes) with its weights in weights.bin beside it, and one change.

    The secret the hostile variants reach for is folder/../outside/secret.bin;
    returns the model's path.
    """
    import onnx

    import mobilenet
    from mobilenet.export_onnx import to_onnx
    folder = pathlib.Path(folder)
    outside = folder.parent / "outside"
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(exist_ok=True)
    path = folder / "model.onnx"
    to_onnx(mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1, seed=1), path)
    model = onnx.load(os.fspath(path))  # str paths: onnx < 1.15 writes external data beside str paths only
    onnx.save_model(model, os.fspath(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    model = onnx.load(os.fspath(path), load_external_data=False)
    weights = folder / "weights.bin"
    secret = outside / "secret.bin"
    secret.write_bytes(weights.read_bytes())  # same bytes: a loader that follows the reference loads a network
    first = model.graph.initializer[0]

    def set_entry(tensor, key, value):
        for entry in tensor.external_data:
            if entry.key == key:
                entry.value = value
                return
        tensor.external_data.add(key=key, value=value)

    def relocate(location):
        for tensor in model.graph.initializer:
            set_entry(tensor, "location", location)

    if variant == "symlink":
        weights.unlink()
        weights.symlink_to(secret)
    elif variant == "symlinked_folder":
        (folder / "data").symlink_to(outside, target_is_directory=True)
        relocate("data/secret.bin")
    elif variant == "absolute":
        relocate(os.fspath(secret.resolve()))
    elif variant == "dotdot":
        relocate("../outside/secret.bin")
    elif variant == "fifo":
        os.mkfifo(folder / "pipe")
        set_entry(first, "location", "pipe")
    elif variant == "directory":
        (folder / "sub").mkdir()
        set_entry(first, "location", "sub")
    elif variant == "past_end":
        set_entry(first, "offset", str(weights.stat().st_size))
    elif variant == "huge_length":
        set_entry(first, "length", str(1 << 40))
    elif variant == "attribute_symlink":
        (folder / "constant.bin").symlink_to(secret)
        value = onnx.TensorProto(name="c", data_type=onnx.TensorProto.FLOAT, dims=[4],
                                 data_location=onnx.TensorProto.EXTERNAL)
        value.external_data.add(key="location", value="constant.bin")
        value.external_data.add(key="length", value="16")
        model.graph.node.append(onnx.helper.make_node("Constant", [], ["unused"], value=value))
    elif variant != "valid":
        raise ValueError(f"unknown variant {variant!r}; one of {ONNX_VARIANTS}")
    path.write_bytes(model.SerializeToString())  # onnx.save would rewrite (and so check) the external data
    return path


# ---------------------------------------------------------------- others

def sparse_file(out, size=int(1.9 * GiB)):
    """size bytes of zeros that take no disk space: unrecognized, and must not be read whole."""
    with open(out, "wb") as f:
        f.truncate(size)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # model_files
    folder = pathlib.Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    tflite_labels_bomb(folder / "labels_bomb.tflite")
    npz_huge_network(folder / "huge_network.npz")
    keras_external_storage(folder / "external_storage.h5", folder / "secret.bin")
    keras_virtual_dataset(folder / "virtual.h5", folder / "virtual_source.h5")
    keras_external_link(folder / "external_link.h5", folder / "linked.h5")
    keras_soft_link(folder / "soft_link.h5")
    keras_unread_bombs(folder / "unread_bombs.h5")
    keras_fill_bomb(folder / "fill_bomb.h5")
    keras_link_cycle(folder / "link_cycle.h5")
    for variant in ONNX_VARIANTS:
        onnx_external(folder / f"onnx_{variant}" / "model", variant)
    for path in sorted(folder.iterdir()):
        print(f"{path.stat().st_size:>10}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
