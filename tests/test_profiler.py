"""net.profile(): per-layer rows, shares, end-to-end latency, and the exports."""
import csv
import json
import math
import struct
import sys

import numpy as np
import pytest

import mobilenet
from mobilenet import profiler

RUNS = 3


@pytest.fixture(scope="module")
def net():
    return mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)


@pytest.fixture(scope="module")
def images(net):
    return np.random.default_rng(1).uniform(-1, 1, (2,) + net.input_shape).astype(np.float32)


@pytest.fixture(scope="module")
def report(net, images):
    return net.profile(images, runs=RUNS, warmup=1)


def test_rows_agree_with_summary(net, report):
    summary = net.summary()
    assert len(report.rows) == len(summary) == len(net.layers)
    for row, s in zip(report.rows, summary):
        assert (row.index, row.name, row.type, row.input, row.output, row.mult_adds, row.params) == \
               (s.index, s.name, s.type, s.input, s.output, s.mult_adds, s.params)
    assert [r.kernel for r in report.rows] == net.kernel_names
    assert report.total_mult_adds == summary.total_mult_adds
    assert report.total_params == summary.total_params


def test_per_layer_statistics_come_from_the_runs(report):
    assert report.layer_ms.shape == (RUNS, len(report.rows))
    assert (report.layer_ms >= 0).all() and report.layer_ms.sum() > 0
    for i, r in enumerate(report.rows):
        times = report.layer_ms[:, i]
        assert r.median_ms == pytest.approx(np.median(times))
        assert r.mean_ms == pytest.approx(times.mean())
        assert r.min_ms == pytest.approx(times.min())
        assert r.min_ms <= r.median_ms
        # The mean of equal times can come out one rounding step below them (0.000331 vs 0.00033099999999999997).
        assert r.min_ms <= r.mean_ms or r.mean_ms == pytest.approx(r.min_ms, rel=1e-12, abs=0)
        if r.mult_adds and r.median_ms > 0:
            assert r.gflops == pytest.approx(2 * r.mult_adds * 2 / (r.median_ms / 1e3) / 1e9)  # batch of 2
        else:
            assert r.gflops == 0


def test_shares_sum_to_100(net, report):
    assert sum(r.time_pct for r in report.rows) == pytest.approx(100.0)
    assert report.rows[-1].cumulative_pct == pytest.approx(100.0)
    assert all(a.cumulative_pct <= b.cumulative_pct + 1e-9 for a, b in zip(report.rows, report.rows[1:]))
    by_type = report.by_type()
    for key in ("time_pct", "mult_adds_pct", "params_pct"):
        assert sum(v[key] for v in by_type.values()) == pytest.approx(100.0)
    table2 = net.summary().by_type()
    assert set(by_type) == set(table2)
    for t, v in by_type.items():
        assert v["layers"] == table2[t]["layers"]
        assert v["mult_adds_pct"] == pytest.approx(table2[t]["mult_adds_pct"])
        assert v["params_pct"] == pytest.approx(table2[t]["params_pct"])
        assert v["time_ms"] == pytest.approx(sum(r.median_ms for r in report.rows if r.type == t))


def test_paper_claim_is_judged_from_the_measured_share(report):
    claim = report.paper_claim()
    measured = report.by_type()["conv1x1"]["time_pct"]
    assert claim["measured_time_pct"] == measured
    assert claim["holds"] == (abs(measured - claim["paper_time_pct"]) <= claim["tolerance_pct"])
    verdict = "holds" if claim["holds"] else "does not hold"
    assert f"the claim {verdict} on this CPU" in str(report)


def test_end_to_end_is_measured_apart(report):
    e2e = report.end_to_end()
    assert report.total_ms.shape == (RUNS,)
    assert e2e["runs"] == RUNS
    assert e2e["min_ms"] <= e2e["median_ms"] <= e2e["p90_ms"] <= e2e["p99_ms"]
    assert e2e["min_ms"] == pytest.approx(report.total_ms.min())
    assert e2e["mean_ms"] == pytest.approx(report.total_ms.mean())
    assert e2e["first_ms"] > 0
    assert e2e["layers_sum_median_ms"] == pytest.approx(np.median(report.layer_ms.sum(axis=1)))
    assert e2e["layers_sum_min_ms"] == pytest.approx(report.layer_ms.sum(axis=1).min())
    assert e2e["overhead_ms"] == pytest.approx(e2e["median_ms"] - e2e["layers_sum_median_ms"])
    assert e2e["overhead_min_ms"] == pytest.approx(e2e["min_ms"] - e2e["layers_sum_min_ms"])
    assert e2e["images_per_second"] == pytest.approx(2 / (e2e["median_ms"] / 1e3))


def test_profile_runs_the_real_network(net, images, report):
    np.testing.assert_allclose(report.output, net(images), rtol=1e-5, atol=1e-6)
    nchw = net.profile(images.transpose(0, 3, 1, 2).copy(), runs=1, warmup=0, layout="NCHW")
    np.testing.assert_allclose(nchw.output, net(images), rtol=1e-5, atol=1e-6)
    assert nchw.context["warmup"] == 0


def test_context(net, report):
    c = report.context
    assert c["isa"] == net.isa == mobilenet.isa()
    assert c["threads"] == net.threads == 1
    assert c["batch"] == 2
    assert c["resolution"] == [64, 64]
    assert c["alpha"] == 0.25
    assert c["mobilenet_version"] == mobilenet.__version__
    assert c["runs"] == RUNS and c["warmup"] == 1
    assert isinstance(c["cpu"], str) and c["cpu"]


def test_cpu_model_falls_back_to_platform(monkeypatch):
    def no_file(*args, **kwargs):
        raise OSError("no /proc here")
    monkeypatch.setattr(profiler, "open", no_file, raising=False)
    monkeypatch.setattr(profiler.platform, "processor", lambda: "test-cpu")
    assert profiler.cpu_model() == "test-cpu"


@pytest.mark.parametrize("kwargs, error", [
    ({"runs": 0}, ValueError), ({"runs": -3}, ValueError), ({"warmup": -1}, ValueError),
    ({"runs": 2.5}, TypeError), ({"runs": True}, TypeError), ({"layout": "HWC"}, ValueError),
])
def test_bad_arguments_raise(net, images, kwargs, error):
    with pytest.raises(error):
        net.profile(images, **kwargs)


def test_bad_input_raises(net, images):
    with pytest.raises(ValueError, match="NaN"):
        bad = images.copy()
        bad[0, 0, 0, 0] = np.nan
        net.profile(bad, runs=1)
    with pytest.raises(ValueError, match="shape"):
        net.profile(images[0], runs=1)
    with pytest.raises(ValueError, match="at least one image"):
        net.profile(images[:0], runs=1)


@pytest.mark.parametrize("alpha, resolution", [(0.25, 64), (1.0, 224)])
def test_printed_report_fits_100_columns(alpha, resolution):
    net = mobilenet.MobileNetV1(alpha=alpha, resolution=resolution, threads=1)
    x = np.zeros((1,) + net.input_shape, np.float32)
    text = str(net.profile(x, runs=1, warmup=0))
    assert max(len(line) for line in text.splitlines()) <= 100
    for layer in net.layers:
        assert f" {layer.name} " in text
    for label in ("Conv 1x1", "Conv DW 3x3", "Fully connected", "p99", "images/s", net.isa):
        assert label in text


def test_to_dict_and_json(report, tmp_path):
    d = report.to_dict()
    path = tmp_path / "report.json"
    text = report.to_json(str(path))
    assert json.loads(path.read_text()) == json.loads(text) == json.loads(json.dumps(d))
    assert len(d["layers"]) == len(report.rows)
    assert d["layers"][0]["output"] == list(report.rows[0].output)
    assert d["samples"]["layer_ms"] == report.layer_ms.tolist()
    assert d["end_to_end"] == report.end_to_end()
    assert d["by_type"]["conv1x1"]["time_pct"] == report.by_type()["conv1x1"]["time_pct"]


def test_csv_loads_with_the_csv_module(report, tmp_path):
    path = tmp_path / "layers.csv"
    report.to_csv(str(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(report.rows)
    assert list(rows[0]) == list(report.CSV_COLUMNS)
    for loaded, row in zip(rows, report.rows):
        assert loaded["name"] == row.name and loaded["kernel"] == row.kernel
        assert int(loaded["mult_adds"]) == row.mult_adds and int(loaded["params"]) == row.params
        assert loaded["output"] == "x".join(map(str, row.output))
        assert float(loaded["median_ms"]) == pytest.approx(row.median_ms)
    assert sum(float(r["time_pct"]) for r in rows) == pytest.approx(100.0)


def test_trace_is_chrome_trace_json(report, tmp_path):
    path = tmp_path / "trace.json"
    report.save_trace(str(path))
    trace = json.loads(path.read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(events) == RUNS * len(report.rows)
    for e in events:
        assert {"name", "cat", "ts", "dur", "pid", "tid", "args"} <= set(e)
        assert e["dur"] >= 0
        assert {"type", "input", "output", "mult_adds", "kernel", "run"} <= set(e["args"])
    for run in range(RUNS):
        in_run = [e for e in events if e["args"]["run"] == run]
        assert [e["name"] for e in in_run] == [r.name for r in report.rows]
        assert [e["args"]["mult_adds"] for e in in_run] == [r.mult_adds for r in report.rows]
        np.testing.assert_allclose([e["dur"] for e in in_run], report.layer_ms[run] * 1e3, atol=1e-3)
    starts = [e["ts"] for e in events]
    assert starts == sorted(starts)


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png(report, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "profile.png"
    report.plot(str(path))
    width, height = _png_size(path)
    assert width > 400 and height > 300


def test_plot_without_matplotlib_names_the_extra(report, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"mobilenet\[plot\]"):
        report.plot(str(tmp_path / "p.png"))
    assert not (tmp_path / "p.png").exists()


def test_latency_stats():
    stats = profiler.latency_stats(np.arange(1.0, 101.0), first_ms=250.0)
    assert stats["first_ms"] == 250.0 and stats["min_ms"] == 1.0 and stats["runs"] == 100
    assert stats["median_ms"] == pytest.approx(np.median(np.arange(1.0, 101.0)))
    assert stats["p90_ms"] == pytest.approx(np.percentile(np.arange(1.0, 101.0), 90))
    assert math.isclose(stats["mean_ms"], 50.5)


def test_timed_passes_is_the_engine_clock_of_the_public_api():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    x = np.random.default_rng(3).standard_normal((2, 64, 64, 3)).astype(np.float32)
    raw = net.timed_passes(x, 4, 2, softmax=False)
    assert raw["total_ns"].shape == (4,) and raw["warmup_ns"].shape == (2,)
    assert raw["layer_ns"].shape == (4, len(net.layers)) and (raw["layer_ns"] > 0).all()
    np.testing.assert_array_equal(raw["output"], net.logits(x))
    with pytest.raises(ValueError, match="runs must be between"):
        net.timed_passes(x, 0)


# ------------------------------------------------------------------ share of the measured peak

PEAK = {"avx512_gflops": 160.0, "avx2_gflops": 80.0, "avx512_bf16_gmacs": 40.0, "avx512_vnni_gmacs": 320.0,
        "avx_vnni_gmacs": 0.0, "amx_int8_gmacs": 2000.0, "neon_gflops": 30.0, "neon_sdot_gmacs": 60.0, "ghz": 2.0,
        "avx2_madd_gmacs": 70.0, "avx2_maddubs_gmacs": 90.0}


@pytest.mark.parametrize("isa, precision, kernel, expected", [
    ("avx512", "float32", "conv1x1_gemm12x32_avx512", ("FMA zmm", 160.0)),
    ("avx2", "float32", "conv1x1_gemm6x16_avx2", ("FMA ymm", 80.0)),
    ("avx512", "bfloat16", "conv1x1_bf16gemm12x32_avx512", ("vdpbf16ps", 80.0)),
    ("avx512", "bfloat16", "conv1x1_bf16fma12x32_avx512", ("FMA zmm", 160.0)),  # bf16 weights by FMA
    ("avx512", "int8", "int8_conv1x1_vnni6x64_avx512", ("vpdpbusd zmm", 640.0)),
    ("avx512", "int8", "int8_conv1x1_amx32x64_avx512", ("tdpbusd", 4000.0)),  # AMX tiles
    ("avx512", "int8", "int8_dwconv3x3s1_avx512", ("vpdpbusd zmm", 640.0)),
    ("avx2", "int8", "int8_conv1x1_madd4x8_avx2", ("vpmaddwd+vpaddd", 140.0)),  # without AVX-VNNI
    ("avx2", "int8", "int8_conv1x1_maddubs4x16_avx2", ("vpmaddubsw", 180.0)),  # its bounded weights
    ("avx2", "int8", "int8_conv1x1_avxvnni6x16_avx2", None),  # this CPU has no AVX-VNNI: no peak
    ("neon", "int8", "int8_conv1x1_sdot_neon", ("sdot", 120.0)),
    ("neon", "float32", "conv1x1_gemm8x12_neon", ("fmla", 30.0)),
    ("scalar", "float32", "conv1x1_gemm_scalar", None),
    ("neon", "float16", "conv1x1_fp16_neon", None),
])
def test_each_layer_is_compared_with_the_peak_of_its_precision(isa, precision, kernel, expected):
    assert profiler.layer_peak(PEAK, isa, precision, kernel) == expected


def test_profile_reports_the_share_of_the_peak(net, images):
    report = net.profile(images, runs=2, warmup=0, peak=PEAK)
    fma = profiler.layer_peak(PEAK, net.isa, "float32", net.kernel_names[0])
    assert report.context["peak"] == {k: v for k, v in PEAK.items() if k != "ghz"}
    for row in report.rows:
        if row.mult_adds and fma is not None:
            assert row.peak == fma[0]
            assert row.peak_pct == pytest.approx(100 * row.gflops / (fma[1] * net.threads))
        else:
            assert row.peak is None and row.peak_pct is None
    text = str(report)
    assert ("%pk" in text) == (fma is not None)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "peak_pct" in profiler.ProfileReport.CSV_COLUMNS
    without = net.profile(images, runs=1, warmup=0)
    assert all(row.peak is None for row in without.rows) and "%pk" not in str(without)


@pytest.mark.parametrize("peak, message", [
    ([1.0], "expected a JSON object"), ({"ghz": 3.0}, "none of the peaks"),
    ({"avx512_gflops": float("nan")}, "must be a number >= 0"), ({"avx512_gflops": "fast"}, "must be a number"),
])
def test_bad_peaks_are_refused(net, images, peak, message):
    with pytest.raises(ValueError, match=message):
        net.profile(images, runs=1, warmup=0, peak=peak)
