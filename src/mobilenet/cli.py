"""The `mobilenet` command line: `mobilenet info | bench | profile`, also `python -m mobilenet`.

Each subcommand is a pair of functions: ``_add_<name>_parser(subparsers)``
declares its options and returns its parser, and ``_run_<name>(args, parser)``
runs it and returns the exit code. A new subcommand is a new pair plus one entry in ``SUBCOMMANDS``.
Bad arguments give a one-line usage error and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import TYPE_CHECKING, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

from . import classify
from ._optional import is_installed, missing_package_message
from ._progress import progress_bar
from .precision import PRECISIONS
from .profiler import MAX_RUNS

if TYPE_CHECKING:
    import numpy as np

    from .model import MobileNetV1


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: "mobilenet bench: error: ... (see 'mobilenet bench --help')"."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------- argument types

def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _int_at_least(minimum: int, maximum: Optional[int] = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


# ---------------------------------------------------------------- shared pieces

def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The network to build: the paper's MobileNet with seeded random weights."""
    p.add_argument("--alpha", type=_positive_float, default=1.0, help="width multiplier (default 1.0)")
    p.add_argument("--resolution", type=_int_at_least(32), default=224, help="input size in pixels (default 224)")
    p.add_argument("--shallow", action="store_true", help="drop the five 14x14x512 blocks (the paper's Table 5)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="arithmetic (default: int8 for a quantized --weights file, else float32, exact; int8: "
                        "TFLite's integer arithmetic, for quantized model files; bfloat16: the 1x1 layers and the "
                        "classifier on bf16 weights and inputs with float32 sums, where the CPU has bf16 "
                        "instructions; float16: the stem, depthwise and 1x1 layers in fp16 arithmetic, on AArch64 "
                        "CPUs with asimdhp; a quantized file with float32 runs its weights dequantized)")


def _add_weights_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", metavar="FILE",
                   help="a model file to run instead of a random network (any format mobilenet.load reads; a "
                        "quantized TFLite file runs in int8 unless --precision says otherwise); --alpha, "
                        "--resolution and --shallow then come from the file")


def _add_run_options(p: argparse.ArgumentParser, runs: int = 100) -> None:
    p.add_argument("--batch", type=_int_at_least(1), default=1, help="images per forward pass (default 1)")
    p.add_argument("--threads", type=_int_at_least(1), default=None,
                   help="worker threads (default: the physical cores this process may use)")
    p.add_argument("--runs", type=_int_at_least(1, MAX_RUNS), default=runs,
                   help=f"timed forward passes (default {runs}, at most {MAX_RUNS:,})")
    p.add_argument("--warmup", type=_int_at_least(0, MAX_RUNS), default=10,
                   help=f"untimed passes first (default 10, at most {MAX_RUNS:,})")
    _add_progress_option(p)


# A float network in int8 needs scales for its activations, which only calibration data gives.
INT8_NEEDS_QUANTIZED = ("--precision int8 runs quantized models: give a quantized TFLite file with --weights "
                        "(e.g. mobilenet_v1_0.25_128_quant.tflite), or quantize a float network in Python with "
                        "net.quantize(calibration_images)")


def _build_net(args: argparse.Namespace, parser: argparse.ArgumentParser,
               threads: Optional[int] = None) -> MobileNetV1:
    from . import MobileNetV1
    from .precision import PrecisionNotAvailable
    weights = getattr(args, "weights", None)
    if weights is not None:
        return _load_net(args, parser, weights, threads)
    if args.precision == "int8":
        parser.error(f"{INT8_NEEDS_QUANTIZED}; a random network has none")
    try:
        return MobileNetV1(alpha=args.alpha, resolution=args.resolution, shallow=args.shallow, threads=threads,
                           precision=args.precision or "float32")
    except (ValueError, TypeError, PrecisionNotAvailable) as e:
        parser.error(str(e))


def _load_net(args: argparse.Namespace, parser: argparse.ArgumentParser, path: str,
              threads: Optional[int]) -> MobileNetV1:
    """The network of a model file (mobilenet.load) in args.precision (None: the file's own)."""
    from . import load
    from .precision import PrecisionNotAvailable
    given = [f"--{name}" for name, default in (("alpha", 1.0), ("resolution", 224), ("shallow", False))
             if getattr(args, name) != default]
    if given:
        parser.error(f"{', '.join(given)} cannot change a model file's network (--weights {path})")
    try:
        net = load(path, threads=threads, precision=args.precision)
    except FileNotFoundError as e:
        parser.error(str(e))
    except (ValueError, TypeError, ImportError, PrecisionNotAvailable) as e:
        message = str(e)
        if args.precision == "int8" and "needs a quantized model" in message:
            message = f"{INT8_NEEDS_QUANTIZED}; {path} is a float model"
        parser.error(message)
    return net


def _available_memory() -> Optional[int]:
    """MemAvailable from /proc/meminfo in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _random_batch(net: MobileNetV1, batch: int) -> np.ndarray:
    """Inputs in [-1, 1], the range MobileNet's preprocessing gives; seeded so runs are repeatable.
    An int8 network gets them quantized to its input type, as a deployment feeds it (no float
    input to quantize in each timed call)."""
    shape = (batch,) + tuple(net.input_shape)
    if net.precision == "int8" and net.quantization is not None:
        quantized: np.ndarray = net.quantization.input.quantize(_random_batch_float(shape))
        return quantized
    return _random_batch_float(shape)


def _random_batch_float(shape: Tuple[int, ...]) -> np.ndarray:
    import numpy as np
    batch = shape[0]
    needed, available = 4 * math.prod(shape), _available_memory()
    if available is not None and needed > available:
        # Refused before allocating: with overcommit, filling the array would end in the OOM killer.
        raise MemoryError(f"a batch of {batch} images takes {needed / 1e9:.1f} GB, "
                          f"more than the {available / 1e9:.1f} GB available")
    rng = np.random.default_rng(0)
    x = np.empty(shape, np.float32)
    # In slices, so that a large batch needs no float64 copy: the same numbers as in one draw.
    for start in range(0, batch, 64):
        part = x[start:start + 64]
        part[...] = rng.uniform(-1.0, 1.0, part.shape)
    return x


def _add_progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar on stderr (default: on a terminal, when the run takes over a second)")


# ---------------------------------------------------------------- info

def _add_info_parser(sub: argparse._SubParsersAction[_Parser]) -> _Parser:
    p = sub.add_parser("info", help="per-layer shapes, mult-adds and parameters (the paper's Tables 1 and 2)",
                       description="Per-layer shapes, mult-adds and parameters, computed from the graph, "
                                   "with totals and the split by layer type (the paper's Table 2).")
    _add_model_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return p


def _run_info(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .precision import PRECISIONS, fast_precisions, precision_unavailable
    net = _build_net(args, parser, threads=1)
    summary = net.summary()
    fast = list(fast_precisions())
    # What each precision the CPU does not run fast lacks ('' for those it emulates: the scalar reference's bf16).
    missing = {p: precision_unavailable(p) for p in PRECISIONS if p not in fast and p != "int8"}
    from .precision import cpu_features
    features = list(cpu_features())
    if args.json:
        print(json.dumps({**summary.to_dict(), "isa": net.isa, "precision": net.precision, "cpu_features": features,
                          "fast_precisions": fast, "other_precisions": missing}, indent=2))
        return 0
    print(summary)
    print(f"CPU features of the narrow precisions: {', '.join(features) or 'none'}")
    print(f"precisions this CPU runs on its own instructions ({net.isa} kernels): {', '.join(fast)}; "
          "default float32 (exact)")
    for precision, reason in missing.items():
        print(f"  {precision}: {reason or 'emulated by these kernels (slow)'}")
    return 0


# ---------------------------------------------------------------- bench

def _add_bench_parser(sub: argparse._SubParsersAction[_Parser]) -> _Parser:
    p = sub.add_parser("bench", help="end-to-end latency and throughput",
                       description="Latency of whole forward passes, net(x) as called from Python, on seeded "
                                   "random inputs: first run, min, median, p90, p99, mean; and throughput.")
    _add_model_options(p)
    _add_weights_option(p)
    _add_run_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def _run_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .profiler import context_lines, latency_stats, run_context
    net = _build_net(args, parser, threads=args.threads)
    x = _random_batch(net, args.batch)

    def timed() -> float:
        start = time.perf_counter_ns()
        net(x)
        return (time.perf_counter_ns() - start) / 1e6

    warmup_ms: List[float] = []
    times_ms: List[float] = []
    # The bar counts warm-up and timed runs; it is updated between two timed calls, never inside one.
    with progress_bar(args.warmup + args.runs, "bench", args.progress) as bar:
        for _ in range(args.warmup):
            warmup_ms.append(timed())
            bar.update(1)
        for _ in range(args.runs):
            times_ms.append(timed())
            bar.update(1)

    context = run_context(net, args.batch)
    context.update(runs=args.runs, warmup=args.warmup)
    stats = latency_stats(times_ms, (warmup_ms or times_ms)[0])
    throughput = args.batch / (stats["median_ms"] / 1e3)
    if args.json:
        print(json.dumps({"context": context, "latency_ms": stats, "images_per_second": throughput,
                          "timing": "time.perf_counter_ns around net(x)"}, indent=2))
        return 0
    lines = context_lines(context)
    lines.append(f"{args.runs} timed runs of net(x) after {args.warmup} warm-up runs")
    lines.append("")
    head = f"{'latency (ms)':<14} {'first':>8} {'min':>8} {'median':>8} {'p90':>8} {'p99':>8} {'mean':>8}"
    lines += [head, "-" * len(head),
              f"{'forward pass':<14} {stats['first_ms']:8.3f} {stats['min_ms']:8.3f} {stats['median_ms']:8.3f} "
              f"{stats['p90_ms']:8.3f} {stats['p99_ms']:8.3f} {stats['mean_ms']:8.3f}",
              f"throughput: {throughput:.1f} images/s (batch {args.batch} / median latency)"]
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------- profile

def _add_profile_parser(sub: argparse._SubParsersAction[_Parser]) -> _Parser:
    p = sub.add_parser("profile", help="per-layer latency report",
                       description="Where the time of a forward pass goes, layer by layer, timed in C++: "
                                   "per-layer table, share of time per layer type against the paper's "
                                   "Table 2, end-to-end latency; optional JSON, CSV, Chrome trace and PNG files.")
    _add_model_options(p)
    _add_weights_option(p)
    _add_run_options(p)
    p.add_argument("--peak", metavar="PATH",
                   help="one core's measured peaks, as `bench/peak --json` writes them: each layer's GOP/s is "
                        "also shown as a share of the peak of its precision (FMA for float32, vdpbf16ps for "
                        "bf16 dot products, vpdpbusd for int8) times the threads")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON ('-': print it instead of tables)")
    p.add_argument("--csv", metavar="PATH", help="write one row per layer as CSV")
    p.add_argument("--trace", metavar="PATH", help="write a Chrome trace (Perfetto, chrome://tracing)")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart (needs the 'plot' extra: matplotlib)")
    return p


def _run_profile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    outputs = {"json": args.json, "csv": args.csv, "trace": args.trace, "plot": args.plot}
    for option, path in outputs.items():
        if path is None or (option == "json" and path == "-"):
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            parser.error(f"--{option}: folder {folder!r} does not exist")
    if args.plot and not is_installed("matplotlib"):
        parser.error(missing_package_message("matplotlib", "--plot"))
    peak = None
    if args.peak is not None:
        from .profiler import load_peak
        try:
            peak = load_peak(args.peak)
        except FileNotFoundError:
            parser.error(f"--peak: no such file: {args.peak}")
        except (OSError, ValueError) as e:
            parser.error(f"--peak: {e}")
    net = _build_net(args, parser, threads=args.threads)
    x = _random_batch(net, args.batch)
    with progress_bar(args.warmup + args.runs, "profile", args.progress) as bar:
        # With a bar, the runs go to the engine in chunks of about 0.2 s (profiler._timed_in_chunks).
        report = net.profile(x, runs=args.runs, warmup=args.warmup, progress=None if bar.disable else bar.update,
                             peak=peak)
    to_stdout = args.json == "-"
    if to_stdout:
        print(report.to_json())
    else:
        print(report)
    writers: Dict[str, Callable[[str], object]] = {"json": report.to_json, "csv": report.to_csv,
                                                   "trace": report.save_trace, "plot": report.plot}
    for option, path in outputs.items():
        if path is None or (option == "json" and to_stdout):
            continue
        try:
            writers[option](path)
        except OSError as e:
            print(f"{parser.prog}: error: cannot write {path}: {e.strerror or e}", file=sys.stderr)
            return 1
        print(f"wrote {option}: {path}", file=sys.stderr if to_stdout else sys.stdout)
    return 0


# ---------------------------------------------------------------- main

SUBCOMMANDS: Dict[str, Tuple[Callable[[argparse._SubParsersAction[_Parser]], _Parser],
                              Callable[[argparse.Namespace, argparse.ArgumentParser], int]]] = {
    "info": (_add_info_parser, _run_info),
    "bench": (_add_bench_parser, _run_bench),
    "profile": (_add_profile_parser, _run_profile),
    "classify": (classify.add_parser, lambda args, parser: classify.run(args)),
}


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mobilenet", description="MobileNet v1 (Howard et al. 2017) on the CPU.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"mobilenet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser, run in SUBCOMMANDS.values():
        p = add_parser(sub)
        p.set_defaults(run=run, subparser=p)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.run(args, args.subparser)
    except BrokenPipeError:  # `mobilenet info | head`: the reader left early; stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MemoryError as e:
        batch = f" for --batch {args.batch}" if getattr(args, "batch", None) else ""
        detail = f": {e}" if str(e) else ""
        print(f"{args.subparser.prog}: error: out of memory{batch}{detail} (try a smaller --batch or --resolution)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
