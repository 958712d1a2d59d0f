"""mobilenet.ray on a real two-node Ray cluster: rows equal the local run's, each input exactly once,
through a SIGKILLed actor and a SIGKILLed driver.

Needs a running cluster: tests/ray/cluster.sh starts one on this machine (a head
and a second node, each its own process and temp dir) and sets
MOBILENET_RAY_ADDRESS, e.g.

    tests/ray/cluster.sh python -m pytest tests/test_ray_cluster.py

Skipped without that variable (CI's Ray step sets it, and installs Ray).
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest

import mobilenet
from mobilenet.batch_classify import classify_files, read_rows
from mobilenet.cli import main

from conftest import models_dir

ADDRESS = os.environ.get("MOBILENET_RAY_ADDRESS")
if not ADDRESS:
    pytest.skip("no Ray cluster: MOBILENET_RAY_ADDRESS is not set (tests/ray/cluster.sh starts one)",
                allow_module_level=True)
# With a cluster named, Ray must be there (it started the cluster): an ImportError here fails the run.
import ray.data  # noqa: E402, F401
from PIL import Image  # noqa: E402

import mobilenet.ray as mray  # noqa: E402

# Ray Data reads its own deprecated settings when it copies its DataContext. Its per-dataset log
# file (logs/ray-data/ray-data-<dataset>.log) is left to the garbage collector, whose ResourceWarning
# can land in any test (seen once in CI): Ray's file, not ours.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`\w+` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(r"ignore:unclosed file <_io\.\w+ name='[^']*/logs/ray-data/:ResourceWarning"),
    pytest.mark.filterwarnings(r"ignore:Exception ignored in. <_io\.\w+ name='[^']*/logs/ray-data/"
                               r":pytest.PytestUnraisableExceptionWarning"),
]

IMAGES = 300
BROKEN = {17: b"", 150: b"GIF89a but not really", 299: b"\xff\xd8\xff\xe0 a JPEG cut short"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """300 generated images (JPEG and PNG, sizes from 48 to 400 pixels), three of them broken."""
    root = tmp_path_factory.mktemp("ray_photos")
    rng = np.random.default_rng(2017)
    paths = []
    for i in range(IMAGES):
        folder = root / f"set{i % 3}"
        folder.mkdir(exist_ok=True)
        path = folder / f"img{i:03d}.{'png' if i % 4 == 0 else 'jpg'}"
        if i in BROKEN:
            path.write_bytes(BROKEN[i])
        else:
            h, w = (int(s) for s in rng.integers(48, 400, 2))
            # Smooth gradients plus noise: JPEG-like content, not pure noise.
            y, x = np.mgrid[0:h, 0:w]
            base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], axis=-1)
            pixels = np.clip(base + rng.integers(-40, 40, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return root, paths


@pytest.fixture(scope="module")
def local_rows(photos):
    _, paths = photos
    return list(classify_files(paths, mobilenet.pretrained(threads=2)))


@pytest.fixture(autouse=True)
def no_ray_left_behind():
    import ray
    yield
    if ray.is_initialized():  # each job connects and disconnects by itself
        ray.shutdown()
        pytest.fail("a job left this process connected to Ray")


def _check_once(rows, paths):
    counts = Counter(row.input for row in rows)
    assert len(rows) == len(paths) and set(counts) == set(paths) and set(counts.values()) == {1}


def test_rows_equal_the_local_run(photos, local_rows):
    _, paths = photos
    stats = mray.JobStats()
    rows = list(mray.classify_on_ray(paths, address=ADDRESS, stats=stats))
    _check_once(rows, paths)
    assert rows == local_rows  # bit for bit: the same preprocessing, the same batches
    assert [i for i, row in enumerate(rows) if not row.ok] == sorted(BROKEN)
    assert stats.classified == IMAGES and stats.failed == len(BROKEN)
    # Two nodes of 2 CPUs: each keeps one for the read tasks, one actor of 1 CPU on each.
    assert stats.plan == mray.ActorPlan(actors=2, cpus_per_actor=1, reserved_cpus=2)


def test_cli_output_equals_the_local_cli(photos, tmp_path):
    root, paths = photos
    local, cluster = tmp_path / "local.jsonl", tmp_path / "cluster.csv"
    assert main(["classify", str(root), "--output", str(local), "--no-progress"]) == 1
    assert main(["classify", str(root), "--ray", ADDRESS, "--output", str(cluster), "--no-progress"]) == 1
    local_rows, cluster_rows = read_rows(str(local)), read_rows(str(cluster))
    _check_once(cluster_rows, paths)
    assert cluster_rows == local_rows


class KillOnceInForward(mray.Classifier):
    """SIGKILLs its own process inside a forward pass, once in the whole job (a marker file says when)."""

    marker = ""  # set by the test; the class goes to the workers by value (see below)

    def forward(self, x):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls < 2:
            return super().forward(x)
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # killed already: the restarted actors run normally
            return super().forward(x)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        # The timer's thread needs the GIL, which the forward pass releases: the kill lands inside one.
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGKILL)).start()
        while True:
            super().forward(x)


def test_an_actor_killed_inside_a_forward_pass(photos, local_rows, tmp_path):
    import ray.cloudpickle
    _, paths = photos
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this file
    KillOnceInForward.marker = str(tmp_path / "killed")
    stats = mray.JobStats()
    # The network shipped pickled: the restarted actor gets it again from Ray's object store.
    rows = list(mray.classify_on_ray(paths, net=mobilenet.pretrained(), address=ADDRESS,
                                     classifier=KillOnceInForward, stats=stats))
    pid = int((tmp_path / "killed").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # that actor's process is gone
    _check_once(rows, paths)
    assert rows == local_rows  # the retried batch is the same batch: the same bits


def test_the_driver_killed_then_resume(photos, tmp_path):
    root, paths = photos
    # A slower network (1.0/224, random weights), so that the job is still running when the driver dies.
    mobilenet.MobileNetV1(alpha=1.0, seed=1).save(tmp_path / "wide.npz")
    out = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "mobilenet", "classify", str(root), "--ray", ADDRESS, "--batch", "8",
               "--weights", str(tmp_path / "wide.npz"), "--output", str(out), "--no-progress"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while (not out.exists() or out.read_bytes().count(b"\n") < 40) and driver.poll() is None:
        assert time.monotonic() < deadline, "the driver wrote no rows in 240 s"
        time.sleep(0.05)
    driver.kill()
    _, err = driver.communicate()
    assert driver.returncode == -signal.SIGKILL, err.decode()[-2000:]
    before = out.read_bytes()
    written = before.count(b"\n")
    assert 40 <= written < IMAGES
    # An interrupted write may leave half a line: --resume drops it.
    with open(out, "ab") as f:
        f.write(b'{"input": "half a li')
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 1, resumed.stderr[-2000:]  # the broken files failed; every row is written
    assert f"{written} already done" in resumed.stderr
    after = out.read_bytes()
    assert after.startswith(before)  # the rows of the first run stay as they were
    rows = [json.loads(line) for line in after.splitlines()]
    assert len(rows) == IMAGES and Counter(row["input"] for row in rows) == Counter(paths)
    assert {row["input"] for row in rows if row["error"]} == {paths[i] for i in BROKEN}
    assert all(len(row["top"]) == 5 for row in rows if not row["error"])


PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")  # scikit-image's, as in ../shared/models' tests


def test_read_images_on_real_photos(tmp_path):
    # Ray reads, decodes and resizes (bilinear, as our TF preprocessing): on RGB photos without an EXIF
    # rotation the pixels are the same, and so is the top class, the local run's and LiteRT's.
    skdata = pytest.importorskip("skimage.data")
    photos = [mobilenet.sample_image()]
    for name in PHOTOS:
        photos.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(getattr(skdata, name)()).save(photos[-1])
    local = list(classify_files(photos, mobilenet.pretrained(threads=2)))
    # A photo named twice is read once, and its row is given to both.
    rows = list(mray.classify_on_ray(photos + photos[:1], address=ADDRESS, source="read_images"))
    assert rows[-1] == rows[0]
    rows = rows[:-1]
    _check_once(rows, photos)
    assert [row.top[0].index for row in rows] == [row.top[0].index for row in local]
    for a, b in zip(rows, local):
        assert a.top[0].score == pytest.approx(b.top[0].score, rel=1e-5)
    assert rows[0].top[0].label == "Egyptian cat"
    models = models_dir()
    if models is not None:  # LiteRT's top class of each photo (same model, same resize), recorded with the models
        with open(models / "expected_top5.json") as f:
            expected = json.load(f)["models"]["mobilenet_v1_0.25_224_1_default_1.tflite"]["top5"]
        assert [row.top[0].index for row in rows[1:]] == [expected[name][0]["index"] for name in PHOTOS]


def test_parquet_job_and_resume(photos, local_rows, tmp_path):
    _, paths = photos
    out = tmp_path / "rows.parquet"
    stats = mray.run_job(paths[:100], out, address=ADDRESS)
    assert stats.classified == 100 and not (tmp_path / "rows.parquet.partial").exists()
    assert mray.read_parquet_rows(str(out)) == local_rows[:100]
    stats = mray.run_job(paths, out, address=ADDRESS, resume=True)
    assert stats.skipped == 100 and stats.classified == IMAGES - 100
    rows = mray.read_parquet_rows(str(out))
    _check_once(rows, paths)
    assert [row.input for row in rows] == paths


class ThreadsOfTheActor(mray.Classifier):
    """Adds the actor's network threads to each row."""

    def __call__(self, batch):
        out = super().__call__(batch)
        out["threads"] = np.full(len(out["error"]), self.net.threads)
        return out


def test_own_pipeline_threads_follow_num_cpus(photos, local_rows):
    # The README's own pipeline: Ray reads the bytes, one actor of 2 CPUs classifies them with 2 threads
    # (one node holds the actor, the other node's CPUs run the read tasks).
    import ray
    import ray.cloudpickle
    from ray.data import ActorPoolStrategy, read_binary_files
    _, paths = photos
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address=ADDRESS, logging_level="WARNING", log_to_driver=False)
    try:
        ds = read_binary_files(paths[:64], include_paths=True).map_batches(
            ThreadsOfTheActor, fn_constructor_kwargs={"top": 5}, batch_size=32,
            compute=ActorPoolStrategy(size=1), num_cpus=2)
        out = {str(row["path"]): row for row in ds.iter_rows()}
    finally:
        ray.shutdown()
    assert sorted(out) == sorted(paths[:64])
    assert {int(row["threads"]) for row in out.values()} == {2}
    for want in local_rows[:64]:
        got = out[want.input]
        if want.ok:  # the same inputs; the passes' batches are Ray's, so the last bits may differ
            assert [int(c) for c in got["classes"]][:1] == [want.top[0].index]
            assert float(got["scores"][0]) == pytest.approx(want.top[0].score, rel=1e-5)
        else:
            assert got["error"] == want.error


def test_in_the_callers_ray_session(photos, local_rows):
    # Connected already (a notebook, say): the job uses that session, leaves it open, and gives Ray
    # Data's settings back as they were.
    import ray
    from ray.data import DataContext
    _, paths = photos
    ray.init(address=ADDRESS, logging_level="WARNING", log_to_driver=False)
    try:
        ctx = DataContext.get_current()
        before = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
        rows = list(mray.classify_on_ray(paths[:64]))  # two whole batches: the local run's
        assert ray.is_initialized()
        assert (ctx.execution_options.preserve_order, ctx.enable_progress_bars) == before
    finally:
        ray.shutdown()
    assert rows == local_rows[:64]


class EveryRowTwice(mray.Classifier):
    """Returns each batch's rows twice, as a retried batch whose first result also arrived would."""

    def __call__(self, batch):
        out = super().__call__(batch)
        return {name: np.concatenate([column, column]) for name, column in out.items()}


def test_rows_that_come_twice_are_written_once(photos, local_rows):
    import ray.cloudpickle
    _, paths = photos
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    stats = mray.JobStats()
    rows = list(mray.classify_on_ray(paths[:64], address=ADDRESS, classifier=EveryRowTwice, stats=stats))
    assert rows == local_rows[:64] and stats.retried_rows == 64
