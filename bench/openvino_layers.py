"""Per layer, our network against OpenVINO: bf16 (its default where the CPU has AVX512_BF16 or
AMX) or int8.

Our layer times come from the engine's own clock (net.timed_passes), OpenVINO's from its
per-layer counters (PERF_COUNT), in alternating rounds of 10 passes each, one thread.
OpenVINO's counters add a little to its own layers' times (its whole pass is slower with them
on), so the ratios lean in our favour by a few percent; the whole-pass times of both are
printed beside them. A layer's row sums the nodes OpenVINO made of it (the stem's row includes
its input reorder).

bf16: OpenVINO runs the ONNX export of the same network (random weights).

int8 (`--precision int8`): ours runs the real uint8 model of that shape from the shared model
folder (the 1.0/224 embedding + head files joined), OpenVINO the per-channel QDQ ONNX model that
`compare.py` builds for its int8 rows (quantize_static of our float export: same architecture,
other weights), the input the same image dequantized. The model's layers are matched to
OpenVINO's nodes by position (both follow MobileNet v1's layer order); a layer OpenVINO split
into several nodes (a quantize of the input, a reorder) sums them.

    python bench/openvino_layers.py --alpha 1.0 --resolution 224 --precision bfloat16
    MOBILENET_TEST_MODELS=../shared/models python bench/openvino_layers.py --precision int8
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import mobilenet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--precision", default="bfloat16", choices=("bfloat16", "int8"),
                        help="ours (default bfloat16); int8 runs the real quantized model of that shape")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of 10 passes each (default 30)")
    parser.add_argument("--percentile", type=float, default=20.0,
                        help="the statistic per layer, a low percentile on a shared machine (default 20)")
    parser.add_argument("--onnx", default=None, help="where to write the ONNX export (default: a temporary folder)")
    parser.add_argument("--models", default=os.environ.get("MOBILENET_TEST_MODELS", "../shared/models"),
                        help="the folder of the quantized models (int8; default $MOBILENET_TEST_MODELS)")
    args = parser.parse_args()

    import openvino as ov

    tmp = tempfile.TemporaryDirectory()
    onnx_path = Path(args.onnx) if args.onnx else Path(tmp.name) / "model.onnx"
    f32 = mobilenet.MobileNetV1(args.alpha, args.resolution, threads=1)
    # OpenVINO's node names follow the float network's layer names (conv_dw_3/..., logits).
    names = [layer.name for layer in f32.layers]
    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1, "PERF_COUNT": True}
    if args.precision == "int8":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from compare import INT8_MODELS, load_int8, qdq_model
        key = next((k for k, v in INT8_MODELS.items() if (v[2], v[3]) == (args.alpha, args.resolution)), None)
        if key is None:
            parser.error(f"no real quantized model of {args.alpha}/{args.resolution}; "
                         f"there are {', '.join(INT8_MODELS)}")
        net = load_int8(Path(args.models), key, 1)
        onnx_path = qdq_model(args.alpha, args.resolution, onnx_path.parent)
        x_ours = np.random.default_rng(args.resolution).integers(
            0, 256, (1, args.resolution, args.resolution, 3), dtype=np.uint8)
        x = np.ascontiguousarray(
            net.quantization.input.dequantize(x_ours).astype(np.float32).transpose(0, 3, 1, 2))
        ours_names = [layer.name for layer in net.layers]
        if len(ours_names) != len(names):
            raise SystemExit(f"{key}: {len(ours_names)} layers against the float network's {len(names)}")
    else:
        net = f32.with_precision(args.precision)
        f32.to_onnx(onnx_path, softmax=False)
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, args.resolution, args.resolution)).astype(np.float32)
        x_ours = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        ours_names = names
    model = core.read_model(str(onnx_path))
    model.reshape({"input": [1, 3, args.resolution, args.resolution]})
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    ov_precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))

    def layer_of(node: str) -> str:
        if node.startswith("logits"):
            return names[-1]
        if node.startswith("input"):  # the input's reorder (and quantize) feeds the stem
            return names[0]
        return next((name for name in names if node.startswith(name + "/") or node.startswith(name + "_")),
                    node.split("/")[0])

    for _ in range(10):
        request.infer({0: x})
    ours_layers, ours_total, ov_total = [], [], []
    ov_layers: dict[str, list[float]] = defaultdict(list)
    kinds: dict[str, set[str]] = defaultdict(set)
    for _ in range(args.rounds):
        report = net.timed_passes(x_ours, 10, 2, softmax=False)
        ours_layers.append(np.asarray(report["layer_ns"]) / 1e3)
        ours_total.append(np.asarray(report["total_ns"]) / 1e3)
        for _ in range(10):
            t0 = time.perf_counter_ns()
            request.infer({0: x})
            ov_total.append((time.perf_counter_ns() - t0) / 1e3)
            per_layer: dict[str, float] = defaultdict(float)
            for info in request.profiling_info:
                if info.status == info.Status.EXECUTED:
                    layer = layer_of(info.node_name)
                    per_layer[layer] += info.real_time.total_seconds() * 1e6
                    kinds[layer].add(info.exec_type)
            for name, us in per_layer.items():
                ov_layers[name].append(us)
    q = args.percentile
    ours = np.percentile(np.concatenate(ours_layers), q, axis=0)
    print(f"{args.alpha}/{args.resolution}, 1 thread, p{q:g} of {10 * args.rounds} passes each; "
          f"ours {net.precision} ({net.isa}), OpenVINO {ov.get_version()} inference precision {ov_precision}"
          + (" on a QDQ model" if args.precision == "int8" else ""))
    print(f"whole pass: ours {np.percentile(np.concatenate(ours_total), q):.1f} us, "
          f"OpenVINO {np.percentile(ov_total, q):.1f} us (with its counters on)")
    print(f"{'layer':12s} {'our kernel':30s} {'ours us':>8s} {'OV us':>8s} {'ours/OV':>7s}  OpenVINO's kernels")
    sum_ours = sum_ov = 0.0
    for j, name in enumerate(names):
        theirs = float(np.percentile(ov_layers[name], q)) if name in ov_layers else float("nan")
        sum_ours += ours[j]
        sum_ov += 0.0 if np.isnan(theirs) else theirs
        print(f"{ours_names[j]:12s} {net.kernel_names[j][:30]:30s} {ours[j]:8.1f} {theirs:8.1f} "
              f"{ours[j] / theirs:7.2f}  {','.join(sorted(kinds[name]))[:60]}")
    for name in sorted(set(ov_layers) - set(names)):
        print(f"{name:12s} {'(OpenVINO only)':30s} {'':8s} {np.percentile(ov_layers[name], q):8.1f}"
              f"          {','.join(sorted(kinds[name]))[:60]}")
        sum_ov += float(np.percentile(ov_layers[name], q))
    print(f"{'sum':12s} {'':30s} {sum_ours:8.1f} {sum_ov:8.1f} {sum_ours / sum_ov:7.2f}")


if __name__ == "__main__":
    main()
