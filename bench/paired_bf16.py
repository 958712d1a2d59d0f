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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402


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
            fastest = compare.paired_fastest([mine.run, peer.run], args.rounds, args.block)
        print(f"{spec} bf16, {args.threads} thread(s), {args.rounds} rounds of {args.block} calls each: "
              f"{compare.paired_summary(fastest, 'OpenVINO default')}")

if __name__ == "__main__":
    main()
