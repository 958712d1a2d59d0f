"""`mobilenet classify --ray` against the same command on one machine: seconds and images per second.

    tests/ray/cluster.sh python bench/ray_throughput.py            # 600 and 1,800 JPEGs, 3 rounds
    tests/ray/cluster.sh python bench/ray_throughput.py --images 300 --rounds 2

Needs a running cluster (MOBILENET_RAY_ADDRESS, as tests/ray/cluster.sh sets it).
Generates photo-like 500x375 JPEGs (bench/classify_throughput.py's generator) in
a temporary folder, and times, alternating within each round so that both see
the same load, the two commands as a user runs them, each a new process:

    mobilenet classify FOLDER --output local.jsonl
    mobilenet classify FOLDER --output ray.jsonl --ray ADDRESS

at two folder sizes, N and 3N images: the Ray job's fixed cost (connecting,
starting actors, loading their networks) is the intercept of its time over the
two sizes, its rate the slope. The two outputs must be byte-identical. Medians
over the rounds. It never asserts a time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from classify_throughput import cpu_model, generate


def timed(command: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600, help="N: the smaller folder (the larger has 3N)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    address = os.environ.get("MOBILENET_RAY_ADDRESS")
    if not address:
        sys.exit("no cluster: run under tests/ray/cluster.sh (or set MOBILENET_RAY_ADDRESS)")
    sizes = [args.images, 3 * args.images]
    times: Dict[str, Dict[int, List[float]]] = {"local": {n: [] for n in sizes}, "ray": {n: [] for n in sizes}}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for n in sizes:
            folders[n] = os.path.join(tmp, f"photos{n}")
            os.makedirs(folders[n])
            generate(folders[n], n)
        for _ in range(args.rounds):
            for n in sizes:
                for kind in ("local", "ray"):
                    command = [sys.executable, "-m", "mobilenet", "classify", folders[n], "--no-progress",
                               "--output", os.path.join(tmp, f"{kind}{n}.jsonl")]
                    times[kind][n].append(timed(command + (["--ray", address] if kind == "ray" else [])))
        for n in sizes:
            local, ray = (Path(tmp, f"{kind}{n}.jsonl").read_bytes() for kind in ("local", "ray"))
            print(f"{n} images: rows identical to the local run: {local == ray}")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end")
    print("| run | " + " | ".join(f"{n} images: s (img/s)" for n in sizes) + " | fixed s | img/s past it |")
    print("|---|" + "---:|" * (len(sizes) + 2))
    for kind in ("local", "ray"):
        med = {n: statistics.median(times[kind][n]) for n in sizes}
        slope = (med[sizes[1]] - med[sizes[0]]) / (sizes[1] - sizes[0])
        fixed = med[sizes[0]] - slope * sizes[0]
        cells = " | ".join(f"{med[n]:.1f} ({n / med[n]:.0f})" for n in sizes)
        print(f"| {kind} | {cells} | {fixed:.1f} | {1 / slope:.0f} |")


if __name__ == "__main__":
    main()
