"""The `mobilenet` command: each subcommand run in a subprocess, as a user runs it."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mobilenet
from mobilenet import cli

SMALL = ["--alpha", "0.25", "--resolution", "64", "--runs", "3", "--warmup", "1", "--threads", "1"]


def run(*args, timeout=300):
    """`python -m mobilenet ARGS`: (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "mobilenet", *args], capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def console_script():
    path = Path(sys.executable).parent / "mobilenet"
    if not path.exists():
        pytest.skip(f"no console script beside {sys.executable} (package not installed in this environment)")
    return str(path)


# ------------------------------------------------------------------ every subcommand with no arguments

def test_info_with_no_arguments():
    code, out, err = run("info")
    assert code == 0, err
    summary = mobilenet.MobileNetV1(threads=1).summary()
    assert f"{summary.total_mult_adds:,} mult-adds" in out
    assert f"{summary.total_params:,} parameters" in out
    for row in summary:
        assert row.name in out


def test_bench_with_no_arguments():
    code, out, err = run("bench")
    assert code == 0, err
    assert "median" in out and "p99" in out and "images/s" in out
    assert "224x224" in out and mobilenet.isa() in out


def test_profile_with_no_arguments():
    code, out, err = run("profile")
    assert code == 0, err
    for name in ("conv1", "conv_pw_13", "fc", "Conv 1x1", "Fully connected", "p99"):
        assert name in out
    assert "100 timed runs" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_console_script_and_version():
    proc = subprocess.run([console_script(), "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"mobilenet {mobilenet.__version__}"


@pytest.mark.parametrize("command, options", [
    ("info", ["--alpha", "--resolution", "--shallow", "--json"]),
    ("bench", ["--alpha", "--resolution", "--batch", "--threads", "--runs", "--warmup", "--json"]),
    ("profile", ["--alpha", "--resolution", "--runs", "--json", "--csv", "--trace", "--plot"]),
])
def test_help(command, options):
    code, out, err = run(command, "--help")
    assert code == 0, err
    assert out.startswith(f"usage: mobilenet {command}")
    for option in options:
        assert option in out


# ------------------------------------------------------------------ JSON on request

def test_info_json_is_the_summary():
    code, out, _ = run("info", "--alpha", "0.5", "--resolution", "160", "--shallow", "--json")
    assert code == 0
    expected = mobilenet.MobileNetV1(alpha=0.5, resolution=160, shallow=True, threads=1).summary().to_dict()
    got = json.loads(out)
    engine = {key: got.pop(key) for key in ("isa", "precision", "cpu_features", "fast_precisions",
                                            "other_precisions")}
    assert got == json.loads(json.dumps(expected))
    assert engine["precision"] == "float32" and "float32" in engine["fast_precisions"]
    assert engine["isa"] == mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1).isa
    for precision in ("bfloat16", "float16"):  # each one either runs natively here or says what it lacks
        assert (precision in engine["fast_precisions"]) != (precision in engine["other_precisions"])


def test_precision_flows_through_info_bench_and_profile():
    from mobilenet.precision import precision_unavailable
    for precision in ("bfloat16", "float16"):
        reason = precision_unavailable(precision)
        for command in (["info", *SMALL[:4]], ["bench", *SMALL, "--json"], ["profile", *SMALL, "--json", "-"]):
            code, out, err = run(*command, "--precision", precision)
            if reason:
                assert code == 2 and "not available on this CPU" in err, (command, err)
                continue
            assert code == 0, (command, err)
            if command[0] == "profile":
                report = json.loads(out)
                assert report["context"]["precision"] == precision
                assert {row["precision"] for row in report["layers"]} <= {precision, "float32"}
            elif command[0] == "bench":
                assert json.loads(out)["context"]["precision"] == precision


def test_bench_json():
    code, out, err = run("bench", *SMALL, "--batch", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    latency = result["latency_ms"]
    assert latency["runs"] == 3
    assert 0 < latency["min_ms"] <= latency["median_ms"] <= latency["p90_ms"] <= latency["p99_ms"]
    assert result["images_per_second"] == pytest.approx(2 / (latency["median_ms"] / 1e3))
    context = result["context"]
    assert (context["batch"], context["threads"], context["alpha"], context["resolution"]) == (2, 1, 0.25, [64, 64])
    assert context["isa"] == mobilenet.isa()


def test_profile_json_to_stdout():
    code, out, err = run("profile", *SMALL, "--json", "-")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["layers"]) == len(mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1).layers)
    assert report["context"]["runs"] == 3
    assert sum(r["time_pct"] for r in report["layers"]) == pytest.approx(100.0)


def test_profile_writes_every_file(tmp_path):
    pytest.importorskip("matplotlib")
    files = {"json": tmp_path / "r.json", "csv": tmp_path / "r.csv", "trace": tmp_path / "t.json",
             "plot": tmp_path / "p.png"}
    options = [arg for option, path in files.items() for arg in (f"--{option}", str(path))]
    code, out, err = run("profile", *SMALL, *options)
    assert code == 0, err
    assert "Conv 1x1" in out
    layers = len(mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1).layers)
    assert len(json.loads(files["json"].read_text())["layers"]) == layers
    with open(files["csv"], newline="") as f:
        assert len(list(csv.DictReader(f))) == layers
    events = json.loads(files["trace"].read_text())["traceEvents"]
    assert sum(e["ph"] == "X" for e in events) == 3 * layers
    assert files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for option, path in files.items():
        assert f"wrote {option}: {path}" in out


# ------------------------------------------------------------------ bad arguments: one line, exit 2

@pytest.mark.parametrize("args", [
    [],
    ["nosuch"],
    ["info", "--alpha", "0"],
    ["info", "--alpha", "17"],
    ["bench", "--threads", "5000"],
    ["info", "--alpha", "nan"],
    ["info", "--resolution", "abc"],
    ["info", "--resolution", "16"],
    ["bench", "--runs", "-1"],
    ["bench", "--batch", "0"],
    ["bench", "--threads", "0"],
    ["bench", "--frobnicate"],
    ["profile", "--runs", "0"],
    ["profile", "--warmup", "-2"],
    ["profile", "--alpha", "-1"],
    ["profile", "--csv", "/no/such/folder/x.csv"],
])
def test_bad_arguments_exit_2_with_one_line(args):
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0]


def test_plot_without_matplotlib_is_a_usage_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["profile", *SMALL, "--plot", str(tmp_path / "p.png")])
    assert exit_info.value.code == 2
    assert "mobilenet[plot]" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


# ------------------------------------------------------------------ the progress bar

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_after_a_second():
    assert cli.progress_bar(100, "x", stream=io.StringIO()).disable          # not a terminal
    quick = _Terminal()
    with cli.progress_bar(3, "x", stream=quick) as bar:                    # a terminal: shown after a second
        assert not bar.disable and bar.delay == pytest.approx(1.0)
        bar.update(3)
    assert quick.getvalue() == ""                                           # done sooner: nothing drawn
    forced = io.StringIO()
    with cli.progress_bar(3, "x", show=True, stream=forced) as bar:        # --progress: at once, anywhere
        bar.update(3)
    assert "3/3" in forced.getvalue()
    assert cli.progress_bar(3, "x", show=False, stream=_Terminal()).disable  # --no-progress


@pytest.mark.parametrize("command", ["bench", "profile"])
def test_bench_and_profile_progress(command, capsys):
    assert cli.main([command, *SMALL, "--progress"]) == 0
    err = capsys.readouterr().err
    assert command in err and "4/4" in err  # 1 warm-up run and 3 timed runs
    assert cli.main([command, *SMALL, "--no-progress"]) == 0
    assert "4/4" not in capsys.readouterr().err


def test_profile_in_chunks_equals_one_call_in_shape(monkeypatch):
    from mobilenet import profiler
    monkeypatch.setattr(profiler, "PROGRESS_CHUNK_SECONDS", 1e-6)  # one run per chunk
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, threads=1)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    counts = []
    report = net.profile(x, runs=5, warmup=2, progress=counts.append)
    assert counts == [3, 1, 1, 1, 1] and sum(counts) == 2 + 5
    whole = net.profile(x, runs=5, warmup=2)
    assert report.layer_ms.shape == whole.layer_ms.shape == (5, len(net.layers))
    assert report.total_ms.shape == (5,) and report.context["runs"] == 5 and report.context["warmup"] == 2
    np.testing.assert_array_equal(report.output, net(x))


def test_main_returns_exit_code_in_process(capsys):
    assert cli.main(["info", "--alpha", "0.25", "--resolution", "64"]) == 0
    assert "conv_pw_13" in capsys.readouterr().out


def test_python_dash_m_runs_cli_main():
    # `python -m mobilenet` and the console script are the same entry point.
    assert os.path.basename(cli.__file__) == "cli.py"
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"mobilenet {mobilenet.__version__}"


# ------------------------------------------------------------------ --weights and --precision int8

RUNS = ["--runs", "2", "--warmup", "1", "--threads", "1"]
QUANT = "mobilenet_v1_0.25_128_quant.tflite"


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("tflite")
    from model_files import shared_models
    return shared_models()


@pytest.mark.parametrize("command", ["bench", "profile"])
def test_int8_needs_a_quantized_model(command, models):
    from model_files import FLOAT_TFLITE
    code, out, err = run(command, *RUNS, "--precision", "int8")  # a random network
    assert code == 2 and out == "" and "Traceback" not in err
    assert "quantize(" in err and "--weights" in err and "random network" in err
    code, out, err = run(command, *RUNS, "--weights", str(models / FLOAT_TFLITE), "--precision", "int8")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "quantize(" in err and "is a float model" in err and FLOAT_TFLITE in err


def test_bench_runs_a_quantized_file_in_int8_by_default(models):
    code, out, err = run("bench", *RUNS, "--weights", str(models / QUANT), "--json")
    assert code == 0, err
    context = json.loads(out)["context"]
    assert (context["precision"], context["alpha"], context["resolution"]) == ("int8", 0.25, [128, 128])
    code, out, err = run("bench", *RUNS, "--weights", str(models / QUANT), "--precision", "float32", "--json")
    assert code == 0, err
    assert json.loads(out)["context"]["precision"] == "float32"  # its weights dequantized


def test_profile_names_the_int8_kernels_and_their_peak(models, tmp_path):
    peak = tmp_path / "peak.json"  # as `bench/peak --json` writes it (numbers made up: only shares are checked)
    peak.write_text(json.dumps({"avx512_gflops": 100.0, "avx2_gflops": 50.0, "avx512_vnni_gmacs": 200.0,
                                "avx_vnni_gmacs": 100.0, "amx_int8_gmacs": 1000.0, "neon_gflops": 20.0,
                                "neon_sdot_gmacs": 40.0, "avx2_madd_gmacs": 60.0, "avx2_maddubs_gmacs": 80.0}))
    code, out, err = run("profile", *RUNS, "--weights", str(models / QUANT), "--peak", str(peak), "--json", "-")
    assert code == 0, err
    report = json.loads(out)
    net = mobilenet.load(models / QUANT, threads=1)
    assert report["context"]["precision"] == "int8" and report["context"]["peak"]["avx512_vnni_gmacs"] == 200.0
    assert [row["kernel"] for row in report["layers"]] == net.kernel_names
    assert {row["precision"] for row in report["layers"]} == {"int8"}
    isa = mobilenet.isa()
    if isa in ("avx512", "avx2", "neon"):
        for row in report["layers"]:
            # The 1x1 layers on AMX tiles (where the CPU has them) against tdpbusd's peak; AVX2's
            # kernels without AVX-VNNI against vpmaddubsw ("maddubs") or the vpmaddwd + vpaddd pair.
            expected = ("tdpbusd", 2000.0) if "_amx" in row["kernel"] else \
                ("vpmaddubsw", 160.0) if isa == "avx2" and "maddubs" in row["kernel"] else \
                ("vpmaddwd+vpaddd", 120.0) if isa == "avx2" and "madd" in row["kernel"] else \
                {"avx512": ("vpdpbusd zmm", 400.0), "avx2": ("vpdpbusd ymm", 200.0), "neon": ("sdot", 80.0)}[isa]
            if row["mult_adds"]:
                assert row["peak"] == expected[0]
                assert row["peak_pct"] == pytest.approx(100 * row["gflops"] / expected[1])
            else:
                assert row["peak"] is None and row["peak_pct"] is None
    code, out, err = run("profile", *RUNS, "--weights", str(models / QUANT), "--peak", str(peak))
    assert code == 0, err
    assert "int8_conv1x1" in out and "%pk" in out and "GOP/s" in out and ", int8" in out


@pytest.mark.parametrize("args, message", [
    (["profile", "--peak", "/no/such/peak.json"], "--peak: no such file"),
    (["bench", "--weights", "/no/such/model.tflite"], "model.tflite"),
    (["bench", "--weights", "model.tflite", "--alpha", "0.5"], "--alpha cannot change a model file's network"),
])
def test_bad_weights_and_peak_arguments(args, message):
    code, out, err = run(*args)
    assert code == 2 and out == "" and "Traceback" not in err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_peak_files_are_usage_errors(tmp_path):
    bad = tmp_path / "peak.json"
    for text, message in (("not json", "not the JSON of `bench/peak --json`"), ("[1, 2]", "expected a JSON object"),
                          ('{"avx512_gflops": -1}', "avx512_gflops must be a number >= 0"),
                          ('{"ghz": 3.0}', "none of the peaks")):
        bad.write_text(text)
        code, out, err = run("profile", *SMALL, "--peak", str(bad))
        assert code == 2 and message in err, (text, err)


def test_classify_precision_int8_and_float32(models):
    code, out, err = run("classify", "--sample", "--precision", "int8", "--json")  # the bundled float model
    assert code == 1 and out == "" and "quantize(" in err and "Traceback" not in err
    int8 = run("classify", "--sample", "--weights", str(models / QUANT), "--json")
    as_float = run("classify", "--sample", "--weights", str(models / QUANT), "--precision", "float32", "--json")
    assert int8[0] == 0 and as_float[0] == 0, (int8[2], as_float[2])
    top_int8, top_float = json.loads(int8[1])[0], json.loads(as_float[1])[0]
    net = mobilenet.load(models / QUANT)
    image = mobilenet.preprocess(mobilenet.bundled.sample_image(), net)
    expected = net(image)[0]
    scores = [c["probability"] for c in top_int8["top"]]
    # The integer network's probabilities are multiples of 1/256: the printed top is the int8 one.
    assert scores == pytest.approx(sorted(expected, reverse=True)[:5], abs=1e-6)
    assert [c["probability"] for c in top_float["top"]] != scores
