"""1 thread against 2 on quantized model files, in the same process (bench/RESULTS.md, log entry 71).

    MOBILENET_TEST_MODELS=../shared/models python bench/int8_threads.py                # the three small uint8 models
    python bench/int8_threads.py --layers --weights ../shared/models/mobilenet_v1_0.25_128_quant.tflite

Each round times the network on 1 thread, then on 2 (`net.timed_passes`: the
engine's clock, medians of --runs passes), so the two see the same state of a
shared host; the ratio 2 threads / 1 thread is taken from the medians of the
rounds. --layers also prints each layer's median time on 1 and 2 threads and
their ratio (each layer timed in passes of its own, so a layer's time includes
the pool's wake and join when it is split).
"""
import argparse
import os

import numpy as np

import mobilenet

MODELS = ["mobilenet_v1_0.25_128_quant.tflite", "mobilenet_v1_0.5_160_quant.tflite",
          "mobilenet_v1_0.75_192_quant.tflite"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="+", help="model files (default: the three small uint8 models in "
                    "$MOBILENET_TEST_MODELS)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds of 1 then 2 threads (default 4)")
    ap.add_argument("--runs", type=int, default=150, help="timed passes per round and thread count (default 150)")
    ap.add_argument("--layers", action="store_true", help="per-layer medians too")
    args = ap.parse_args()
    files = args.weights or [os.path.join(os.environ.get("MOBILENET_TEST_MODELS", "."), m) for m in MODELS]
    rng = np.random.default_rng(0)
    for path in files:
        net = mobilenet.load(path)
        h, w, c = net.input_shape
        x = rng.integers(0, 256, (1, h, w, c), dtype=np.uint8)
        total: dict = {1: [], 2: []}
        layers: dict = {1: [], 2: []}
        for _ in range(args.rounds):
            for threads in (1, 2):
                net.set_threads(threads)
                timed = net.timed_passes(x, args.runs, 10)
                total[threads].append(np.median(timed["total_ns"]) / 1e3)
                layers[threads].append(np.median(timed["layer_ns"], axis=0) / 1e3)
        t1, t2 = np.median(total[1]), np.median(total[2])
        per_round = ", ".join(f"{b / a:.2f}" for a, b in zip(total[1], total[2]))
        print(f"{os.path.basename(path)} ({net.isa}): 1 thread {t1:.1f} us, 2 threads {t2:.1f} us, "
              f"2/1 {t2 / t1:.3f} (rounds {per_round})")
        if args.layers:
            l1, l2 = np.median(layers[1], axis=0), np.median(layers[2], axis=0)
            for i, (layer, kernel) in enumerate(zip(net.layers, net.kernel_names)):
                print(f"  {i:2d} {layer.name:12s} {kernel:32s} {l1[i]:8.2f} {l2[i]:8.2f} us  2/1 {l2[i] / l1[i]:.2f}")


if __name__ == "__main__":
    main()
