"""Classify images on a Ray cluster with Ray Data: one network per actor, every row written once, by the driver.

- :class:`Classifier` is a callable class for ``Dataset.map_batches``. Each
  actor builds its network once (the bundled model, a model file, or a network
  shipped pickled) with as many threads as the actor's ``num_cpus``, then
  classifies batches whose rows hold a ``path`` (the actor reads the file),
  ``bytes`` (image files' bytes, e.g. from ``ray.data.read_binary_files``) or an
  ``image`` array (from ``ray.data.read_images``).
- :func:`classify_on_ray` runs a whole job over a list of paths and yields one
  :class:`~mobilenet.batch_classify.ClassifyRow` per input, in input order, the
  rows ``mobilenet.classify_files`` gives on one machine; :func:`run_job` writes
  them to JSON Lines, CSV or Parquet, and with ``resume=True`` skips the inputs
  already in the output. ``mobilenet classify --ray [ADDRESS]`` is the same job.

Two sources (``source=``):

- ``"paths"`` (default): the actors open the files with the same code and the
  same batches as the local run (``index // batch``), so the rows equal the local
  ``mobilenet classify`` bit for bit (the engine's last bits depend on a pass's
  batch size). The paths must be readable on every node: a shared filesystem,
  the same files on each, or URIs that pyarrow's filesystems open (s3://,
  gs://, hdfs://), which the actors read as bytes.
- ``"read_images"``: Ray's read tasks read, decode and resize
  (``ray.data.read_images(size=..., mode="RGB")``), which differs from
  ``mobilenet.preprocess`` in: no EXIF orientation; the resize (bilinear) runs
  on the stored mode before the conversion to RGB, so palette images are
  resized nearest-neighbour and transparent pixels keep their hidden colour
  instead of white; CMYK and 16-bit images convert by Pillow's formulas; a
  model whose preprocessing crops gets whole images, resized and cropped in the
  actor. For plain RGB or greyscale JPEGs without an EXIF rotation the pixels
  are the same. A file Ray cannot decode fails the job (Ray raises) instead of
  becoming an error row.

Exactly once: Ray restarts a killed actor and retries its batch by itself. The
driver, not the workers, writes the output: every row carries its input's
position, the driver keeps a row the first time its position comes back, and
yields rows in input order, so a retried batch can add no duplicate, and a lost
one is a gap, an error naming the inputs missing.

Actors and CPUs (:func:`plan_actors`): each node keeps CPUs for Ray's read
tasks, one for the path job (whose actors read their own files) and half the
node's (at least one) for ``read_images`` (whose read tasks decode every image):
actors that hold every CPU leave the read tasks none, and the job deadlocks.
The rest of each node goes to actors of ``cpus_per_actor`` CPUs (default 2, or 1
where no node can spare 2); each actor's network and decoding use that many threads.

mobilenet must be installed on every node. A network given to a job (or the one
``weights`` names) is loaded by the driver and shipped to the actors, so only
the driver needs the model file; by default the actors load the bundled model.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from ._files import FilePath
from ._optional import require
from .batch_classify import DEFAULT_BATCH, ClassifyRow, Prediction

if TYPE_CHECKING:
    from .model import MobileNetV1

SOURCES = ("paths", "read_images")
DEFAULT_ACTOR_CPUS = 2
OUTPUT_FORMATS = ("jsonl", "csv", "parquet")


def _ray() -> types.ModuleType:
    return require("ray", "running on a Ray cluster")


def _ray_data() -> types.ModuleType:
    return require("ray.data", "running on a Ray cluster")


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- actors and CPUs

@dataclass(frozen=True)
class ActorPlan:
    """How many classifier actors a job starts, the CPUs (= network threads) of each, and the CPUs left over."""

    actors: int
    cpus_per_actor: int
    reserved_cpus: int


def reserved_for_reads(node_cpus: int, source: str = "paths") -> int:
    """CPUs a node keeps for Ray's read tasks: 1 for the path job, half (at least 1) for read_images."""
    if source == "read_images":
        return max(1, int(node_cpus) // 2)
    return 1


def plan_actors(node_cpus: Sequence[float], cpus_per_actor: Optional[int] = None,
                source: str = "paths") -> ActorPlan:
    """The actors of a job on a cluster whose live nodes have ``node_cpus`` CPUs each.

    Each node keeps :func:`reserved_for_reads` CPUs; actors of ``cpus_per_actor``
    CPUs fill the rest of each node (an actor lives on one node), which Ray's
    scheduler can always place. Default CPUs per actor: 2, or 1 when no node can
    spare 2. ValueError when not one actor fits.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if cpus_per_actor is not None:
        cpus_per_actor = _positive_int(cpus_per_actor, "cpus_per_actor")
    cpus = [int(c) for c in node_cpus if c >= 1]
    spare = [c - reserved_for_reads(c, source) for c in cpus]
    k = cpus_per_actor
    if k is None:
        k = DEFAULT_ACTOR_CPUS if any(s >= DEFAULT_ACTOR_CPUS for s in spare) else 1
    actors = sum(s // k for s in spare)
    if actors == 0:
        kept = "half its CPUs (at least one)" if source == "read_images" else "one CPU"
        raise ValueError(f"no classifier actor of {k} CPU(s) fits on this Ray cluster (CPUs per node: {cpus}): "
                         f"each node keeps {kept} for Ray's read tasks, since actors that hold every CPU "
                         "deadlock the job; give the nodes more CPUs (ray start --num-cpus) or the actors fewer")
    return ActorPlan(actors=actors, cpus_per_actor=k, reserved_cpus=sum(cpus) - actors * k)


def cluster_node_cpus() -> List[float]:
    """The CPUs of each live node of the Ray cluster this process is connected to."""
    return [float(node["Resources"].get("CPU", 0)) for node in _ray().nodes() if node.get("Alive")]


# ---------------------------------------------------------------- the map_batches class

def _actor_cpus() -> Optional[int]:
    """The CPUs Ray gave this actor (rounded up), or None outside a Ray worker."""
    try:
        ray = _ray()
        if not ray.is_initialized():
            return None
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # no Ray here, or not in a worker: the caller's default
        return None
    return max(1, int(math.ceil(cpus))) if cpus else None


def _read_uri(uri: str) -> bytes:
    """The bytes of a file named by a URI pyarrow's filesystems open (s3://, gs://, hdfs://, file://)."""
    fs = require("pyarrow.fs", "reading images by URI")
    filesystem, path = fs.FileSystem.from_uri(uri)
    with filesystem.open_input_stream(path) as f:
        return bytes(f.read())


class Classifier:
    """A callable class for ``Dataset.map_batches``: one network per actor, image batches in, top classes out.

    ``ds.map_batches(Classifier, fn_constructor_kwargs={...}, batch_size=32,
    compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus_per_actor)``.

    Constructor: ``weights`` (a model file every node can read; default the
    bundled pretrained model) or ``net`` (a network, shipped pickled); ``top``
    classes per row; ``batch``: images per forward pass; ``threads`` (default:
    the actor's ``num_cpus``) for the network and for decoding; ``precision`` as
    for ``mobilenet.load``; ``exif_transpose`` and ``draft`` as for
    ``mobilenet.batch_classify.prepare_image``.

    A batch (a dict of columns) holds one of ``path`` (file paths, or URIs that
    pyarrow opens such as s3://, read by the actor), ``bytes`` (image files'
    bytes) or ``image`` (uint8 HxWx3 arrays, e.g. from
    ``ray.data.read_images(..., mode="RGB")``: preprocessed from the array,
    without EXIF orientation). With an ``index`` column, the rows of a forward
    pass are those with the same ``index // batch``: the batches of the local
    run over the same list, hence its results to the bit. An image that cannot
    be read goes through the pass as zeros, like the local run's, and gets its error.

    Output: the other input columns (``bytes`` and ``image`` dropped), and per
    row ``classes`` (int64, top first; -1 for an error), ``scores`` (float32
    probabilities; NaN for an error), ``labels`` (when the network has labels)
    and ``error`` ("" or why the image could not be read: a column of Nones
    would have no Arrow type).
    """

    def __init__(self, weights: Optional[FilePath] = None, *, net: Optional[MobileNetV1] = None, top: int = 5,
                 batch: int = DEFAULT_BATCH, threads: Optional[int] = None, precision: Optional[str] = None,
                 exif_transpose: bool = True, draft: bool = False) -> None:
        if weights is not None and net is not None:
            raise ValueError("give weights or net, not both")
        top, self.batch = _positive_int(top, "top"), _positive_int(batch, "batch")
        threads = threads if threads is not None else _actor_cpus()
        if net is not None:
            self.net = net if precision is None else net.with_precision(precision)
            if threads is not None:
                self.net.set_threads(threads)
        elif weights is None:
            from .bundled import pretrained
            self.net = pretrained(threads=threads, precision=precision)
        else:
            from .io import load
            self.net = load(weights, threads=threads, precision=precision)
        self.top = min(top, self.net.num_classes)
        self.exif_transpose, self.draft = bool(exif_transpose), bool(draft)
        self._pool = ThreadPoolExecutor(self.net.threads) if self.net.threads > 1 else None

    def _load(self, column: str, value: Any, name: str, out: np.ndarray) -> None:
        from .batch_classify import prepare_image, prepare_image_bytes
        from .preprocess import preprocess
        if column == "path" and "://" in str(value):
            prepare_image_bytes(_read_uri(str(value)), self.net, name=name, out=out,
                                exif_transpose=self.exif_transpose, draft=self.draft)
        elif column == "path":
            prepare_image(str(value), self.net, out=out, exif_transpose=self.exif_transpose, draft=self.draft)
        elif column == "bytes":
            prepare_image_bytes(bytes(value), self.net, name=name, out=out, exif_transpose=self.exif_transpose,
                                draft=self.draft)
        else:
            out[...] = preprocess(np.asarray(value), self.net, exif_transpose=False)[0]

    def _groups(self, batch: Dict[str, np.ndarray], n: int) -> List[np.ndarray]:
        if "index" not in batch:
            return [np.arange(start, min(n, start + self.batch)) for start in range(0, n, self.batch)]
        keys = np.asarray(batch["index"], np.int64) // self.batch
        return [np.flatnonzero(keys == key) for key in dict.fromkeys(keys.tolist())]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's probabilities for one forward pass's inputs (a subclass may wrap it)."""
        return self.net(x)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        column = next((c for c in ("path", "bytes", "image") if c in batch), None)
        if column is None:
            raise ValueError(f"a batch needs a 'path', 'bytes' or 'image' column, got {sorted(batch)}")
        values = batch[column]
        n = len(values)
        names = [str(p) for p in batch["path"]] if "path" in batch else [f"row {i}" for i in range(n)]
        x = np.zeros((n,) + tuple(int(s) for s in self.net.input_shape), np.float32)
        errors: np.ndarray = np.full(n, "", dtype=object)

        def load(i: int) -> None:
            try:
                self._load(column, values[i], names[i], x[i])
            except Exception as e:  # any failure is this input's row; the batch goes on
                x[i] = 0.0
                errors[i] = str(e) or type(e).__name__

        if self._pool is not None:
            list(self._pool.map(load, range(n)))
        else:
            for i in range(n):
                load(i)
        classes: np.ndarray = np.full((n, self.top), -1, np.int64)
        scores = np.full((n, self.top), np.nan, np.float32)
        for rows in self._groups(batch, n):
            probs = self.forward(x[rows])
            order = np.argsort(-probs, axis=1, kind="stable")[:, :self.top]
            classes[rows] = order
            scores[rows] = np.take_along_axis(probs, order, axis=1)
        failed = errors != ""
        classes[failed], scores[failed] = -1, np.nan
        out = {name: col for name, col in batch.items() if name not in ("bytes", "image")}
        out.update(classes=classes, scores=scores, error=errors)
        labels = self.net.labels
        if labels:
            out["labels"] = np.array([[labels[c] if c >= 0 else "" for c in row] for row in classes], dtype=object)
        return out

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)


# ---------------------------------------------------------------- the job

class RayJobError(RuntimeError):
    """A Ray job that could not finish: no cluster, no room for an actor, a failed task, rows missing."""


@dataclass
class JobStats:
    """What a job did: rows yielded (of which failed), inputs skipped as already done, and its actors."""

    classified: int = 0
    failed: int = 0
    skipped: int = 0
    plan: Optional[ActorPlan] = None
    retried_rows: int = field(default=0)  # rows that came back more than once and were dropped


class _Connection:
    """ray.init on entry unless Ray is initialized already (then ray.shutdown on exit), with quiet logs."""

    def __init__(self, address: Optional[str]) -> None:
        self.address, self.started = address, False

    def __enter__(self) -> types.ModuleType:
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            self.started = True
        return ray

    def __exit__(self, *exc: object) -> None:
        if self.started:
            _ray().shutdown()


def _absolute(name: str) -> str:
    """Workers run in a directory of their own: a local path goes to them absolute."""
    return name if "://" in name else os.path.abspath(name)


def _without_scheme(name: str) -> str:
    return name.split("://", 1)[1] if "://" in name else name


def _dataset(paths: List[str], net: MobileNetV1, ship_net: bool, source: str, batch: int, plan: ActorPlan,
             top: int, exif_transpose: bool, draft: bool, classifier: type) -> Any:
    data = _ray_data()
    pa = require("pyarrow", "running on a Ray cluster")
    kwargs: Dict[str, Any] = {"top": top, "batch": batch, "exif_transpose": exif_transpose, "draft": draft}
    if ship_net:
        kwargs["net"] = net
    if source == "paths":
        # One block per local batch (index // batch), so that each forward pass holds the local run's images.
        ds = data.from_arrow([pa.table({"index": np.arange(start, min(len(paths), start + batch)),
                                        "path": paths[start:start + batch]})
                              for start in range(0, len(paths), batch)])
    else:
        pre = net.preprocessing
        # Ray resizes (bilinear, on the stored pixels); a model whose preprocessing crops gets whole images.
        size = tuple(int(s) for s in net.input_shape[:2]) if pre is None or pre.crop is None else None
        # Each file once: the driver gives its row to every position that names it.
        ds = data.read_images(list(dict.fromkeys(paths)), size=size, mode="RGB", include_paths=True,
                              file_extensions=None)
    return ds.map_batches(classifier, fn_constructor_kwargs=kwargs, batch_size=batch, batch_format="numpy",
                          compute=data.ActorPoolStrategy(size=plan.actors), num_cpus=plan.cpus_per_actor)


def classify_on_ray(paths: Iterable[FilePath], *, net: Optional[MobileNetV1] = None,
                    weights: Optional[FilePath] = None, address: Optional[str] = None, top: int = 5,
                    batch: int = DEFAULT_BATCH, labels: Optional[Sequence[str]] = None, source: str = "paths",
                    cpus_per_actor: Optional[int] = None, exif_transpose: bool = True, draft: bool = False,
                    classifier: type = Classifier, stats: Optional[JobStats] = None) -> Iterator[ClassifyRow]:
    """One ``ClassifyRow`` per path, in the order of ``paths``, each exactly once, computed on a Ray cluster.

    net / weights: the network, or a model file the driver loads (default: the
    bundled model, loaded by each actor). address: the cluster, as
    ``ray.init`` takes it ("HOST:PORT", "ray://HOST:PORT", "auto"; None:
    ``RAY_ADDRESS``, else a new Ray on this machine); unused when Ray is
    initialized already. top, batch, labels, exif_transpose, draft: as for
    ``mobilenet.classify_files``. source: "paths" or "read_images" (see the
    module docstring). cpus_per_actor: see :func:`plan_actors`. classifier:
    the map_batches class, :class:`Classifier` or a subclass of it (e.g. one
    that wraps ``forward``). stats: filled as the job runs. RayJobError when
    the job cannot run or finish (its message names the inputs the cluster
    returned no row for, if that is why).
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be an iterable of paths, not one path: classify_on_ray([{paths!r}])")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    top, batch = _positive_int(top, "top"), _positive_int(batch, "batch")
    if weights is not None and net is not None:
        raise ValueError("give weights or net, not both")
    if not (isinstance(classifier, type) and issubclass(classifier, Classifier)):
        raise TypeError(f"classifier must be mobilenet.ray.Classifier or a subclass, got {classifier!r}")
    names = [os.fsdecode(p) for p in paths]
    return _rows(names, net, weights, address, top, batch, labels, source, cpus_per_actor, exif_transpose, draft,
                 classifier, stats if stats is not None else JobStats())


def _rows(names: List[str], net: Optional[MobileNetV1], weights: Optional[FilePath], address: Optional[str],
          top: int, batch: int, labels: Optional[Sequence[str]], source: str, cpus_per_actor: Optional[int],
          exif_transpose: bool, draft: bool, classifier: type, stats: JobStats) -> Iterator[ClassifyRow]:
    if not names:
        return
    ship_net = net is not None or weights is not None
    if net is None:
        if weights is None:
            from .bundled import pretrained
            net = pretrained(threads=1)  # for its labels and input size; the actors load their own
        else:
            from .io import load
            net = load(weights, threads=1)
    if net.labels is not None:
        labels = net.labels
    elif labels is not None and len(labels) != net.num_classes:
        raise ValueError(f"labels has {len(labels)} names for {net.num_classes} classes")
    absolute = [_absolute(p) for p in names]
    try:
        yield from _job(names, absolute, net, ship_net, address, top, batch, labels, source, cpus_per_actor,
                        exif_transpose, draft, classifier, stats)
    except RayJobError:
        raise
    except Exception as e:  # Ray's own errors have many types: one that says it was the job
        raise RayJobError(f"the Ray job failed: {type(e).__name__}: {e}") from e


@contextlib.contextmanager
def _job_settings() -> Iterator[None]:
    """Ray Data's settings for a job, and the caller's back afterwards (a notebook's Ray session goes on)."""
    ctx = _ray_data().DataContext.get_current()
    logger = logging.getLogger("ray.data")
    saved = ctx.execution_options.preserve_order, ctx.enable_progress_bars, logger.level
    ctx.execution_options.preserve_order = True  # rows come back nearly in order: the driver holds few
    # Ray Data's own bars, INFO lines and its note that its bars are off: the job's bar says enough.
    ctx.enable_progress_bars = False
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved[:2]
        logger.setLevel(saved[2])


def _job(names: List[str], absolute: List[str], net: MobileNetV1, ship_net: bool, address: Optional[str], top: int,
         batch: int, labels: Optional[Sequence[str]], source: str, cpus_per_actor: Optional[int],
         exif_transpose: bool, draft: bool, classifier: type, stats: JobStats) -> Iterator[ClassifyRow]:
    with _Connection(address), _job_settings():
        plan = plan_actors(cluster_node_cpus(), cpus_per_actor, source)
        stats.plan = plan
        ds = _dataset(absolute, net, ship_net, source, batch, plan, top, exif_transpose, draft, classifier)
        blocks = ds.iter_batches(batch_size=None, batch_format="numpy")
        yield from rows_in_order(blocks, names, labels, by_path=absolute if source == "read_images" else None,
                                 stats=stats)


def rows_in_order(blocks: Iterable[Dict[str, np.ndarray]], names: Sequence[str],
                  labels: Optional[Sequence[str]] = None, *, by_path: Optional[Sequence[str]] = None,
                  stats: Optional[JobStats] = None) -> Iterator[ClassifyRow]:
    """The driver's side of a job: the Classifier's output blocks, in any order and with any repeats,
    to one ``ClassifyRow`` per name, in order, each exactly once.

    A block's rows name their input by its position (an ``index`` column), or, with
    ``by_path`` (the paths read_images was given, one per name), by the ``path``
    Ray gives back (a URI without its scheme), which fills every position naming that
    path. A row whose positions all came already (a retried batch's copy) is dropped
    and counted in ``stats.retried_rows``. RayJobError for a row of no input, or,
    when the blocks end, for the inputs that got none (the message names them).
    """
    stats = stats if stats is not None else JobStats()
    positions: Dict[str, List[int]] = {}
    for i, p in enumerate(by_path or ()):
        positions.setdefault(_without_scheme(p), []).append(i)
    seen = bytearray(len(names))
    pending: Dict[int, ClassifyRow] = {}
    expected = 0
    for block in blocks:
        for j in range(len(block["error"])):
            at: Optional[List[int]]
            if by_path is not None:
                at = positions.get(_without_scheme(str(block["path"][j])))
            else:
                at = [int(block["index"][j])] if 0 <= int(block["index"][j]) < len(names) else None
            if at is None:
                what = block["path"][j] if "path" in block else f"position {block['index'][j]}"
                raise RayJobError(f"the Ray job returned a row for an input it was not given: {what!r}")
            if all(seen[i] for i in at):  # a retried batch's second copy
                stats.retried_rows += 1
                continue
            error = str(block["error"][j])
            for i in at:
                seen[i] = 1
                if error:
                    pending[i] = ClassifyRow(names[i], error=error)
                else:
                    pending[i] = ClassifyRow(names[i], tuple(
                        Prediction(int(c), labels[int(c)] if labels else None, float(s))
                        for c, s in zip(block["classes"][j], block["scores"][j])))
        while expected in pending:
            row = pending.pop(expected)
            stats.classified += 1
            stats.failed += not row.ok
            expected += 1
            yield row
    if expected < len(names):
        missing = [i for i in range(expected, len(names)) if not seen[i]]
        listed = ", ".join(names[i] for i in missing[:5])
        raise RayJobError(f"the Ray job returned no row for {len(missing)} input(s): {listed}"
                          f"{', ...' if len(missing) > 5 else ''}")


# ---------------------------------------------------------------- a whole job to a file

def output_format(path: str, format: Optional[str] = None) -> str:
    """'jsonl', 'csv' (as ``mobilenet classify --output``) or 'parquet', named or from the extension."""
    if format == "parquet" or (format is None and os.path.splitext(path)[1].lower() == ".parquet"):
        return "parquet"
    from .batch_classify import output_format as local_format
    try:
        return local_format(path, format)
    except ValueError:
        raise ValueError(f"cannot tell the format of {path!r}: name it .jsonl, .csv or .parquet, or give "
                         f"format= (one of {OUTPUT_FORMATS})") from None


def parquet_schema() -> Any:
    """The Parquet file's columns: the JSON Lines row's fields (input, top [index, label, score], error)."""
    pa = require("pyarrow", "writing Parquet")
    prediction = pa.struct([("index", pa.int64()), ("label", pa.string()), ("score", pa.float64())])
    return pa.schema([("input", pa.string()), ("top", pa.list_(prediction)), ("error", pa.string())])


def read_parquet_rows(path: str) -> List[ClassifyRow]:
    """The rows of a Parquet file :func:`run_job` wrote."""
    pq = require("pyarrow.parquet", "reading Parquet")
    return [ClassifyRow.from_dict(d) for d in pq.read_table(path, schema=parquet_schema()).to_pylist()]


PARQUET_ROW_GROUP = 4096  # rows per row group: what the driver holds before writing them


def run_job(paths: Iterable[FilePath], output: FilePath, *, format: Optional[str] = None, resume: bool = False,
            progress: Optional[bool] = None, **options: Any) -> JobStats:
    """Classify ``paths`` on a Ray cluster into ``output``: one row per input, in input order.

    format: "jsonl", "csv" or "parquet" (default: from the extension). options:
    as for :func:`classify_on_ray`. JSON Lines and CSV are written as
    ``mobilenet classify --output`` writes them, a flushed line per row, so an
    interrupted job leaves every complete line, and ``resume=True`` keeps those
    rows and classifies only the other paths. Parquet is written in row groups
    of ``PARQUET_ROW_GROUP`` rows to ``output + ".partial"``, renamed to
    ``output`` when the job ends (an interrupted job leaves the previous file as
    it was); ``resume=True`` keeps the rows of an existing Parquet file and
    classifies only the other paths. progress: a progress bar on stderr
    (default: when stderr is a terminal).
    """
    from ._progress import progress_bar
    from .batch_classify import finished_inputs, open_writer
    out = os.fsdecode(output)
    fmt = output_format(out, format)
    names = list(dict.fromkeys(os.fsdecode(p) for p in paths))
    top = _positive_int(options.get("top", 5), "top")
    done: Iterable[str] = ()
    if resume and os.path.exists(out):
        done = _parquet_inputs(out) if fmt == "parquet" else finished_inputs(out, fmt, top=top)
    done = set(done)
    stats = JobStats(skipped=sum(1 for p in names if p in done))
    rows = classify_on_ray([p for p in names if p not in done], stats=stats, **options)
    bar = progress_bar(len(names), "classify on Ray", progress, unit="img", initial=stats.skipped)
    try:
        if fmt == "parquet":
            _write_parquet(out, rows, keep=resume and os.path.exists(out), bar=bar)
        else:
            with open_writer(out, fmt, top=top, append=resume) as writer:
                for row in rows:
                    writer.write(row)
                    bar.update(1)
    finally:
        bar.close()
        rows.close()  # type: ignore[attr-defined]  # a generator: ends the Ray job and connection
    return stats


def _parquet_inputs(path: str) -> List[str]:
    pq = require("pyarrow.parquet", "reading Parquet")
    return [str(name) for name in pq.read_table(path, columns=["input"]).column("input").to_pylist()]


def _write_parquet(out: str, rows: Iterable[ClassifyRow], *, keep: bool, bar: Any) -> None:
    """rows (after the rows of ``out`` when ``keep``) into ``out``, through a ``.partial`` file renamed at the end."""
    pa = require("pyarrow", "writing Parquet")
    pq = require("pyarrow.parquet", "writing Parquet")
    schema = parquet_schema()
    partial = out + ".partial"
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            if keep:
                for old in pq.ParquetFile(out).iter_batches(batch_size=PARQUET_ROW_GROUP):
                    writer.write_table(pa.Table.from_batches([old]).cast(schema))
            group: List[Dict[str, Any]] = []
            for row in rows:
                group.append(row.to_dict())
                bar.update(1)
                if len(group) == PARQUET_ROW_GROUP:
                    writer.write_table(pa.Table.from_pylist(group, schema=schema))
                    group = []
            if group:
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    os.replace(partial, out)


__all__ = ["Classifier", "ActorPlan", "plan_actors", "reserved_for_reads", "cluster_node_cpus", "classify_on_ray",
           "run_job", "JobStats", "RayJobError", "rows_in_order", "output_format", "parquet_schema",
           "read_parquet_rows", "SOURCES"]
