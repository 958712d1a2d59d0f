"""`mobilenet classify [INPUT...] [--from-file LIST] [--sample] [--output FILE [--resume]] ...`.

Classifies image files, folders of them (recursively) and glob patterns, with
the bundled model (TensorFlow's float 0.25/224, see mobilenet.pretrained) or
--weights. Images are decoded on a pool of threads while the network runs on
batches (mobilenet.batch_classify). Without --output the top classes are
printed per image (--json: one JSON array at the end); with --output they go to
a JSON Lines or CSV file, one row per input in input order, flushed as they
come, and --resume continues an interrupted run. --ray [ADDRESS] runs the same
job on a Ray cluster (mobilenet.ray), with the same rows. Exit status: 0 when every
input was classified, 1 when any failed (every row is still written; also an
unreadable model or labels file), 2 for bad arguments, 130 on Ctrl-C and 143 on SIGTERM.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, TypeVar

from ._optional import is_installed, missing_package_message
from .batch_classify import DEFAULT_BATCH, FORMATS, ClassifyRow
from .precision import PRECISIONS, PrecisionNotAvailable
from .ray import RayJobError

_P = TypeVar("_P", bound=argparse.ArgumentParser)  # the main parser's class (cli's _Parser)


def add_parser(subparsers: argparse._SubParsersAction[_P]) -> _P:
    parser = subparsers.add_parser("classify", help="top classes of images with real weights",
                                   description="Classify images with the bundled ImageNet-trained MobileNet v1 "
                                               "(TensorFlow's float 0.25/224), or one loaded from a model file "
                                               "(TFLite, Keras .h5, PyTorch/timm, ONNX or mobilenet .npz).")
    parser.add_argument("images", nargs="*", metavar="INPUT",
                        help="image files (anything Pillow reads), folders (searched recursively for image "
                             "files) or glob patterns ('photos/**/*.jpg', quoted)")
    parser.add_argument("--from-file", metavar="LIST", action="append", default=[],
                        help="also classify the paths listed in LIST, one per line ('-': standard input)")
    parser.add_argument("--sample", action="store_true",
                        help="also classify the bundled sample photo (scikit-image's chelsea, CC0)")
    parser.add_argument("--weights", metavar="FILE", help="model file (default: the bundled model)")
    parser.add_argument("--labels", metavar="FILE", help="class names, one per line (if the model has none)")
    parser.add_argument("--top", type=_positive_int, default=5, metavar="K",
                        help="how many classes per image (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write one row per input to FILE as JSON Lines (.jsonl) or CSV (.csv); '-': stdout")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="the --output format (default: from the file's extension; jsonl for stdout)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --output FILE and classify only the inputs it lacks")
    parser.add_argument("--batch", type=_positive_int, default=DEFAULT_BATCH, metavar="N",
                        help=f"images per forward pass (default {DEFAULT_BATCH})")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="the network's threads (default: the physical cores this process may use)")
    parser.add_argument("--decode-threads", type=_positive_int, default=None, metavar="N",
                        help="threads decoding images (default: the CPUs this process may use)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on stderr (default: on a terminal, when the run takes over a second)")
    parser.add_argument("--draft", action="store_true",
                        help="decode large JPEGs at a reduced scale (faster, slightly different pixels)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="arithmetic (default: int8 for quantized models, else float32)")
    parser.add_argument("--no-exif-transpose", dest="exif_transpose", action="store_false",
                        help="use the stored pixels, not turned the way the EXIF orientation says")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run on a Ray cluster (HOST:PORT, ray://HOST:PORT; alone: RAY_ADDRESS, else a Ray "
                             "on this machine), one network per actor of a node's spare CPUs, each with as many "
                             "threads as its CPUs (--threads and --decode-threads do not apply); the paths must "
                             "be readable on every node (needs mobilenet[ray] there)")
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


def _fail(message: str, status: int = 1) -> int:
    hint = " (see 'mobilenet classify --help')" if status == 2 else ""
    print(f"mobilenet classify: error: {message}{hint}", file=sys.stderr)
    return status


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread so that the output is closed on a complete line."""


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Terminated(128 + signal.SIGTERM)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave the signal as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _inputs(args: argparse.Namespace) -> List[str]:
    from .batch_classify import expand_inputs, read_path_list
    from .bundled import sample_image
    items = list(args.images)
    listed: List[str] = []
    for source in args.from_file:
        if source == "-":
            listed += read_path_list(sys.stdin)
        else:
            try:
                listed += read_path_list(source)
            except OSError as e:
                raise ValueError(f"--from-file {source}: {e.strerror or e}") from None
    files = expand_inputs(items)
    # Listed paths are taken as they are (no globs, no folders), after the command line's.
    known = set(files)
    files += [p for p in dict.fromkeys(listed) if p not in known]
    if args.sample:
        files.append(sample_image())
    return files


def run(args: argparse.Namespace) -> int:
    if args.ray and os.path.exists(args.ray):
        return _fail(f"--ray took {args.ray!r} for the cluster's address: put the inputs before --ray, "
                     "or give --ray the address", 2)
    if not args.images and not args.sample and not args.from_file:
        return _fail("give INPUT files, folders or patterns, --from-file LIST or --sample", 2)
    if args.resume and (args.output is None or args.output == "-"):
        return _fail("--resume needs --output FILE", 2)
    if args.format is not None and args.output is None:
        return _fail("--format needs --output", 2)
    if args.json and args.output is not None:
        return _fail("--json prints to the terminal; with --output, use --format jsonl", 2)
    fmt: Optional[str] = None
    if args.output is not None:
        from .batch_classify import output_format
        try:
            fmt = args.format or ("jsonl" if args.output == "-" else output_format(args.output))
        except ValueError as e:
            return _fail(f"--output: {e}", 2)
        folder = os.path.dirname(os.path.abspath(args.output))
        if args.output != "-" and not os.path.isdir(folder):
            return _fail(f"--output: folder {folder!r} does not exist", 2)
    try:
        inputs = _inputs(args)
    except ValueError as e:
        return _fail(str(e), 2)
    if not inputs:
        return _fail("no image files found in " + ", ".join(args.images + args.from_file), 2)

    from . import load
    from .bundled import pretrained
    from .io import fit_labels, read_labels
    try:
        options = {"threads": args.threads, "precision": args.precision}
        net = pretrained(**options) if args.weights is None else load(args.weights, **options)
    except (FileNotFoundError, ValueError, ImportError, TypeError, PrecisionNotAvailable) as e:
        return _fail(str(e))
    labels = net.labels
    if labels is None and args.labels:
        try:
            labels = fit_labels(read_labels(args.labels), net.num_classes, args.labels)
        except (FileNotFoundError, ValueError) as e:
            return _fail(str(e))
    top = min(args.top, net.num_classes)

    done: Dict[str, ClassifyRow] = {}
    if args.resume:
        from .batch_classify import finished_inputs
        try:
            done = finished_inputs(args.output, fmt, top=top)
        except (ValueError, OSError) as e:
            return _fail(f"--resume: {e}", 2)
    todo = [p for p in inputs if p not in done]
    failed = sum(1 for p in inputs if p in done and not done[p].ok)
    if args.ray is not None and not is_installed("ray"):
        return _fail(missing_package_message("ray", "--ray"))
    try:
        with _sigterm_exits():
            failed += _classify(args, net, labels, top, fmt, inputs, todo)
    except RayJobError as e:  # the cluster: unreachable, too small, a failed task, rows missing
        return _fail(str(e))
    except BrokenPipeError:
        raise  # a reader of stdout that left early: cli.main's business
    except OSError as e:  # the output: no folder rights, a full disk
        return _fail(f"cannot write {args.output}: {e.strerror or e}")
    return 1 if failed else 0


def _classify(args: argparse.Namespace, net: Any, labels: Optional[Sequence[str]], top: int, fmt: Optional[str],
              inputs: List[str], todo: List[str]) -> int:
    """Classify todo, writing or printing each row as it comes; the number of inputs that failed."""
    from ._progress import progress_bar
    from .batch_classify import RowWriter, classify_files, open_writer
    bar = progress_bar(len(inputs), "classify", args.progress, unit="img", initial=len(inputs) - len(todo))
    failed = 0
    if args.ray is not None:
        from .ray import classify_on_ray
        rows = classify_on_ray(todo, net=net, address=args.ray or None, batch=args.batch, top=top, labels=labels,
                               exif_transpose=args.exif_transpose, draft=args.draft)
    else:
        rows = classify_files(todo, net, batch=args.batch, top=top, workers=args.decode_threads, labels=labels,
                              exif_transpose=args.exif_transpose, draft=args.draft)
    results: List[ClassifyRow] = []
    with contextlib.ExitStack() as stack:
        stack.callback(bar.close)
        stack.callback(rows.close)  # type: ignore[attr-defined]  # a generator: stops the decoders
        writer: Optional[RowWriter] = None
        if args.output == "-":
            writer = RowWriter(sys.stdout, fmt or "jsonl", top, close=False)
        elif args.output is not None:
            writer = stack.enter_context(open_writer(args.output, fmt, top=top, append=args.resume))
        for row in rows:
            if not row.ok:
                failed += 1
            if writer is not None:
                writer.write(row)
            elif args.json:
                results.append(row)
                if not row.ok:
                    _print_row(row, bar)
            else:
                _print_row(row, bar)
            bar.update(1)
    if args.json:
        print(json.dumps([{"image": row.input, "top": [{"index": p.index, "label": p.label, "probability": p.score}
                                                       for p in row.top]}
                          for row in results if row.ok], indent=2))
    if args.output is not None and args.output != "-":
        print(f"mobilenet classify: {len(inputs) - len(todo)} already done, {len(todo) - failed} classified, "
              f"{failed} failed: {args.output}", file=sys.stderr)
    return failed


def _print_row(row: ClassifyRow, bar: Any) -> None:
    if not row.ok:
        text, stream = f"mobilenet classify: error: {row.error}", sys.stderr
    else:
        lines = [row.input] + [f"  {p.score:8.4f}  {p.index:5d}  {p.label if p.label is not None else ''}".rstrip()
                               for p in row.top]
        text, stream = "\n".join(lines), sys.stdout
    if bar.disable:
        print(text, file=stream)
    else:
        bar.write(text, file=stream)
