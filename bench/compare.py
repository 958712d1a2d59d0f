"""mobilenet against onnxruntime, OpenVINO, TFLite/XNNPACK (LiteRT) and PyTorch, side by side.

Every runtime runs the same network on the same image in one process. The
runtimes are interleaved in short turns (A B C A B C ..., by default each turn
one untimed call then 10 timed ones: see time_interleaved) so the drift of this
shared machine hits all alike; each reports the median and the minimum of many
timed calls after a warm-up, and the table gives our ratio to each peer
(ours / peer: below 1 means mobilenet is faster). On 2+ threads each turn
starts after a short pause, so no runtime's still-spinning pool (onnxruntime's
spins about 40 ms) holds a core during the next one's turn. PyTorch, whose
eager mode slows whatever runs after it, is interleaved with ours alone. Each
call is also timed in process CPU time: on 1 thread, that ratio ignores the
time other processes held the core.

    python bench/compare.py --quick                # a few configurations, < 2 minutes
    python bench/compare.py --json results.json    # the full grid of issue 4
    python bench/compare.py --bf16 ...             # also our bfloat16 against OpenVINO's default precision
    python bench/compare.py --int8 ...             # also our int8 on the real quantized models (below)

Peers come from the `bench` extra (pip install '.[bench]'); a peer that is not
importable is skipped with a note. PyTorch is used when importable.

onnxruntime and OpenVINO run the ONNX graph of our network (net.to_onnx);
LiteRT runs a .tflite of it written by mobilenet.io.tflite_writer (the graph
TensorFlow's converter makes: fused activations, 'SAME' padding), so every
runtime shares our weights and the table checks that outputs agree.

One extra configuration runs LiteRT on the real float model
mobilenet_v1_0.25_224 from the shared models folder ("litert"), beside LiteRT on
our written graph of the same network ("litert-ours"); the other runtimes then
run a network of that architecture (alpha 0.25, 224, relu6, TF 'SAME'
padding, 1001 classes, softmax output): with the loaded real weights when
`mobilenet.load` exists, else with random weights, which is the same work.

--int8 adds a row per real quantized model of the shared models folder (the
Coral uint8 0.25/128, 0.5/160 and 0.75/192, and 1.0/224 as its embedding
extractor joined with its head) and thread count: ours in int8 on the file
(uint8 in, raw uint8 out), LiteRT/XNNPACK on the same file (1.0/224: the two
files one after the other), onnxruntime and OpenVINO on a per-channel QDQ
ONNX model of a network of the same shape (onnxruntime.quantization.
quantize_static of our float ONNX export, random weights: the speed does not
depend on them), and our float32 network of that shape, all in the same
turns. --no-float skips the float32 grid (then only the int8 rows run).
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import mobilenet
from mobilenet.params import fold_batch_norm
from mobilenet.profiler import layer_peak

HERE = Path(__file__).resolve().parent
TFLITE_NAME = "mobilenet_v1_0.25_224_1_default_1.tflite"
ALPHAS = (1.0, 0.75, 0.5, 0.25)
RESOLUTIONS = (224, 192, 160, 128)
PEER_NAMES = ("onnxruntime", "openvino", "litert", "torch")


# ---------------------------------------------------------------- environment

def models_dir(name: str = TFLITE_NAME) -> Path | None:
    """The shared models folder ($MOBILENET_TEST_MODELS, else ../shared/models) if it holds `name`."""
    candidates = [os.environ.get("MOBILENET_TEST_MODELS"), HERE.parent.parent / "shared" / "models"]
    for candidate in candidates:
        if candidate and (Path(candidate) / name).is_file():
            return Path(candidate)
    return None


def cpu_name() -> str:
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    family = fields.get("cpu family")
    name = fields.get("model name", platform.machine())
    if family:
        name += f" (family {family}, model {fields.get('model')})"
    return name


def peer_versions() -> dict:
    versions = {"mobilenet": mobilenet.__version__, "numpy": np.__version__, "python": platform.python_version()}
    for _module, dist in (("onnx", "onnx"), ("onnxruntime", "onnxruntime"), ("openvino", "openvino"),
                         ("ai_edge_litert", "ai-edge-litert"), ("torch", "torch")):
        try:
            from importlib.metadata import version
            versions[dist] = version(dist)
        except Exception:  # not installed
            versions[dist] = None
    return versions


def environment() -> dict:
    return {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": mobilenet._core.physical_cores(),
        "isa": mobilenet.isa(),
        "blas": mobilenet._core.blas_config(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "versions": peer_versions(),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "load_average_at_start": os.getloadavg(),
    }


def measure_peak() -> dict | None:
    """One core's peaks from bench/peak (FP32 FMA, vdpbf16ps, vpdpbusd; built here through CMake's
    MOBILENET_BUILD_BENCH, again where the binary is older than its source); None if it cannot be built."""
    build = HERE.parent / "build" / "bench"
    binary = build / "peak"
    source = HERE / "peak" / "peak.cpp"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        try:
            subprocess.run(["cmake", "-S", str(HERE.parent), "-B", str(build), "-DMOBILENET_BUILD_BENCH=ON",
                            "-DMOBILENET_BUILD_PYTHON=OFF", "-DMOBILENET_WITH_BLAS=OFF"],
                           check=True, capture_output=True)
            subprocess.run(["cmake", "--build", str(build), "--target", "peak"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"note: could not build bench/peak ({error}); no % of peak reported", file=sys.stderr)
            return None
    out = subprocess.run([str(binary), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


# ---------------------------------------------------------------- runtimes

class Runtime:
    """A name, a zero-argument call that runs one forward pass, and that call's output."""

    def __init__(self, name: str, run, note: str = ""):
        self.name, self.run, self.note = name, run, note


def ours(net, x_nhwc, softmax: bool) -> Runtime:
    call = net if softmax else net.logits
    return Runtime("mobilenet", lambda: call(x_nhwc), f"{net.isa}, {net.backend}")


def onnxruntime_peer(onnx_path, x_nchw, threads: int) -> Runtime:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = {"input": x_nchw}
    return Runtime("onnxruntime", lambda: session.run(None, feed)[0], "CPU EP, ORT_ENABLE_ALL")


def openvino_peer(onnx_path, x_nchw, threads: int, *, default_precision: bool = False) -> Runtime:
    """OpenVINO in f32, like for like; or (default_precision) with its own default inference
    precision, which is bf16 on CPUs with AVX512_BF16 or AMX (the name is then openvino-default)."""
    import openvino as ov
    core = ov.Core()
    model = core.read_model(str(onnx_path))
    model.reshape({"input": list(x_nchw.shape)})  # static shape, as a deployment would compile it
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    if not default_precision:
        config["INFERENCE_PRECISION_HINT"] = "f32"  # the default may be bf16: f32 keeps it like for like
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))

    def run():
        request.infer({0: x_nchw}, share_inputs=True)
        return request.get_output_tensor(0).data.copy()
    if default_precision:
        return Runtime("openvino-default", run, f"CPU, LATENCY hint, its default precision: {precision}")
    return Runtime("openvino", run, "CPU, LATENCY hint, f32")


def ours_bf16(net, x_nhwc, softmax: bool) -> Runtime | None:
    """Our network with precision="bfloat16", or None where this CPU does not run it."""
    from mobilenet.precision import PrecisionNotAvailable
    try:
        bf16 = net.with_precision("bfloat16")
    except PrecisionNotAvailable as e:
        print(f"note: no bf16 rows: {e}", file=sys.stderr)
        return None
    gemms = [(k, p) for layer, k, p in zip(bf16.layers, bf16.kernel_names, bf16.layer_precisions)
             if layer.type in ("conv1x1", "fc")]
    in_bf16 = [k for k, p in gemms if p == "bfloat16"]
    kernel = in_bf16[0].split("_")[1] if in_bf16 else "-"
    stem = "the stem, " if bf16.layer_precisions[0] == "bfloat16" else ""  # on AMX tiles
    call = bf16 if softmax else bf16.logits
    return Runtime("mobilenet-bf16", lambda: call(x_nhwc),
                   f"bfloat16: {len(in_bf16)} of {len(gemms)} GEMMs in bf16 ({kernel}), {stem}the rest float32")


def litert_peer(model_path, x_nhwc, threads: int) -> Runtime:
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
    input_index = interpreter.get_input_details()[0]["index"]
    if tuple(interpreter.get_input_details()[0]["shape"]) != x_nhwc.shape:
        interpreter.resize_tensor_input(input_index, list(x_nhwc.shape))
    interpreter.allocate_tensors()
    output_index = interpreter.get_output_details()[0]["index"]

    def run():
        interpreter.set_tensor(input_index, x_nhwc)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)
    return Runtime("litert", run, "XNNPACK (default delegate)")


def torch_module(net, softmax: bool):
    """The same network in torch.nn, batch norm folded like ours."""
    import torch
    from torch import nn
    modules = []
    for layer in net.layers:
        p = net.params.get(layer.name, {})
        if layer.type in ("conv3x3", "dwconv3x3", "conv1x1"):
            weight, bias = fold_batch_norm(layer, p)
            cin, cout = layer.in_shape[2], layer.out_shape[2]
            if layer.type == "conv3x3":
                weight, groups, size = weight.transpose(3, 2, 0, 1), 1, 3
            elif layer.type == "dwconv3x3":
                weight, groups, size = weight.transpose(2, 0, 1)[:, None], cin, 3
            else:
                weight, groups, size = weight.T[:, :, None, None], 1, 1
            top, left, bottom, right = layer.padding
            if (top, left) != (bottom, right):
                modules.append(nn.ZeroPad2d((left, right, top, bottom)))
                padding = 0
            else:
                padding = (top, left)
            conv = nn.Conv2d(cin, cout, size, stride=layer.stride, padding=padding, groups=groups)
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(weight))
            conv.bias.data = torch.from_numpy(bias)
            modules.append(conv)
            if layer.activation == "relu":
                modules.append(nn.ReLU(inplace=True))
            elif layer.activation == "relu6":
                modules.append(nn.ReLU6(inplace=True))
        elif layer.type == "avgpool":
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif layer.type == "fc":
            weight, bias = fold_batch_norm(layer, p)
            fc = nn.Linear(layer.in_shape[2], layer.out_shape[2])
            fc.weight.data = torch.from_numpy(np.ascontiguousarray(weight.T))
            fc.bias.data = torch.from_numpy(bias)
            modules.append(fc)
    if softmax:
        modules.append(nn.Softmax(dim=1))
    return nn.Sequential(*modules).eval()


def torch_peer(net, x_nchw, threads: int, softmax: bool) -> Runtime:
    import torch
    torch.set_num_threads(threads)
    module = torch_module(net, softmax)
    x = torch.from_numpy(x_nchw)

    def run():
        with torch.inference_mode():
            return module(x).numpy()
    return Runtime("torch", run, "eager, inference_mode")


# ---------------------------------------------------------------- timing

def paired_fastest(runtimes, rounds: int, block: int) -> np.ndarray:
    """After 10 warm-up calls each, per round the fastest of `block` calls of each runtime (seconds,
    rounds x runtimes), the order alternating: paired_int8.py and paired_bf16.py."""
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


def paired_summary(fastest: np.ndarray, peer: str) -> str:
    """paired_fastest's rounds as the median over rounds of ours / peer (column 0 over column 1), its
    quartiles, and each side's fastest calls (median over rounds)."""
    q1, median, q3 = np.percentile(fastest[:, 0] / fastest[:, 1], [25, 50, 75])
    return (f"ours / {peer} median {median:.3f} (quartiles {q1:.3f}-{q3:.3f}); fastest calls, median over rounds: "
            f"ours {np.median(fastest[:, 0]) * 1e3:.3f} ms, {peer} {np.median(fastest[:, 1]) * 1e3:.3f} ms")


def time_interleaved(runtimes, runs: int, warmup: int, block: int = 1, *, cpu: bool = False, settle_s: float = 0.0):
    """Nanoseconds of each call, the runtimes taking turns: A B C A B C ...

    With block > 1 each turn is one untimed call and then `block` timed calls
    (A A.. B B.. C C.. A A.. ...): the untimed call absorbs what the previous
    runtime left behind (its thread pool still spinning, its weights in the
    caches), so each runtime is timed in its steady back-to-back state while
    the turns stay short enough for the machine's drift to hit all alike.

    settle_s > 0 pauses before each turn so that every runtime's thread pool
    has stopped spinning: onnxruntime's workers spin for about 40 ms after its
    last call, and on 2 cores such a spinning thread keeps the next runtime's
    second thread off its core.

    Returns {name: wall-clock ns}; with cpu=True also {name: process CPU ns},
    which on one thread is the latency minus the time other processes held
    the core (all work of a 1-thread runtime runs on the calling thread).
    """
    for _ in range(warmup):
        for runtime in runtimes:
            runtime.run()
    rounds = -(-runs // block)
    times = {runtime.name: np.empty(rounds * block, dtype=np.int64) for runtime in runtimes}
    cpu_times = {runtime.name: np.empty(rounds * block, dtype=np.int64) for runtime in runtimes}
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for runtime in runtimes:
                if settle_s:
                    time.sleep(settle_s)
                if block > 1:
                    runtime.run()
                sink, cpu_sink = times[runtime.name], cpu_times[runtime.name]
                for i in range(r * block, (r + 1) * block):
                    c0, t0 = cpu_clock(), clock()
                    runtime.run()
                    t1, c1 = clock(), cpu_clock()
                    sink[i], cpu_sink[i] = t1 - t0, c1 - c0
    finally:
        if gc_was_enabled:
            gc.enable()
    wall = {name: t[:runs] for name, t in times.items()}
    return (wall, {name: t[:runs] for name, t in cpu_times.items()}) if cpu else wall


def layer_profile(net, x_nhwc, runs: int) -> dict:
    """Median per-layer time (C++ clock) and the 1x1 layers' share and GFLOP/s (GOP/s in int8)."""
    report = net.timed_passes(x_nhwc, runs, min(10, runs), softmax=False)
    layer_ns = np.median(np.asarray(report["layer_ns"]), axis=0)
    pointwise = [i for i, layer in enumerate(net.layers) if layer.type == "conv1x1"]
    pointwise_ns = float(layer_ns[pointwise].sum())
    pointwise_mult_adds = sum(net.layers[i].mult_adds for i in pointwise) * x_nhwc.shape[0]
    return {
        "total_ns_median": float(np.median(report["total_ns"])),
        "layer_ns_median": {layer.name: float(t) for layer, t in zip(net.layers, layer_ns)},
        "pointwise_share_of_time": pointwise_ns / float(layer_ns.sum()),
        "pointwise_gflops": 2 * pointwise_mult_adds / pointwise_ns,
        "pointwise_kernel": net.kernel_names[pointwise[0]] if pointwise else "",
    }


def python_overhead(net, x_nhwc, runs: int, rounds: int = 20) -> dict:
    """Python call time vs the C++-measured forward time, in many short alternating rounds.

    The overhead is the median over rounds of (Python median - C++ median) within
    a round, so drift between rounds cancels.
    """
    clock = time.perf_counter_ns
    per_round = max(5, runs // rounds)
    cxx_rounds, py_rounds, py_nocheck_rounds = [], [], []
    for _ in range(rounds):
        cxx_rounds.append(float(np.median(net.timed_passes(x_nhwc, per_round, 3, softmax=False)["total_ns"])))
        for check, sink in ((True, py_rounds), (False, py_nocheck_rounds)):
            for _ in range(3):
                net.logits(x_nhwc, check_finite=check)
            samples = []
            for _ in range(per_round):
                t0 = clock()
                net.logits(x_nhwc, check_finite=check)
                samples.append(clock() - t0)
            sink.append(float(np.median(samples)))
    cxx, py, py_nocheck = (np.asarray(v) for v in (cxx_rounds, py_rounds, py_nocheck_rounds))
    return {"cxx_median_us": float(np.median(cxx)) / 1e3, "python_median_us": float(np.median(py)) / 1e3,
            "python_no_check_median_us": float(np.median(py_nocheck)) / 1e3,
            "overhead_us": float(np.median(py - cxx)) / 1e3,
            "overhead_no_check_us": float(np.median(py_nocheck - cxx)) / 1e3}


# ---------------------------------------------------------------- one configuration

def tflite_writer():
    """mobilenet.io.tflite_writer, or None without its `tflite`/`flatbuffers` packages."""
    try:
        importlib.import_module("flatbuffers")
        importlib.import_module("tflite")
    except ImportError:
        return None
    return importlib.import_module("mobilenet.io.tflite_writer")


def available(name: str) -> bool:
    module = {"onnxruntime": "onnxruntime", "openvino": "openvino", "litert": "ai_edge_litert.interpreter",
              "torch": "torch"}[name]
    try:
        importlib.import_module(module)
        return True
    except Exception:  # ImportError, or a broken install: skip the peer either way
        return False


def build_net(alpha, resolution, threads, *, tflite_model=None):
    """Our network; for the TFLite configuration, the real model's architecture (its weights if loadable)."""
    if tflite_model is None:
        return mobilenet.MobileNetV1(alpha, resolution, threads=threads), "random weights"
    if hasattr(mobilenet, "load"):
        try:
            return mobilenet.load(str(tflite_model), threads=threads), "real weights (mobilenet.load)"
        except TypeError:
            net = mobilenet.load(str(tflite_model))
            net.set_threads(threads)
            return net, "real weights (mobilenet.load)"
    return (mobilenet.MobileNetV1(0.25, 224, num_classes=1001, activation="relu6", padding="same", threads=threads),
            "random weights, same architecture as the .tflite (mobilenet.load not available)")


def measure(alpha: float, resolution: int, threads: int, batch: int, peers, runs: int, warmup: int,
            workdir: Path, *, tflite_model=None, profile_runs: int = 30, block: int = 1,
            settle_ms: float = 50.0, bf16: bool = False) -> dict:
    """Time every runtime on one configuration; returns medians, minima, ratios and outputs' agreement."""
    net, weights = build_net(alpha, resolution, threads, tflite_model=tflite_model)
    softmax = tflite_model is not None  # the .tflite ends in a softmax: everyone does the same work
    rng = np.random.default_rng(batch * 1000 + resolution)
    x_nhwc = rng.uniform(-1, 1, (batch,) + net.input_shape).astype(np.float32)
    x_nchw = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
    mine = ours(net, x_nhwc, softmax)
    runtimes = [mine]
    onnx_path = workdir / f"net_{alpha}_{resolution}_{int(softmax)}.onnx"
    if "onnxruntime" in peers or "openvino" in peers:
        net.to_onnx(onnx_path, softmax=softmax)
    if "onnxruntime" in peers:
        runtimes.append(onnxruntime_peer(onnx_path, x_nchw, threads))
    if "openvino" in peers:
        runtimes.append(openvino_peer(onnx_path, x_nchw, threads))
    if bf16:
        mine_bf16 = ours_bf16(net, x_nhwc, softmax)
        if mine_bf16 is not None:
            runtimes.append(mine_bf16)
        if "openvino" in peers:
            runtimes.append(openvino_peer(onnx_path, x_nchw, threads, default_precision=True))
    if "litert" in peers and tflite_model is not None:
        runtimes.append(litert_peer(tflite_model, x_nhwc, threads))
    if "litert" in peers and tflite_writer() is not None:
        written = workdir / f"net_{alpha}_{resolution}_{int(softmax)}_b{batch}.tflite"
        tflite_writer().to_tflite(net, written, softmax=softmax, batch=batch)
        runtime = litert_peer(written, x_nhwc, threads)
        if tflite_model is not None:  # beside the real model: our weights in the same graph, as a cross-check
            runtime.name, runtime.note = "litert-ours", runtime.note + "; our weights (mobilenet.io.tflite_writer)"
        else:
            runtime.note += "; graph from mobilenet.io.tflite_writer"
        runtimes.append(runtime)
    # PyTorch's eager mode slows every runtime that runs after it (probably its
    # allocator mapping and unmapping large activations on every call), so it is
    # timed in a pairing of its own: ours, torch, ours, torch, ...
    paired = [torch_peer(net, x_nchw, threads, softmax)] if "torch" in peers else []

    reference = mine.run()
    agreement = {}
    for runtime in runtimes[1:] + paired:
        out = np.asarray(runtime.run()).reshape(reference.shape)
        agreement[runtime.name] = float(np.abs(out - reference).max())

    settle_s = settle_ms / 1e3 if threads > 1 else 0.0  # 1-thread runtimes have no pool threads to settle
    times, cpu_times = time_interleaved(runtimes, runs, warmup, block, cpu=True, settle_s=settle_s)
    ours_times = {runtime.name: times["mobilenet"] for runtime in runtimes}
    ours_cpu_times = {runtime.name: cpu_times["mobilenet"] for runtime in runtimes}
    for runtime in paired:
        pair_times, pair_cpu = time_interleaved([mine, runtime], runs, warmup, block, cpu=True, settle_s=settle_s)
        times[runtime.name], ours_times[runtime.name] = pair_times[runtime.name], pair_times["mobilenet"]
        cpu_times[runtime.name], ours_cpu_times[runtime.name] = pair_cpu[runtime.name], pair_cpu["mobilenet"]
    mult_adds = sum(layer.mult_adds for layer in net.layers) * batch
    result = {"alpha": alpha, "resolution": resolution, "threads": threads, "batch": batch,
              "weights": weights, "softmax": softmax, "tflite": tflite_model is not None,
              "mult_adds": mult_adds, "runs": runs, "warmup": warmup, "block": block,
              "settle_ms": settle_s * 1e3, "runtimes": {}}
    ours_median = float(np.median(times["mobilenet"]))
    for runtime in runtimes + paired:
        t = times[runtime.name]
        median = float(np.median(t))
        result["runtimes"][runtime.name] = {
            "median_ms": median / 1e6, "min_ms": float(t.min()) / 1e6, "images_per_s": batch / (median / 1e9),
            "ours_over_peer": float(np.median(ours_times[runtime.name])) / median,
            "cpu_median_ms": float(np.median(cpu_times[runtime.name])) / 1e6,
            "ours_over_peer_cpu": float(np.median(ours_cpu_times[runtime.name]) / np.median(cpu_times[runtime.name])),
            "max_abs_diff_vs_ours": agreement.get(runtime.name),
            "note": runtime.note + ("; timed in a pairing with ours alone" if runtime in paired else "")}
    # Our bf16 against OpenVINO's default precision (bf16 here) and against our float32, from the same turns.
    if "mobilenet-bf16" in times:
        bf16_median = float(np.median(times["mobilenet-bf16"]))
        result["bf16"] = {"ours_bf16_over_ours_f32": bf16_median / ours_median,
                          "note": next(r.note for r in runtimes if r.name == "mobilenet-bf16")}
        for peer in ("openvino-default", "openvino", "onnxruntime"):
            if peer in times:
                result["bf16"][f"ours_bf16_over_{peer}"] = bf16_median / float(np.median(times[peer]))
        if profile_runs:
            result["bf16"]["profile"] = layer_profile(net.with_precision("bfloat16"), x_nhwc, profile_runs)
    peers_only = {k: v for k, v in result["runtimes"].items() if not k.startswith("mobilenet")}
    if peers_only:
        # The best peer is the one our ratio is worst against (PyTorch's medians come from another pairing).
        best = max(peers_only, key=lambda k: peers_only[k]["ours_over_peer"])
        result["best_peer"], result["ours_over_best_peer"] = best, peers_only[best]["ours_over_peer"]
        best_cpu = max(peers_only, key=lambda k: peers_only[k]["ours_over_peer_cpu"])
        result["best_peer_cpu"] = best_cpu
        result["ours_over_best_peer_cpu"] = peers_only[best_cpu]["ours_over_peer_cpu"]
    result["ours_gflops"] = 2 * mult_adds / ours_median
    if profile_runs:
        result["profile"] = layer_profile(net, x_nhwc, profile_runs)
    return result


# ---------------------------------------------------------------- int8

# The real quantized models: (file, head file or None, alpha, resolution).
INT8_MODELS = {"0.25/128": ("mobilenet_v1_0.25_128_quant.tflite", None, 0.25, 128),
               "0.5/160": ("mobilenet_v1_0.5_160_quant.tflite", None, 0.5, 160),
               "0.75/192": ("mobilenet_v1_0.75_192_quant.tflite", None, 0.75, 192),
               "1.0/224": ("mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
                           "mobilenet_v1_1.0_224_quant_head_layers.tflite", 1.0, 224)}


def litert_pair(features: Path, head: Path, x_nhwc, threads: int) -> Runtime:
    """LiteRT on the embedding file, then the head file on its output."""
    first = litert_peer(features, x_nhwc, threads)
    from ai_edge_litert.interpreter import Interpreter
    second = Interpreter(model_path=str(head), num_threads=threads)
    second.allocate_tensors()
    index = second.get_input_details()[0]["index"]
    shape = second.get_input_details()[0]["shape"]
    out = second.get_output_details()[0]["index"]

    def run():
        second.set_tensor(index, first.run().reshape(shape))
        second.invoke()
        return second.get_tensor(out)
    return Runtime("litert", run, "XNNPACK (default delegate), embedding + head files")


def qdq_model(alpha: float, resolution: int, folder: Path) -> Path:
    """A per-channel QDQ ONNX model (uint8 activations, int8 weights) of a random float network of this
    shape: onnxruntime.quantization.quantize_static of our float ONNX export, calibrated on 8 random images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    net = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, num_classes=1001, activation="relu6",
                                padding="same", threads=1)
    float_path = folder / f"float_{alpha}_{resolution}.onnx"
    net.to_onnx(float_path, softmax=True)
    rng = np.random.default_rng(0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": rng.uniform(-1, 1, (1, 3, resolution, resolution)).astype(np.float32)}
                               for _ in range(8)])

        def get_next(self):
            return next(self.items, None)

    path = folder / f"qdq_{alpha}_{resolution}.onnx"
    quantize_static(str(float_path), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return path


def openvino_int8_peer(onnx_path: Path, x_nchw, threads: int) -> Runtime:
    """OpenVINO on a QDQ model: its CPU plugin turns the QuantizeLinear/DequantizeLinear pairs into
    int8 convolutions (oneDNN, VNNI or AMX where the CPU has them)."""
    import openvino as ov
    core = ov.Core()
    model = core.read_model(str(onnx_path))
    model.reshape({"input": list(x_nchw.shape)})
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()

    def run():
        request.infer({0: x_nchw}, share_inputs=True)
        return request.get_output_tensor(0).data.copy()
    return Runtime("openvino-int8", run, "CPU, LATENCY hint, QDQ model (int8)")


def load_int8(folder: Path, key: str, threads: int):
    features, head, _, _ = INT8_MODELS[key]
    if head:
        return mobilenet.load(folder / features, head=folder / head, threads=threads)
    return mobilenet.load(folder / features, threads=threads)


def measure_int8(key: str, threads: int, peers, runs: int, warmup: int, folder: Path, qdq: Path | None, *,
                 profile_runs: int = 30, block: int = 1, settle_ms: float = 50.0) -> dict:
    """One real quantized model on `threads` threads: ours int8, LiteRT on the same file, the QDQ
    model in onnxruntime and OpenVINO, and our float32 network of that shape, in the same turns."""
    features, head, alpha, resolution = INT8_MODELS[key]
    net = load_int8(folder, key, threads)
    x = np.random.default_rng(resolution).integers(0, 256, (1, resolution, resolution, 3), dtype=np.uint8)
    x_float = net.quantization.input.dequantize(x).astype(np.float32)
    x_nchw = np.ascontiguousarray(x_float.transpose(0, 3, 1, 2))
    gemm = next((k for layer, k in zip(net.layers, net.kernel_names) if layer.type == "conv1x1"), "-")
    mine = Runtime("mobilenet-int8", lambda: net(x, quantized_output=True), f"{net.isa}, {gemm}, uint8 in and out")
    runtimes = [mine]
    if "litert" in peers:
        runtimes.append(litert_pair(folder / features, folder / head, x, threads) if head
                        else litert_peer(folder / features, x, threads))
    if qdq is not None and "onnxruntime" in peers:
        ort = onnxruntime_peer(qdq, x_nchw, threads)
        runtimes.append(Runtime("onnxruntime-int8", ort.run, "CPU EP, ORT_ENABLE_ALL, QDQ model (int8)"))
    if qdq is not None and "openvino" in peers:
        runtimes.append(openvino_int8_peer(qdq, x_nchw, threads))
    fnet = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, num_classes=1001, activation="relu6",
                                 padding="same", threads=threads)
    runtimes.append(Runtime("mobilenet", lambda: fnet(x_float), f"float32, {fnet.isa}, same shape, random weights"))

    # The same file in LiteRT: its uint8 output against ours (XNNPACK rounds differently from the reference
    # kernels ours matches: a few LSB); the QDQ models have other weights, so no comparison.
    reference = np.asarray(mine.run()).astype(np.int64)
    agreement = {}
    for runtime in runtimes[1:]:
        if runtime.name == "litert":
            out = np.asarray(runtime.run()).reshape(reference.shape).astype(np.int64)
            agreement[runtime.name] = int(np.abs(out - reference).max())

    settle_s = settle_ms / 1e3 if threads > 1 else 0.0
    times, cpu_times = time_interleaved(runtimes, runs, warmup, block, cpu=True, settle_s=settle_s)
    ours_median = float(np.median(times["mobilenet-int8"]))
    ours_cpu = float(np.median(cpu_times["mobilenet-int8"]))
    mult_adds = sum(layer.mult_adds for layer in net.layers)
    result = {"model": key, "file": features + (f" + {head}" if head else ""), "alpha": alpha,
              "resolution": resolution, "threads": threads, "batch": 1, "mult_adds": mult_adds, "runs": runs,
              "warmup": warmup, "block": block, "settle_ms": settle_s * 1e3, "runtimes": {}}
    for runtime in runtimes:
        t = times[runtime.name]
        median = float(np.median(t))
        result["runtimes"][runtime.name] = {
            "median_ms": median / 1e6, "min_ms": float(t.min()) / 1e6, "images_per_s": 1 / (median / 1e9),
            "ours_over_peer": ours_median / median,
            "cpu_median_ms": float(np.median(cpu_times[runtime.name])) / 1e6,
            "ours_over_peer_cpu": ours_cpu / float(np.median(cpu_times[runtime.name])),
            "max_lsb_diff_vs_ours": agreement.get(runtime.name), "note": runtime.note}
    int8_peers = {k: v for k, v in result["runtimes"].items() if k in ("onnxruntime-int8", "openvino-int8")}
    if int8_peers:
        best = max(int8_peers, key=lambda k: int8_peers[k]["ours_over_peer"])
        result["best_int8_peer"], result["ours_over_best_int8_peer"] = best, int8_peers[best]["ours_over_peer"]
    result["ours_gops"] = 2 * mult_adds / ours_median
    if profile_runs:
        result["profile"] = layer_profile(net, x, profile_runs)
    return result


def int8_results(args, peers, folder: Path, tmp: Path, peak) -> list:
    """Every int8 row: each model's QDQ file made once, then one row per thread count."""
    results = []
    qdq_ok = "onnxruntime" in peers or "openvino" in peers
    for key in args.int8_models:
        qdq = None
        if qdq_ok and available("onnxruntime"):
            qdq = qdq_model(INT8_MODELS[key][2], INT8_MODELS[key][3], tmp)
        for threads in args.threads:
            result = measure_int8(key, threads, peers, args.runs, args.warmup, folder, qdq,
                                  profile_runs=0 if args.no_profile else min(args.runs, 50), block=args.block,
                                  settle_ms=args.settle_ms)
            results.append(result)
            print_int8_result(result, peak)
            sys.stdout.flush()
    return results


def int8_peak_gops(peak, result) -> tuple[float | None, str]:
    """One core's int8 dot-product peak (GOP/s) of the instruction our int8 1x1 layers use, and its
    name: the profiler's choice for their kernel (tdpbusd on AMX tiles, else the ISA's vpdpbusd)."""
    kernel = (result.get("profile") or {}).get("pointwise_kernel", "")
    found = layer_peak(peak or {}, mobilenet.isa(), "int8", kernel)
    return (found[1], found[0]) if found else (None, "")


def print_int8_result(result, peak, out=sys.stdout) -> None:
    print(f"\n== int8: real {result['model']} uint8 ({result['file']}), batch 1, {result['threads']} thread(s), "
          f"{result['mult_adds'] / 1e6:.1f} M mult-adds ==", file=out)
    print(f"{'runtime':<16} {'median ms':>10} {'min ms':>9} {'ours/peer':>10} {'CPU ms':>8} {'(ratio)':>8} "
          f"{'max LSB':>8}  note", file=out)
    for name, r in result["runtimes"].items():
        ratio = "-" if name == "mobilenet-int8" else f"{r['ours_over_peer']:.2f}x"
        cpu_ratio = "-" if name == "mobilenet-int8" else f"{r['ours_over_peer_cpu']:.2f}x"
        lsb = "-" if r["max_lsb_diff_vs_ours"] is None else str(r["max_lsb_diff_vs_ours"])
        print(f"{name:<16} {r['median_ms']:>10.3f} {r['min_ms']:>9.3f} {ratio:>10} {r['cpu_median_ms']:>8.3f} "
              f"{cpu_ratio:>8} {lsb:>8}  {r['note']}", file=out)
    line = f"ours int8: {result['ours_gops']:.1f} GOP/s end to end"
    ceiling, instruction = int8_peak_gops(peak, result)
    if ceiling:
        line += f" = {100 * result['ours_gops'] / (ceiling * result['threads']):.0f}% of the {instruction} peak"
    profile = result.get("profile")
    if profile:
        line += f"; 1x1 layers {profile['pointwise_gflops']:.1f} GOP/s"
        if ceiling:
            line += f" ({100 * profile['pointwise_gflops'] / (ceiling * result['threads']):.0f}% of it)"
        line += f", {100 * profile['pointwise_share_of_time']:.0f}% of the time"
    print(line, file=out)


def int8_markdown(results, peak) -> list:
    """The int8 rows as a Markdown table (ratios: ours int8 / peer, from the same turns)."""
    lines = ["| model, threads | ours int8 ms | / LiteRT (same file) | / onnxruntime int8 (QDQ) | "
             "/ OpenVINO int8 (QDQ) | / best int8 peer | / ours float32 | ours GOP/s | 1x1 GOP/s | "
             "1x1 % of the peak of its instruction | LiteRT max LSB diff |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    def ratio(rt, name, key="ours_over_peer"):
        return f"{rt[name][key]:.2f}" if name in rt else "-"
    for r in results:
        rt = r["runtimes"]
        best = (f"{r['ours_over_best_int8_peer']:.2f} ({r['best_int8_peer']})" if "best_int8_peer" in r else "-")
        profile = r.get("profile") or {}
        pw = profile.get("pointwise_gflops")
        ceiling, instruction = int8_peak_gops(peak, r)
        share = f"{100 * pw / (ceiling * r['threads']):.0f}% ({instruction})" if pw and ceiling else "-"
        lsb = rt.get("litert", {}).get("max_lsb_diff_vs_ours")
        lines.append(f"| {r['model']} t{r['threads']} | {rt['mobilenet-int8']['median_ms']:.3f} | "
                     f"{ratio(rt, 'litert')} | {ratio(rt, 'onnxruntime-int8')} | {ratio(rt, 'openvino-int8')} | "
                     f"{best} | "
                     f"{ratio(rt, 'mobilenet')} | {r['ours_gops']:.1f} | " + (f"{pw:.1f}" if pw else "-")
                     + f" | {share} | {'-' if lsb is None else lsb} |")
    lines += ["", "The same int8 ratios from process CPU time per call (on 1 thread: the latency minus the time "
              "other processes held the core):", "",
              "| model, threads | ours int8 CPU ms | / LiteRT | / onnxruntime int8 | / OpenVINO int8 "
              "| / ours float32 |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        rt = r["runtimes"]
        lines.append(f"| {r['model']} t{r['threads']} | {rt['mobilenet-int8']['cpu_median_ms']:.3f} | "
                     + " | ".join(ratio(rt, name, "ours_over_peer_cpu")
                                  for name in ("litert", "onnxruntime-int8", "openvino-int8", "mobilenet")) + " |")
    lines += ["", "Each int8 configuration's runtimes (median and minimum of the timed calls, process CPU time):", ""]
    for r in results:
        lines += [f"**int8: {r['model']} ({r['file']}), {r['threads']} thread(s)**", "",
                  "| runtime | median ms | min ms | ours / peer | CPU ms | ours / peer (CPU) | note |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, x in r["runtimes"].items():
            ratio = "-" if name == "mobilenet-int8" else f"{x['ours_over_peer']:.2f}"
            cpu_ratio = "-" if name == "mobilenet-int8" else f"{x['ours_over_peer_cpu']:.2f}"
            lines.append(f"| {name} | {x['median_ms']:.3f} | {x['min_ms']:.3f} | {ratio} | {x['cpu_median_ms']:.3f} "
                         f"| {cpu_ratio} | {x['note']} |")
        lines.append("")
    return lines


def bf16_pointwise_of_peak(result, peak) -> float | None:
    """Our bf16 1x1 layers' share of one core's vdpbf16ps peak per thread, from the profile; None
    without a profile, a measured peak, or where the GEMMs run by FMA (bf16fma)."""
    b = result.get("bf16", {})
    profile = b.get("profile")
    gmacs = (peak or {}).get("avx512_bf16_gmacs")
    if not profile or not gmacs or "bf16gemm" not in b.get("note", ""):
        return None
    return profile["pointwise_gflops"] / 2 / (gmacs * result["threads"])


def bf16_ceiling_ms(result, peak) -> float | None:
    """Our bf16 call's median with its 1x1 layers at the vdpbf16ps peak and the rest as they ran: the
    profile's shares (the 1x1 layers' of the time, and their share of the peak) applied to the timed
    median; None where bf16_pointwise_of_peak is."""
    of_peak = bf16_pointwise_of_peak(result, peak)
    if of_peak is None:
        return None
    share = result["bf16"]["profile"]["pointwise_share_of_time"]
    return result["runtimes"]["mobilenet-bf16"]["median_ms"] * (1 - share * (1 - min(1.0, of_peak)))


def bf16_markdown(results, peak=None) -> list:
    """The bf16 rows: ours bfloat16 against our float32, OpenVINO's default (bf16 here) and f32, and onnxruntime;
    with the peak, also the ratio to OpenVINO's default that our 1x1 layers at the peak would give (its ceiling)."""
    rows = [r for r in results if "bf16" in r]
    if not rows:
        return []
    lines = ["| configuration | ours f32 ms | ours bf16 ms | bf16 / our f32 | bf16 / OpenVINO default | "
             "1x1 % of the vdpbf16ps peak | bf16 / OpenVINO default, 1x1 at the peak | "
             "bf16 / OpenVINO f32 | bf16 / onnxruntime (f32) | CPU time: bf16 / our f32, / OpenVINO default, "
             "/ onnxruntime | GEMMs |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]

    def ceiling(r):
        ms, of_peak, peer = bf16_ceiling_ms(r, peak), bf16_pointwise_of_peak(r, peak), r["runtimes"].get(
            "openvino-default")
        if ms is None or of_peak is None or peer is None:
            return "- | -"
        return f"{100 * of_peak:.0f}% | {ms / peer['median_ms']:.2f}"

    def ratio(b, peer):
        value = b.get(f"ours_bf16_over_{peer}")
        return "-" if value is None else f"{value:.2f}"

    def cpu_ratios(rt):
        mine = rt["mobilenet-bf16"]["cpu_median_ms"]
        return ", ".join(f"{mine / rt[n]['cpu_median_ms']:.2f}" if n in rt else "-"
                         for n in ("mobilenet", "openvino-default", "onnxruntime"))
    for r in rows:
        b = r["bf16"]
        label = "real .tflite 0.25/224" if r["tflite"] else f"{r['alpha']:g}/{r['resolution']}"
        lines.append(f"| {label} b{r['batch']} t{r['threads']} | {r['runtimes']['mobilenet']['median_ms']:.3f} | "
                     f"{r['runtimes']['mobilenet-bf16']['median_ms']:.3f} | {b['ours_bf16_over_ours_f32']:.2f} | "
                     f"{ratio(b, 'openvino-default')} | {ceiling(r)} | {ratio(b, 'openvino')} | "
                     f"{ratio(b, 'onnxruntime')} | "
                     f"{cpu_ratios(r['runtimes'])} | {b['note'].split(': ', 1)[-1]} |")
    return lines


# ---------------------------------------------------------------- reporting

def describe(result) -> str:
    what = f"alpha {result['alpha']:g}, {result['resolution']}x{result['resolution']}"
    if result["tflite"]:
        what = (f"real TFLite model {TFLITE_NAME} (alpha 0.25, 224, relu6, 1001 classes, softmax); "
                f"ours: {result['weights']}")
    threads = f"{result['threads']} thread{'s' if result['threads'] > 1 else ''}"
    return f"{what}, batch {result['batch']}, {threads}, {result['mult_adds'] / 1e6:.1f} M mult-adds"


def print_result(result, peak, out=sys.stdout) -> None:
    print(f"\n== {describe(result)} ==", file=out)
    print(f"{'runtime':<12} {'median ms':>10} {'min ms':>9} {'img/s':>8} {'ours/peer':>10} {'CPU ms':>8} "
          f"{'(ratio)':>8} {'max|diff|':>10}  note", file=out)
    for name, r in result["runtimes"].items():
        ratio = "-" if name == "mobilenet" else f"{r['ours_over_peer']:.2f}x"
        cpu_ratio = "-" if name == "mobilenet" else f"{r['ours_over_peer_cpu']:.2f}x"
        diff = "-" if r["max_abs_diff_vs_ours"] is None else f"{r['max_abs_diff_vs_ours']:.1e}"
        print(f"{name:<12} {r['median_ms']:>10.3f} {r['min_ms']:>9.3f} {r['images_per_s']:>8.1f} {ratio:>10} "
              f"{r['cpu_median_ms']:>8.3f} {cpu_ratio:>8} {diff:>10}  {r['note']}", file=out)
    line = f"ours: {result['ours_gflops']:.1f} GFLOP/s end to end"
    if peak:
        share = result["ours_gflops"] / (peak_gflops(peak) * result["threads"])
        line += f" = {100 * share:.0f}% of {result['threads']} x {peak_gflops(peak):.0f} GFLOP/s"
    profile = result.get("profile")
    if profile:
        line += f"; 1x1 layers {profile['pointwise_gflops']:.1f} GFLOP/s"
        if peak:
            line += f" ({100 * profile['pointwise_gflops'] / (peak_gflops(peak) * result['threads']):.0f}% of peak)"
        line += f", {100 * profile['pointwise_share_of_time']:.0f}% of the time"
    print(line, file=out)
    if "best_peer" in result:
        print(f"best peer: {result['best_peer']}; ours / best peer = {result['ours_over_best_peer']:.2f}x "
              f"(process CPU time: {result['best_peer_cpu']}, {result['ours_over_best_peer_cpu']:.2f}x)", file=out)
    if "bf16" in result:
        ratios = ", ".join(f"/ {key[len('ours_bf16_over_'):]} {value:.2f}x" for key, value in result["bf16"].items()
                           if key.startswith("ours_bf16_over_"))
        line = f"ours bf16 {ratios}"
        profile = result["bf16"].get("profile")
        if profile:
            # The peak of the instructions its bf16 GEMMs run on: vdpbf16ps, or FMAs (the FMA way, bf16fma).
            line += f"; its 1x1 layers {profile['pointwise_gflops']:.1f} GFLOP/s"
            share = bf16_pointwise_of_peak(result, peak)
            if share is not None:
                line += f" ({100 * share:.0f}% of the vdpbf16ps peak, {peak['avx512_bf16_gmacs']:.1f} GMAC/s)"
            elif peak:
                share = profile["pointwise_gflops"] / (peak_gflops(peak) * result["threads"])
                line += f" ({100 * share:.0f}% of the FMA peak: float32 and bf16-by-FMA layers)"
        print(line, file=out)


def peak_gflops(peak) -> float:
    """The FMA peak of the instruction set our kernels use."""
    return peak["avx512_gflops"] if mobilenet.isa() == "avx512" else peak["avx2_gflops"]


def summary_table(results, out=sys.stdout) -> None:
    """One line per configuration: our median and our ratio to each peer (wall clock, then CPU time)."""
    names = [n for n in ("onnxruntime", "openvino", "litert", "litert-ours", "torch")
             if any(n in r["runtimes"] for r in results)]
    for key, best_key, title in (
            ("ours_over_peer", "ours_over_best_peer", "ours / peer, wall-clock medians"),
            ("ours_over_peer_cpu", "ours_over_best_peer_cpu",
             "ours / peer, process CPU time medians (immune to other processes only on 1 thread)")):
        print(f"\n== summary: {title}; < 1 means mobilenet is faster ==", file=out)
        print(f"{'configuration':<28} {'ours ms':>8} " + " ".join(f"{'vs ' + n:>14}" for n in names)
              + f" {'vs best':>8}", file=out)
        for r in results:
            label = "tflite 0.25/224 relu6" if r["tflite"] else f"{r['alpha']:g}/{r['resolution']}"
            label += f" b{r['batch']} t{r['threads']}"
            cells = [f"{r['runtimes'][n][key]:>13.2f}x" if n in r["runtimes"] else f"{'-':>14}" for n in names]
            best = f"{r[best_key]:.2f}x" if best_key in r else "-"
            ms = r["runtimes"]["mobilenet"]["median_ms" if key == "ours_over_peer" else "cpu_median_ms"]
            print(f"{label:<28} {ms:>8.3f} " + " ".join(cells) + f" {best:>8}", file=out)
    one_thread = {(r["alpha"], r["resolution"], r["batch"], r["tflite"]): r for r in results if r["threads"] == 1}
    speedups = []
    for r in results:
        base = one_thread.get((r["alpha"], r["resolution"], r["batch"], r["tflite"]))
        if r["threads"] > 1 and base is not None:
            speedup = base["runtimes"]["mobilenet"]["median_ms"] / r["runtimes"]["mobilenet"]["median_ms"]
            speedups.append(f"{r['alpha']:g}/{r['resolution']} b{r['batch']} t{r['threads']}: {speedup:.2f}x")
    if speedups:
        print("our speed-up over 1 thread (medians from separate configurations): " + ", ".join(speedups), file=out)


def markdown(results, peak, overhead, int8=None) -> str:
    """The summary and every configuration's table, as Markdown (for bench/RESULTS.md): float32, then
    the bf16 rows (with --bf16), then the int8 rows (with --int8)."""
    lines = float_markdown(results, peak, overhead) if results else []
    bf16 = bf16_markdown(results, peak)
    if bf16:
        lines += ["", "bfloat16 (ours precision='bfloat16'; ratios from the same turns as the rows above):", ""] + bf16
    if int8:
        lines += ["", "int8 (the real quantized models; ours int8 / peer from the same turns, below 1 = ours faster):",
                  ""] + int8_markdown(int8, peak)
    return "\n".join(lines) + "\n"


def float_markdown(results, peak, overhead) -> list:
    names = [n for n in ("onnxruntime", "openvino", "litert", "litert-ours", "torch")
             if any(n in r["runtimes"] for r in results)]
    lines = ["| configuration | ours ms (median) | " + " | ".join(f"ours / {n}" for n in names)
             + " | ours / best peer | ours GFLOP/s | % of peak | 1x1 GFLOP/s | 1x1 % of peak | 1x1 share of time |",
             "|---|---:|" + "---:|" * len(names) + "---:|---:|---:|---:|---:|---:|"]
    for r in results:
        label = "real .tflite 0.25/224 relu6" if r["tflite"] else f"{r['alpha']:g}/{r['resolution']}"
        label += f" b{r['batch']} t{r['threads']}"
        cells = [f"{r['runtimes'][n]['ours_over_peer']:.2f}" if n in r["runtimes"] else "-" for n in names]
        best = f"{r['ours_over_best_peer']:.2f} ({r['best_peer']})" if "best_peer" in r else "-"
        ceiling = peak_gflops(peak) * r["threads"] if peak else None
        share = f"{100 * r['ours_gflops'] / ceiling:.0f}%" if ceiling else "-"
        profile = r.get("profile") or {}
        pw = profile.get("pointwise_gflops")
        pw_share = f"{100 * pw / ceiling:.0f}%" if ceiling and pw else "-"
        lines.append(f"| {label} | {r['runtimes']['mobilenet']['median_ms']:.3f} | " + " | ".join(cells)
                     + f" | {best} | {r['ours_gflops']:.1f} | {share} | "
                     + (f"{pw:.1f}" if pw else "-") + f" | {pw_share} | "
                     + (f"{100 * profile['pointwise_share_of_time']:.0f}%" if profile else "-") + " |")
    lines += ["", "The same ratios from process CPU time per call (on 1 thread: the latency minus the time "
              "other processes held the core; on 2 threads it also counts spinning threads, so read those with care):",
              "", "| configuration | ours CPU ms (median) | " + " | ".join(f"ours / {n}" for n in names)
              + " | ours / best peer |", "|---|---:|" + "---:|" * len(names) + "---:|"]
    for r in results:
        if "best_peer_cpu" not in r:
            continue
        label = "real .tflite 0.25/224 relu6" if r["tflite"] else f"{r['alpha']:g}/{r['resolution']}"
        label += f" b{r['batch']} t{r['threads']}"
        cells = [f"{r['runtimes'][n]['ours_over_peer_cpu']:.2f}" if n in r["runtimes"] else "-" for n in names]
        lines.append(f"| {label} | {r['runtimes']['mobilenet']['cpu_median_ms']:.3f} | " + " | ".join(cells)
                     + f" | {r['ours_over_best_peer_cpu']:.2f} ({r['best_peer_cpu']}) |")
    lines += ["", "Per configuration: median and minimum of the timed calls, throughput, our ratio "
              "(ours / peer, below 1 = mobilenet faster), the median process CPU time per call and its ratio, "
              "and the largest difference from our output.", ""]
    for r in results:
        lines += [f"**{describe(r)}**", "",
                  "| runtime | median ms | min ms | img/s | ours / peer | CPU ms | ours / peer (CPU) "
                  "| max abs diff vs ours |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, x in r["runtimes"].items():
            ratio = "-" if name == "mobilenet" else f"{x['ours_over_peer']:.2f}"
            cpu_ratio = ("-" if name == "mobilenet" or "ours_over_peer_cpu" not in x
                         else f"{x['ours_over_peer_cpu']:.2f}")
            cpu_ms = f"{x['cpu_median_ms']:.3f}" if "cpu_median_ms" in x else "-"
            diff = "-" if x["max_abs_diff_vs_ours"] is None else f"{x['max_abs_diff_vs_ours']:.1e}"
            lines.append(f"| {name} | {x['median_ms']:.3f} | {x['min_ms']:.3f} | {x['images_per_s']:.1f} | "
                         f"{ratio} | {cpu_ms} | {cpu_ratio} | {diff} |")
        lines.append("")
    if overhead:
        lines.append(f"Python call overhead (0.25/128, batch 1, 1 thread): net.logits(x) median "
                     f"{overhead['python_median_us']:.1f} us, C++ forward median {overhead['cxx_median_us']:.1f} us: "
                     f"{overhead['overhead_us']:.1f} us; with check_finite=False "
                     f"{overhead['overhead_no_check_us']:.1f} us.")
    return lines


# ---------------------------------------------------------------- main

def configurations(args):
    """(alpha, resolution, threads, batch, tflite?) in the order they run."""
    configs = []
    for threads in args.threads:
        for alpha in args.alphas:
            for resolution in args.resolutions:
                configs.append((alpha, resolution, threads, 1, False))
        if args.tflite:
            configs.append((0.25, 224, threads, 1, True))
        if args.batch8:
            configs.append((1.0, 224, threads, 8, False))
    return configs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1.0/224, 0.5/160 and 0.25/128, the TFLite model, 1 thread, 100 runs (< 2 minutes)")
    parser.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts (default 1 2)")
    parser.add_argument("--alphas", type=float, nargs="+", default=None, help=f"width multipliers (default {ALPHAS})")
    parser.add_argument("--resolutions", type=int, nargs="+", default=None,
                        help=f"input sizes (default {RESOLUTIONS})")
    parser.add_argument("--batch8", action=argparse.BooleanOptionalAction, default=None,
                        help="also batch-8 throughput at 1.0/224 (default on, off with --quick)")
    parser.add_argument("--tflite", action=argparse.BooleanOptionalAction, default=True,
                        help=f"also the real {TFLITE_NAME} against LiteRT/XNNPACK (default on)")
    parser.add_argument("--runs", type=int, default=None, help="timed calls per runtime (default 200, quick 100)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 20, quick 5)")
    parser.add_argument("--block", type=int, default=10,
                        help="timed calls per turn, after one untimed call (default 10; 1 = strict A B C A B C, "
                             "no untimed call)")
    parser.add_argument("--settle-ms", type=float, default=50.0,
                        help="pause before each turn on 2+ threads, so other runtimes' pools stop spinning "
                             "(default 50: onnxruntime's spin for about 40 ms)")
    parser.add_argument("--peers", nargs="+", default=list(PEER_NAMES), choices=PEER_NAMES,
                        help="peers to run when importable (default all)")
    parser.add_argument("--bf16", action="store_true",
                        help="also our precision='bfloat16' and OpenVINO with its default precision (bf16 on CPUs "
                             "with AVX512_BF16 or AMX), timed in the same turns")
    parser.add_argument("--int8", action="store_true",
                        help="also the int8 rows: ours on the real quantized models against LiteRT on the same "
                             "files, onnxruntime and OpenVINO on QDQ models of the same shape, our float32")
    parser.add_argument("--int8-models", nargs="+", default=list(INT8_MODELS), choices=list(INT8_MODELS),
                        help="the quantized models of the int8 rows (default all)")
    parser.add_argument("--no-float", action="store_true",
                        help="skip the float32 (and bf16) configurations: with --int8, only the int8 rows")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-layer profile (1x1 GFLOP/s)")
    parser.add_argument("--no-peak", action="store_true", help="skip bench/peak (no %% of peak)")
    parser.add_argument("--json", type=Path, default=None, help="write every number to this JSON file")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables as Markdown to this file")
    parser.add_argument("--render", type=Path, default=None,
                        help="measure nothing: print (and with --markdown write) the tables of a saved --json file")
    args = parser.parse_args(argv)
    if args.quick:
        args.threads = args.threads or [1]
        args.runs = args.runs or 100
        args.warmup = args.warmup if args.warmup is not None else 5
        pairs = [(1.0, 224), (0.5, 160), (0.25, 128)]
        if args.alphas or args.resolutions:
            pairs = None
        args.batch8 = bool(args.batch8)
    else:
        pairs = None
        args.batch8 = True if args.batch8 is None else args.batch8
    args.threads = args.threads or [1, 2]
    args.alphas = args.alphas or list(ALPHAS)
    args.resolutions = args.resolutions or list(RESOLUTIONS)
    args.runs = args.runs or 200
    args.warmup = 20 if args.warmup is None else args.warmup
    args.pairs = pairs
    if args.runs < 1 or args.block < 1 or args.warmup < 0 or args.settle_ms < 0 or any(t < 1 for t in args.threads):
        parser.error("--runs, --block and --threads must be >= 1, --warmup and --settle-ms >= 0")
    return args


def render(args) -> int:
    saved = json.loads(args.render.read_text())
    for result in saved["results"]:
        print_result(result, saved["peak"])
    for result in saved.get("int8_results", []):
        print_int8_result(result, saved["peak"])
    if saved["results"]:
        summary_table(saved["results"])
    if args.markdown:
        args.markdown.write_text(markdown(saved["results"], saved["peak"], saved.get("python_overhead"),
                                          saved.get("int8_results")))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args)
    env = environment()
    peers = [p for p in args.peers if available(p)]
    missing = sorted(set(args.peers) - set(peers))
    tflite_model = None
    if args.tflite and "litert" in peers:
        directory = models_dir()
        if directory is None:
            print(f"note: {TFLITE_NAME} not found (set MOBILENET_TEST_MODELS); no TFLite comparison")
        else:
            tflite_model = directory / TFLITE_NAME
    peak = None if args.no_peak else measure_peak()
    print(f"CPU: {env['cpu']}, {env['logical_cpus']} logical CPUs; mobilenet ISA {env['isa']}")
    print(f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']} OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v))
    if missing:
        print(f"peers not importable, skipped: {', '.join(missing)}")
    if peak:
        print(f"peak (bench/peak, one core): AVX-512 {peak['avx512_gflops']:.1f} GFLOP/s, "
              f"AVX2 {peak['avx2_gflops']:.1f} GFLOP/s at {peak['ghz']:.2f} GHz; vdpbf16ps "
              f"{peak.get('avx512_bf16_gmacs', 0):.1f} GMAC/s; vpdpbusd zmm {peak.get('avx512_vnni_gmacs', 0):.1f}, "
              f"ymm (AVX-VNNI) {peak.get('avx_vnni_gmacs', 0):.1f}, tdpbusd (AMX) {peak.get('amx_int8_gmacs', 0):.1f}, "
              f"vpmaddwd+vpaddd (AVX2) {peak.get('avx2_madd_gmacs', 0):.1f}, vpmaddubsw (AVX2) "
              f"{peak.get('avx2_maddubs_gmacs', 0):.1f} GMAC/s (0: not on this CPU)")
    turns = "A B C A B C" if args.block == 1 else f"turns of 1 untimed + {args.block} timed calls"
    print(f"runs {args.runs} per runtime after {args.warmup} warm-up calls, runtimes interleaved ({turns})")

    configs = [] if args.no_float else configurations(args)
    int8_folder = None
    if args.int8:
        int8_folder = models_dir(INT8_MODELS[args.int8_models[0]][0])
        if int8_folder is None:
            print("note: the quantized models are not found (set MOBILENET_TEST_MODELS); no int8 rows")
    if args.pairs:
        configs = [c for c in configs if c[4] or c[3] != 1 or (c[0], c[1]) in args.pairs]
    if tflite_model is None:
        configs = [c for c in configs if not c[4]]
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for alpha, resolution, threads, batch, is_tflite in configs:
            result = measure(alpha, resolution, threads, batch, peers, args.runs, args.warmup, Path(tmp),
                             tflite_model=tflite_model if is_tflite else None,
                             profile_runs=0 if args.no_profile else min(args.runs, 50), block=args.block,
                             settle_ms=args.settle_ms, bf16=args.bf16)
            results.append(result)
            print_result(result, peak)
            sys.stdout.flush()
        int8 = int8_results(args, peers, int8_folder, Path(tmp), peak) if int8_folder is not None else []
        overhead_net = mobilenet.MobileNetV1(0.25, 128, threads=1)
        x = np.random.default_rng(0).uniform(-1, 1, (1,) + overhead_net.input_shape).astype(np.float32)
        overhead = python_overhead(overhead_net, x, runs=max(5 * args.runs, 500))
    if results:
        summary_table(results)
    if int8:
        print("\n== int8 summary: ours int8 / peer, wall-clock medians; < 1 means mobilenet is faster ==")
        print("\n".join(int8_markdown(int8, peak)[:2 + len(int8)]))
    print(f"\nPython call overhead, 0.25/128, batch 1, 1 thread: net.logits(x) median "
          f"{overhead['python_median_us']:.1f} us (check_finite=False: {overhead['python_no_check_median_us']:.1f} us)"
          f" vs C++ forward {overhead['cxx_median_us']:.1f} us: overhead {overhead['overhead_us']:.1f} us "
          f"({overhead['overhead_no_check_us']:.1f} us without the finiteness check)")
    elapsed = time.perf_counter() - started
    env["load_average_at_end"] = os.getloadavg()
    print(f"({elapsed:.0f} s; load average at start {env['load_average_at_start'][0]:.2f}, "
          f"at end {env['load_average_at_end'][0]:.2f})")
    if args.markdown:
        args.markdown.write_text(markdown(results, peak, overhead, int8))
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "peak": peak, "results": results,
                                         "int8_results": int8, "python_overhead": overhead, "seconds": elapsed},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
