"""Classifying many files: mobilenet.classify_files, the row writers and resume reader, and
`mobilenet classify` over folders, globs and lists with --output, --resume and broken files."""
import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import mobilenet
from mobilenet import batch_classify as bc
from mobilenet.cli import main
from mobilenet.preprocess import TENSORFLOW

Image = pytest.importorskip("PIL.Image")

CLASSES = 7


@pytest.fixture(scope="module")
def small_net():
    # A small network with labels: fast, and its top classes still differ from image to image.
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, num_classes=CLASSES, threads=1, seed=5)
    net.labels = [f"class {i}" for i in range(CLASSES)]
    return net


def _photo(rng, height=75, width=100):
    """Photo-like pixels: a smooth gradient with noise, different per call."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * rng.uniform(0.5, 2.5), y * rng.uniform(0.5, 2.5), (x + y) * rng.uniform(0.2, 1.2)], -1)
    return np.clip(base + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of 23 JPEGs and PNGs in two levels, sorted names, no broken files."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    (folder / "sub").mkdir()
    paths = []
    for i in range(23):
        where = folder / "sub" if i % 3 == 0 else folder
        path = where / (f"img{i:02d}.jpg" if i % 4 else f"img{i:02d}.png")
        Image.fromarray(_photo(rng)).save(path)
        paths.append(str(path))
    return folder, paths


@pytest.fixture
def model_file(small_net, tmp_path):
    path = tmp_path / "small.npz"
    small_net.save(path)
    return str(path)


def _broken_folder(folder, rng):
    """Good images and every kind of broken file; returns (good, broken) paths."""
    folder.mkdir(exist_ok=True)
    good = []
    for i in range(5):
        path = folder / f"good{i}.jpg"
        Image.fromarray(_photo(rng)).save(path)
        good.append(str(path))
    data = (folder / "good0.jpg").read_bytes()
    broken = {"truncated.jpg": data[: len(data) // 3], "text.jpg": b"this is not a JPEG\n", "empty.png": b"",
              "header_only.png": b"\x89PNG\r\n\x1a\n"}
    for name, content in broken.items():
        (folder / name).write_bytes(content)
    os.symlink("missing_target.jpg", folder / "dangling.jpg")
    os.symlink(".", folder / "loop")  # a folder that contains itself
    return good, sorted(str(folder / name) for name in list(broken) + ["dangling.jpg"])


# ------------------------------------------------------------------ preprocessing: identical to preprocess()

@pytest.mark.parametrize("pre", [TENSORFLOW,
                                 mobilenet.Preprocessing(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                                                         crop=0.875, crop_mode="resize_then_crop",
                                                         interpolation="bicubic")])
def test_prepare_image_is_bit_identical_to_preprocess(photos, pre):
    _, paths = photos
    for path in paths[:6] + [mobilenet.sample_image()]:
        expected = mobilenet.preprocess(path, preprocessing=pre, size=(64, 48))[0]
        got = bc.prepare_image(path, preprocessing=pre, size=(64, 48))
        assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_prepare_image_bytes_is_the_same_input(photos, tmp_path):
    _, paths = photos
    big = _large_photo(tmp_path / "big.jpg", 1200, 900, 7)
    for path in paths[:4] + [big, mobilenet.sample_image()]:
        data = pathlib.Path(path).read_bytes()
        for draft in (False, True):
            expected = bc.prepare_image(path, size=(224, 224), draft=draft)
            assert np.array_equal(bc.prepare_image_bytes(data, size=(224, 224), draft=draft), expected)
    with pytest.raises(ValueError, match="upload 3: not a readable image"):
        bc.prepare_image_bytes(b"\xff\xd8\xff", size=(8, 8), name="upload 3")
    with pytest.raises(TypeError, match="bytes"):
        bc.prepare_image_bytes("a.jpg", size=(8, 8))


def test_scaler_table_is_the_float64_formula():
    # Both ways of scaling (ufuncs where exact, else the table) against preprocess's formula on every value.
    pixels = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    pres = [mobilenet.Preprocessing(), mobilenet.Preprocessing(mean=(0.1, 0.2, 0.3), std=(0.7, 0.01, 3.0)),
            mobilenet.Preprocessing(mean=(0.5, 0.25, 0.5), std=(0.5, 0.5, 0.25))]
    kinds = [(bc._Scaler(pre).affine, bc._Scaler(pre).uniform) for pre in pres]
    assert kinds[0] == (True, True) and not kinds[1][0] and kinds[2] == (True, False)  # every path is taken
    for pre in pres:
        scaler = bc._Scaler(pre)
        out = np.empty(pixels.shape, np.float32)
        scaler(pixels, out)
        expected = ((pixels.astype(np.float64) / 255.0 - np.array(pre.mean)) / np.array(pre.std)).astype(np.float32)
        assert np.array_equal(out, expected)
    assert bc._Scaler(mobilenet.Preprocessing()).affine  # TensorFlow's scaling takes the fast path


def _large_photo(path, width, height, seed):
    """A real photo scaled up with sensor-like noise: large, with detail at every scale."""
    base = Image.open(mobilenet.sample_image()).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(seed).normal(0, 6, (height, width, 3))
    Image.fromarray(np.clip(np.asarray(base, np.float32) + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
    return str(path)


def test_draft_only_where_the_jpeg_is_at_least_four_times_the_input(tmp_path, photos):
    # 500x375 at 224: a half-scale decode (250x188) is smaller than twice the input, so no draft, same pixels.
    path = _large_photo(tmp_path / "photo.jpg", 500, 375, 0)
    assert np.array_equal(bc.prepare_image(path, size=(224, 224), draft=True), bc.prepare_image(path, size=(224, 224)))
    with bc._open_image(path, bc._draft_size((224, 224), TENSORFLOW), "photo") as img:
        assert img.size == (500, 375)
    big = _large_photo(tmp_path / "big.jpg", 2000, 1500, 1)
    with bc._open_image(big, bc._draft_size((224, 224), TENSORFLOW), "big") as img:
        assert img.size == (1000, 750)  # decoded at 1/2: 1/4 would leave fewer than 448 rows
    _, paths = photos
    png = paths[0]  # not a JPEG: draft changes nothing
    assert np.array_equal(bc.prepare_image(png, size=(32, 32), draft=True), bc.prepare_image(png, size=(32, 32)))


@pytest.mark.parametrize("width, height", [(1200, 900), (2000, 1500), (1800, 3600), (4000, 3000)])
def test_draft_stays_within_the_stated_bound(tmp_path, width, height):
    # The README's bound for --draft: model inputs within 8 pixel levels (of 255) anywhere, 0.5 on average.
    path = _large_photo(tmp_path / "big.jpg", width, height, width)
    exact = bc.prepare_image(path, size=(224, 224))
    draft = bc.prepare_image(path, size=(224, 224), draft=True)
    levels = np.abs(exact - draft) * 127.5  # TensorFlow's scaling: one level is 2/255
    assert 0 < levels.mean() <= 0.5 and levels.max() <= 8


# ------------------------------------------------------------------ classify_files

def _expected(net, path, k):
    probs = net(mobilenet.preprocess(path, net))[0]
    order = np.argsort(-probs, kind="stable")[:k]
    return [int(i) for i in order], probs


@pytest.mark.parametrize("batch, workers", [(1, 1), (4, 3), (32, 8)])
def test_classify_files_rows_in_input_order(small_net, photos, batch, workers):
    _, paths = photos
    order = paths[::-1] + paths[:3]  # any order, duplicates included: one row per item
    rows = list(mobilenet.classify_files(order, small_net, batch=batch, top=3, workers=workers))
    assert [row.input for row in rows] == order
    for row in rows:
        indices, probs = _expected(small_net, row.input, 3)
        assert row.ok and [p.index for p in row.top] == indices
        assert [p.label for p in row.top] == [f"class {i}" for i in indices]
        # Scores agree with a single-image pass to rounding (BLAS may block a batch differently).
        assert [p.score for p in row.top] == pytest.approx([probs[i] for i in indices], rel=1e-5, abs=1e-7)


def test_stable_order_with_many_decode_threads(small_net, photos):
    # Later images decode faster than earlier ones (small vs large files); rows still come in input order.
    _, paths = photos
    order = [p for _ in range(8) for p in paths]
    rows = list(mobilenet.classify_files(order, small_net, batch=5, top=1, workers=16))
    assert [row.input for row in rows] == order
    first = {}
    for row in rows:
        assert [p.index for p in first.setdefault(row.input, row.top)] == [p.index for p in row.top]


def test_classify_files_errors_are_rows_and_the_run_goes_on(small_net, tmp_path):
    good, broken = _broken_folder(tmp_path / "mixed", np.random.default_rng(2))
    paths = [p for pair in zip(good, broken) for p in pair] + [str(tmp_path / "mixed"), str(tmp_path / "nothere.jpg")]
    rows = list(mobilenet.classify_files(paths, small_net, batch=3, top=2, workers=4))
    assert [row.input for row in rows] == paths
    by_input = {row.input: row for row in rows}
    assert all(by_input[p].ok for p in good)
    for p in broken + [str(tmp_path / "mixed"), str(tmp_path / "nothere.jpg")]:
        assert not by_input[p].ok and by_input[p].top == () and by_input[p].error
    assert "directory" in by_input[str(tmp_path / "mixed")].error
    assert "not found" in by_input[str(tmp_path / "nothere.jpg")].error
    # A failed image does not change its neighbours' results.
    for p in good:
        assert [q.index for q in by_input[p].top] == _expected(small_net, p, 2)[0]


def test_classify_files_default_net_is_the_bundled_model():
    rows = list(mobilenet.classify_files([mobilenet.sample_image()], top=1))
    assert len(rows) == 1 and rows[0].top[0].label == "Egyptian cat"


@pytest.mark.parametrize("kwargs, message", [({"batch": 0}, "batch"), ({"top": -1}, "top"), ({"workers": 0}, "workers"),
                                             ({"labels": ["a"]}, "labels")])
def test_classify_files_bad_arguments(small_net, kwargs, message):
    with pytest.raises(ValueError, match=message):
        mobilenet.classify_files(["x.jpg"], small_net, **kwargs)


def test_classify_files_refuses_one_path_for_many(small_net):
    with pytest.raises(TypeError, match="not one path"):
        mobilenet.classify_files("photo.jpg", small_net)


def test_classify_files_is_lazy_and_stops_cleanly(small_net, photos):
    _, paths = photos
    taken = []

    def source():
        for p in paths * 100:
            taken.append(p)
            yield p

    rows = mobilenet.classify_files(source(), small_net, batch=2, workers=2)
    assert next(rows).input == paths[0]
    rows.close()
    assert len(taken) <= 3 * 2 + 1  # read a few batches ahead, never the whole source


# ------------------------------------------------------------------ writers and the resume reader

def _rows():
    return [bc.ClassifyRow("a.jpg", (bc.Prediction(3, "cat, tabby", 0.5), bc.Prediction(1, None, 0.25))),
            bc.ClassifyRow('odd "name",\nwith a newline.jpg', error="x.jpg: not a readable image (truncated)"),
            bc.ClassifyRow("caf\u00e9 \udcff.png", (bc.Prediction(0, "background", 1 / 3),
                                                    bc.Prediction(2, "", 2e-9)))]


@pytest.mark.parametrize("fmt", bc.FORMATS)
def test_writer_round_trips_rows(tmp_path, fmt):
    path = str(tmp_path / f"out.{fmt}")
    with bc.open_writer(path, top=2) as writer:
        writer.write(_rows()[:1])
        writer.write(_rows()[1])
        writer.write(_rows()[2:])
    back = bc.read_rows(path)
    expected = _rows()
    empty_label = "" if fmt == "jsonl" else None  # CSV has no None: an empty label reads back as none
    expected[2] = bc.ClassifyRow(expected[2].input, (expected[2].top[0], bc.Prediction(2, empty_label, 2e-9)))
    assert back == expected  # scores exactly (repr round-trips a float)


def test_csv_has_one_record_per_row(tmp_path):
    path = str(tmp_path / "out.csv")
    with bc.open_writer(path, top=2) as writer:
        writer.write(_rows())
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        records = list(csv.reader(f))
    assert records[0] == bc.csv_header(2) and len(records) == 4
    assert records[1][:5] == ["a.jpg", "", "3", "cat, tabby", "0.5"]


@pytest.mark.parametrize("fmt", bc.FORMATS)
def test_reader_repairs_a_truncated_last_line(tmp_path, fmt):
    path = str(tmp_path / f"out.{fmt}")
    with bc.open_writer(path, top=2) as writer:
        writer.write(_rows())
    file = pathlib.Path(path)
    whole = file.read_bytes()
    for cut in range(len(whole) - 1, 0, -7):  # every kind of cut: inside a field, in quotes, after a newline
        file.write_bytes(whole[:cut])
        rows = bc.read_rows(path, repair=True)
        repaired = file.read_bytes()
        assert whole.startswith(repaired) and (repaired == b"" or repaired.endswith(b"\n"))
        assert rows == bc.read_rows(path) == _rows()[:len(rows)]
        # Appending continues the file: every row readable, none lost but the cut one.
        with bc.open_writer(path, top=2, append=True) as writer:
            writer.write(_rows()[0])
        assert bc.read_rows(path)[-1] == _rows()[0]


def test_reader_refuses_a_damaged_line_inside(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"input": "a", "top": [], "error": "e"}\nnot json\n{"input": "b", "top": [], "error": "e"}\n')
    with pytest.raises(ValueError, match="line 2"):
        bc.read_rows(str(path))
    path = tmp_path / "out.csv"
    path.write_text("input,error,top1_index,top1_label,top1_score\nx,,1,a,0.5\n")
    with pytest.raises(ValueError, match="top 1 classes.*asks for 5"):
        bc.read_rows(str(path), top=5)


@pytest.mark.parametrize("line", ['{"input": "a", "top": [{"index": "1", "label": null, "score": 0.5}], "error": null}',
                                  '{"input": "a", "top": [{"index": 1, "label": 2, "score": 0.5}], "error": null}',
                                  '{"input": "a", "top": [{"index": 1, "label": null, "score": "x"}], "error": null}',
                                  '{"input": 3, "top": [], "error": "e"}', '{"input": "a", "top": [], "error": null}',
                                  '{"input": "a", "top": [], "error": 5}', '["a", [], "e"]'])
def test_reader_refuses_rows_of_the_wrong_types(tmp_path, line):
    path = tmp_path / "out.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match="line 1: not a classification row"):
        bc.read_rows(str(path))


def test_output_format_by_extension_or_name():
    assert bc.output_format("a.JSONL") == "jsonl" and bc.output_format("a.csv") == "csv"
    assert bc.output_format("a.txt", "csv") == "csv"
    with pytest.raises(ValueError, match="extension"):
        bc.output_format("a.txt")


# ------------------------------------------------------------------ inputs: folders, globs, lists

def test_expand_inputs_folders_globs_and_missing(tmp_path):
    good, broken = _broken_folder(tmp_path / "d", np.random.default_rng(3))
    (tmp_path / "d" / "notes.txt").write_text("not an image, not picked by a folder's walk")
    (tmp_path / "d" / "deep" / "er").mkdir(parents=True)
    Image.fromarray(_photo(np.random.default_rng(4))).save(tmp_path / "d" / "deep" / "er" / "x.JPEG")
    found = bc.expand_inputs([str(tmp_path / "d")])
    # Sorted, recursive, by extension, the symlink loop walked once.
    assert found == sorted(good + broken) + [str(tmp_path / "d" / "deep" / "er" / "x.JPEG")]
    pattern = str(tmp_path / "d" / "good*.jpg")
    assert bc.expand_inputs([pattern, good[0], str(tmp_path / "missing.jpg")]) == good + [str(tmp_path / "missing.jpg")]
    assert bc.expand_inputs([str(tmp_path / "**" / "x.JPEG")]) == [str(tmp_path / "d" / "deep" / "er" / "x.JPEG")]
    with pytest.raises(ValueError, match="no files match"):
        bc.expand_inputs([str(tmp_path / "*.webp")])


# ------------------------------------------------------------------ the command line

def _read_jsonl(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("fmt", bc.FORMATS)
def test_cli_folder_with_broken_files_writes_every_row(tmp_path, model_file, small_net, fmt, capsys):
    good, broken = _broken_folder(tmp_path / "mixed", np.random.default_rng(6))
    out = tmp_path / f"out.{fmt}"
    code = main(["classify", str(tmp_path / "mixed"), "--weights", model_file, "-o", str(out), "--top", "3",
                 "--batch", "2", "--decode-threads", "3", "--no-progress"])
    assert code == 1  # some inputs failed; every row is still written
    rows = bc.read_rows(str(out))
    inputs = sorted(good + broken)
    assert [row.input for row in rows] == inputs  # one row per input, input order
    assert {row.input for row in rows if row.ok} == set(good)
    for row in rows:
        if row.ok:
            assert [p.index for p in row.top] == _expected(small_net, row.input, 3)[0]
    err = capsys.readouterr().err
    assert "5 classified, 5 failed" in err and "Traceback" not in err


def test_cli_exit_0_when_all_classified_glob_and_list(tmp_path, photos, model_file, capsys):
    folder, paths = photos
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(paths[5:9]) + "\n\n")
    out = tmp_path / "out.jsonl"
    assert main(["classify", str(folder / "sub" / "*.jpg"), "--from-file", str(listing), "--weights", model_file,
                 "--output", str(out), "--no-progress"]) == 0
    globbed = sorted(str(p) for p in (folder / "sub").glob("*.jpg"))
    expected = globbed + [p for p in paths[5:9] if p not in globbed]
    assert [row["input"] for row in _read_jsonl(out)] == expected
    assert all(row["error"] is None and len(row["top"]) == 5 for row in _read_jsonl(out))


def test_cli_list_from_stdin(tmp_path, photos, model_file):
    _, paths = photos
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "mobilenet", "classify", "--from-file", "-", "--weights", model_file,
                           "-o", str(out), "--top", "2"], input="\n".join(paths[:4]), text=True, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [row.input for row in bc.read_rows(str(out))] == paths[:4]
    assert "\r" not in done.stderr  # no progress bar when stderr is not a terminal


def test_cli_resume_skips_rows_already_written(tmp_path, photos, model_file):
    _, paths = photos
    out = tmp_path / "out.jsonl"
    with bc.open_writer(str(out)) as writer:  # a run interrupted after 3 rows and part of a 4th
        writer.write(bc.ClassifyRow(paths[0], error="kept from before"))
        writer.write(list(mobilenet.classify_files(paths[1:3], mobilenet.load(model_file))))
    with open(out, "a") as f:
        f.write('{"input": "' + paths[3] + '", "top": [{"ind')
    assert main(["classify", *paths[:8], "--weights", model_file, "-o", str(out), "--resume", "--no-progress"]) == 1
    rows = _read_jsonl(out)
    assert [row["input"] for row in rows] == paths[:8]
    assert rows[0]["error"] == "kept from before"  # not classified again
    # Every row present: a second resume has nothing to do and still reports the earlier failure.
    before = out.read_bytes()
    assert main(["classify", *paths[:8], "--weights", model_file, "-o", str(out), "--resume", "--no-progress"]) == 1
    assert out.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["classify", "--resume", "x.jpg"], "--resume needs --output"),
    (["classify", "x.jpg", "-o", "out.txt"], "extension"),
    (["classify", "x.jpg", "--format", "csv"], "--format needs --output"),
    (["classify", "x.jpg", "--json", "-o", "o.jsonl"], "--json"),
    (["classify", "nothing*.jpg"], "no files match"),
    (["classify", "--from-file", "no_such_list.txt"], "--from-file"),
    (["classify", "x.jpg", "-o", "no_such_folder/out.csv"], "does not exist"),
])
def test_cli_bad_arguments_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_resume_refuses_a_file_that_is_not_an_output(tmp_path, photos, model_file, capsys):
    _, paths = photos
    out = tmp_path / "out.csv"
    out.write_text("name,size\na,1\n")
    assert main(["classify", paths[0], "--weights", model_file, "-o", str(out), "--resume"]) == 2
    assert "not a classification CSV" in capsys.readouterr().err
    assert out.read_text() == "name,size\na,1\n"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only files")
def test_cli_unwritable_output_exit_1(tmp_path, photos, model_file, capsys):
    _, paths = photos
    out = tmp_path / "out.jsonl"
    out.write_text("")
    out.chmod(0o444)
    assert main(["classify", paths[0], "--weights", model_file, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


def test_cli_full_disk_exit_1(tmp_path, photos, model_file, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    _, paths = photos
    assert main(["classify", paths[0], "--weights", model_file, "-o", "/dev/full", "--format", "jsonl"]) == 1
    err = capsys.readouterr().err
    assert "cannot write /dev/full" in err and "No space left" in err


def test_cli_output_to_stdout(photos, model_file, capsys):
    _, paths = photos
    assert main(["classify", *paths[:3], "--weights", model_file, "-o", "-", "--top", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["input"] for line in lines] == paths[:3]


# ------------------------------------------------------------------ interrupted runs

def _start(argv, **kwargs):
    # Started as from a terminal, where Ctrl-C interrupts: a test runner that ignores SIGINT (a background
    # job of a non-interactive shell) would pass that on through exec, and the run would not stop. A handler
    # (not SIG_IGN) in this process becomes SIG_DFL in the child.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([sys.executable, "-m", "mobilenet", "classify", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for_rows(path, count, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and pathlib.Path(path).read_bytes().count(b"\n") >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no {count} rows in {path} after {timeout} s")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_killed_run_then_resume_has_every_row_once(tmp_path, photos, model_file, how):
    folder, paths = photos
    # Many inputs (each photo several times under other names through a list), a slow pace: batch 1, one decoder.
    links = tmp_path / "links"
    links.mkdir()
    inputs = []
    for i in range(1000):  # far more than can be classified between the 20th row and the signal
        link = links / f"{i:03d}_{os.path.basename(paths[i % len(paths)])}"
        os.symlink(paths[i % len(paths)], link)
        inputs.append(str(link))
    (links / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    inputs.insert(500, str(links / "broken.jpg"))
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(inputs) + "\n")
    out = tmp_path / "out.jsonl"
    argv = ["--from-file", str(listing), "--weights", model_file, "-o", str(out), "--batch", "1",
            "--decode-threads", "1", "--threads", "1", "--no-progress"]
    proc = _start(argv)
    _wait_for_rows(out, 20, proc)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    expected_code = {"SIGKILL": -signal.SIGKILL, "SIGTERM": 128 + signal.SIGTERM, "SIGINT": 130}[how]
    assert proc.returncode == expected_code, err
    partial = bc.read_rows(str(out))  # valid up to its last complete line
    assert 20 <= len(partial) < len(inputs)
    assert [row.input for row in partial] == inputs[:len(partial)]
    if how != "SIGKILL":  # closed on a complete line
        assert out.read_bytes().endswith(b"\n")
    resumed = _start(["--resume"] + argv)
    resumed.communicate(timeout=300)
    assert resumed.returncode == 1  # the broken file's row
    rows = _read_jsonl(out)
    assert [row["input"] for row in rows] == inputs  # every input exactly once, in order
    assert [row["input"] for row in rows if row["error"]] == [str(links / "broken.jpg")]


# ------------------------------------------------------------------ progress

def test_progress_flag_forces_the_bar(tmp_path, photos, model_file):
    _, paths = photos
    out = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, "-m", "mobilenet", "classify", *paths[:4], "--weights", model_file,
                           "-o", str(out), "--progress"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "4/4" in done.stderr and "img" in done.stderr


def test_text_output_unchanged_for_a_few_images(photos, model_file, small_net, capsys):
    _, paths = photos
    assert main(["classify", paths[0], "--weights", model_file, "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    indices, _ = _expected(small_net, paths[0], 2)
    assert lines[0] == paths[0] and [int(line.split()[1]) for line in lines[1:]] == indices


@pytest.mark.parametrize("pattern", ["**/*.jpg", "t/**", "t/**/*.png", "t/*/*.jpg", "t/**/b?.jpg", "t/**/.h*/*.jpg",
                                     "**/sub", "t/[ab]*.jpg"])
def test_recursive_globs_match_as_glob_does(tmp_path, monkeypatch, pattern):
    # On a tree without links, the loop-safe walk gives exactly glob.glob's matches (hidden names included).
    import glob
    monkeypatch.chdir(tmp_path)
    for name in ["t/a.jpg", "t/b1.jpg", "t/sub/b2.jpg", "t/sub/deeper/c.png", "t/.hidden/d.jpg", "t/sub/.e.jpg",
                 "t/x.png"]:
        pathlib.Path(name).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(name).write_bytes(b"")
    assert bc._glob(pattern) == sorted(glob.glob(pattern, recursive=True))
    absolute = str(tmp_path / pattern)
    assert bc._glob(absolute) == sorted(glob.glob(absolute, recursive=True))
