"""Paired A/B of two builds of mobilenet, in alternating processes.

The machine is shared and its speed drifts by 10-30% over minutes, so a
change is measured against a baseline build run in turns with it: A B A B ...,
each turn a fresh process that times every configuration, and the ratio of each
pair (new / base) is what counts.

    git worktree add /tmp/base <commit>                          # the baseline
    pip install --no-deps --target /tmp/base_pkg /tmp/base         # built beside, not installed
    python bench/ab_builds.py --base /tmp/base_pkg                 # 1 thread, batch 1
    python bench/ab_builds.py --base /tmp/base_pkg --batch 8 --threads 2 --configs 1.0/224 0.25/224
    python bench/ab_builds.py --base /tmp/base_pkg --layers        # also per-layer medians (C++ clock)
    python bench/ab_builds.py --base /tmp/base_pkg --precision bfloat16 --configs 1.0/224 0.5/224
    python bench/ab_builds.py --base /tmp/base_pkg --new /tmp/base_pkg   # A/A: the noise, first
    python bench/ab_builds.py --base /tmp/base_pkg --layers \
        --weights ../shared/models/mobilenet_v1_0.25_128_quant.tflite   # model files (int8 ones too)

"new" is whatever `import mobilenet` finds (the installed build).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

WORKER = r"""
import json, sys, time
import numpy as np
base, threads, batch, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
layers = sys.argv[5] == "1"
precision = sys.argv[6]
if base != "-":
    sys.path.insert(0, base)
import mobilenet
out = {}
for cfg in sys.argv[7:]:
    if cfg.startswith("file:"):  # a model file, in the precision mobilenet.load picks for it
        net = mobilenet.load(cfg[5:], threads=threads)
        res = net.resolution[0] if isinstance(net.resolution, tuple) else net.resolution
    else:
        alpha, res = cfg.split("/")
        net = mobilenet.MobileNetV1(alpha=float(alpha), resolution=int(res), threads=threads)
        if precision != "float32":
            net = net.with_precision(precision)
    x = np.random.default_rng(0).random((batch, int(res), int(res), 3), dtype=np.float32)
    for _ in range(5):
        net.logits(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        net.logits(x)
        times.append(time.perf_counter() - t)
    entry = {"median_ms": float(np.median(times) * 1e3)}
    if layers:
        # Builds from before net.timed_passes existed are timed through the engine directly.
        timed = getattr(net, "timed_passes", None)
        report = timed(x, runs, 5, softmax=False) if timed else net._engine.profile(x, "NHWC", False, runs, 5)
        entry["layers_us"] = (np.median(report["layer_ns"], axis=0) / 1e3).tolist()
        entry["names"] = [layer.name for layer in net.layers]
    out[cfg] = entry
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="directory holding the baseline build (pip install --target)")
    parser.add_argument("--new", default="-",
                        help="directory holding the new build (default: the installed one); "
                             "--new equal to --base is the A/A run that measures the noise")
    parser.add_argument("--configs", nargs="+", default=["1.0/224", "0.5/160", "0.25/224", "0.25/128"],
                        help="alpha/resolution pairs")
    parser.add_argument("--weights", nargs="+", default=[],
                        help="model files to time instead of the configs (mobilenet.load; int8 files run int8)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=100, help="timed calls per configuration per turn")
    parser.add_argument("--pairs", type=int, default=5, help="A/B turns")
    parser.add_argument("--layers", action="store_true", help="also per-layer medians")
    parser.add_argument("--precision", default="float32",
                        help="the configs' precision (net.with_precision), e.g. bfloat16; model files keep theirs")
    args = parser.parse_args()

    configs = [f"file:{os.path.abspath(path)}" for path in args.weights] or args.configs
    results = {"base": [], "new": []}
    for _ in range(args.pairs):
        for name, path in (("base", args.base), ("new", args.new)):
            cmd = [sys.executable, "-c", WORKER, path, str(args.threads), str(args.batch), str(args.runs),
                   "1" if args.layers else "0", args.precision, *configs]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd="/")
            results[name].append(json.loads(done.stdout))
    # Model files run in the precision mobilenet.load picks for them (int8 for quantized ones).
    precision = "each file's own precision" if args.weights else args.precision
    print(f"{args.pairs} A/B pairs, {args.threads} thread(s), batch {args.batch}, {args.runs} calls per turn, "
          f"{precision}")
    for cfg in configs:
        base = [r[cfg]["median_ms"] for r in results["base"]]
        new = [r[cfg]["median_ms"] for r in results["new"]]
        ratios = np.array(new) / np.array(base)
        print(f"{os.path.basename(cfg):9s} base {np.median(base):8.3f} ms  new {np.median(new):8.3f} ms  "
              f"new/base {np.median(ratios):.3f} (pairs {ratios.min():.3f}-{ratios.max():.3f})")
        if args.layers:
            names = results["base"][0][cfg]["names"]
            lb = np.median([r[cfg]["layers_us"] for r in results["base"]], axis=0)
            ln = np.median([r[cfg]["layers_us"] for r in results["new"]], axis=0)
            for name, b, n in zip(names, lb, ln):
                print(f"    {name:11s} {b:9.1f} us {n:9.1f} us  {n / b:5.2f}")


if __name__ == "__main__":
    main()
