"""Images per second of `mobilenet classify` on a folder of JPEGs: end to end, decoding alone, forward alone.

    python bench/classify_throughput.py                  # 1,000 JPEGs, 1 and 2 cores, 5 rounds
    python bench/classify_throughput.py --images 200 --rounds 3 --cores 1 --json r.json

Generates photo-like 500x375 JPEGs in a temporary folder (deleted at the end;
never commit images): crops of real photos (the bundled sample and, when
scikit-image is installed, its other colour photos), scaled, flipped, shifted in
colour and given sensor-like noise, so every file differs and decodes like a photo.

For each core count T the process is pinned to T CPUs (the "same cores" for all
three numbers) and, in alternation over the rounds, measures:

- decode: ``prepare_image`` (decode, resize, scale: what classify_files does per image)
  on T threads into batch buffers, no network;
- forward: the bundled 0.25/224 network with T threads on batches of preprocessed images;
- end to end: ``mobilenet.classify_files`` over the folder (decoders + network on the same
  T cores), writing every row to a JSON Lines file as `classify --output` does.

It prints medians over the rounds, the end-to-end rate against the lower of the other
two (the target is >= 0.85) and against the work-conserving bound 1 / (1/decode + 1/forward):
on T shared cores the two stages' CPU time adds up, so end to end cannot beat that bound.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

import numpy as np

import mobilenet
from mobilenet import batch_classify


def source_photos() -> List[np.ndarray]:
    from PIL import Image
    with Image.open(mobilenet.sample_image()) as img:
        photos = [np.asarray(img.convert("RGB"))]
    try:
        from skimage import data
        for name in ("astronaut", "coffee", "rocket", "chelsea", "immunohistochemistry", "retina", "cat"):
            try:
                photo = getattr(data, name)()
            except Exception:  # a data file scikit-image would download: skip it
                continue
            if photo.ndim == 3 and photo.shape[2] == 3:
                photos.append(np.asarray(photo, np.uint8))
    except ImportError:
        pass
    return photos


def generate(folder: str, count: int, size=(500, 375), seed: int = 0) -> List[str]:
    """count JPEGs of size (width, height) in folder, each a different crop of a real photo."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    photos = source_photos()
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        crop_h, crop_w = int(h * rng.uniform(0.5, 1.0)), int(w * rng.uniform(0.5, 1.0))
        top, left = rng.integers(0, h - crop_h + 1), rng.integers(0, w - crop_w + 1)
        img = Image.fromarray(photo[top:top + crop_h, left:left + crop_w]).resize(size, Image.Resampling.BICUBIC)
        pixels = np.asarray(img, np.float32)
        if rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        pixels = pixels * rng.uniform(0.8, 1.2, 3) + rng.normal(0, 6, pixels.shape)
        path = os.path.join(folder, f"photo_{i:05d}.jpg")
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=int(rng.integers(80, 96)))
        paths.append(path)
    return paths


def decode_rate(paths: List[str], net: mobilenet.MobileNetV1, threads: int, batch: int) -> float:
    buffers = np.empty((3, batch) + tuple(net.input_shape), np.float32)
    pre = net.preprocessing
    size = tuple(net.input_shape[:2])
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: batch_classify.prepare_image(paths[i], out=buffers[(i // batch) % 3, i % batch],
                                                              preprocessing=pre, size=size), range(len(paths))))
    return len(paths) / (time.perf_counter() - start)


def forward_rate(x: np.ndarray, net: mobilenet.MobileNetV1, images: int, batch: int) -> float:
    net(x[:batch])
    start = time.perf_counter()
    done = 0
    while done < images:
        net(x[done % len(x):][:batch])
        done += batch
    return done / (time.perf_counter() - start)


def end_to_end_rate(paths: List[str], net: mobilenet.MobileNetV1, workers: int, batch: int, out: str) -> float:
    start = time.perf_counter()
    with batch_classify.open_writer(out) as writer:
        rows = 0
        for row in mobilenet.classify_files(paths, net, batch=batch, workers=workers):
            writer.write(row)
            rows += 1
    elapsed = time.perf_counter() - start
    assert rows == len(paths)
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=batch_classify.DEFAULT_BATCH)
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="decoder threads of the end-to-end run (default: the core count)")
    parser.add_argument("--json", metavar="PATH", help="write every measurement as JSON")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if max(args.cores) > len(cpus):
        parser.error(f"only {len(cpus)} CPUs available")
    results: Dict[str, Dict[str, List[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="mobilenet-classify-bench-") as folder:
        t0 = time.perf_counter()
        paths = generate(folder, args.images)
        size_mb = sum(os.path.getsize(p) for p in paths) / 1e6
        print(f"generated {len(paths)} JPEGs 500x375 ({size_mb:.1f} MB) in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        net = mobilenet.pretrained(threads=1)
        x = np.stack([batch_classify.prepare_image(p, net) for p in paths[:256]])
        out = os.path.join(folder, "rows.jsonl")
        for round_ in range(args.rounds):
            for cores in args.cores:
                os.sched_setaffinity(0, cpus[:cores])
                net.set_threads(cores)
                key = f"{cores}"
                r = results.setdefault(key, {})
                r.setdefault("decode", []).append(decode_rate(paths, net, cores, args.batch))
                r.setdefault("forward", []).append(forward_rate(x, net, len(paths), args.batch))
                for workers in args.workers or [cores]:
                    r.setdefault(f"end_to_end_w{workers}", []).append(
                        end_to_end_rate(paths, net, workers, args.batch, out))
                print(f"round {round_ + 1}, {cores} cores: " +
                      ", ".join(f"{k} {v[-1]:.0f}" for k, v in r.items()), file=sys.stderr)
        os.sched_setaffinity(0, cpus)
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"CPU: {cpu}; {args.images} JPEGs 500x375; bundled 0.25/224; batch {args.batch}; "
          f"medians of {args.rounds} rounds (images/s)")
    print("| cores | decode | forward | end to end | decoders | e2e / min | bound 1/(1/d+1/f) | e2e / bound |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for key, r in results.items():
        decode, forward = statistics.median(r["decode"]), statistics.median(r["forward"])
        bound = 1.0 / (1.0 / decode + 1.0 / forward)
        for name, values in r.items():
            if not name.startswith("end_to_end"):
                continue
            e2e = statistics.median(values)
            print(f"| {key} | {decode:.0f} | {forward:.0f} | {e2e:.0f} | {name.rsplit('w', 1)[1]} | "
                  f"{e2e / min(decode, forward):.2f} | {bound:.0f} | {e2e / bound:.2f} |")
        summary[key] = {name: statistics.median(values) for name, values in r.items()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "command": " ".join(sys.argv), "images": args.images, "batch": args.batch,
                       "rounds": results, "medians": summary,
                       "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                       "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}, f, indent=2)


if __name__ == "__main__":
    main()
