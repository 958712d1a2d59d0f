"""`mobilenet classify IMAGE... [--sample] [--weights FILE] [--labels FILE] [--top 5] [--json]`.

Prints the top classes with their probabilities for each image. Without
--weights the bundled model runs (TensorFlow's float 0.25/224, see
mobilenet.pretrained); --sample adds the bundled photo to the images. Labels
come from the model file when it carries them, else from --labels, else the
class indices are printed. Exit status: 0 on success, 2 for bad arguments,
1 with a one-line message for an unreadable model, labels file or image.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Sequence, Tuple, TypeVar

import numpy as np

from .precision import PRECISIONS, PrecisionNotAvailable

_P = TypeVar("_P", bound=argparse.ArgumentParser)  # the main parser's class (cli's _Parser)


def add_parser(subparsers: argparse._SubParsersAction[_P]) -> _P:
    parser = subparsers.add_parser("classify", help="top classes of images with real weights",
                                   description="Classify images with the bundled ImageNet-trained MobileNet v1 "
                                               "(TensorFlow's float 0.25/224), or one loaded from a model file "
                                               "(TFLite, Keras .h5, PyTorch/timm, ONNX or mobilenet .npz).")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files (anything Pillow reads)")
    parser.add_argument("--sample", action="store_true",
                        help="also classify the bundled sample photo (scikit-image's chelsea, CC0)")
    parser.add_argument("--weights", metavar="FILE", help="model file (default: the bundled model)")
    parser.add_argument("--labels", metavar="FILE", help="class names, one per line (if the model has none)")
    parser.add_argument("--top", type=_positive_int, default=5, help="how many classes to print (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--threads", type=_positive_int, default=None, help="worker threads")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="arithmetic (default: int8 for quantized models, else float32)")
    parser.add_argument("--no-exif-transpose", dest="exif_transpose", action="store_false",
                        help="use the stored pixels, not turned the way the EXIF orientation says")
    parser.set_defaults(run=run)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _fail(message: str) -> int:
    print(f"mobilenet classify: error: {message}", file=sys.stderr)
    return 1


def top_classes(probs: np.ndarray, k: int,
                labels: Optional[Sequence[str]] = None) -> List[Tuple[int, Optional[str], float]]:
    """[(index, label or None, probability)] of the k most probable classes, ties by lower index."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), labels[i] if labels else None, float(probs[i])) for i in order]


def run(args: argparse.Namespace) -> int:
    from . import load, preprocess
    from .bundled import pretrained, sample_image
    from .io import fit_labels, read_labels
    if not args.images and not args.sample:
        print("mobilenet classify: error: give IMAGE files or --sample (see 'mobilenet classify --help')",
              file=sys.stderr)
        return 2
    try:
        options = {"threads": args.threads, "precision": args.precision}
        net = pretrained(**options) if args.weights is None else load(args.weights, **options)
        images = list(args.images) + ([sample_image()] if args.sample else [])
    except (FileNotFoundError, ValueError, ImportError, TypeError, PrecisionNotAvailable) as e:
        return _fail(str(e))
    labels = net.labels
    if labels is None and args.labels:
        try:
            labels = fit_labels(read_labels(args.labels), net.num_classes, args.labels)
        except (FileNotFoundError, ValueError) as e:
            return _fail(str(e))
    results = []
    status = 0
    for image in images:
        try:
            x = preprocess(image, net, exif_transpose=args.exif_transpose)
        except (FileNotFoundError, ValueError, TypeError, ImportError) as e:
            print(f"mobilenet classify: error: {e}", file=sys.stderr)
            status = 1
            continue
        probs = net(x)[0]
        results.append((image, top_classes(probs, args.top, labels)))
    if args.json:
        print(json.dumps([{"image": image, "top": [{"index": i, "label": label, "probability": p}
                                                   for i, label, p in top]}
                          for image, top in results], indent=2))
    else:
        for image, top in results:
            print(image)
            for i, label, p in top:
                print(f"  {p:8.4f}  {i:5d}  {label if label is not None else ''}".rstrip())
    return status
