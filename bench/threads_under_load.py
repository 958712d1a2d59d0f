"""Thread scaling, on a quiet machine or beside a busy-looping process (bench/RESULTS.md, log entries 11 and 13).

    python bench/threads_under_load.py          # quiet
    python bench/threads_under_load.py --hog    # with one core kept busy by another process

For each configuration, 1 and 2 threads in alternation (twice each), the
best wall time per forward pass and the process CPU time per pass: on a
loaded machine 2 threads should never be much slower than 1.
"""
import argparse
import subprocess
import sys
import time

import numpy as np

import mobilenet

CONFIGS = [(1.0, 224), (0.5, 192), (0.25, 128)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hog", action="store_true", help="run a busy loop in another process meanwhile")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
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
