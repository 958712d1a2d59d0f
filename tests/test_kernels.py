"""Every kernel, every ISA this CPU runs, against the float64 NumPy oracle.

Kernels are driven through one-layer engines (the same packing, dispatch and
threading code the full network uses), over odd spatial sizes, channel counts
that are not multiples of the vector width, both strides, every padding mode
and every activation.
"""
import itertools

import numpy as np
import pytest

import mobilenet
from mobilenet import _core, reference
from mobilenet.graph import conv_padding

from conftest import ISAS, max_rel_error

SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 32, 33]
CHANNELS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 70]
ACTIVATIONS = ["none", "relu", "relu6"]
TOLERANCE = 2e-6  # float32 accumulation over at most a few hundred terms


def padding_for(mode, h, w, stride):
    if mode == "same":
        (top, bottom), (left, right) = conv_padding(h, stride, "same"), conv_padding(w, stride, "same")
        return (top, left, bottom, right)
    if mode == "symmetric":
        return (1, 1, 1, 1)
    if mode == "valid":
        return (0, 0, 0, 0)
    return (2, 0, 1, 2)  # asymmetric, as an imported model may have


def out_size(n, stride, before, after):
    return (n + before + after - 3) // stride + 1


def network(specs, **settings):
    return _core.Network([_core.LayerSpec(**fields) for fields in specs], **settings)


def engine(spec, isa, threads=1, backend="gemm"):
    return network([spec], isa=isa, threads=threads, backend=backend)


def spec(type_, h, w, cin, cout, weight, bias, stride=1, padding=(0, 0, 0, 0), activation="none"):
    """A layer's fields, as _core.LayerSpec's keywords: a test changes one, then builds the engine."""
    return {"kind": type_, "in_h": h, "in_w": w, "in_c": cin, "out_c": cout, "stride": stride,
            "padding": list(padding), "activation": activation, "weight": weight.ravel(), "bias": bias}


def check(got, want, label):
    err = max_rel_error(got, want)
    assert err <= TOLERANCE, f"{label}: relative error {err:.2e}"


def cases(seed):
    """A deterministic sample of (h, w, c) covering every size and channel count."""
    r = np.random.default_rng(seed)
    return [(h, int(r.choice(SIZES)), c) for h, c in zip(SIZES * 2, r.permutation(CHANNELS * 2)[: 2 * len(SIZES)])]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("mode", ["same", "symmetric", "valid", "asymmetric"])
def test_dwconv3x3(isa, stride, mode, rng):
    for i, (h, w, c) in enumerate(cases(stride * 7 + len(mode))):
        pad = padding_for(mode, h, w, stride)
        act = ACTIVATIONS[i % 3]
        batch, threads = 1 + i % 2, 1 + (i // 2) % 2
        x = rng.standard_normal((batch, h, w, c)).astype(np.float32)
        wt = rng.standard_normal((3, 3, c)).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        s = spec("dwconv3x3", h, w, c, c, wt, b, stride, pad, act)
        oh, ow = out_size(h, stride, pad[0], pad[2]), out_size(w, stride, pad[1], pad[3])
        if oh < 1 or ow < 1:
            with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
                engine(s, isa)
            continue
        got = engine(s, isa, threads).forward(x).reshape(batch, oh, ow, c)
        want = reference.activate(reference.dwconv3x3(x, wt, stride, pad) + b, act)
        check(got, want, f"dwconv {isa} {h}x{w}x{c} s{stride} pad{pad} {act} batch{batch} threads{threads}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("h", [1, 2, 3, 5, 6, 7, 9, 14])
def test_dwconv3x3_wide_rows(isa, stride, h, rng):
    """Rows too wide for L1 run in blocks of 4 output rows (then 2, then 1): every remainder."""
    w, c = 34, 200  # 3 rows x 34 x 200 floats = 80 KB, 16+ output columns at stride 2
    for i, mode in enumerate(["same", "symmetric", "valid", "asymmetric"]):
        pad = padding_for(mode, h, w, stride)
        if out_size(h, stride, pad[0], pad[2]) < 1:
            continue
        x = rng.standard_normal((1, h, w, c)).astype(np.float32)
        wt = rng.standard_normal((3, 3, c)).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        act = ACTIVATIONS[i % 3]
        got = engine(spec("dwconv3x3", h, w, c, c, wt, b, stride, pad, act), isa, 1 + i % 2).forward(x)
        want = reference.activate(reference.dwconv3x3(x, wt, stride, pad) + b, act)
        check(got.reshape(want.shape), want, f"dwconv {isa} {h}x{w}x{c} s{stride} pad{pad} {act}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_conv3x3(isa, stride, layout, rng):
    for i, (h, w, cout) in enumerate(cases(stride + len(layout))):
        cin = [3, 1, 2, 4, 5][i % 5]
        mode = ["same", "symmetric", "valid", "asymmetric"][i % 4]
        pad = padding_for(mode, h, w, stride)
        oh, ow = out_size(h, stride, pad[0], pad[2]), out_size(w, stride, pad[1], pad[3])
        if oh < 1 or ow < 1:
            continue
        act = ACTIVATIONS[i % 3]
        batch, threads = 1 + i % 3, 1 + i % 2
        x = rng.standard_normal((batch, h, w, cin)).astype(np.float32)
        wt = rng.standard_normal((3, 3, cin, cout)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        s = spec("conv3x3", h, w, cin, cout, wt, b, stride, pad, act)
        xin = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "NCHW" else x
        got = engine(s, isa, threads).forward(xin, layout).reshape(batch, oh, ow, cout)
        want = reference.activate(reference.conv3x3(x, wt, stride, pad) + b, act)
        check(got, want, f"conv3x3 {isa} {h}x{w}x{cin}->{cout} s{stride} pad{pad} {act} {layout}")



STEM_SHAPES = [(5, 3), (7, 9), (9, 17), (33, 31), (16, 64), (6, 263), (3, 300)]  # (h, w): wide rows span chunks


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("cout", [1, 5, 8, 9, 16, 17, 24, 25, 32])
def test_conv3x3_rgb_stem(isa, cout, rng):
    """The stem proper (3 channels, stride 2, several kernels by channel count),
    both layouts bit-identical."""
    for i, (h, w) in enumerate(STEM_SHAPES):
        mode = ["same", "symmetric", "valid", "asymmetric"][i % 4]
        pad = padding_for(mode, h, w, 2)
        oh, ow = out_size(h, 2, pad[0], pad[2]), out_size(w, 2, pad[1], pad[3])
        if oh < 1 or ow < 1:
            continue
        act = ACTIVATIONS[i % 3]
        x = rng.standard_normal((1, h, w, 3)).astype(np.float32)
        wt = rng.standard_normal((3, 3, 3, cout)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        e = engine(spec("conv3x3", h, w, 3, cout, wt, b, 2, pad, act), isa)
        got = e.forward(x, "NHWC").reshape(1, oh, ow, cout)
        want = reference.activate(reference.conv3x3(x, wt, 2, pad) + b, act)
        check(got, want, f"stem {isa} {h}x{w}x3->{cout} pad{pad} {act}")
        nchw = e.forward(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), "NCHW").reshape(1, oh, ow, cout)
        np.testing.assert_array_equal(nchw, got)

POINTWISE_SHAPES = [  # (pixels as h x w, cin, cout)
    ((1, 1), 1, 1), ((1, 1), 70, 3), ((2, 3), 5, 17), ((3, 5), 16, 16), ((7, 7), 33, 65),
    ((4, 9), 64, 31), ((13, 1), 7, 100), ((11, 13), 48, 257), ((5, 29), 70, 70), ((17, 17), 31, 129),
    ((1, 33), 2, 48), ((9, 9), 128, 96),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("backend", ["gemm", "blas"])
@pytest.mark.parametrize("threads", [1, 2])
def test_conv1x1(isa, backend, threads, rng):
    for i, ((h, w), cin, cout) in enumerate(POINTWISE_SHAPES):
        act = ACTIVATIONS[i % 3]
        batch = 1 + i % 2
        x = rng.standard_normal((batch, h, w, cin)).astype(np.float32)
        wt = rng.standard_normal((cin, cout)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        e = engine(spec("conv1x1", h, w, cin, cout, wt, b, activation=act), isa, threads, backend)
        got = e.forward(x).reshape(batch, h, w, cout)
        want = reference.activate(x.astype(np.float64) @ wt + b, act)
        check(got, want, f"conv1x1 {isa} {backend} {h}x{w} {cin}->{cout} {act} threads{threads}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("backend", ["gemm", "blas"])
def test_fully_connected(isa, backend, rng):
    for cin, cout, batch in [(1, 1, 1), (1024, 1000, 1), (70, 1001, 3), (33, 5, 4), (256, 17, 2)]:
        x = rng.standard_normal((batch, 1, 1, cin)).astype(np.float32)
        wt = rng.standard_normal((cin, cout)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        got = engine(spec("fc", 1, 1, cin, cout, wt, b), isa, 2, backend).forward(x)
        check(got, x.reshape(batch, cin).astype(np.float64) @ wt + b, f"fc {isa} {cin}->{cout}")


@pytest.mark.parametrize("isa", ISAS)
def test_global_avgpool(isa, rng):
    for h, w, c in itertools.product([1, 2, 7, 13], [1, 4, 7], [1, 8, 17, 70]):
        x = rng.standard_normal((2, h, w, c)).astype(np.float32)
        s = {"kind": "avgpool", "in_h": h, "in_w": w, "in_c": c, "out_c": c, "stride": 1,
             "padding": [0, 0, 0, 0], "activation": "none", "weight": None, "bias": None}
        got = engine(s, isa).forward(x)
        check(got, x.astype(np.float64).mean(axis=(1, 2)), f"avgpool {isa} {h}x{w}x{c}")


@pytest.mark.parametrize("isa", ISAS)
def test_nan_propagates_through_activations(isa):
    """A NaN reaching ReLU must stay NaN, not be clamped into a plausible 0."""
    x = np.zeros((1, 1, 1, 16), np.float32)
    x[0, 0, 0, 3] = np.nan
    wt = np.ones((3, 3, 16), np.float32)  # depthwise: channels stay apart
    for act in ACTIVATIONS:
        e = engine(spec("dwconv3x3", 1, 1, 16, 16, wt, -np.ones(16, np.float32), 1, (1, 1, 1, 1), act), isa)
        out = e.forward(x, check_finite=False).ravel()
        assert np.isnan(out[3]) and not np.isnan(np.delete(out, 3)).any(), act


def test_every_isa_is_named_in_kernel_names():
    for isa in ISAS:
        wt = np.ones((3, 3, 4), np.float32)
        e = engine(spec("dwconv3x3", 5, 5, 4, 4, wt, None, 2, (0, 0, 1, 1)), isa)
        assert e.isa == isa
        assert e.kernel_names == [f"dwconv3x3s2_rows_{isa}"]


# Each ISA's GEMM tiles: full panels, and the narrow panel (one vector of columns, rows doubled).
# The tiles of one panel and of one vector of columns, and the widest (AVX-512: two panels).
GEMM_TILES = {"scalar": ("4x4", "16x1", "4x4"), "avx2": ("6x16", "12x8", "6x16"),
              "avx512": ("12x32", "24x16", "6x64"), "neon": ("8x8", "16x4", "8x8")}


@pytest.mark.parametrize("isa", ISAS)
def test_kernel_names_say_which_variant_ran(isa):
    """A layer's kernel name holds the variant its kernel picks for it."""
    def name(type_, size, cin, cout, stride=1):
        shapes = {"conv3x3": (3, 3, cin, cout), "dwconv3x3": (3, 3, cin), "conv1x1": (cin, cout)}
        layer = spec(type_, size, size, cin, cout, np.ones(shapes[type_], np.float32), None, stride,
                     (1, 1, 1, 1) if type_ != "conv1x1" else (0, 0, 0, 0))
        return engine(layer, isa).kernel_names[0]

    # Depthwise: one row at a time while three input rows fit in L1 (48 KB) or
    # the map is narrow; blocks of rows otherwise; pixels side by side in a
    # vector where a few channels fill part of it (at stride 1, SIMD only).
    assert name("dwconv3x3", 32, 64, 64, 2) == f"dwconv3x3s2_rows_{isa}"  # 24 KB of rows
    assert name("dwconv3x3", 112, 64, 64, 2) == f"dwconv3x3s2_blocks_{isa}"  # 84 KB, 56 output columns
    assert name("dwconv3x3", 112, 64, 64, 1) == f"dwconv3x3s1_blocks_{isa}"
    assert name("dwconv3x3", 30, 256, 256, 2) == f"dwconv3x3s2_rows_{isa}"  # 90 KB, but 15 output columns
    assert name("dwconv3x3", 7, 1024, 1024, 1) == f"dwconv3x3s1_rows_{isa}"  # 84 KB, but 7 output columns
    packed = "rows" if isa == "scalar" else "packed"
    assert name("dwconv3x3", 16, 2, 2, 1) == f"dwconv3x3s1_{packed}_{isa}"
    assert name("dwconv3x3", 16, 2, 2, 2) == f"dwconv3x3s2_rows_{isa}"
    # Stem: neighbouring taps paired in a lane on AVX-512, for RGB at stride 2 and up to 24 channels.
    pairs = "tap_pairs" if isa == "avx512" else "taps"
    assert name("conv3x3", 33, 3, 8, 2) == f"conv3x3s2_{pairs}_{isa}"
    assert name("conv3x3", 33, 3, 24, 2) == f"conv3x3s2_{pairs}_{isa}"
    assert name("conv3x3", 33, 3, 25, 2) == f"conv3x3s2_taps_{isa}"
    assert name("conv3x3", 33, 3, 8, 1) == f"conv3x3s1_taps_{isa}"
    assert name("conv3x3", 33, 4, 8, 2) == f"conv3x3s2_taps_{isa}"
    # GEMM: 64 columns fill whole panels on every ISA, 1 column is a narrow
    # panel; 65 are named by their full panels (the narrow last one is a tail).
    panel, narrow, wide = GEMM_TILES[isa]
    assert name("conv1x1", 8, 16, 64) == f"conv1x1_gemm{wide}_{isa}"
    assert name("conv1x1", 8, 16, 1) == f"conv1x1_gemm{narrow}_{isa}"
    assert name("conv1x1", 8, 16, 65) == f"conv1x1_gemm{wide}_{isa}"
    assert name("conv1x1", 8, 16, {"scalar": 4, "neon": 8, "avx2": 16, "avx512": 32}[isa]) == \
        f"conv1x1_gemm{panel}_{isa}"


@pytest.mark.parametrize("isa", ISAS)
def test_alpha_025_first_layers_name_their_variants(isa):
    """0.25's 8-channel stem pairs taps and its first depthwise layer packs two
    pixels a vector on AVX-512; its 16-column first pointwise layer is one narrow panel there."""
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=224, threads=1, isa=isa)
    avx512 = isa == "avx512"
    assert net.kernel_names[0] == f"conv3x3s2_{'tap_pairs' if avx512 else 'taps'}_{isa}"
    assert net.kernel_names[1] == f"dwconv3x3s1_{'packed' if avx512 else 'rows'}_fused_{isa}"
    assert net.kernel_names[2] == f"conv1x1_gemm{GEMM_TILES[isa][1 if avx512 else 0]}_fused_{isa}"


def test_core_rejects_bad_layer_specs():
    wt = np.ones((3, 3, 4), np.float32)
    good = spec("dwconv3x3", 5, 5, 4, 4, wt, None, 1, (1, 1, 1, 1))
    for key, value, message in [("stride", 3, "stride"), ("padding", [3, 0, 0, 0], "padding"),
                                ("out_c", 5, "depthwise"), ("in_c", 0, "positive"),
                                ("weight", np.ones(5, np.float32), "weight has 5 values"),
                                ("bias", np.ones(3, np.float32), "bias"),
                                ("activation", "gelu", "activation"), ("kind", "conv5x5", "layer type")]:
        with pytest.raises(ValueError, match=message):
            engine({**good, key: value}, ISAS[-1])
    bad = wt.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        engine({**good, "weight": bad.ravel()}, ISAS[-1])
    with pytest.raises(ValueError, match="does not match the previous layer"):
        network([good, {**good, "in_c": 3, "out_c": 3, "weight": np.ones(27, np.float32)}])
    with pytest.raises(ValueError, match="unknown instruction set"):
        engine(good, "sse9")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("backend", ["gemm", "blas"])
@pytest.mark.parametrize("stride,size,channels,cout", [(1, 112, 16, 24), (2, 113, 24, 40), (1, 57, 9, 33)])
def test_fused_depthwise_pointwise_bands(isa, backend, stride, size, channels, cout, rng):
    """Large depthwise outputs run in bands straight into the next GEMM: same answer as unfused."""
    pad = padding_for("same", size, size, stride)
    oh = ow = out_size(size, stride, pad[0], pad[2])
    wd = rng.standard_normal((3, 3, channels)).astype(np.float32)
    bd = rng.standard_normal(channels).astype(np.float32)
    wp = rng.standard_normal((channels, cout)).astype(np.float32)
    bp = rng.standard_normal(cout).astype(np.float32)
    layers = [spec("dwconv3x3", size, size, channels, channels, wd, bd, stride, pad, "relu6"),
              spec("conv1x1", oh, ow, channels, cout, wp, bp, activation="relu")]
    x = rng.standard_normal((2, size, size, channels)).astype(np.float32)
    hidden = reference.activate(reference.dwconv3x3(x, wd, stride, pad) + bd, "relu6")
    want = reference.activate(hidden @ wp + bp, "relu")
    for threads in (1, 2):
        e = network(layers, isa=isa, threads=threads, backend=backend)
        # Three input rows fit in L1: one row at a time.
        assert e.kernel_names == [f"dwconv3x3s{stride}_rows_fused_{isa}", e.kernel_names[1]]
        assert e.kernel_names[1].endswith(f"_fused_{isa}")
        check(e.forward(x).reshape(2, oh, ow, cout), want, f"fused {isa} {backend} s{stride} threads{threads}")
