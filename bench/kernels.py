"""Kernel-level timings behind the optimization log in bench/RESULTS.md.

Each subcommand times one family of kernels as one-layer engines (the same
packing, dispatch and executor code the network uses), or one network's layers,
and prints the minimum over many runs: on this shared machine the minimum is
the steadiest statistic for code that is not memory-bound.

    python bench/kernels.py layers --alpha 1.0 --resolution 224 [--threads 1]  # per-layer min of a network
    python bench/kernels.py gemm        # the 1x1 shapes of 1.0/224 (and a few of 0.25/128)
    python bench/kernels.py depthwise   # depthwise shapes of 0.25/128, 0.5/160 and 1.0/224
    python bench/kernels.py stem [--size 128]    # the stem for 8, 16, 24, 32 output channels
    python bench/kernels.py fc          # the classifier (batch 1: one GEMM row)
    python bench/kernels.py fusion --alpha 1.0 --resolution 224   # fused vs unfused engines, interleaved
"""
from __future__ import annotations

import argparse

import numpy as np

import mobilenet
from mobilenet import _core
from mobilenet.model import engine_specs

RNG = np.random.default_rng(0)


def layer_spec(type_, h, w, cin, cout, stride=1, padding=(0, 0, 0, 0), activation="relu"):
    weights = {"conv3x3": 9 * cin * cout, "dwconv3x3": 9 * cin, "conv1x1": cin * cout, "fc": cin * cout}[type_]
    return _core.LayerSpec(type_, h, w, cin, cout, stride=stride, padding=padding, activation=activation,
                           weight=RNG.standard_normal(weights).astype(np.float32), bias=np.zeros(cout, np.float32))


def layer_min_us(spec, isa=None, runs=300):
    """Minimum over runs of the layer's own time (C++ clock), input staging excluded."""
    engine = _core.Network([spec], isa=isa, threads=1)
    x = RNG.standard_normal((1, spec.in_h, spec.in_w, spec.in_c)).astype(np.float32)
    return engine.profile(x, "NHWC", False, runs, 20)["layer_ns"][:, 0].min() / 1e3


def cmd_layers(args):
    net = mobilenet.MobileNetV1(alpha=args.alpha, resolution=args.resolution, threads=args.threads)
    x = RNG.standard_normal((1, args.resolution, args.resolution, 3)).astype(np.float32)
    r = net.timed_passes(x, args.runs, 10, softmax=False)
    best = r["layer_ns"].min(axis=0) / 1e6
    print(f"alpha {args.alpha} / {args.resolution}, {args.threads} thread(s): end-to-end median "
          f"{np.median(r['total_ns']) / 1e6:.3f} ms, min {r['total_ns'].min() / 1e6:.3f} ms; "
          f"sum of per-layer minima {best.sum():.3f} ms")
    by_type = {}
    for layer, ms, kernel in zip(net.layers, best, net.kernel_names):
        gflops = 2 * layer.mult_adds / (ms * 1e-3) / 1e9 if ms > 0 else 0.0
        print(f"  {layer.name:11s} {kernel:34s} {ms:8.4f} ms {gflops:7.1f} GFLOP/s")
        t = by_type.setdefault(layer.type, [0.0, 0])
        t[0] += ms
        t[1] += layer.mult_adds
    for type_, (ms, madds) in by_type.items():
        rate = 2 * madds / (ms * 1e-3) / 1e9 if ms > 0 else 0.0
        print(f"  {type_:10s} {ms:7.3f} ms {100 * ms / best.sum():5.1f}% {rate:7.1f} GFLOP/s")


def cmd_gemm(args):
    shapes = [(112, 32, 64), (56, 64, 128), (56, 128, 128), (28, 128, 256), (28, 256, 256), (14, 256, 512),
              (14, 512, 512), (7, 512, 1024), (7, 1024, 1024), (32, 8, 16), (16, 32, 32), (8, 64, 128), (4, 128, 256)]
    for hw, k, n in shapes:
        us = layer_min_us(layer_spec("conv1x1", hw, hw, k, n))
        print(f"M={hw * hw:5d} K={k:4d} N={n:4d}: {us:8.2f} us {2 * hw * hw * k * n / us / 1e3:6.1f} GFLOP/s")


def cmd_depthwise(args):
    shapes = [(64, 8, 1), (32, 16, 2), (32, 32, 1), (16, 32, 2), (8, 128, 1), (80, 16, 1), (40, 64, 1), (112, 32, 1),
              (56, 128, 1), (28, 256, 1), (14, 512, 1), (112, 64, 2)]
    total = 0.0
    for hw, c, s in shapes:
        pad = (1, 1, 1, 1) if s == 1 else (0, 0, 1, 1)
        us = layer_min_us(layer_spec("dwconv3x3", hw, hw, c, c, s, pad, "relu6"), runs=400)
        total += us
        print(f"{hw}x{hw}x{c} s{s}: {us:7.2f} us {2 * 9 * c * (hw // s) ** 2 / us / 1e3:6.1f} GFLOP/s")
    print(f"total {total:.1f} us")


def cmd_stem(args):
    out = (args.size + 1) // 2
    for isa in mobilenet.supported_isas():
        for cout in (8, 16, 24, 32):
            us = layer_min_us(layer_spec("conv3x3", args.size, args.size, 3, cout, 2, (0, 0, 1, 1)), isa=isa)
            print(f"{isa:7s} Cout {cout:2d}: {us:7.2f} us {2 * out * out * 27 * cout / us / 1e3:6.1f} GFLOP/s")


def cmd_fc(args):
    for k, n in ((1024, 1000), (512, 1000), (256, 1001)):
        us = layer_min_us(layer_spec("fc", 1, 1, k, n, activation="none"), runs=500)
        print(f"{k} -> {n}: {us:6.1f} us, {k * n * 4 / us / 1e3:5.0f} GB/s of weights")


def cmd_fusion(args):
    net = mobilenet.MobileNetV1(alpha=args.alpha, resolution=args.resolution, threads=1)
    specs = engine_specs(net.layers, net.params)
    engines = {"unfused": _core.Network(specs, threads=args.threads, fuse=False),
               "fused": _core.Network(specs, threads=args.threads, fuse=True)}
    x = RNG.standard_normal((1, args.resolution, args.resolution, 3)).astype(np.float32)
    times = {name: [] for name in engines}
    for _ in range(40):  # interleaved turns, so drift hits both alike
        for name, engine in engines.items():
            times[name].append(engine.profile(x, "NHWC", False, 5, 1)["total_ns"])
    t = {name: np.concatenate(v) / 1e6 for name, v in times.items()}
    for name, v in t.items():
        print(f"{name:8s} min {v.min():.3f} ms median {np.median(v):.3f} ms")
    print(f"fused / unfused: min {t['fused'].min() / t['unfused'].min():.3f}, "
          f"median {np.median(t['fused']) / np.median(t['unfused']):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("layers", "fusion"):
        p = sub.add_parser(name)
        p.add_argument("--alpha", type=float, default=1.0)
        p.add_argument("--resolution", type=int, default=224)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--runs", type=int, default=200)
    for name in ("gemm", "depthwise", "fc"):
        sub.add_parser(name)
    sub.add_parser("stem").add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    globals()["cmd_" + args.command](args)


if __name__ == "__main__":
    main()
