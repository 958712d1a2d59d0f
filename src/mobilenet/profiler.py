"""Per-layer latency: where the time of a forward pass goes, on this CPU.

``net.profile(x)`` runs the network in one C++ call that times every layer
with a steady clock around its kernel, and, in alternate runs, whole forward
passes with no clock reads inside. This module turns those nanoseconds into a
report: per-layer rows, the paper's Table 2 with a measured share of time
beside it, end-to-end latency, and exports (JSON, CSV, Chrome trace, PNG).
"""
from __future__ import annotations

import csv
import json
import os
import platform
import textwrap
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike

from .vocabulary import LAYER_KINDS, LayerType, Layout

if TYPE_CHECKING:
    from .model import MobileNetV1

# The paper (Section 3.2): "MobileNet spends 95% of it's computation time in 1x1 convolutions".
PAPER_CONV1X1_TIME_PCT = 95.0
# How far (in percentage points) the measured share may be from 95% for the claim to hold here.
PAPER_CLAIM_TOLERANCE_PCT = 5.0

# The paper's names for the layer types (Table 2).
TYPE_LABELS: Dict[str, str] = {layer_type: kind.table2_label for layer_type, kind in LAYER_KINDS.items()}

PLOT_COLORS: Dict[str, str] = {
    LayerType.CONV3X3: "#7f7f7f", LayerType.DWCONV3X3: "#ff7f0e", LayerType.CONV1X1: "#1f77b4",
    LayerType.AVGPOOL: "#2ca02c", LayerType.FC: "#d62728"}


def cpu_model() -> str:
    """The CPU's marketing name ('model name' in /proc/cpuinfo), or what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _package_version() -> str:
    from . import __version__
    return __version__


def run_context(net: MobileNetV1, batch: int) -> Dict[str, Any]:
    """What a timing depends on: the machine, the build, the model and its settings."""
    h, w, _ = net.input_shape
    return {
        "isa": net.isa,
        "precision": net.precision,
        "threads": net.threads,
        "backend": net.backend,
        "cpu": cpu_model(),
        "batch": int(batch),
        "resolution": [int(h), int(w)],
        "alpha": net.alpha,
        "layers": len(net.layers),
        "mobilenet_version": _package_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        # They change OpenBLAS's kernel choice and blocking, so a timing is only comparable with them known.
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }


def latency_stats(total_ms: ArrayLike, first_ms: float) -> Dict[str, float]:
    """first run, min, median, p90, p99 and mean of whole forward passes, in milliseconds."""
    total = np.asarray(total_ms, dtype=np.float64)
    return {"first_ms": float(first_ms), "min_ms": float(total.min()), "median_ms": float(np.median(total)),
            "p90_ms": float(np.percentile(total, 90)), "p99_ms": float(np.percentile(total, 99)),
            "mean_ms": float(total.mean()), "runs": int(total.size)}


@dataclass(frozen=True)
class LayerTiming:
    """One layer's row: what it is, which kernel ran it, and how long it took over the runs."""

    index: int
    name: str
    type: str
    input: Tuple[int, ...]
    output: Tuple[int, ...]
    kernel: str
    mult_adds: int       # per image
    params: int
    median_ms: float
    mean_ms: float
    min_ms: float
    time_pct: float        # of the sum of per-layer medians
    cumulative_pct: float
    gflops: float          # 2 * mult-adds * batch / median time (GOP/s in int8); 0 for layers with no mult-adds
    precision: str = "float32"  # the arithmetic the plan chose for this layer (mobilenet.precision)
    peak: Optional[str] = None  # the instruction whose measured peak the layer is compared with (given a peak)
    peak_pct: Optional[float] = None  # gflops as a share of that peak x threads, in %


# The peaks of `bench/peak --json` that profiles compare layers with, by precision and ISA: its key,
# the operations per unit of that key (GFLOP/s: 1; GMAC/s: 2 operations per multiply-add) and the
# instruction's name as the profile prints it.
_PEAK_KEYS: Dict[str, Tuple[str, float, str]] = {
    "fma_avx512": ("avx512_gflops", 1.0, "FMA zmm"),
    "fma_avx2": ("avx2_gflops", 1.0, "FMA ymm"),
    "bf16_avx512": ("avx512_bf16_gmacs", 2.0, "vdpbf16ps"),
    "int8_avx512": ("avx512_vnni_gmacs", 2.0, "vpdpbusd zmm"),
    "int8_avx2": ("avx_vnni_gmacs", 2.0, "vpdpbusd ymm"),
    "int8_avx2_madd": ("avx2_madd_gmacs", 2.0, "vpmaddwd+vpaddd"),
    "int8_avx2_maddubs": ("avx2_maddubs_gmacs", 2.0, "vpmaddubsw"),
    "int8_amx": ("amx_int8_gmacs", 2.0, "tdpbusd"),
    "fma_neon": ("neon_gflops", 1.0, "fmla"),
    "int8_neon": ("neon_sdot_gmacs", 2.0, "sdot"),
}


def load_peak(path: str) -> Dict[str, float]:
    """The one-core peaks `bench/peak --json` printed (a JSON object of numbers), for profiles'
    share of peak. A missing file is FileNotFoundError; anything else unreadable, ValueError."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        peak = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not the JSON of `bench/peak --json` ({e})") from None
    return check_peak(peak, str(path))


def check_peak(peak: object, where: str = "peak") -> Dict[str, float]:
    """`peak` as a dict of the peak keys it has, each a finite number >= 0; ValueError otherwise."""
    if not isinstance(peak, dict):
        raise ValueError(f"{where}: expected a JSON object of peaks (the output of `bench/peak --json`), "
                         f"got {type(peak).__name__}")
    keys = {key for key, _, _ in _PEAK_KEYS.values()}
    out: Dict[str, float] = {}
    for key in keys & set(peak):
        value = peak[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{where}: {key} must be a number >= 0, got {value!r}")
        out[key] = float(value)
    if not out:
        raise ValueError(f"{where}: none of the peaks {sorted(keys)} is in it (the output of `bench/peak --json`)")
    return out


def layer_peak(peak: Dict[str, float], isa: str, precision: str, kernel: str) -> Optional[Tuple[str, float]]:
    """The instruction a layer's kernel does its multiply-adds with and its measured one-core peak in
    GOP/s (2 x multiply-adds / s), or None where `peak` has none for it: float32 layers and bf16
    layers run by FMA ("bf16fma") against the FMA of the ISA, bf16 dot-product layers against
    vdpbf16ps, int8 layers against the ISA's int8 dot product (vpdpbusd zmm with AVX-512,
    AVX-VNNI's ymm form with AVX2, sdot with NEON, tdpbusd for the GEMM on AMX tiles; AVX2's
    kernels without AVX-VNNI, named "madd", against the vpmaddwd + vpaddd pair, or "maddubs" against
    vpmaddubsw + vpmaddwd + vpaddd)."""
    if precision == "int8":
        if "_amx" in kernel:
            which = "int8_amx"
        elif isa == "avx2" and "maddubs" in kernel:
            which = "int8_avx2_maddubs"
        elif isa == "avx2" and "madd" in kernel:
            which = "int8_avx2_madd"
        else:
            which = f"int8_{isa}"
    elif precision == "bfloat16" and "bf16gemm" in kernel:
        which = "bf16_avx512" if isa == "avx512" else ""
    elif precision in ("float32", "bfloat16"):
        which = f"fma_{isa}"
    else:
        which = ""
    if which not in _PEAK_KEYS:
        return None
    key, ops_per_unit, name = _PEAK_KEYS[which]
    value = peak.get(key, 0.0) * ops_per_unit
    return (name, value) if value > 0 else None


# Every run's per-layer times are kept (8 bytes per layer per run): a million
# runs of the 30 layers is 240 MB, and hours of profiling.
MAX_RUNS = 1_000_000


def check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not minimum <= value <= MAX_RUNS:
        raise ValueError(f"{name} must be between {minimum} and {MAX_RUNS:,}, got {value}")
    return int(value)


def profile(net: MobileNetV1, x: ArrayLike, runs: int = 100, warmup: int = 10,
            layout: str = Layout.NHWC, progress: Optional[Callable[[int], object]] = None,
            peak: Optional[Dict[str, float]] = None) -> ProfileReport:
    """Time ``net`` on ``x``: ``warmup`` untimed passes, then ``runs`` timed passes of each kind
    (each at most ``MAX_RUNS``). Ctrl-C stops it between two passes (KeyboardInterrupt).

    progress: called with the number of runs (warm-up and timed) each time some are done; the
    runs then go to the engine in chunks of about a fifth of a second instead of one call.
    peak: one core's measured peaks, as `bench/peak --json` prints them (``load_peak``): each
    layer's GOP/s is then also given as a share of the peak of its precision and kernel
    (``layer_peak``) times the thread count.
    """
    if peak is not None:
        peak = check_peak(peak)
    if progress is None:
        raw = net.timed_passes(x, runs, warmup, layout)
    else:
        raw = _timed_in_chunks(net, x, runs, warmup, layout, progress)
    return ProfileReport(net, raw, batch=raw["output"].shape[0], runs=runs, warmup=warmup, peak=peak)


PROGRESS_CHUNK_SECONDS = 0.2


def _timed_in_chunks(net: MobileNetV1, x: ArrayLike, runs: int, warmup: int, layout: str,
                     progress: Callable[[int], object]) -> Dict[str, Any]:
    """net.timed_passes's result, made of several calls: the first with the warm-up and one run
    (its first pass is the cold one), then chunks sized from the time a run took so far."""
    runs, warmup = check_count("runs", runs, 1), check_count("warmup", warmup, 0)
    x = np.asarray(x)
    start = time.perf_counter()
    parts = [net.timed_passes(x, 1, warmup, layout)]
    seconds_per_run = (time.perf_counter() - start) / (warmup + 1)
    progress(warmup + 1)
    done = 1
    while done < runs:
        chunk = min(runs - done, max(1, int(PROGRESS_CHUNK_SECONDS / max(seconds_per_run, 1e-9))))
        start = time.perf_counter()
        parts.append(net.timed_passes(x, chunk, 0, layout))
        seconds_per_run = (time.perf_counter() - start) / chunk
        done += chunk
        progress(chunk)
    first = parts[0]
    return {"output": parts[-1]["output"], "first_ns": first["first_ns"], "warmup_ns": first["warmup_ns"],
            "total_ns": np.concatenate([p["total_ns"] for p in parts]),
            "layer_ns": np.concatenate([p["layer_ns"] for p in parts])}


class ProfileReport:
    """Per-layer times, the share of time per layer type, and end-to-end latency of one profiling run.

    ``print(report)`` shows it as tables; ``to_dict``/``to_json``/``to_csv``/
    ``save_trace``/``plot`` export it. ``layer_ms`` holds every run's
    per-layer times, [runs x layers], ``total_ms`` every whole pass, and
    ``output`` the class probabilities of the last pass.
    """

    def __init__(self, net: MobileNetV1, raw: Dict[str, Any], *, batch: int, runs: int, warmup: int,
                 peak: Optional[Dict[str, float]] = None):
        self.context = run_context(net, batch)
        self.context.update(runs=runs, warmup=warmup, peak=peak)
        self.summary = net.summary()  # mult-adds and parameters: the paper's side of Table 2
        self.layer_ms = np.asarray(raw["layer_ns"], dtype=np.float64) / 1e6
        self.total_ms = np.asarray(raw["total_ns"], dtype=np.float64) / 1e6
        self.first_ms = float(raw["first_ns"]) / 1e6
        self.output = raw["output"]
        medians = np.median(self.layer_ms, axis=0)
        shares = 100.0 * medians / max(medians.sum(), 1e-12)
        cumulative = np.cumsum(shares)
        self.rows: List[LayerTiming] = []
        for i, (layer, kernel, precision) in enumerate(zip(net.layers, net.kernel_names, net.layer_precisions)):
            seconds = medians[i] / 1e3
            gflops = 2.0 * layer.mult_adds * batch / seconds / 1e9 if seconds > 0 and layer.mult_adds else 0.0
            ceiling = layer_peak(peak, net.isa, precision, kernel) if peak and layer.mult_adds else None
            self.rows.append(LayerTiming(
                i, layer.name, layer.type, tuple(layer.in_shape), tuple(layer.out_shape), kernel, layer.mult_adds,
                layer.params, float(medians[i]), float(self.layer_ms[:, i].mean()), float(self.layer_ms[:, i].min()),
                float(shares[i]), float(cumulative[i]), float(gflops), precision,
                None if ceiling is None else ceiling[0],
                None if ceiling is None else 100.0 * gflops / (ceiling[1] * net.threads)))

    # ------------------------------------------------------------------ numbers

    @property
    def total_mult_adds(self) -> int:
        return self.summary.total_mult_adds

    @property
    def total_params(self) -> int:
        return self.summary.total_params

    def by_type(self) -> Dict[str, Dict[str, Any]]:
        """The paper's Table 2 (shares of mult-adds and parameters) with the measured share of time."""
        total_time = sum(r.median_ms for r in self.rows)
        out: Dict[str, Dict[str, Any]] = {t: dict(v) for t, v in self.summary.by_type().items()}
        for t, v in out.items():
            ms = sum(r.median_ms for r in self.rows if r.type == t)
            v.update(label=TYPE_LABELS[t], time_ms=ms, time_pct=100.0 * ms / max(total_time, 1e-12))
        return out

    def paper_claim(self) -> Dict[str, Any]:
        """Does the paper's "95% of the time in 1x1 convolutions" hold on this CPU?"""
        conv1x1 = self.by_type().get(LayerType.CONV1X1, {"time_pct": 0.0, "mult_adds_pct": 0.0})
        measured = conv1x1["time_pct"]
        return {"claim": "95% of the computation time is spent in 1x1 convolutions",
                "paper_time_pct": PAPER_CONV1X1_TIME_PCT, "measured_time_pct": measured,
                "mult_adds_pct": conv1x1["mult_adds_pct"],
                "tolerance_pct": PAPER_CLAIM_TOLERANCE_PCT,
                "holds": abs(measured - PAPER_CONV1X1_TIME_PCT) <= PAPER_CLAIM_TOLERANCE_PCT}

    def end_to_end(self) -> Dict[str, float]:
        """Whole forward passes (timed apart from the per-layer runs) and what the layers do not account for.

        The overhead is the end-to-end time minus the sum of the layers, at the
        median and at the minimum (the least disturbed runs) of each.
        """
        stats = latency_stats(self.total_ms, self.first_ms)
        sums = self.layer_ms.sum(axis=1)
        layers_median, layers_min = float(np.median(sums)), float(sums.min())
        overhead = stats["median_ms"] - layers_median
        stats.update(layers_sum_median_ms=layers_median, layers_sum_min_ms=layers_min,
                     layers_sum_p90_ms=float(np.percentile(sums, 90)),
                     layers_sum_p99_ms=float(np.percentile(sums, 99)), layers_sum_mean_ms=float(sums.mean()),
                     overhead_ms=overhead, overhead_pct=100.0 * overhead / max(stats["median_ms"], 1e-12),
                     overhead_min_ms=stats["min_ms"] - layers_min,
                     images_per_second=self.context["batch"] / (stats["median_ms"] / 1e3))
        return stats

    # ------------------------------------------------------------------ exports

    def to_dict(self) -> Dict[str, Any]:
        """Everything in the report, JSON-ready (shapes as lists, every run's times included)."""
        layers = []
        for r in self.rows:
            d = asdict(r)
            d["input"], d["output"] = list(r.input), list(r.output)
            layers.append(d)
        return {"context": dict(self.context), "layers": layers, "by_type": self.by_type(),
                "paper_claim": self.paper_claim(), "end_to_end": self.end_to_end(),
                "total_mult_adds": self.total_mult_adds, "total_params": self.total_params,
                "samples": {"total_ms": self.total_ms.tolist(), "layer_ms": self.layer_ms.tolist()}}

    def to_json(self, path: Optional[str] = None, indent: int = 2) -> str:
        """The report as JSON text; written to ``path`` too when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    CSV_COLUMNS = ("index", "name", "type", "input", "output", "kernel", "precision", "mult_adds", "params",
                   "median_ms", "mean_ms", "min_ms", "time_pct", "cumulative_pct", "gflops", "peak", "peak_pct")

    def to_csv(self, path: str) -> None:
        """One row per layer; shapes written as HxWxC (pandas.read_csv reads it as is)."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(self.CSV_COLUMNS)
            for r in self.rows:
                d = asdict(r)
                d["input"], d["output"] = _shape(r.input), _shape(r.output)
                writer.writerow([d[c] for c in self.CSV_COLUMNS])

    def trace_events(self) -> List[Dict[str, Any]]:
        """Chrome trace events: one complete ("X") event per layer per run.

        The engine records durations, not start times, so each run's layers are
        laid back to back and runs one after another (timestamps in microseconds).
        """
        events = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 1,
                   "args": {"name": f"mobilenet {self.context['isa']}, {self.context['threads']} thread(s)"}},
                  {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "forward"}}]
        t = 0.0
        for run, times in enumerate(self.layer_ms):
            for r, ms in zip(self.rows, times):
                events.append({"name": r.name, "cat": r.type, "ph": "X", "ts": round(t, 3),
                               "dur": round(ms * 1e3, 3), "pid": 1, "tid": 1,
                               "args": {"run": run, "index": r.index, "type": r.type, "kernel": r.kernel,
                                        "input": _shape(r.input), "output": _shape(r.output),
                                        "mult_adds": r.mult_adds, "params": r.params}})
                t += ms * 1e3
        return events

    def save_trace(self, path: str) -> None:
        """A trace-event JSON file that opens in Perfetto (ui.perfetto.dev) and chrome://tracing."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"traceEvents": self.trace_events(), "displayTimeUnit": "ms", "otherData": self.context}, f)

    def plot(self, path: str) -> None:
        """A PNG: per-layer time, coloured by layer type, with each layer's share of mult-adds beside it.

        Needs matplotlib, the ``plot`` extra: ``pip install 'mobilenet[plot]'``.
        """
        from ._optional import require
        Figure = require("matplotlib.figure", "ProfileReport.plot").Figure
        Patch = require("matplotlib.patches", "ProfileReport.plot").Patch
        total_madds = max(1, self.total_mult_adds)
        names = [r.name for r in self.rows]
        colors = [PLOT_COLORS[r.type] for r in self.rows]
        y = np.arange(len(self.rows))
        fig = Figure(figsize=(11, 0.24 * len(self.rows) + 2.2), layout="constrained")
        time_ax, madds_ax = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
        time_ax.barh(y, [r.median_ms for r in self.rows], color=colors)
        time_ax.set_yticks(y, names, fontsize=8)
        time_ax.invert_yaxis()
        time_ax.set_xlabel("median time per layer (ms)")
        time_ax.set_title("time", fontsize=10)
        pairs = [(r.time_pct, 100.0 * r.mult_adds / total_madds) for r in self.rows]
        madds_ax.barh(y - 0.2, [p[0] for p in pairs], height=0.4, color=colors, label="share of time")
        madds_ax.barh(y + 0.2, [p[1] for p in pairs], height=0.4, color=colors, alpha=0.35, hatch="///",
                      label="share of mult-adds")
        madds_ax.set_xlabel("% of the network")
        madds_ax.set_title("share of time (solid) vs share of mult-adds (hatched)", fontsize=10)
        by_type = self.by_type()
        handles = [Patch(color=PLOT_COLORS[t], label=f"{v['label']}: {v['time_pct']:.1f}% time, "
                                                     f"{v['mult_adds_pct']:.1f}% mult-adds")
                   for t, v in by_type.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
        c = self.context
        e2e = self.end_to_end()
        fig.suptitle(f"MobileNet v1 {_model_label(c)}, batch {c['batch']}, {c['threads']} thread(s), {c['isa']}, "
                     f"{c['cpu']}\nforward pass: min {e2e['min_ms']:.2f} ms, median {e2e['median_ms']:.2f} ms "
                     f"over {c['runs']} runs",
                     fontsize=10)
        fig.savefig(path, format="png", dpi=110)

    # ------------------------------------------------------------------ text

    def __str__(self) -> str:
        c = self.context
        e2e = self.end_to_end()
        lines = context_lines(c)
        lines += [f"{c['runs']} timed runs after {c['warmup']} warm-up runs; per-layer times are medians "
                  f"(C++ steady clock)", ""]
        lines += self._layer_table()
        lines.append("")
        lines += self._type_table()
        lines.append("")
        lines += self._end_to_end_table(e2e)
        return "\n".join(lines)

    __repr__ = __str__

    def _layer_table(self) -> List[str]:
        # Every kernel name ends in the ISA; say it once in the header to keep the table narrow.
        suffix = f"_{self.context['isa']}"
        strip = all(r.kernel.endswith(suffix) for r in self.rows)
        kernels = [r.kernel[: -len(suffix)] if strip else r.kernel for r in self.rows]
        # A depthwise layer fused with its pointwise neighbour shows as "+", to keep the table narrow.
        kernels = [k.replace("_fused", "+") for k in kernels]
        # A network in a narrower precision shows each layer's in place of its parameter count (which the
        # by-type table still gives), and its kernels without the precision the column already says.
        mixed = any(r.precision != "float32" for r in self.rows)
        if mixed:
            kernels = [k.replace("_bf16gemm", "_gemm") for k in kernels]
        kernel_head = f"kernel (*{suffix})" if strip else "kernel"
        name_w = max(4, *(len(r.name) for r in self.rows))
        shape_w = max(6, *(len(_shape(r.output)) for r in self.rows))
        kernel_w = max(len(kernel_head), *(len(k) for k in kernels))
        # Small models run layers in microseconds: show those rather than rows of 0.000 ms.
        unit, scale = ("us", 1e3) if max(r.median_ms for r in self.rows) < 0.1 else ("ms", 1.0)
        digits = 1 if unit == "us" else 3
        third = f"{'prec':>4}" if mixed else f"{'params':>9}"
        # With a measured peak: each layer's GOP/s as a share of its instruction's peak x threads.
        peaks = sorted({r.peak for r in self.rows if r.peak})
        rate = "GOP/s" if any(r.precision == "int8" for r in self.rows) else "GF/s"
        # The share of the peak takes the place of the mean (which JSON and CSV keep), to keep the table narrow.
        mean_head = "" if peaks else f" {'mean':>6}"
        head = (f"{'#':>2} {'name':<{name_w}} {'output':>{shape_w}} {kernel_head:<{kernel_w}} {'MAdds':>5} "
                f"{third} {'median':>6}{mean_head} {'min':>6} {'%':>5} {'cum%':>5} {rate:>6}"
                + (f" {'%pk':>4}" if peaks else ""))
        lines = [f"per layer: MAdds in millions, times in {unit}, {rate} = 2 x mult-adds / median time"
                 + ("; + = fused pair" if any("+" in k for k in kernels) else ""), head,
                 "-" * len(head)]
        if peaks:
            lines.insert(1, f"%pk = {rate} / ({self.context['threads']} x one core's measured peak of "
                            + ", ".join(f"{name} {self._peak_gops(name):.1f}" for name in peaks) + " GOP/s)")
        for r, kernel in zip(self.rows, kernels):
            gflops = f"{r.gflops:6.1f}" if r.mult_adds else f"{'-':>6}"
            third = f"{_PRECISION_LABELS.get(r.precision, r.precision):>4}" if mixed else f"{r.params:>9,}"
            share = "" if not peaks else f" {r.peak_pct:4.0f}" if r.peak_pct is not None else f" {'-':>4}"
            mean = "" if peaks else f" {r.mean_ms * scale:6.{digits}f}"
            lines.append(f"{r.index:>2} {r.name:<{name_w}} {_shape(r.output):>{shape_w}} {kernel:<{kernel_w}} "
                         f"{r.mult_adds / 1e6:5.1f} {third} {r.median_ms * scale:6.{digits}f}"
                         f"{mean} {r.min_ms * scale:6.{digits}f} {r.time_pct:5.1f} "
                         f"{r.cumulative_pct:5.1f} {gflops}{share}")
        lines.append("-" * len(head))
        total_ms = sum(r.median_ms for r in self.rows)
        rate = 2.0 * self.total_mult_adds * self.context["batch"] / (total_ms / 1e3) / 1e9
        lines.append(f"sum of the layer medians: {total_ms:.3f} ms, {rate:.1f} GFLOP/s; per image "
                     f"{self.total_mult_adds / 1e6:.1f}M mult-adds, {self.total_params:,} parameters")
        return lines

    def _peak_gops(self, name: str) -> float:
        """One core's peak, in GOP/s, of the instruction named `name` (a row's `peak`)."""
        peak = self.context["peak"] or {}
        key, ops_per_unit = next((k, o) for k, o, n in _PEAK_KEYS.values() if n == name)
        return float(peak.get(key, 0.0)) * ops_per_unit

    def _type_table(self) -> List[str]:
        head = (f"{'by layer type (Table 2)':<24} {'layers':>6} {'mult-adds %':>11} {'params %':>9} "
                f"{'time ms':>9} {'time %':>7}")
        lines = [head, "-" * len(head)]
        for v in self.by_type().values():
            lines.append(f"{v['label']:<24} {v['layers']:>6} {v['mult_adds_pct']:11.2f} {v['params_pct']:9.2f} "
                         f"{v['time_ms']:9.3f} {v['time_pct']:7.2f}")
        claim = self.paper_claim()
        verdict = "holds" if claim["holds"] else "does not hold"
        lines.append("-" * len(head))
        lines.append(f"The paper: 95% of the time goes to 1x1 convolutions. Here they take "
                     f"{claim['measured_time_pct']:.1f}% of the time")
        lines.append(f"for {claim['mult_adds_pct']:.1f}% of the mult-adds: the claim {verdict} on this CPU "
                     f"({'within' if claim['holds'] else 'more than'} {claim['tolerance_pct']:g} points from 95%).")
        return lines

    @staticmethod
    def _end_to_end_table(e2e: Dict[str, float]) -> List[str]:
        head = (f"{'whole forward pass (ms)':<24} {'first':>8} {'min':>8} {'median':>8} {'p90':>8} {'p99':>8} "
                f"{'mean':>8}")
        row = (f"{'end to end':<24} {e2e['first_ms']:8.3f} {e2e['min_ms']:8.3f} {e2e['median_ms']:8.3f} "
               f"{e2e['p90_ms']:8.3f} {e2e['p99_ms']:8.3f} {e2e['mean_ms']:8.3f}")
        layers = (f"{'sum of the layers':<24} {'':>8} {e2e['layers_sum_min_ms']:8.3f} "
                  f"{e2e['layers_sum_median_ms']:8.3f} {e2e['layers_sum_p90_ms']:8.3f} "
                  f"{e2e['layers_sum_p99_ms']:8.3f} {e2e['layers_sum_mean_ms']:8.3f}")
        return [head, "-" * len(head), row, layers,
                f"overhead outside the layers (softmax, workspace, dispatch): {e2e['overhead_ms']:.3f} ms at the "
                f"median ({e2e['overhead_pct']:.1f}%),",
                f"{e2e['overhead_min_ms']:.3f} ms at the min; throughput {e2e['images_per_second']:.1f} images/s "
                f"(batch / median)"]

def context_lines(context: Dict[str, Any]) -> List[str]:
    """The model, the settings and the machine a timing was taken on, as lines of at most 100 columns
    (the machine's line wraps where its CPU's name is long)."""
    c = context
    machine = (f"CPU: {c['cpu']}; mobilenet {c['mobilenet_version']}; OPENBLAS_CORETYPE={c['OPENBLAS_CORETYPE']}, "
               f"OPENBLAS_L2_SIZE={c['OPENBLAS_L2_SIZE']}")
    return [f"MobileNet v1 {_model_label(c)}, batch {c['batch']}, {c['threads']} thread(s), {c['isa']} kernels, "
            f"{c['backend']} backend" + (f", {c['precision']}" if c.get("precision", "float32") != "float32" else ""),
            *textwrap.wrap(machine, width=100, subsequent_indent="  ")]


_PRECISION_LABELS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16", "int8": "i8"}


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)


def _model_label(context: Dict[str, Any]) -> str:
    h, w = context["resolution"]
    alpha = f"alpha {context['alpha']:g}, " if context.get("alpha") is not None else ""
    return f"({alpha}{h}x{w})"
