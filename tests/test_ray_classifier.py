"""mobilenet.ray without a cluster: the actor plan's rule, and the map_batches class called as Ray calls it.

The Classifier is a plain class (Ray is imported only to ask an actor's CPUs),
so its batches are checked here against the local run, bit for bit. The job on
a real two-node cluster is tests/test_ray_cluster.py.
"""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mobilenet
from mobilenet.batch_classify import ClassifyRow, Prediction, classify_files
from mobilenet.cli import main
from mobilenet.ray import (
    DEFAULT_ACTOR_CPUS,
    SOURCES,
    Classifier,
    JobStats,
    RayJobError,
    classify_on_ray,
    output_format,
    plan_actors,
    reserved_for_reads,
    rows_in_order,
)

Image = pytest.importorskip("PIL.Image")


# ---------------------------------------------------------------- the actor plan

@settings(max_examples=300, deadline=None)
@given(nodes=st.lists(st.integers(0, 64), min_size=1, max_size=8), cpus=st.none() | st.integers(1, 8),
       source=st.sampled_from(SOURCES))
def test_actors_fill_what_each_node_spares(nodes, cpus, source):
    spare = [c - reserved_for_reads(c, source) for c in nodes if c >= 1]
    try:
        plan = plan_actors(nodes, cpus, source)
    except ValueError as e:
        k = cpus or 1  # the default falls back to 1 before giving up
        assert all(s < k for s in spare) and "deadlock" in str(e)
        return
    k = plan.cpus_per_actor
    assert k == (cpus if cpus is not None else
                 DEFAULT_ACTOR_CPUS if any(s >= DEFAULT_ACTOR_CPUS for s in spare) else 1)
    # Placed node by node, the actors fit, and every node keeps its CPUs for the read tasks.
    assert plan.actors == sum(s // k for s in spare if s > 0) >= 1
    assert plan.reserved_cpus == sum(c for c in nodes if c >= 1) - plan.actors * k
    assert plan.reserved_cpus >= sum(reserved_for_reads(c, source) for c in nodes if c >= 1)


def test_read_images_keeps_half_of_each_node():
    # read_images decodes in Ray's read tasks: half of a 16-CPU node stays for them.
    assert reserved_for_reads(16, "read_images") == 8 and reserved_for_reads(16, "paths") == 1
    assert plan_actors([16], source="read_images").actors * DEFAULT_ACTOR_CPUS == 8


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_cpus_per_actor(bad):
    with pytest.raises(ValueError, match="cpus_per_actor"):
        plan_actors([8], bad)


def test_bad_source():
    with pytest.raises(ValueError, match="source"):
        plan_actors([8], source="bytes")
    with pytest.raises(ValueError, match="source"):
        classify_on_ray(["a.jpg"], source="bytes")


def test_one_path_is_not_many():
    with pytest.raises(TypeError, match="not one path"):
        classify_on_ray("a.jpg")


def test_classifier_must_be_ours():
    with pytest.raises(TypeError, match="classifier"):
        classify_on_ray(["a.jpg"], classifier=dict)


# ---------------------------------------------------------------- the driver's rows

def _block(positions, paths=None):
    """A Classifier output block for these positions: row i has classes (i, i+1), or an error when i % 5 == 3."""
    positions = np.asarray(positions, np.int64)
    errors = np.array([f"bad {i}" if i % 5 == 3 else "" for i in positions], dtype=object)
    block = {"index": positions, "classes": np.stack([positions, positions + 1], axis=1) if len(positions)
             else np.zeros((0, 2), np.int64),
             "scores": np.tile(np.float32([0.75, 0.125]), (len(positions), 1)), "error": errors}
    if paths is not None:
        block["path"] = np.array([paths[i] for i in positions], dtype=object)
    return block


def _expected(n, names):
    return [ClassifyRow(names[i], error=f"bad {i}") if i % 5 == 3 else
            ClassifyRow(names[i], (Prediction(i, None, 0.75), Prediction(i + 1, None, 0.125))) for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 60))
def test_rows_once_in_order_whatever_ray_returns(data, n):
    # Blocks in any order, some returned twice (a retried batch): each row once, in order.
    order = data.draw(st.permutations(range(n)))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, n - 1)), max_size=n)))
    blocks = [_block(order[a:b]) for a, b in zip([0] + cuts, cuts + [n]) if b > a]
    repeated = [blocks[k] for k in data.draw(st.lists(st.sampled_from(range(len(blocks))), max_size=4))]
    for block in repeated:
        blocks.insert(data.draw(st.integers(0, len(blocks))), block)
    names = [f"img{i}.jpg" for i in range(n)]
    stats = JobStats()
    assert list(rows_in_order(blocks, names, stats=stats)) == _expected(n, names)
    assert stats.classified == n and stats.failed == sum(1 for i in range(n) if i % 5 == 3)
    assert stats.retried_rows == sum(len(block["error"]) for block in repeated)


def test_a_missing_row_is_an_error_naming_it():
    names = [f"img{i}.jpg" for i in range(10)]
    rows = rows_in_order([_block([0, 1, 2]), _block([4, 5, 6, 7, 8, 9])], names)
    got = []
    with pytest.raises(RayJobError, match=r"no row for 1 input\(s\): img3.jpg"):
        for row in rows:
            got.append(row)
    assert [row.input for row in got] == names[:3]  # the rows before the gap went out
    with pytest.raises(RayJobError, match="not given"):
        list(rows_in_order([_block([10])], names))


def test_read_images_rows_by_path():
    # read_images names rows by path (a URI without its scheme); a path listed twice fills both.
    paths = ["/p/a.jpg", "s3://bucket/b.jpg", "/p/a.jpg", "/p/d.jpg"]
    block = _block([0, 1, 3], paths)
    block["path"][1] = "bucket/b.jpg"
    del block["index"]
    rows = list(rows_in_order([block, block], paths, by_path=paths))
    assert [row.input for row in rows] == paths and rows[2].top == rows[0].top
    with pytest.raises(RayJobError, match="not given: 'x.jpg'"):
        list(rows_in_order([{**block, "path": np.array(["x.jpg"] * 3, dtype=object)}], paths, by_path=paths))


# ---------------------------------------------------------------- the map_batches class

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """11 photos of assorted sizes and kinds, and one file that is no image (at index 5)."""
    root = tmp_path_factory.mktemp("ray_classifier")
    rng = np.random.default_rng(7)
    paths = []
    for i in range(11):
        h, w = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = root / (f"{i:02d}.jpg" if i % 2 else f"{i:02d}.png")
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    (root / "broken.jpg").write_bytes(b"no image here")
    paths.insert(5, str(root / "broken.jpg"))
    return paths


@pytest.fixture(scope="module")
def net():
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=64, num_classes=12, threads=1, seed=5)
    net.labels = [f"class {i}" for i in range(12)]
    return net


def _rows_of(out, names, top):
    """The Classifier's columns as (name, [(index, label, score)] or error) per row."""
    rows = []
    for i, name in enumerate(names):
        if out["error"][i]:
            assert list(out["classes"][i]) == [-1] * top and np.isnan(out["scores"][i]).all()
            rows.append((name, out["error"][i]))
        else:
            rows.append((name, [(int(c), str(label), float(s)) for c, label, s in
                                zip(out["classes"][i], out["labels"][i], out["scores"][i])]))
    return rows


def _local(paths, net, batch, top):
    return [(row.input, [(p.index, p.label, p.score) for p in row.top] if row.ok else row.error)
            for row in classify_files(paths, net, batch=batch, top=top, workers=2)]


@pytest.mark.parametrize("batch", [1, 4, 32])
def test_paths_equal_the_local_run(folder, net, batch):
    # A call's forward passes are the local run's batches (rows with the same index // batch), however
    # many of them Ray gives one call (its blocks hold whole batches).
    classifier = Classifier(net=net.copy(), top=3, batch=batch, threads=2)
    local = _local(folder, net, batch, 3)
    index = np.arange(len(folder))
    for calls in ([index], [index[s:s + batch] for s in range(0, len(index), batch)],
                  [index[:2 * batch], index[2 * batch:]]):
        calls = [part for part in calls if len(part)]
        rows = []
        for part in calls:
            out = classifier({"index": part, "path": np.array(folder, dtype=object)[part]})
            assert list(out["index"]) == list(part) and "path" in out
            rows += _rows_of(out, [folder[i] for i in part], 3)
        assert rows == local
    assert "not a readable image" in local[5][1]


def test_bytes_and_arrays(folder, net):
    classifier = Classifier(net=net.copy(), top=4, batch=8)
    local = _local(folder, net, 8, 4)
    data = [Path(p).read_bytes() for p in folder]
    out = classifier({"index": np.arange(len(folder)), "bytes": np.array(data, dtype=object),
                      "path": np.array(folder, dtype=object)})
    assert "bytes" not in out and _rows_of(out, folder, 4) == local
    assert out["error"][5].startswith(folder[5] + ": not a readable image")
    # Arrays (read_images' rows): the same pixels give the same rows, resized or not.
    good = [p for p in folder if "broken" not in p]
    arrays, sized = [], []
    for p in good:
        with Image.open(p) as img:
            rgb = img.convert("RGB")
        arrays.append(np.asarray(rgb))
        sized.append(np.asarray(rgb.resize((64, 64), Image.Resampling.BILINEAR)))
    for images in (arrays, sized):
        column = np.empty(len(images), dtype=object)
        column[:] = images
        out = Classifier(net=net.copy(), top=4, batch=len(good))({"image": column})
        assert "image" not in out and _rows_of(out, good, 4) == _local(good, net, len(good), 4)


def test_uris_read_by_the_actor(folder, net):
    pytest.importorskip("pyarrow.fs", reason="URIs are read with pyarrow's filesystems (mobilenet[ray] has it)")
    uris = [Path(p).as_uri() for p in folder] + [Path(folder[0]).parent.joinpath("missing.jpg").as_uri()]
    out = Classifier(net=net.copy(), top=3, batch=4)({"index": np.arange(len(uris)),
                                                      "path": np.array(uris, dtype=object)})
    rows = _rows_of(out, uris, 3)
    # The same bytes through the same decoder: the local rows of the files, bit for bit.
    local = _local(folder, net, 4, 3)
    for (uri, got), (_, want) in zip(rows, local):
        if isinstance(want, str):
            assert got.startswith(uri + ": not a readable image")
        else:
            assert got == want
    assert isinstance(rows[-1][1], str) and "missing.jpg" in rows[-1][1]


def test_threads_follow_the_argument(net):
    assert Classifier(net=net.copy(), threads=2).net.threads == 2
    assert Classifier(net=net.copy(), threads=1).net.threads == 1


def test_bundled_model_by_default(net):
    classifier = Classifier(top=2, threads=1)
    out = classifier({"path": np.array([mobilenet.sample_image()], dtype=object)})
    assert out["labels"][0][0] == "Egyptian cat" and out["error"][0] == ""


def test_bad_batches_and_arguments(net):
    with pytest.raises(ValueError, match="'path', 'bytes' or 'image'"):
        Classifier(net=net.copy())({"index": np.arange(2)})
    with pytest.raises(ValueError, match="weights or net"):
        Classifier("model.npz", net=net)
    for name in ("top", "batch"):
        with pytest.raises(ValueError, match=name):
            Classifier(net=net, **{name: 0})


def test_output_formats():
    assert [output_format(p) for p in ("a.parquet", "a.jsonl", "a.csv")] == ["parquet", "jsonl", "csv"]
    with pytest.raises(ValueError, match="parquet"):
        output_format("a.txt")


def test_cli_without_ray(monkeypatch, capsys, folder):
    import mobilenet.classify as classify
    monkeypatch.setattr(classify, "is_installed", lambda name: name != "ray")
    assert main(["classify", folder[0], "--ray"]) == 1
    err = capsys.readouterr().err
    assert "needs the 'ray' package" in err and "mobilenet[ray]" in err


def test_cli_ray_before_the_inputs(capsys, folder):
    # "--ray photos/" would read the folder as the cluster's address: said, not tried.
    assert main(["classify", "--ray", folder[0]]) == 2
    assert "put the inputs before --ray" in capsys.readouterr().err


def test_cli_ray_errors_are_one_line(monkeypatch, capsys, folder):
    # A job that fails (here: no cluster can be reached) is a one-line error and exit status 1.
    import mobilenet.classify as classify
    import mobilenet.ray as mray

    def fail(*args, **kwargs):
        raise RayJobError("the Ray job failed: ConnectionError: no cluster at 127.0.0.1:1")
        yield

    monkeypatch.setattr(mray, "classify_on_ray", fail)
    monkeypatch.setattr(classify, "is_installed", lambda name: True)
    assert main(["classify", folder[0], "--ray", "127.0.0.1:1"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("mobilenet classify: error: the Ray job")


def test_importing_needs_no_ray():
    # mobilenet.ray imports no Ray until a job runs: importing it with the CLI costs nothing.
    import subprocess
    import sys
    code = "import sys, mobilenet.cli, mobilenet.ray; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_parquet_writer(tmp_path, monkeypatch):
    # Row groups as they come, renamed when complete; a job that fails leaves the previous file.
    pytest.importorskip("pyarrow.parquet", reason="Parquet is written with pyarrow (mobilenet[ray] has it)")
    import mobilenet.ray as mray
    monkeypatch.setattr(mray, "PARQUET_ROW_GROUP", 3)
    names = [f"img{i}.jpg" for i in range(14)]
    rows = _expected(14, names)
    out = tmp_path / "rows.parquet"

    class Bar:
        count = 0

        def update(self, n):
            self.count += n

    bar = Bar()
    mray._write_parquet(str(out), iter(rows[:8]), keep=False, bar=bar)
    assert mray.read_parquet_rows(str(out)) == rows[:8] and bar.count == 8
    assert mray._parquet_inputs(str(out)) == names[:8]

    def failing():
        yield from rows[8:12]
        raise RayJobError("the cluster went away")

    with pytest.raises(RayJobError):
        mray._write_parquet(str(out), failing(), keep=True, bar=bar)
    assert mray.read_parquet_rows(str(out)) == rows[:8] and not (tmp_path / "rows.parquet.partial").exists()
    mray._write_parquet(str(out), iter(rows[8:]), keep=True, bar=bar)
    assert mray.read_parquet_rows(str(out)) == rows
