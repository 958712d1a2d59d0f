"""`mobilenet classify` on a folder of JPEGs: decoding alone, the forward pass alone and end to end, in one
benchmark group per thread count, on 64 generated 500x375 photos and the bundled 0.25/224 model.

The three are what bench/classify_throughput.py measures on 1,000 images (with CPU pinning and
alternating slices, for bench/RESULTS.md); these track runs over time with `pytest-benchmark compare`
and, run once with --benchmark-disable in CI, keep that script's functions from rotting. The
end-to-end case checks its rows (one per image, in order, all classified); no time is ever asserted.

    pytest bench/test_classify_benchmarks.py --benchmark-only
"""
from __future__ import annotations

import numpy as np
import pytest

import mobilenet
from mobilenet import batch_classify

import classify_throughput  # bench/classify_throughput.py: the photo generator and the three measurements

IMAGES = 64


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return classify_throughput.generate(str(tmp_path_factory.mktemp("jpegs")), IMAGES)


@pytest.fixture(scope="module")
def net():
    return mobilenet.pretrained(threads=1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["decode", "forward", "end_to_end"])
def test_classify_pipeline(benchmark, photos, net, tmp_path, threads, kind):
    benchmark.group = f"classify {IMAGES} JPEGs 500x375, 0.25/224, {threads} threads"
    benchmark.extra_info["images"] = IMAGES
    net.set_threads(threads)
    batch = batch_classify.DEFAULT_BATCH
    if kind == "decode":
        clock = benchmark.pedantic(classify_throughput.decode, args=(photos, net, threads, batch), rounds=3)
    elif kind == "forward":
        x = np.stack([batch_classify.prepare_image(p, net) for p in photos])
        clock = benchmark.pedantic(classify_throughput.forward, args=(x, net, IMAGES, batch), rounds=3)
    else:
        out = str(tmp_path / "rows.jsonl")
        clock = benchmark.pedantic(classify_throughput.end_to_end, args=(photos, net, threads, batch, out), rounds=3)
        rows = batch_classify.read_rows(out)
        assert [row.input for row in rows] == photos and all(row.ok for row in rows)
    assert clock.wall > 0 and clock.cpu >= 0
