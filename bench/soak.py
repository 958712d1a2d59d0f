"""Soak: many calls from many Python threads, thread counts changed under
load, forks taken mid-forward, and the process's memory sampled throughout.

    python bench/soak.py                    # 60 s
    python bench/soak.py --seconds 600 --json soak.json

Every forward pass is checked bit for bit against the answer computed before
the soak began (every thread count gives the bits of one thread); each forked
child runs one forward pass of its own, checks it the same way and must exit
within the timeout (a deadlock in the child would hang it). The exit status
is 0 only if every check passed. RSS is sampled once a second: after the
warm-up it must stay flat (no leak per call), which the report shows as the
growth from the first sample after warm-up to the last.
"""
import argparse
import json
import os
import random
import sys
import threading
import time
import warnings

import numpy as np

import mobilenet

CONFIGS = [(1.0, 224, 1), (0.5, 160, 3), (0.25, 128, 5), (0.75, (97, 131), 2)]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--callers", type=int, default=4, help="Python threads calling forward passes")
    parser.add_argument("--max-threads", type=int, default=33, help="largest engine thread count tried")
    parser.add_argument("--fork-every", type=float, default=0.5, help="seconds between forks")
    parser.add_argument("--json", help="write the report here too")
    args = parser.parse_args()
    # Forking a process with threads is what this soak tests on purpose.
    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)

    rng = np.random.default_rng(0)
    cases = []
    for alpha, res, batch in CONFIGS:
        net = mobilenet.MobileNetV1(alpha=alpha, resolution=res, threads=1)
        h, w, _ = net.input_shape
        x = rng.standard_normal((batch, h, w, 3)).astype(np.float32)
        # The answer for every batch size: a batch may round differently from one image.
        cases.append((net, x, {n: net.logits(x[:n]) for n in range(1, batch + 1)}))

    stop = threading.Event()
    counts = {"calls": 0, "mismatches": 0, "errors": 0, "thread_changes": 0, "forks": 0, "fork_failures": 0}
    lock = threading.Lock()

    def caller(seed: int) -> None:
        pick = random.Random(seed)
        while not stop.is_set():
            net, x, want = pick.choice(cases)
            n = pick.randint(1, len(x))
            try:
                ok = np.array_equal(net.logits(x[:n]), want[n])
            except Exception as e:  # noqa: BLE001 - counted and reported, the soak goes on
                print(f"caller error: {e!r}", file=sys.stderr)
                ok = False
                with lock:
                    counts["errors"] += 1
            with lock:
                counts["calls"] += 1
                counts["mismatches"] += not ok

    def retuner() -> None:
        pick = random.Random(99)
        while not stop.wait(0.2):
            net, _, _ = pick.choice(cases)
            net.set_threads(pick.randint(1, args.max_threads))
            with lock:
                counts["thread_changes"] += 1

    def fork_once() -> bool:
        net, x, want = cases[0]
        pid = os.fork()
        if pid == 0:  # the child: one forward pass of its own, then out
            try:
                os._exit(0 if np.array_equal(net.logits(x), want[len(x)]) else 1)
            except BaseException:  # noqa: BLE001 - any failure is the child's exit status
                os._exit(2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            time.sleep(0.01)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("a forked child hung for 60 s", file=sys.stderr)
        return False

    workers = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(args.callers)]
    workers.append(threading.Thread(target=retuner, daemon=True))
    for t in workers:
        t.start()
    start = time.monotonic()
    samples, next_fork = [], start + args.fork_every
    while (now := time.monotonic()) - start < args.seconds:
        samples.append((round(now - start, 1), round(rss_mb(), 1)))
        if now >= next_fork:
            ok = fork_once()
            with lock:
                counts["forks"] += 1
                counts["fork_failures"] += not ok
            next_fork = time.monotonic() + args.fork_every
        time.sleep(min(1.0, args.fork_every))
    stop.set()
    for t in workers:
        t.join(timeout=120)
    hung = sum(t.is_alive() for t in workers)

    warm = samples[min(len(samples) - 1, max(1, len(samples) // 5))][1]  # after the first fifth
    report = dict(counts, seconds=args.seconds, callers=args.callers, max_threads=args.max_threads,
                  hung_threads=hung, rss_start_mb=samples[0][1], rss_after_warmup_mb=warm,
                  rss_peak_mb=max(s[1] for s in samples), rss_end_mb=samples[-1][1],
                  rss_growth_after_warmup_mb=round(samples[-1][1] - warm, 1),
                  isa=mobilenet.isa(), version=mobilenet.__version__)
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(report, rss_samples=samples), f, indent=1)
    failed = report["mismatches"] or report["errors"] or report["fork_failures"] or hung
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
