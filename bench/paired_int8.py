"""Ours int8 against OpenVINO's int8 on one real quantized model, paired: on a shared, noisy
machine a whole-pass median moves more than the gap being measured, so this runs rounds of
`--block` calls of each runtime back to back (the order alternating), takes each round's fastest
call of each, and reports the median over the rounds of their ratio (ours / OpenVINO), with its
quartiles. The models are compare.py's int8 rows: ours the real uint8 model (the 1.0/224 embedding
+ head files joined), OpenVINO the per-channel QDQ model of the same shape.

    MOBILENET_TEST_MODELS=../shared/models python bench/paired_int8.py --model 1.0/224 --rounds 80
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="1.0/224", choices=sorted(compare.INT8_MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--block", type=int, default=5, help="calls of each runtime per round (default 5)")
    parser.add_argument("--float-input", action="store_true",
                        help="give ours the float32 image (quantized in the call) instead of its uint8")
    parser.add_argument("--models", default=os.environ.get("MOBILENET_TEST_MODELS", "../shared/models"))
    args = parser.parse_args()

    folder = Path(args.models)
    _, _, alpha, resolution = compare.INT8_MODELS[args.model]
    net = compare.load_int8(folder, args.model, args.threads)
    x = np.random.default_rng(resolution).integers(0, 256, (1, resolution, resolution, 3), dtype=np.uint8)
    x_float = net.quantization.input.dequantize(x).astype(np.float32)
    x_nchw = np.ascontiguousarray(x_float.transpose(0, 3, 1, 2))
    mine = (lambda: net(x_float)) if args.float_input else (lambda: net(x, quantized_output=True))
    with tempfile.TemporaryDirectory() as tmp:
        peer = compare.openvino_int8_peer(compare.qdq_model(alpha, resolution, Path(tmp)), x_nchw, args.threads)
        fastest = compare.paired_fastest([mine, peer.run], args.rounds, args.block)
    print(f"{args.model} int8, {args.threads} thread(s), {args.rounds} rounds of {args.block} calls each"
          f"{', ours on float32 input' if args.float_input else ''}: {compare.paired_summary(fastest, 'OpenVINO')}")

if __name__ == "__main__":
    main()
