"""Per layer, our network against OpenVINO's default (bf16 where the CPU has AVX512_BF16 or AMX).

Our layer times come from the engine's own clock (net.timed_passes), OpenVINO's from its
per-layer counters (PERF_COUNT), on the ONNX export of the same network, in alternating
rounds of 10 passes each, one thread. OpenVINO's counters add a little to its own layers'
times (its whole pass is slower with them on), so the ratios lean in our favour by a few
percent; the whole-pass times of both are printed beside them. A layer's row sums the nodes
OpenVINO made of it (the stem's row includes its input reorder into bf16).

    python bench/openvino_layers.py --alpha 1.0 --resolution 224 --precision bfloat16
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

import mobilenet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--precision", default="bfloat16", help="ours (default bfloat16)")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of 10 passes each (default 30)")
    parser.add_argument("--percentile", type=float, default=20.0,
                        help="the statistic per layer, a low percentile on a shared machine (default 20)")
    parser.add_argument("--onnx", default="/tmp/openvino_layers.onnx", help="where to write the ONNX export")
    args = parser.parse_args()

    import openvino as ov

    f32 = mobilenet.MobileNetV1(args.alpha, args.resolution, threads=1)
    net = f32.with_precision(args.precision)
    f32.to_onnx(args.onnx, softmax=False)
    core = ov.Core()
    model = core.read_model(args.onnx)
    model.reshape({"input": [1, 3, args.resolution, args.resolution]})
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1,
                                                 "PERF_COUNT": True})
    request = compiled.create_infer_request()
    ov_precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, args.resolution, args.resolution)).astype(np.float32)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))

    names = [layer.name for layer in net.layers]

    def layer_of(node: str) -> str:
        if node == "logits":
            return names[-1]
        if node.startswith("input_"):  # the input's reorder (to bf16, blocked) feeds the stem
            return names[0]
        return next((name for name in names if node.startswith(name + "/")), node.split("/")[0])

    for _ in range(10):
        request.infer({0: x})
    ours_layers, ours_total, ov_total = [], [], []
    ov_layers: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.rounds):
        report = net.timed_passes(x_nhwc, 10, 2, softmax=False)
        ours_layers.append(np.asarray(report["layer_ns"]) / 1e3)
        ours_total.append(np.asarray(report["total_ns"]) / 1e3)
        for _ in range(10):
            t0 = time.perf_counter_ns()
            request.infer({0: x})
            ov_total.append((time.perf_counter_ns() - t0) / 1e3)
            per_layer: dict[str, float] = defaultdict(float)
            for info in request.profiling_info:
                if info.status == info.Status.EXECUTED:
                    per_layer[layer_of(info.node_name)] += info.real_time.total_seconds() * 1e6
            for name, us in per_layer.items():
                ov_layers[name].append(us)
    q = args.percentile
    ours = np.percentile(np.concatenate(ours_layers), q, axis=0)
    print(f"{args.alpha}/{args.resolution}, 1 thread, p{q:g} of {10 * args.rounds} passes each; "
          f"ours {args.precision}, OpenVINO {ov.get_version()} inference precision {ov_precision}")
    print(f"whole pass: ours {np.percentile(np.concatenate(ours_total), q):.1f} us, "
          f"OpenVINO {np.percentile(ov_total, q):.1f} us (with its counters on)")
    print(f"{'layer':12s} {'our kernel':36s} {'ours us':>8s} {'OV us':>8s} {'ours/OV':>7s}")
    sum_ours = sum_ov = 0.0
    for j, name in enumerate(names):
        theirs = float(np.percentile(ov_layers[name], q)) if name in ov_layers else float("nan")
        sum_ours += ours[j]
        sum_ov += 0.0 if np.isnan(theirs) else theirs
        print(f"{name:12s} {net.kernel_names[j][:36]:36s} {ours[j]:8.1f} {theirs:8.1f} {ours[j] / theirs:7.2f}")
    for name in sorted(set(ov_layers) - set(names)):
        print(f"{name:12s} {'(OpenVINO only)':36s} {'':8s} {np.percentile(ov_layers[name], q):8.1f}")
        sum_ov += float(np.percentile(ov_layers[name], q))
    print(f"{'sum':12s} {'':36s} {sum_ours:8.1f} {sum_ov:8.1f} {sum_ours / sum_ov:7.2f}")


if __name__ == "__main__":
    main()
