"""Bounds that every reader applies before it allocates what a (possibly hostile) file asks for.

A model file is read as untrusted input: a few megabytes of compressed or
sparse data must not make the loader allocate gigabytes. Sizes declared by the
file (zip directories, .npy headers, HDF5 dataspaces) are checked against what
the architecture needs and against a budget that grows with the file's size,
before anything is read.
"""
from __future__ import annotations

import io
from typing import BinaryIO, Protocol, Union

MAX_FILE_BYTES = 1 << 31  # far beyond any MobileNet v1 (4.2M weights at alpha 1.0: 17 MB)
HEAD_BYTES = 4096  # what format detection reads
MAX_LABELS_BYTES = 16 << 20  # a labels text embedded in a model, decompressed
MAX_CONFIG_BYTES = 16 << 20  # a Keras model's config (JSON), decompressed (MobileNet's is about 90 KB)
MAX_TENSOR_ELEMENTS = 1 << 28  # one weight tensor; a 65536 x 4096 pointwise layer is 1 << 28
# Decompressed (or fill-value) data that a file may expand to: real weights do
# not compress (float32 noise, ~1.1x), so a legitimate compressed file stays far
# below this, while a zip or gzip bomb is refused before it is inflated.
BUDGET_BASE = 64 << 20
BUDGET_RATIO = 16

# What readers are given: a file's bytes, or the open (seekable, binary) file.
Data = Union[bytes, bytearray, memoryview, BinaryIO]


class Readable(Protocol):
    """Anything with a binary read(n): an open file, a zip member (zipfile's ZipExtFile is no BinaryIO)."""

    def read(self, n: int = ..., /) -> bytes: ...


class Budget:
    """Bytes a reader may still decompress or allocate for one file's tensors."""

    def __init__(self, file_size: int):
        self.limit = BUDGET_BASE + BUDGET_RATIO * max(int(file_size), 0)
        self.left = self.limit

    def take(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or nbytes > self.left:
            raise ValueError(f"{what}: {nbytes} bytes would exceed the {self.limit} bytes that a file of this size "
                             f"may expand to ({BUDGET_BASE >> 20} MB + {BUDGET_RATIO}x its size): "
                             "a decompression bomb or a damaged header")
        self.left -= nbytes


def size_of(stream: BinaryIO) -> int:
    """The size of a seekable binary stream (its position is restored)."""
    position = stream.tell()
    size = stream.seek(0, io.SEEK_END)
    stream.seek(position)
    return size


def as_stream(data: Data) -> BinaryIO:
    """A seekable binary stream over bytes, or the stream itself."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return io.BytesIO(data)
    return data


def read_at_most(stream: Readable, limit: int, what: str) -> bytes:
    """All of a stream, refusing (without reading further) one longer than limit bytes."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{what} is larger than {limit} bytes")
    return data
