"""Thread scaling, on a quiet machine or beside a busy-looping process (bench/RESULTS.md, log entries 11 and 13).

    python bench/threads_under_load.py          # quiet
    python bench/threads_under_load.py --hog    # with one core kept busy by another process
    python bench/threads_under_load.py --pairs 300   # the 2-thread speed-up, call by call

For each configuration, 1 and 2 threads in alternation (twice each), the
best wall time per forward pass and the process CPU time per pass: on a
loaded machine 2 threads should never be much slower than 1.

--pairs N: a 1-thread and a 2-thread network called in turn, N times each, and the
speed-up taken per pair (the two calls of a pair see the same state of a shared host,
whose speed drifts by tens of percent within a minute): median and quartiles, and each
network's median and best time. Between two of its calls the 2-thread network's worker
waits out the 1-thread call, longer than its 200 us spin on small networks, so there each
2-thread call also pays a wake-up that back-to-back calls do not.
"""
import argparse
import subprocess
import sys
import time

import numpy as np

import mobilenet

CONFIGS = [(1.0, 224), (0.5, 192), (0.25, 128)]


def paired_speedup(alpha: float, res: int, pairs: int) -> None:
    nets = {t: mobilenet.MobileNetV1(alpha=alpha, resolution=res, threads=t) for t in (1, 2)}
    x = np.random.default_rng(0).random((1, res, res, 3), dtype=np.float32)
    for net in nets.values():
        for _ in range(10):
            net.logits(x)
    times = np.empty((pairs, 2))
    for i in range(pairs):
        for j, net in enumerate(nets.values()):
            t0 = time.perf_counter()
            net.logits(x)
            times[i, j] = time.perf_counter() - t0
    speedup = times[:, 0] / times[:, 1]
    q1, med, q3 = np.percentile(speedup, [25, 50, 75])
    t1, t2 = np.median(times, axis=0) * 1e3
    b1, b2 = times.min(axis=0) * 1e3
    print(f"{alpha}/{res}: 2-thread speed-up per pair: median {med:.2f}x (quartiles {q1:.2f}-{q3:.2f}); "
          f"t1 median {t1:.3f} ms (best {b1:.3f}), t2 median {t2:.3f} ms (best {b2:.3f}); "
          f"best / best {b1 / b2:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hog", action="store_true", help="run a busy loop in another process meanwhile")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pairs", type=int, default=0, help="measure the speed-up call by call, N pairs")
    args = parser.parse_args()
    if args.pairs:
        for alpha, res in CONFIGS:
            paired_speedup(alpha, res, args.pairs)
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
    try:
        for alpha, res in CONFIGS:
            net = mobilenet.MobileNetV1(alpha=alpha, resolution=res, threads=1)
            x = np.zeros((1, res, res, 3), np.float32)
            calls = max(20, int(100 * 224 * 224 / (res * res) / alpha))
            best = {}
            for threads in args.threads * 2:
                net.set_threads(threads)
                for _ in range(10):
                    net.logits(x)
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    net.logits(x)
                ms = ((time.perf_counter() - wall) / calls * 1e3, (time.process_time() - cpu) / calls * 1e3)
                best[threads] = min(best.get(threads, ms), ms)
            print(f"{alpha}/{res}: " + "  ".join(f"t{t} wall {w:.3f} ms (cpu {c:.3f})" for t, (w, c) in best.items()))
    finally:
        if hog:
            hog.kill()


if __name__ == "__main__":
    main()
