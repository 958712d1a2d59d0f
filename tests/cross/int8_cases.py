"""Writes the int8 network cases that tests/cpp/int8_network_check.cpp runs without Python (on
AArch64 under qemu, and natively): for each shared quantized model, the engine's int8 layers as
mobilenet.load hands them to the C++ core (python: _core.LayerSpec), a batch of inputs, and
every layer's expected output and the softmax's, all in uint8 storage (an int8 value + 128).

The expected outputs are the NumPy oracle's (mobilenet.reference.forward_int8), which
tests/test_int8_exact.py proves bit-identical to LiteRT's reference kernels (BUILTIN_REF) in
every tensor; the final outputs of the stored test images are checked here against LiteRT's
stored reference outputs too. The files are written at test time from the shared models and
never kept in the repository.

Usage: python tests/cross/int8_cases.py OUT_DIR [--model KEY ...] [--flip-weight LAYER]
  --flip-weight LAYER: change one weight of that layer by one (the expectations stay the
  model's): a case the checker must fail at that layer (the check's own negative test).
Models: $MOBILENET_TEST_MODELS, else ../shared/models beside the repository; where they are
absent it writes nothing and says why (exit status 0).

File format (little-endian int32 unless said): "MBN8CASE", version 1, the name (length, bytes),
batch, layer count; per layer kind, in_h, in_w, in_c, out_c, stride, padding (top, left,
bottom, right), activation, in/out zero point, act_min, act_max, flags (1: signed values,
2: MEAN), then weight, bias, multiplier and shift (each a count and its values); softmax
(0 or 1, then its input multiplier, left shift and diff_min); then bytes: the input
(batch x H x W x C), each layer's expected output (batch x its size), the softmax's.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import struct
import sys
from typing import Dict, List, Tuple

import numpy as np

import mobilenet
from mobilenet import quantization as qz, reference
from mobilenet.model import engine_specs_int8

REPO = pathlib.Path(__file__).resolve().parents[2]
IMAGES = ("chelsea", "coffee", "astronaut", "rocket")
EMBEDDING = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
HEAD = "mobilenet_v1_1.0_224_quant_head_layers.tflite"
# key: (file, input size, test images, random images): the four test images (or the first four of
# the converter's stored inputs) for every model, and random ones for the smallest; about a minute
# of qemu for each emulated CPU (tests/cross/run_aarch64.sh).
MODELS: Dict[str, Tuple[str, int, int, int]] = {
    "0.25_128": ("mobilenet_v1_0.25_128_quant.tflite", 128, 4, 2),
    "0.5_160": ("mobilenet_v1_0.5_160_quant.tflite", 160, 4, 0),
    "0.75_192": ("mobilenet_v1_0.75_192_quant.tflite", 192, 4, 0),
    "1.0_224": (EMBEDDING, 224, 4, 0),  # joined with its head
    "tfconv_0.5_160_int8": ("converted/tfconv_mobilenet_0.5_160_int8.tflite", 160, 4, 0),
    "tfconv_0.5_161_int8": ("converted/tfconv_mobilenet_0.5_161_int8.tflite", 161, 4, 0),
}


def storage(values: np.ndarray) -> np.ndarray:
    """uint8 storage: an int8 tensor's values + 128."""
    return values.view(np.uint8) ^ np.uint8(0x80) if values.dtype == np.int8 else values.astype(np.uint8)


def load(models: pathlib.Path, key: str) -> Tuple[mobilenet.MobileNetV1, np.ndarray, List[np.ndarray]]:
    """The int8 network, its quantized input batch, and LiteRT's stored final outputs of the first images."""
    name, size, count, randoms = MODELS[key]
    if key == "1.0_224":
        net = mobilenet.load(models / EMBEDDING, head=models / HEAD, threads=1)
        stored = np.load(models / "expected_1.0_224_quant.npz")
        expected = [stored[f"{image}|probs_uint8|builtin_ref"] for image in IMAGES[:count]]
    elif key.startswith("tfconv"):
        net = mobilenet.load(models / name, threads=1)
        stored = np.load(models / "converted" / f"tfconv_mobilenet_0.5_{size}.expected.npz")
        # quantized as make_converted.py did for LiteRT's stored outputs (NumPy's rounding)
        q = net.quantization.input
        x = np.clip(np.round(stored["x"][:count] / q.scale + q.zero_point), -128, 127).astype(np.int8)
        return net, x, list(stored["int8|tflite_ref"][:count])
    else:
        net = mobilenet.load(models / name, threads=1)
        stored = np.load(models / "expected_outputs.npz")
        expected = [stored[f"{name}|{image}|raw_uint8|builtin_ref"] for image in IMAGES[:count]]
    images = np.load(models / "test_inputs.npz")
    x = np.stack([images[f"{image}_{size}"] for image in IMAGES[:count]])
    rng = np.random.default_rng(size)
    x = np.concatenate([x, rng.integers(0, 256, (randoms, size, size, 3), dtype=np.uint8)])
    return net, x, expected


def ints(values: object) -> bytes:
    a = np.asarray(values, "<i4").ravel()
    return struct.pack("<i", a.size) + a.tobytes()


def case_bytes(key: str, net: mobilenet.MobileNetV1, x: np.ndarray, outputs: List[np.ndarray], flip: int) -> bytes:
    assert net.quantization is not None
    specs = engine_specs_int8(net.layers, net.quantization)
    out = [b"MBN8CASE", struct.pack("<i", 1), ints(np.frombuffer(key.encode(), np.uint8)),
           struct.pack("<2i", len(x), len(specs))]
    for i, spec in enumerate(specs):
        q = spec.int8
        weight = np.array(q["weight"])
        if i == flip:
            if not weight.size:
                raise SystemExit(f"--flip-weight {flip}: layer {flip} of {key} has no weights")
            j = weight.size // 2
            weight[j] += 1 if weight[j] < 255 else -1
        out.append(struct.pack("<16i", spec.kind.value, spec.in_h, spec.in_w, spec.in_c, spec.out_c, spec.stride,
                               *spec.padding, spec.activation.value, q["in_zero_point"], q["out_zero_point"],
                               q["act_min"], q["act_max"], int(q["signed_values"]) | 2 * int(q["mean"])))
        out += [ints(weight), ints(q["bias"]), ints(q["multiplier"]), ints(q["shift"])]
    softmax = net.quantization.softmax is not None
    params = qz.softmax_parameters(list(net.quantization.layers.values())[-1].output.scale) if softmax else (0, 0, 0)
    out.append(struct.pack("<4i", int(softmax), *params))
    out += [storage(a).tobytes() for a in [x, *outputs]]
    return b"".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="these models only")
    parser.add_argument("--flip-weight", type=int, default=-1, metavar="LAYER")
    args = parser.parse_args()
    models = pathlib.Path(os.environ.get("MOBILENET_TEST_MODELS", REPO.parent / "shared" / "models"))
    if not (models / MODELS["0.25_128"][0]).is_file():
        print(f"int8_cases: skipped: the shared models are not at {models} (set MOBILENET_TEST_MODELS)")
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for key in args.model or MODELS:
        net, x, stored = load(models, key)
        assert net.quantization is not None
        outputs = reference.forward_int8(net.layers, net.quantization, x, intermediates=True)
        assert isinstance(outputs, list)
        for i, want in enumerate(stored):
            if not np.array_equal(outputs[-1][i], want.reshape(outputs[-1][i].shape)):
                raise SystemExit(f"int8_cases: {key} image {i}: the oracle differs from LiteRT's stored output")
        path = args.out_dir / f"{key}.case"
        path.write_bytes(case_bytes(key, net, x, outputs, args.flip_weight))
        print(f"int8_cases: {path.name}: {len(net.layers)} layers, {len(x)} images "
              f"({len(stored)} with LiteRT's stored output), {path.stat().st_size >> 10} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
