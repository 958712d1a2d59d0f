"""What a Python call costs on top of the C++ forward pass (bench/RESULTS.md, log entries 12 and 109).

    python bench/call_overhead.py                       # 0.25/128, one thread, batch 1
    python bench/call_overhead.py --alpha 1.0 --resolution 224 --precision bfloat16 --rounds 300

Each round times every variant once, in an order that rotates from round to round, so
that each call follows a whole pass as a user's calls do (the caches full of the
network's weights, the interpreter's code and data pushed out): `net.logits(x)` with
and without the NaN/Inf checks, the engine's own `forward` on the same arguments, and
one pass on the engine's clock (`timed_passes`: no Python, no argument checks, the input
already read by its finiteness scan). Reported: each variant's median, and the median
over rounds of its difference from the engine's clock.
"""
import argparse
import time

import numpy as np

import mobilenet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    net = mobilenet.MobileNetV1(alpha=args.alpha, resolution=args.resolution, threads=args.threads,
                                precision=args.precision)
    x = np.random.default_rng(0).standard_normal((1, args.resolution, args.resolution, 3)).astype(np.float32)
    engine = net._engine
    clock = time.perf_counter_ns

    def timed(fn):
        def run() -> int:
            start = clock()
            fn()
            return clock() - start
        return run

    variants = {
        "net.logits(x)": timed(lambda: net.logits(x)),
        "net.logits(x, check_finite=False)": timed(lambda: net.logits(x, check_finite=False)),
        "engine forward": timed(lambda: engine.forward(x, "NHWC", False, True)),
        "engine clock": lambda: int(net.timed_passes(x, 1, 0, softmax=False)["total_ns"][0]),
    }
    names = list(variants)
    for _ in range(20):
        net.logits(x)
    times = {name: np.empty(args.rounds) for name in names}
    for r in range(args.rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name][r] = variants[name]() / 1e3
    base = times["engine clock"]
    print(f"{args.alpha:g}/{args.resolution} {args.precision}, {args.threads} thread(s), {args.rounds} rounds")
    for name in names:
        t = times[name]
        print(f"{name:34s} median {np.median(t):9.1f} us   over the engine's clock {np.median(t - base):7.1f} us")


if __name__ == "__main__":
    main()
