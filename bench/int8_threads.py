"""1 thread against 2 on quantized model files, in the same process (bench/RESULTS.md, log entry 71).

    MOBILENET_TEST_MODELS=../shared/models python bench/int8_threads.py                # the three small uint8 models
    python bench/int8_threads.py --layers --weights ../shared/models/mobilenet_v1_0.25_128_quant.tflite
    python bench/int8_threads.py --random 1.0/224 0.5/160 --precision float32 --rounds 20   # random networks

Each round times the network on 1 thread, then on 2 (`net.timed_passes`: the
engine's clock, medians of --runs passes), so the two see the same state of a
shared host; the ratio 2 threads / 1 thread is taken from the medians of the
rounds. --layers also prints each layer's median time on 1 and 2 threads and
their ratio (each layer timed in passes of its own, so a layer's time includes
the pool's wake and join when it is split).

--fusion compares, on --threads threads (default 2), the plan as it is against the same
network built with fuse=False (no depthwise/pointwise pair fused across threads), in
alternating rounds in one process: fused / unfused from the medians of the rounds, and
each pair's time (its two layers' medians) where it is fused.

    MOBILENET_TEST_MODELS=../shared/models python bench/int8_threads.py --fusion --rounds 20 --runs 100

With --litert, each round also times LiteRT (XNNPACK, num_threads = --threads) on the same
file, and the ratios to it are the medians of the rounds' ratios (wall clock of single
calls on both sides, medians of --runs).
"""
import argparse
import os
import time
from typing import Callable

import numpy as np

import mobilenet

MODELS = ["mobilenet_v1_0.25_128_quant.tflite", "mobilenet_v1_0.5_160_quant.tflite",
          "mobilenet_v1_0.75_192_quant.tflite"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="+", help="model files (default: the three small uint8 models in "
                    "$MOBILENET_TEST_MODELS)")
    ap.add_argument("--random", nargs="+", metavar="ALPHA/RESOLUTION",
                    help="random networks of these shapes instead of files, e.g. 1.0/224")
    ap.add_argument("--precision", default="float32", help="with --random: float32 (default) or bfloat16")
    ap.add_argument("--rounds", type=int, default=4, help="rounds of 1 then 2 threads (default 4)")
    ap.add_argument("--runs", type=int, default=150, help="timed passes per round and thread count (default 150)")
    ap.add_argument("--layers", action="store_true", help="per-layer medians too")
    ap.add_argument("--fusion", action="store_true", help="fused pairs against fuse=False, on --threads threads")
    ap.add_argument("--threads", type=int, default=2, help="threads for --fusion (default 2)")
    ap.add_argument("--litert", action="store_true", help="with --fusion, LiteRT on the same file in each round")
    args = ap.parse_args()
    files = args.weights or [os.path.join(os.environ.get("MOBILENET_TEST_MODELS", "."), m) for m in MODELS]
    rng = np.random.default_rng(0)
    if args.fusion:
        for path in files:
            compare_fusion(path, args.threads, args.rounds, args.runs, rng, args.litert)
        return
    if args.random:
        shapes = [spec.split("/") for spec in args.random]
        nets = {f"{a}/{r} {args.precision}": mobilenet.MobileNetV1(alpha=float(a), resolution=int(r),
                                                                    precision=args.precision)
                for a, r in shapes}
    else:
        nets = {os.path.basename(path): mobilenet.load(path) for path in files}
    for name, net in nets.items():
        h, w, c = net.input_shape
        x = (rng.integers(0, 256, (1, h, w, c), dtype=np.uint8) if net.precision == "int8"
             else rng.standard_normal((1, h, w, c), dtype=np.float32))
        total: dict = {1: [], 2: []}
        fastest: dict = {1: [], 2: []}
        layers: dict = {1: [], 2: []}
        for _ in range(args.rounds):
            for threads in (1, 2):
                net.set_threads(threads)
                timed = net.timed_passes(x, args.runs, 10)
                total[threads].append(np.median(timed["total_ns"]) / 1e3)
                fastest[threads].append(np.min(timed["total_ns"]) / 1e3)
                layers[threads].append(np.median(timed["layer_ns"], axis=0) / 1e3)
        t1, t2 = np.median(total[1]), np.median(total[2])
        per_round = ", ".join(f"{b / a:.2f}" for a, b in zip(total[1], total[2]))
        fast = np.median(np.array(fastest[1]) / np.array(fastest[2]))
        print(f"{name} ({net.isa}): 1 thread {t1:.1f} us, 2 threads {t2:.1f} us, "
              f"2/1 {t2 / t1:.3f} (rounds {per_round}); speed-up {t1 / t2:.2f}x from the medians, "
              f"{fast:.2f}x from each round's fastest passes")
        if args.layers:
            l1, l2 = np.median(layers[1], axis=0), np.median(layers[2], axis=0)
            for i, (layer, kernel) in enumerate(zip(net.layers, net.kernel_names)):
                print(f"  {i:2d} {layer.name:12s} {kernel:32s} {l1[i]:8.2f} {l2[i]:8.2f} us  2/1 {l2[i] / l1[i]:.2f}")


def wall_us(fn: Callable[[], object], runs: int) -> float:
    times = np.empty(runs)
    for r in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        times[r] = time.perf_counter_ns() - t0
    return float(np.median(times)) / 1e3


def compare_fusion(path: str, threads: int, rounds: int, runs: int, rng: np.random.Generator,
                   litert: bool = False) -> None:
    net = mobilenet.load(path, threads=threads)
    specs = mobilenet.model.engine_specs_int8(net.layers, net.quantization)
    engines = {fuse: mobilenet._core.Network(specs, isa=net.isa, threads=threads, fuse=fuse,
                                             precision=mobilenet._core.Precision.INT8) for fuse in (True, False)}
    h, w, c = net.input_shape
    x = rng.integers(0, 256, (1, h, w, c), dtype=np.uint8)
    assert np.array_equal(engines[True].forward_int8(x), engines[False].forward_int8(x))
    interpreter = None
    if litert:
        from ai_edge_litert.interpreter import Interpreter
        interpreter = Interpreter(model_path=path, num_threads=threads)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    total: dict = {True: [], False: []}
    calls: dict = {True: [], False: [], "litert": []}
    layers: dict = {True: [], False: []}
    for _ in range(rounds):
        for fuse, engine in engines.items():
            layer_ns, total_ns = engine.profile_int8(x, runs)
            total[fuse].append(np.median(total_ns) / 1e3)
            layers[fuse].append(np.median(layer_ns, axis=0) / 1e3)
            if interpreter is not None:
                calls[fuse].append(wall_us(lambda e=engine: e.forward_int8(x), runs))
        if interpreter is not None:
            calls["litert"].append(wall_us(interpreter.invoke, runs))
    fused, unfused = np.median(total[True]), np.median(total[False])
    per_round = np.array(total[True]) / np.array(total[False])
    print(f"{os.path.basename(path)} ({net.isa}, {threads} threads): fused {fused:.1f} us, unfused {unfused:.1f} us, "
          f"fused/unfused {fused / unfused:.3f} (rounds {per_round.min():.2f}-{per_round.max():.2f})")
    if interpreter is not None:
        peer = np.array(calls["litert"])
        ratio = {fuse: np.array(calls[fuse]) / peer for fuse in (True, False)}
        print(f"  calls: fused {np.median(calls[True]):.1f} us, unfused {np.median(calls[False]):.1f} us, "
              f"LiteRT {np.median(peer):.1f} us; / LiteRT: fused {np.median(ratio[True]):.3f} "
              f"(rounds {ratio[True].min():.2f}-{ratio[True].max():.2f}), unfused {np.median(ratio[False]):.3f} "
              f"(rounds {ratio[False].min():.2f}-{ratio[False].max():.2f})")
    lf, lu = np.median(layers[True], axis=0), np.median(layers[False], axis=0)
    kernels = engines[True].kernel_names
    for i in range(len(net.layers) - 1):
        if "_fused_" in kernels[i] and "_fused_" in kernels[i + 1] and kernels[i].startswith("int8_dwconv"):
            a, b = lf[i] + lf[i + 1], lu[i] + lu[i + 1]
            print(f"  {net.layers[i].name:>10s} + {net.layers[i + 1].name:10s} {b:8.2f} -> {a:8.2f} us  {a / b:.2f}")


if __name__ == "__main__":
    main()
