"""The paper's numbers, computed from the built graph (Tables 1, 2, 5, 6, 7)."""
import pytest

import mobilenet


def totals(**kw):
    s = mobilenet.MobileNetV1(threads=1, **kw).summary()
    return s.total_mult_adds, s.total_params


def test_table1_structure():
    net = mobilenet.MobileNetV1(threads=1)
    convs = [layer for layer in net.layers if layer.type in ("conv3x3", "dwconv3x3", "conv1x1")]
    assert len(convs) + 1 == 28  # the paper counts 28 layers (depthwise and pointwise apart, plus fc)
    assert net.layers[0].out_shape == (112, 112, 32)
    assert net.layers[-3].out_shape == (7, 7, 1024)
    strides = [layer.stride for layer in net.layers if layer.type == "dwconv3x3"]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]


def test_exact_totals_at_1_0_224():
    assert totals() == (568_740_352, 4_209_088)


# Table 6 (width multiplier, 224) and Table 7 (resolution, alpha 1.0): (millions of mult-adds, of parameters).
@pytest.mark.parametrize("kw,paper", [
    (dict(alpha=1.0), (569, 4.2)), (dict(alpha=0.75), (325, 2.6)), (dict(alpha=0.5), (149, 1.3)),
    (dict(alpha=0.25), (41, 0.5)),
    (dict(resolution=192), (418, 4.2)), (dict(resolution=160), (290, 4.2)), (dict(resolution=128), (186, 4.2)),
    (dict(shallow=True), (307, 2.9)),  # Table 5
])
def test_paper_tables_at_their_rounding(kw, paper):
    mult_adds, params = totals(**kw)
    # The paper rounds 568.74M up to 569 but cuts 290.68M down to 290: accept either.
    assert paper[0] in (round(mult_adds / 1e6), int(mult_adds / 1e6))
    assert round(params / 1e6, 1) == paper[1]


def test_table2_split_by_layer_type():
    by_type = mobilenet.MobileNetV1(threads=1).summary().by_type()
    # Table 2: conv 1x1, conv dw 3x3, fully connected (% of mult-adds, % of parameters).
    for t, (ma, pa) in {"conv1x1": (94.86, 74.59), "dwconv3x3": (3.06, 1.06), "fc": (0.18, 24.33)}.items():
        assert round(by_type[t]["mult_adds_pct"], 2) == ma, t
        assert round(by_type[t]["params_pct"], 2) == pa, t
    # The paper prints 1.19% for the full 3x3 conv; its own shapes give 10.8M / 568.7M = 1.91%.
    assert round(by_type["conv3x3"]["params_pct"], 2) == 0.02
    assert sum(v["mult_adds_pct"] for v in by_type.values()) == pytest.approx(100.0)


def test_width_multiplier_thins_every_layer():
    full, thin = mobilenet.MobileNetV1(threads=1), mobilenet.MobileNetV1(alpha=0.5, threads=1)
    for a, b in zip(full.layers[:-1], thin.layers[:-1]):
        assert b.out_shape[2] == int(a.out_shape[2] * 0.5)
    assert thin.layers[-1].out_shape == (1, 1, 1000)  # the classifier's outputs stay


def test_channel_rounding_multiple_of_8():
    net = mobilenet.MobileNetV1(alpha=1.25, channel_rounding="multiple_of_8", threads=1)
    widths = [layer.out_shape[2] for layer in net.layers if layer.type == "conv1x1"]
    assert widths[0] == 80 and widths[-1] == 1280 and all(w % 8 == 0 for w in widths)
    floor = mobilenet.MobileNetV1(alpha=0.3, threads=1)
    assert floor.layers[0].out_shape[2] == 9  # int(32 * 0.3)


def test_summary_prints_a_table():
    text = str(mobilenet.MobileNetV1(alpha=0.5, resolution=160, threads=1).summary())
    assert "conv_pw_13" in text and "mult-adds" in text and "Table 2" in text
    rows = mobilenet.MobileNetV1(threads=1).summary().to_dict()["layers"]
    assert rows[1]["type"] == "dwconv3x3" and rows[1]["output"] == (112, 112, 32)
