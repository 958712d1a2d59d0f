"""What a Python call costs on top of the C++ forward pass (bench/RESULTS.md, log entry 12).

    python bench/call_overhead.py                       # 0.25/128, one thread, batch 1
    python bench/call_overhead.py --alpha 1.0 --resolution 224 --calls 500

Times `net.logits(x)` with and without the input's NaN/Inf check against the
engine's own clock of the same forward pass (`net.timed_passes`), each the
minimum and 10th percentile over many calls; the difference is the overhead
of argument checks, the GIL release and the output array.
"""
import argparse
import time

import numpy as np

import mobilenet


def call_times_us(fn, calls: int) -> np.ndarray:
    for _ in range(min(100, calls)):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        fn()
        times[i] = time.perf_counter_ns() - start
    return times / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    net = mobilenet.MobileNetV1(alpha=args.alpha, resolution=args.resolution, threads=args.threads)
    x = np.random.default_rng(0).standard_normal((1, args.resolution, args.resolution, 3)).astype(np.float32)
    for _ in range(args.repeats):
        rows = {"net.logits": call_times_us(lambda: net.logits(x), args.calls),
                "net.logits, no NaN/Inf check": call_times_us(lambda: net.logits(x, check_finite=False), args.calls),
                "C++ forward (engine clock)": net.timed_passes(x, args.calls, 100, softmax=False)["total_ns"] / 1e3}
        for name, t in rows.items():
            print(f"{name:30s} min {t.min():8.1f} us   p10 {np.percentile(t, 10):8.1f} us")
        print()


if __name__ == "__main__":
    main()
