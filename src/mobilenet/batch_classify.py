"""Classify many image files: decoding on a pool of threads overlapped with batched forward passes,
result rows in input order, and the JSON Lines / CSV writers and resume reader behind
``mobilenet classify --output``.

The public surface, shared by every runner that writes classification results:

- ``Prediction`` (index, label, score) and ``ClassifyRow`` (input, top, error): one row per input;
- ``rows_from_probs``: a batch of probabilities to rows, the one place scores become rows;
- ``prepare_image`` / ``prepare_image_bytes``: a file (or its bytes) to the network's input,
  bit-identical to ``mobilenet.preprocess``;
- ``classify_files``: an iterator of rows, in input order, for any number of files;
- ``open_writer`` / ``read_rows``: the output formats (``FORMATS``), flushed per write, and the
  reader that ``--resume`` uses (it drops a truncated last line, the mark of an interrupted run);
- ``expand_inputs``: directories (recursively), glob patterns and lists of paths to one list of files.

Writers flush every call to ``write``: a run stopped by Ctrl-C, SIGTERM or SIGKILL leaves a file
that is valid up to its last complete line, and ``read_rows(..., repair=True)`` cuts what follows.
"""
from __future__ import annotations

import csv
import fnmatch
import glob
import io
import itertools
import json
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    TextIO,
    Tuple,
    Union,
    cast,
)

import numpy as np

from ._files import FilePath
from .preprocess import TENSORFLOW, Preprocessing, resize_and_crop

if TYPE_CHECKING:
    from .model import MobileNetV1

FORMATS = ("jsonl", "csv")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
DEFAULT_BATCH = 32
# Batch buffers in flight: the network runs on one while the decoders fill the next ones.
_BUFFERS = 3


@dataclass(frozen=True)
class Prediction:
    """One of an image's top classes: class index, its label (None without labels), probability."""

    index: int
    label: Optional[str]
    score: float

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, (int, np.integer)):
            raise TypeError(f"a prediction's index must be an integer, got {self.index!r}")
        if self.label is not None and not isinstance(self.label, str):
            raise TypeError(f"a prediction's label must be a str or None, got {self.label!r}")
        if isinstance(self.score, bool) or not isinstance(self.score, (int, float, np.floating, np.integer)):
            raise TypeError(f"a prediction's score must be a number, got {self.score!r}")
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "score", float(self.score))

    def to_dict(self) -> Dict[str, Any]:
        return {"index": self.index, "label": self.label, "score": self.score}


@dataclass(frozen=True)
class ClassifyRow:
    """The result for one input: its top classes, most probable first, or the error that stopped it.

    ``input`` is the path as given (or any name a runner gives its inputs); exactly one of
    ``top`` (non-empty) and ``error`` is set.
    """

    input: str
    top: Tuple[Prediction, ...] = ()
    error: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.input, str):
            raise TypeError(f"a row's input must be a str, got {type(self.input).__name__}")
        if self.error is not None and not isinstance(self.error, str):
            raise TypeError(f"a row's error must be a str or None, got {type(self.error).__name__}")
        object.__setattr__(self, "top", tuple(p if isinstance(p, Prediction) else Prediction(*p) for p in self.top))
        if (self.error is None) == (not self.top):
            raise ValueError(f"a row has either top classes or an error, got top={self.top!r}, error={self.error!r}")

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> Dict[str, Any]:
        """{"input", "top": [{"index", "label", "score"}, ...], "error"}: one JSON Lines row."""
        return {"input": self.input, "top": [p.to_dict() for p in self.top], "error": self.error}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> ClassifyRow:
        if not isinstance(d, dict) or set(d) != {"input", "top", "error"}:
            raise ValueError(f"a row is a dict with keys input, top, error; got {d!r}")
        top = d["top"]
        if not isinstance(top, list) or not all(isinstance(p, dict) and set(p) == {"index", "label", "score"}
                                                 for p in top):
            raise ValueError(f"a row's top is a list of {{index, label, score}}; got {top!r}")
        return cls(d["input"], tuple(Prediction(p["index"], p["label"], p["score"]) for p in top), d["error"])


def top_indices(probs: np.ndarray, k: int) -> np.ndarray:
    """The k most probable classes of each row of probs (2-D), most probable first, ties by lower index."""
    return np.argsort(-probs, axis=-1, kind="stable")[..., :k]


def rows_from_probs(inputs: Sequence[str], probs: np.ndarray, top: int,
                    labels: Optional[Sequence[str]] = None) -> List[ClassifyRow]:
    """One row per input from the network's (N, classes) probabilities."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[0] != len(inputs):
        raise ValueError(f"probabilities must be ({len(inputs)}, classes), got shape {probs.shape}")
    order = top_indices(probs, top)
    return [ClassifyRow(name, tuple(Prediction(int(i), labels[i] if labels else None, float(p[i])) for i in idx))
            for name, p, idx in zip(inputs, probs, order)]


def error_row(name: str, error: BaseException) -> ClassifyRow:
    """The row of an input that could not be classified: its error's message (the type's name if it has none)."""
    return ClassifyRow(name, error=str(error) or type(error).__name__)


# ---------------------------------------------------------------- images to inputs

class _Scaler:
    """``(pixel / 255 - mean) / std`` as float32, bit-identical to ``mobilenet.preprocess``'s float64 formula.

    Only 256 pixel values exist, so the formula's exact results form a table per channel. Where a
    float32 formula ``(v - 255 mean) / (255 std)`` gives that same table for every value (TensorFlow's
    mean = std = 0.5 does), it runs as two ufuncs that release the GIL; otherwise the table is looked up.
    """

    def __init__(self, pre: Preprocessing) -> None:
        mean, std = np.asarray(pre.mean, np.float64), np.asarray(pre.std, np.float64)
        self.table = ((np.arange(256, dtype=np.float64)[:, None] / 255.0 - mean) / std).astype(np.float32)
        self.shift, self.scale = (255.0 * mean).astype(np.float32), (255.0 * std).astype(np.float32)
        values = np.arange(256, dtype=np.float32)[:, None]
        self.affine = bool(np.array_equal((values - self.shift) / self.scale, self.table))
        self.uniform = bool((self.shift == self.shift[0]).all() and (self.scale == self.scale[0]).all())
        self.flat = np.ascontiguousarray(self.table.T).ravel()  # channel c's table at [256 c, 256 c + 256)
        self.offsets = np.arange(3, dtype=np.uint16) * 256

    def __call__(self, pixels: np.ndarray, out: np.ndarray) -> None:
        if not self.affine:
            np.take(self.flat, pixels + self.offsets, out=out, mode="clip")
        elif self.uniform:  # one scalar per operation: ~10x faster than broadcasting 3 values
            np.subtract(pixels, self.shift[0], out=out, dtype=np.float32)
            np.divide(out, self.scale[0], out=out)
        else:
            out[...] = pixels
            for c in range(3):
                channel = out[..., c]
                np.subtract(channel, self.shift[c], out=channel)
                np.divide(channel, self.scale[c], out=channel)


def _draft_size(size: Tuple[int, int], pre: Preprocessing) -> int:
    """The side a JPEG may be decoded down to (Pillow's draft): twice what the resize needs, so that the
    resize still averages over the original pixels."""
    side = max(size)
    if pre.crop is not None:
        side = int(np.ceil(side / pre.crop))
    return 2 * side


def _open_image(source: Union[str, bytes], draft: Optional[int], name: str) -> Any:
    """A PIL image from a file name or the file's bytes, decoded (at a reduced scale with draft)."""
    from PIL import Image
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        try:
            if draft is not None and img.format == "JPEG":
                img.draft("RGB", (draft, draft))
            img.load()
        except BaseException:
            img.close()
            raise
        return img
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{name}: not a readable image ({e})") from e


def _input_size(net: Optional[MobileNetV1], size: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    if size is not None:
        return size
    if net is None:
        raise ValueError("preparing an image needs the network (for its input size) or size=")
    return int(net.input_shape[0]), int(net.input_shape[1])


def _prepare(image: Any, size: Tuple[int, int], pre: Preprocessing, exif_transpose: bool,
             out: Optional[np.ndarray]) -> np.ndarray:
    pixels = np.asarray(resize_and_crop(image, size, pre, exif_transpose=exif_transpose))
    if out is None:
        out = np.empty(pixels.shape, np.float32)
    _scaler(pre)(pixels, out)
    return out


def prepare_image(path: FilePath, net: Optional[MobileNetV1] = None, *, out: Optional[np.ndarray] = None,
                  preprocessing: Optional[Preprocessing] = None, size: Optional[Tuple[int, int]] = None,
                  exif_transpose: bool = True, draft: bool = False) -> np.ndarray:
    """An image file as the network's input, float32 (H, W, 3): bit-identical to
    ``mobilenet.preprocess(path, net)[0]`` unless ``draft``.

    out: an array to write into (e.g. a slot of a batch). draft: let a large JPEG decode at a
    reduced scale (Pillow's draft mode, 1/2 to 1/8) while it stays at least twice the size the
    resize needs; faster on photos much larger than the input, slightly different pixels (see the README).
    """
    pre = preprocessing if preprocessing is not None else getattr(net, "preprocessing", None) or TENSORFLOW
    size = _input_size(net, size)
    name = os.fsdecode(path)
    if not draft:
        return _prepare(name, size, pre, exif_transpose, out)  # preprocess's own file reading
    from ._files import existing_file
    with _open_image(existing_file(name, "image file"), _draft_size(size, pre), name) as image:
        return _prepare(image, size, pre, exif_transpose, out)


def prepare_image_bytes(data: Union[bytes, bytearray, memoryview], net: Optional[MobileNetV1] = None, *,
                        name: str = "image", out: Optional[np.ndarray] = None,
                        preprocessing: Optional[Preprocessing] = None, size: Optional[Tuple[int, int]] = None,
                        exif_transpose: bool = True, draft: bool = False) -> np.ndarray:
    """``prepare_image`` for the bytes of an image file (e.g. read from object storage): the same
    decoder on the same bytes, so the same input as ``prepare_image`` on the file. name: what
    an error message calls the image (ValueError "<name>: not a readable image (...)")."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    pre = preprocessing if preprocessing is not None else getattr(net, "preprocessing", None) or TENSORFLOW
    size = _input_size(net, size)
    with _open_image(bytes(data), _draft_size(size, pre) if draft else None, name) as image:
        return _prepare(image, size, pre, exif_transpose, out)


_SCALERS: Dict[Preprocessing, _Scaler] = {}


def _scaler(pre: Preprocessing) -> _Scaler:
    scaler = _SCALERS.get(pre)
    if scaler is None:
        scaler = _SCALERS[pre] = _Scaler(pre)
    return scaler


# ---------------------------------------------------------------- the pipeline

def default_workers() -> int:
    """Decoder threads by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def classify_files(paths: Iterable[FilePath], net: Optional[MobileNetV1] = None, *, batch: int = DEFAULT_BATCH,
                   top: int = 5, workers: Optional[int] = None, labels: Optional[Sequence[str]] = None,
                   exif_transpose: bool = True, draft: bool = False) -> Iterator[ClassifyRow]:
    """Classify image files; an iterator of one ``ClassifyRow`` per path, in the order of ``paths``.

    net: the network (default: ``mobilenet.pretrained()``). Images are decoded and preprocessed
    on ``workers`` threads (default: the CPUs this process may use) while the network runs on
    batches of ``batch``; a file that cannot be read gives a row with its error and the run
    goes on. top: classes per row. labels: class names when the network has none.
    exif_transpose, draft: as for ``prepare_image``. ``paths`` is read lazily, a few batches ahead.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be an iterable of paths, not one path: classify_files([{paths!r}])")
    for name, value in (("batch", batch), ("top", top), ("workers", workers)):
        if value is None and name == "workers":
            continue
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if net is None:
        from .bundled import pretrained
        net = pretrained()
    if labels is not None:
        labels = list(labels)
        if len(labels) != net.num_classes:
            raise ValueError(f"labels has {len(labels)} names for {net.num_classes} classes")
    return _pipeline(iter(paths), net, int(batch), min(int(top), net.num_classes),
                     int(workers) if workers is not None else default_workers(),
                     net.labels if net.labels is not None else labels, bool(exif_transpose), bool(draft))


def _pipeline(paths: Iterator[FilePath], net: MobileNetV1, batch: int, top: int, workers: int,
              labels: Optional[Sequence[str]], exif_transpose: bool, draft: bool) -> Iterator[ClassifyRow]:
    shape = tuple(int(s) for s in net.input_shape)
    pre = net.preprocessing if net.preprocessing is not None else TENSORFLOW
    _scaler(pre)  # built once here, not by the first decoders at the same time
    buffers = [np.empty((batch,) + shape, np.float32) for _ in range(_BUFFERS)]

    def decode(path: str, out: np.ndarray) -> Optional[BaseException]:
        try:
            prepare_image(path, out=out, preprocessing=pre, size=(shape[0], shape[1]),
                          exif_transpose=exif_transpose, draft=draft)
            return None
        except Exception as e:  # any failure is this input's row; the run goes on
            out[...] = 0.0
            return e

    pending: Deque[Tuple[str, Future[Optional[BaseException]]]] = deque()
    submitted = 0
    exhausted = False
    executor = ThreadPoolExecutor(workers, thread_name_prefix="mobilenet-decode")
    try:
        for b in itertools.count():
            # Fill this batch's buffer and the next ones; never the one the network last read.
            while not exhausted and submitted < (b + _BUFFERS) * batch:
                try:
                    path = os.fsdecode(next(paths))
                except StopIteration:
                    exhausted = True
                    break
                slot = buffers[(submitted // batch) % _BUFFERS][submitted % batch]
                pending.append((path, executor.submit(decode, path, slot)))
                submitted += 1
            if not pending:
                return
            count = min(batch, len(pending))
            items = [pending.popleft() for _ in range(count)]
            errors = [future.result() for _, future in items]
            names = [name for name, _ in items]
            rows: List[Optional[ClassifyRow]] = [None] * count
            if any(e is None for e in errors):
                probs = net(buffers[b % _BUFFERS][:count])
                ok = [i for i, e in enumerate(errors) if e is None]
                for i, row in zip(ok, rows_from_probs([names[i] for i in ok], probs[ok], top, labels)):
                    rows[i] = row
            for i, e in enumerate(errors):
                if e is not None:
                    rows[i] = error_row(names[i], e)
            for maybe in rows:
                assert maybe is not None
                yield maybe
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- inputs

def image_extensions() -> frozenset[str]:
    """The file extensions Pillow opens (lower case, with the dot): what a directory's walk picks."""
    from PIL import Image
    Image.init()
    return frozenset(ext.lower() for ext in Image.registered_extensions())


def _walk_tree(folder: str) -> Iterator[Tuple[str, List[str], List[str]]]:
    """os.walk, sorted, following symbolic links to folders but entering each real folder once (no loops)."""
    seen = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        try:
            st = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a link back to a folder already walked (or a loop)
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        files.sort()
        yield root, dirs, files


def _walk(folder: str, extensions: frozenset[str]) -> Iterator[str]:
    """Image files under folder (by extension), sorted, each real folder once."""
    for root, _, files in _walk_tree(folder):
        for name in files:
            if os.path.splitext(name)[1].lower() in extensions:
                yield os.path.join(root, name)


def _match(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether path components match pattern components as glob does: ``**`` takes any number of
    folders, other components match one name with fnmatch, and no wildcard matches a leading dot."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(parts[k:], pattern[1:]) for k in range(len(parts) + 1)
                   if not any(p.startswith(".") for p in parts[:k]))
    if not parts or (parts[0].startswith(".") and not pattern[0].startswith(".")):
        return False
    return fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(parts[1:], pattern[1:])


def _glob(pattern: str) -> List[str]:
    """glob.glob(pattern, recursive=True), sorted; ``**`` walks each real folder once, where glob's own
    recursion follows a symbolic link loop until the path is too long (and branches at every level)."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = os.sep.join(parts[:first])
    if pattern.startswith(os.sep) and not base:
        base = os.sep
    rest = [part for part in parts[first:] if part]
    found = [os.path.join(base, "")] if base and _match([], rest) and os.path.isdir(base) else []
    for root, dirs, files in _walk_tree(base or os.curdir):
        for name in dirs + files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, base or os.curdir).split(os.sep)
            if _match(relative, rest):
                found.append(path if base else os.path.relpath(path))
    return sorted(found)


def read_path_list(source: Union[str, TextIO]) -> List[str]:
    """The paths in a list file (one per line, blank lines skipped), or in a stream such as stdin."""
    if isinstance(source, str):
        with open(source, encoding="utf-8", errors="surrogateescape", newline="") as f:
            text = f.read()
    else:
        text = source.read()
    return [line for line in text.splitlines() if line.strip()]


def expand_inputs(items: Iterable[str], extensions: Optional[frozenset[str]] = None) -> List[str]:
    """Files to classify, in the order given, each once: a folder gives the image files under it
    (recursively, sorted, by extension), a glob pattern its sorted matches (``**`` included), any
    other item is itself (a missing file becomes its row's error). A pattern that matches
    nothing raises ValueError."""
    if extensions is None:
        extensions = image_extensions()
    out: Dict[str, None] = {}
    for item in items:
        if os.path.isdir(item):
            out.update(dict.fromkeys(_walk(item, extensions)))
        elif not os.path.lexists(item) and glob.has_magic(item):
            matches = _glob(item)
            if not matches:
                raise ValueError(f"no files match {item!r}")
            for match in matches:
                if os.path.isdir(match):
                    out.update(dict.fromkeys(_walk(match, extensions)))
                else:
                    out[match] = None
        else:
            out[item] = None
    return list(out)


# ---------------------------------------------------------------- output files

def output_format(path: str, format: Optional[str] = None) -> str:
    """The format named, or the one the file's extension says (.jsonl, .ndjson, .csv)."""
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        return format
    found = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if found is None:
        raise ValueError(f"cannot tell the format of {path!r} from its extension: name it .jsonl or .csv, "
                         f"or give the format ({', '.join(FORMATS)})")
    return found


def csv_header(top: int) -> List[str]:
    return ["input", "error"] + [f"top{r}_{field}" for r in range(1, top + 1) for field in ("index", "label", "score")]


def _csv_record(row: ClassifyRow, top: int) -> List[str]:
    cells = [row.input, row.error or ""]
    for r in range(top):
        if r < len(row.top):
            p = row.top[r]
            cells += [str(p.index), p.label or "", repr(p.score)]
        else:
            cells += ["", "", ""]
    return cells


def _row_from_csv(record: List[str], top: int) -> ClassifyRow:
    if len(record) != 2 + 3 * top:
        raise ValueError(f"expected {2 + 3 * top} fields, got {len(record)}")
    predictions = []
    for r in range(top):
        index, label, score = record[2 + 3 * r: 5 + 3 * r]
        if index:
            predictions.append(Prediction(int(index), label or None, float(score)))
    return ClassifyRow(record[0], tuple(predictions), record[1] or None)


class RowWriter:
    """Writes rows to a JSON Lines or CSV file (or a text stream), flushing each ``write``."""

    def __init__(self, stream: TextIO, format: str, top: int, *, header: bool = True, close: bool = True) -> None:
        self.stream, self.format, self.top, self._close = stream, output_format("", format), top, close
        if format == "csv" and header:
            self._write_text(self._csv_lines([csv_header(top)]))

    def _csv_lines(self, records: Iterable[List[str]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(records)
        return buffer.getvalue()

    def _write_text(self, text: str) -> None:
        # One write per call, then flush: an interruption leaves at most one partial line at the end.
        self.stream.write(text)
        self.stream.flush()

    def write(self, rows: Union[ClassifyRow, Iterable[ClassifyRow]]) -> None:
        rows = [rows] if isinstance(rows, ClassifyRow) else list(rows)
        if not rows:
            return
        if self.format == "jsonl":
            text = "".join(json.dumps(row.to_dict()) + "\n" for row in rows)
        else:
            text = self._csv_lines(_csv_record(row, self.top) for row in rows)
        self._write_text(text)

    def close(self) -> None:
        if self._close:
            self.stream.close()
        else:
            self.stream.flush()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_text(path: str, mode: str) -> TextIO:
    # surrogateescape: file names that are not UTF-8 go out as the bytes they are (CSV) and come back.
    return cast(TextIO, open(path, mode, encoding="utf-8", errors="surrogateescape", newline=""))


def open_writer(path: str, format: Optional[str] = None, *, top: int = 5, append: bool = False) -> RowWriter:
    """A RowWriter on path (created, or truncated unless ``append``). A CSV file gets its header
    unless appending to a file that has one; ``top`` fixes the CSV's columns."""
    fmt = output_format(path, format)
    has_content = append and os.path.exists(path) and os.path.getsize(path) > 0
    return RowWriter(_open_text(path, "a" if append else "w"), fmt, top, header=not has_content)


def _complete_lines(data: bytes, csv_quotes: bool) -> int:
    """The length of data's prefix made of complete lines (records, for CSV: a newline inside quotes continues one)."""
    end = 0
    quotes = 0
    start = 0
    while True:
        newline = data.find(b"\n", start)
        if newline < 0:
            return end
        if csv_quotes:
            quotes += data.count(b'"', start, newline)
        start = newline + 1
        if quotes % 2 == 0:
            end = start


def read_rows(path: str, format: Optional[str] = None, *, top: Optional[int] = None,
              repair: bool = False) -> List[ClassifyRow]:
    """The rows of a file written by a RowWriter, in file order.

    A last line without its newline is what an interrupted run leaves: it is ignored, and with
    ``repair`` cut from the file, so that appending continues it cleanly. Any other line that is
    not a row raises ValueError naming the line. top: the CSV's expected number of classes per row
    (ValueError if its header differs); None accepts any.
    """
    fmt = output_format(path, format)
    with open(path, "rb") as f:
        data = f.read()
    end = _complete_lines(data, fmt == "csv")
    if repair and end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
    text = data[:end].decode("utf-8", errors="surrogateescape")
    rows: List[ClassifyRow] = []
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            try:
                rows.append(ClassifyRow.from_dict(json.loads(line)))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}, line {number}: not a classification row ({e})") from None
        return rows
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records:
        return rows
    header = records[0]
    columns = (len(header) - 2) // 3
    if header != csv_header(columns):
        raise ValueError(f"{path}: not a classification CSV (its header is {header[:5]!r}...)")
    if top is not None and columns != top:
        raise ValueError(f"{path} has the top {columns} classes per row, this run asks for {top}")
    for number, record in enumerate(records[1:], 2):
        try:
            rows.append(_row_from_csv(record, columns))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}, record {number}: not a classification row ({e})") from None
    return rows


def finished_inputs(path: str, format: Optional[str] = None, *, top: Optional[int] = None) -> Dict[str, ClassifyRow]:
    """What ``--resume`` skips: each input's row in the output file (a missing file has none),
    after cutting a truncated last line (``read_rows(..., repair=True)``)."""
    if not os.path.exists(path):
        return {}
    return {row.input: row for row in read_rows(path, format, top=top, repair=True)}


__all__ = ["FORMATS", "DEFAULT_BATCH", "Prediction", "ClassifyRow", "rows_from_probs", "error_row", "top_indices",
           "prepare_image", "prepare_image_bytes", "classify_files", "default_workers", "expand_inputs",
           "read_path_list", "image_extensions", "output_format", "csv_header", "RowWriter", "open_writer",
           "read_rows", "finished_inputs"]
