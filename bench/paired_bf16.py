"""Ours bfloat16 against OpenVINO's default precision (bf16 on CPUs with AVX512_BF16 or AMX), paired:
the method of paired_int8.py for compare.py's bf16 rows. Each round runs `--block` calls of each
runtime back to back (the order alternating), takes each one's fastest call, and the ratio
ours / OpenVINO is the median over the rounds, with its quartiles. Both run the same random
network (compare.py's, exported to ONNX for OpenVINO) on the same image, logits out.

    python bench/paired_bf16.py --model 1.0/224 0.5/160 --rounds 80
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402


def paired(runtimes, rounds: int, block: int):
    """Per round, the fastest of `block` calls of each runtime (in seconds), the order alternating."""
    for fn in runtimes:  # warm-up
        for _ in range(10):
            fn()
    fastest = np.empty((rounds, len(runtimes)))
    for r in range(rounds):
        order = range(len(runtimes)) if r % 2 == 0 else reversed(range(len(runtimes)))
        for i in order:
            best = float("inf")
            for _ in range(block):
                t0 = time.perf_counter()
                runtimes[i]()
                best = min(best, time.perf_counter() - t0)
            fastest[r, i] = best
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["1.0/224"], metavar="ALPHA/RESOLUTION")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--block", type=int, default=5, help="calls of each runtime per round (default 5)")
    args = parser.parse_args()
    for spec in args.model:
        alpha, resolution = float(spec.split("/")[0]), int(spec.split("/")[1])
        net, _ = compare.build_net(alpha, resolution, args.threads)
        x = np.random.default_rng(resolution).uniform(-1, 1, (1,) + net.input_shape).astype(np.float32)
        mine = compare.ours_bf16(net, x, softmax=False)
        if mine is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = Path(tmp) / "net.onnx"
            net.to_onnx(onnx_path, softmax=False)
            peer = compare.openvino_peer(onnx_path, np.ascontiguousarray(x.transpose(0, 3, 1, 2)), args.threads,
                                         default_precision=True)
            if spec == args.model[0]:
                print(f"OpenVINO: {peer.note}")
            fastest = paired([mine.run, peer.run], args.rounds, args.block)
        ratios = fastest[:, 0] / fastest[:, 1]
        q1, median, q3 = np.percentile(ratios, [25, 50, 75])
        print(f"{spec} bf16, {args.threads} thread(s), {args.rounds} rounds of {args.block} calls each: ours / "
              f"OpenVINO's default median {median:.3f} (quartiles {q1:.3f}-{q3:.3f}); "
              f"fastest calls, median over rounds: ours {np.median(fastest[:, 0]) * 1e3:.3f} ms, OpenVINO "
              f"{np.median(fastest[:, 1]) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
