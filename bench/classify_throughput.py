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
import contextlib
import json
import os
import platform
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


class Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def decode(paths: List[str], net: mobilenet.MobileNetV1, threads: int, batch: int) -> Clock:
    """What classify_files's decoders do, into the same kind of batch buffers, with no network."""
    buffers = np.empty((3, batch) + tuple(net.input_shape), np.float32)
    pre, size = net.preprocessing, tuple(net.input_shape[:2])
    with Clock() as clock, ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: batch_classify.prepare_image(paths[i], out=buffers[(i // batch) % 3, i % batch],
                                                              preprocessing=pre, size=size), range(len(paths))))
    return clock


def forward(x: np.ndarray, net: mobilenet.MobileNetV1, images: int, batch: int) -> Clock:
    net(x[:batch])
    with Clock() as clock:
        for start in range(0, images, batch):
            net(x[start % len(x):][:min(batch, images - start)])
    return clock


def end_to_end(paths: List[str], net: mobilenet.MobileNetV1, workers: int, batch: int, out: str) -> Clock:
    """classify_files, every row written to a JSON Lines file as `classify --output` does."""
    with Clock() as clock, batch_classify.open_writer(out) as writer:
        rows = 0
        for row in mobilenet.classify_files(paths, net, batch=batch, workers=workers):
            writer.write(row)
            rows += 1
    assert rows == len(paths)
    return clock


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported")
    parser.add_argument("--slice", type=int, default=200,
                        help="images per measurement: the three kinds alternate on slices this long, so that "
                             "they see the same load on a shared machine (default 200)")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=batch_classify.DEFAULT_BATCH)
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="decoder threads of the end-to-end run (default: the core count)")
    parser.add_argument("--folder", help="keep the JPEGs in this folder (made if missing, reused if full) "
                                         "instead of a temporary one")
    parser.add_argument("--json", metavar="PATH", help="write every measurement as JSON")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if max(args.cores) > len(cpus):
        parser.error(f"only {len(cpus)} CPUs available")
    with contextlib.ExitStack() as stack:
        folder = args.folder or stack.enter_context(tempfile.TemporaryDirectory(prefix="mobilenet-classify-bench-"))
        os.makedirs(folder, exist_ok=True)
        paths = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".jpg"))
        if len(paths) != args.images:
            t0 = time.perf_counter()
            paths = generate(folder, args.images)
            print(f"generated {len(paths)} JPEGs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        size_mb = sum(os.path.getsize(p) for p in paths) / 1e6
        net = mobilenet.pretrained(threads=1)
        x = np.stack([batch_classify.prepare_image(p, net) for p in paths[:256]])
        out = os.path.join(tempfile.gettempdir(), f"mobilenet-classify-bench-{os.getpid()}.jsonl")
        stack.callback(lambda: os.path.exists(out) and os.remove(out))
        runs: List[Dict[str, object]] = []
        slices = [paths[i:i + args.slice] for i in range(0, len(paths), args.slice)]
        for round_ in range(args.rounds):
            for cores in args.cores:
                os.sched_setaffinity(0, cpus[:cores])
                net.set_threads(cores)
                for part in slices:
                    entry: Dict[str, object] = {"round": round_, "cores": cores, "images": len(part)}
                    for name, clock in [("decode", decode(part, net, cores, args.batch)),
                                        ("forward", forward(x, net, len(part), args.batch))] + [
                            (f"end_to_end_w{w}", end_to_end(part, net, w, args.batch, out))
                            for w in args.workers or [cores]]:
                        entry[name] = {"wall_s": clock.wall, "cpu_s": clock.cpu}
                    runs.append(entry)
                print(f"round {round_ + 1}, {cores} cores done", file=sys.stderr)
        os.sched_setaffinity(0, cpus)
    report(args, runs, size_mb)


def report(args: argparse.Namespace, runs: List[Dict[str, object]], size_mb: float) -> None:
    cpu = cpu_model()
    print(f"CPU: {cpu}; {args.images} JPEGs 500x375 ({size_mb:.1f} MB); bundled 0.25/224; batch {args.batch}; "
          f"slices of {args.slice} images, {args.rounds} rounds; medians over slices")
    print("| cores | decoders | decode img/s | forward img/s | end to end img/s | e2e / min(decode, forward) "
          "| bound 1/(1/d+1/f) | e2e / bound | CPU ms/img: decode, forward, e2e |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    medians = {}
    for cores in args.cores:
        mine = [r for r in runs if r["cores"] == cores]
        for workers in args.workers or [cores]:
            key = f"end_to_end_w{workers}"
            # Per slice (one load each), then the median over slices.
            d = np.array([r["images"] / r["decode"]["wall_s"] for r in mine])
            f = np.array([r["images"] / r["forward"]["wall_s"] for r in mine])
            e = np.array([r["images"] / r[key]["wall_s"] for r in mine])
            cpu_ms = [float(np.median([1e3 * r[name]["cpu_s"] / r["images"] for r in mine]))
                      for name in ("decode", "forward", key)]
            row = {"decode": float(np.median(d)), "forward": float(np.median(f)), "end_to_end": float(np.median(e)),
                   "ratio": float(np.median(e / np.minimum(d, f))),
                   "ratio_to_bound": float(np.median(e * (1 / d + 1 / f))), "cpu_ms": cpu_ms}
            bound = 1 / (1 / row["decode"] + 1 / row["forward"])
            print(f"| {cores} | {workers} | {row['decode']:.0f} | {row['forward']:.0f} | {row['end_to_end']:.0f} | "
                  f"{row['ratio']:.2f} | {bound:.0f} | {row['ratio_to_bound']:.2f} | "
                  + ", ".join(f"{v:.2f}" for v in cpu_ms) + " |")
            medians[f"{cores}_{workers}"] = row
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "command": " ".join(sys.argv), "images": args.images, "batch": args.batch,
                       "medians": medians, "runs": runs, "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                       "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}, f, indent=2)


if __name__ == "__main__":
    main()
