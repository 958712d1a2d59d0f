"""The `mobilenet` command line."""
from __future__ import annotations

import argparse
import sys

from . import classify


def main(argv=None) -> int:
    from . import MobileNetV1
    parser = argparse.ArgumentParser(prog="mobilenet", description="MobileNet v1 on the CPU")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="per-layer shapes, mult-adds and parameters")
    info.add_argument("--alpha", type=float, default=1.0)
    info.add_argument("--resolution", type=int, default=224)
    info.add_argument("--shallow", action="store_true")
    classify.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "classify":
        return classify.run(args)
    try:
        net = MobileNetV1(alpha=args.alpha, resolution=args.resolution, shallow=args.shallow, threads=1)
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    print(net.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
