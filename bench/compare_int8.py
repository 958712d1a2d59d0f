"""Integer inference side by side: our int8 engine against the int8 peers, in one process.

    python bench/compare_int8.py [--threads 1 2] [--runs 200] [--models 0.25_128 1.0_224 ...]

Rows (one per model and thread count, calls interleaved as in bench/compare.py):
  - mobilenet int8 on the real quantized TFLite file (the Coral uint8 models; 1.0/224 is the
    embedding extractor joined with its head: mobilenet.load(features, head=...));
  - LiteRT (XNNPACK, its default) on the same file (1.0/224: the two files one after the other);
  - onnxruntime and OpenVINO on a per-channel QDQ ONNX model of the same shape, from
    onnxruntime.quantization.quantize_static of our float ONNX export (random weights: the
    speed does not depend on them), calibrated on a few random images;
  - our own float32 network of the same shape (the 0.45x target of issue 15).
Times are medians of wall-clock calls with uint8 input (ours and LiteRT) or float input (the
QDQ models, whose QuantizeLinear is part of the call). Needs the shared models
($MOBILENET_TEST_MODELS or ../shared/models) and pip install '.[bench]'.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mobilenet  # noqa: E402

from compare import Runtime, available, cpu_name, litert_peer, models_dir, onnxruntime_peer, time_interleaved  # noqa: E402

MODELS = {"0.25_128": ("mobilenet_v1_0.25_128_quant.tflite", None, 0.25, 128),
          "0.5_160": ("mobilenet_v1_0.5_160_quant.tflite", None, 0.5, 160),
          "0.75_192": ("mobilenet_v1_0.75_192_quant.tflite", None, 0.75, 192),
          "1.0_224": ("mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
                      "mobilenet_v1_1.0_224_quant_head_layers.tflite", 1.0, 224)}


def importable(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:  # ImportError, or a broken install: skip the peer either way
        return False


def litert_pair(features: Path, head: Path, x: np.ndarray, threads: int) -> Runtime:
    """LiteRT on the embedding file, then the head file on its output."""
    first = litert_peer(features, x, threads)
    from ai_edge_litert.interpreter import Interpreter
    second = Interpreter(model_path=str(head), num_threads=threads)
    second.allocate_tensors()
    index = second.get_input_details()[0]["index"]
    out = second.get_output_details()[0]["index"]

    def run():
        second.set_tensor(index, first.run().reshape(second.get_input_details()[0]["shape"]))
        second.invoke()
        return second.get_tensor(out)
    return Runtime("litert", run, "XNNPACK, embedding + head")


def qdq_model(alpha: float, resolution: int, folder: Path) -> Path:
    """A per-channel QDQ ONNX model of a random float network of this shape (quantize_static)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    net = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, num_classes=1001, activation="relu6", threads=1)
    float_path = folder / f"float_{alpha}_{resolution}.onnx"
    net.to_onnx(float_path)
    rng = np.random.default_rng(0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": rng.uniform(-1, 1, (1, 3, resolution, resolution)).astype(np.float32)}
                               for _ in range(8)])

        def get_next(self):
            return next(self.items, None)

    path = folder / f"qdq_{alpha}_{resolution}.onnx"
    quantize_static(str(float_path), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return path


def openvino_int8_peer(onnx_path: Path, x_nchw: np.ndarray, threads: int) -> Runtime:
    import openvino as ov
    core = ov.Core()
    model = core.read_model(str(onnx_path))
    model.reshape({"input": list(x_nchw.shape)})
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()

    def run():
        request.infer({0: x_nchw}, share_inputs=True)
        return request.get_output_tensor(0).data.copy()
    return Runtime("openvino", run, "CPU, LATENCY hint, QDQ int8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--no-qdq", action="store_true", help="skip onnxruntime / OpenVINO on QDQ models")
    args = parser.parse_args(argv)
    folder = models_dir()
    if folder is None:
        print("the shared models are not found (set MOBILENET_TEST_MODELS)")
        return 2
    print(f"CPU: {cpu_name()}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; "
          f"runs {args.runs}, medians in ms")
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.models:
            features, head, alpha, resolution = MODELS[key]
            qdq = None
            if not args.no_qdq and importable("onnxruntime") and importable("onnx"):
                qdq = qdq_model(alpha, resolution, Path(tmp))
            for threads in args.threads:
                rng = np.random.default_rng(1)
                x = rng.integers(0, 256, (1, resolution, resolution, 3), dtype=np.uint8)
                if head:
                    net = mobilenet.load(folder / features, head=folder / head, threads=threads)
                else:
                    net = mobilenet.load(folder / features, threads=threads)
                runtimes = [Runtime("mobilenet int8", lambda net=net, x=x: net(x, quantized_output=True),
                                    f"{net.isa}, {net.kernel_names[2]}")]
                if available("litert"):
                    runtimes.append(litert_pair(folder / features, folder / head, x, threads) if head
                                    else litert_peer(folder / features, x, threads))
                x_float = net.quantization.input.dequantize(x)
                fnet = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, num_classes=1001,
                                             activation="relu6", threads=threads)
                runtimes.append(Runtime("mobilenet float32", lambda fnet=fnet, x=x_float: fnet(x)))
                if qdq is not None:
                    x_nchw = np.ascontiguousarray(x_float.transpose(0, 3, 1, 2))
                    ort = onnxruntime_peer(qdq, x_nchw, threads)
                    runtimes.append(Runtime("onnxruntime int8", ort.run, "QDQ"))
                    if importable("openvino"):
                        runtimes.append(openvino_int8_peer(qdq, x_nchw, threads))
                times = time_interleaved(runtimes, args.runs, args.warmup, block=10, settle_s=0.05)
                base = np.median(times["mobilenet int8"]) / 1e6
                cells = ", ".join(f"{name} {np.median(t) / 1e6:.3f} ({np.median(t) / 1e6 / base:.2f}x)"
                                  for name, t in times.items())
                print(f"{key} {threads}t: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
