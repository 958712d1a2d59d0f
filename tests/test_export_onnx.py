"""net.to_onnx(path): onnxruntime runs the exported graph with our outputs."""
import sys

import numpy as np
import pytest

import mobilenet
from mobilenet.graph import build_layers
from mobilenet.params import random_params

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run_onnxruntime(path, x_nhwc):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))})[0]


def images(net, batch, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (batch,) + net.input_shape).astype(np.float32)


@pytest.mark.parametrize("alpha, resolution, padding, activation, batch", [
    (1.0, 224, "same", "relu", 1),
    (0.75, 192, "symmetric", "relu6", 2),
    (0.5, 160, "same", "relu6", 3),
    (0.25, 128, "symmetric", "relu", 1),
    (0.25, 97, "same", "relu6", 2),  # odd size: asymmetric 'SAME' padding on stride-1 and stride-2 layers
    (0.3, 65, "symmetric", "relu", 1),  # channel counts that are not a multiple of 8
    (0.25, (96, 160), "same", "relu", 2),  # non-square
])
def test_onnxruntime_matches_our_logits(tmp_path, alpha, resolution, padding, activation, batch):
    net = mobilenet.MobileNetV1(alpha, resolution, padding=padding, activation=activation, threads=1, seed=3)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    x = images(net, batch)
    ours = net.logits(x)
    theirs = run_onnxruntime(path, x)
    assert theirs.shape == ours.shape == (batch, 1000)
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-4)


def test_dynamic_batch_one_file_runs_several_batch_sizes(tmp_path):
    net = mobilenet.MobileNetV1(0.25, 96, threads=1)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    for batch in (1, 4, 7):
        x = images(net, batch, seed=batch)
        np.testing.assert_allclose(run_onnxruntime(path, x), net.logits(x), rtol=0, atol=1e-4)


def test_relu6_is_exported_as_a_clip_that_matters(tmp_path):
    """Shifted batch-norm betas push many activations past 6, so a missing clip would show."""
    layers = build_layers(0.25, 96, activation="relu6")
    params = random_params(layers, seed=1)
    for p in params.values():
        if "bn" in p:
            p["bn"]["beta"] = p["bn"]["beta"] + 1.5
    net = mobilenet.MobileNetV1.from_layers(layers, params, threads=1)
    relu_net = mobilenet.MobileNetV1.from_layers(build_layers(0.25, 96, activation="relu"), params, threads=1)
    x = images(net, 2)
    assert np.abs(net.logits(x) - relu_net.logits(x)).max() > 1e-2  # the clip changes the output
    model = net.to_onnx(tmp_path / "net.onnx")
    assert {n.op_type for n in model.graph.node} >= {"Clip", "Conv", "GlobalAveragePool", "Gemm"}
    assert "Relu" not in {n.op_type for n in model.graph.node}
    np.testing.assert_allclose(run_onnxruntime(tmp_path / "net.onnx", x), net.logits(x), rtol=0, atol=1e-4)


def test_tf_same_padding_is_asymmetric_in_the_graph(tmp_path):
    net = mobilenet.MobileNetV1(0.25, 224, padding="same", threads=1)
    model = net.to_onnx(tmp_path / "net.onnx")
    stem = next(n for n in model.graph.node if n.name == "conv1/conv")
    pads = list(next(a for a in stem.attribute if a.name == "pads").ints)
    assert pads == [0, 0, 1, 1]  # TF 'SAME' on an even size with stride 2: the extra pixel goes bottom/right
    depthwise = next(n for n in model.graph.node if n.name == "conv_dw_1/conv")
    assert next(a for a in depthwise.attribute if a.name == "group").i == net.layers[1].in_shape[2]


def test_unfolded_batch_norm_and_softmax_output(tmp_path):
    net = mobilenet.MobileNetV1(0.5, 128, activation="relu6", threads=1, seed=5)
    model = net.to_onnx(tmp_path / "net.onnx", fold_batch_norm=False, softmax=True)
    assert "BatchNormalization" in {n.op_type for n in model.graph.node}
    assert [o.name for o in model.graph.output] == ["probabilities"]
    x = images(net, 2)
    probs = run_onnxruntime(tmp_path / "net.onnx", x)
    np.testing.assert_allclose(probs, net(x), rtol=0, atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-5)


def test_shallow_network_with_other_class_count(tmp_path):
    net = mobilenet.MobileNetV1(0.5, 128, num_classes=17, shallow=True, threads=1)
    net.to_onnx(tmp_path / "net.onnx")
    x = images(net, 3)
    np.testing.assert_allclose(run_onnxruntime(tmp_path / "net.onnx", x), net.logits(x), rtol=0, atol=1e-4)


def test_bad_arguments_raise_clear_errors(tmp_path):
    net = mobilenet.MobileNetV1(0.25, 64, threads=1)
    with pytest.raises(ValueError, match="opset"):
        net.to_onnx(tmp_path / "net.onnx", opset=9)
    with pytest.raises(TypeError, match="opset"):
        net.to_onnx(tmp_path / "net.onnx", opset="13")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        net.to_onnx(tmp_path / "missing" / "net.onnx")


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    net = mobilenet.MobileNetV1(0.25, 64, threads=1)
    with pytest.raises(ImportError, match=r"mobilenet\[onnx\]"):
        net.to_onnx(tmp_path / "net.onnx")


def _round_trip_cases(tmp_path):
    """Networks with labels and preprocessing of their own: TF-style, timm-style (crop, bicubic), and
    one read from a PyTorch state_dict with timm's conventions recorded by the reader."""
    from mobilenet.preprocess import timm_mobilenetv1

    tf_style = mobilenet.MobileNetV1(0.5, (96, 128), num_classes=7, activation="relu6", seed=5)
    tf_style.labels = [f"class {i}" for i in range(7)]
    tf_style.preprocessing = mobilenet.Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3, note="TF style")
    timm_style = mobilenet.MobileNetV1(0.25, 97, num_classes=3, padding="symmetric", activation="relu", seed=6)
    timm_style.labels = ["cat", "dog", "\u00e9l\u00e9phant"]
    timm_style.preprocessing = timm_mobilenetv1(0.9)
    cases = [("tf_style", tf_style), ("timm_style", timm_style)]
    torch = pytest.importorskip("torch")
    from model_files import timm_mobilenetv1 as torch_model
    torch.save(torch_model(1.0, num_classes=5, seed=9).state_dict(), tmp_path / "timm.pth")
    cases.append(("from_state_dict", mobilenet.load(tmp_path / "timm.pth", resolution=96,
                                                    labels=["a", "b", "c", "d", "e"])))
    return cases


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "batch-norm nodes"])
def test_load_of_to_onnx_restores_the_network(tmp_path, fold):
    from mobilenet.params import fold_batch_norm

    for name, net in _round_trip_cases(tmp_path):
        path = tmp_path / f"{name}.onnx"
        net.to_onnx(path, fold_batch_norm=fold)
        back = mobilenet.load(path)
        assert back.layers == net.layers, name  # names, types, shapes, strides, padding, activations
        assert back.labels == net.labels and back.preprocessing == net.preprocessing, name
        source = getattr(net, "source", None)
        assert source is None or back.source.endswith(f"from {source}"), name
        for layer in net.layers:  # batch norm comes back folded (or as it was, with its nodes)
            if layer.name in net.params:
                want_w, want_b = fold_batch_norm(layer, net.params[layer.name])
                got_w, got_b = fold_batch_norm(layer, back.params[layer.name])
                np.testing.assert_allclose(got_w, want_w, rtol=1e-6, atol=1e-7)
                np.testing.assert_allclose(got_b, want_b, rtol=1e-6, atol=1e-6)
        x = images(net, 2, seed=1)
        assert max_rel_error(back.logits(x), net.logits(x)) <= 1e-6, name


def max_rel_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_max_pooling_is_refused_where_the_graph_shows_it(tmp_path):
    # timm's global_pool='max': PyTorch's export shows it as GlobalMaxPool (a state_dict cannot).
    torch = pytest.importorskip("torch")
    from model_files import timm_mobilenetv1 as torch_model
    model = torch_model(1.0, num_classes=4, seed=2)
    model.global_pool = torch.nn.AdaptiveMaxPool2d(1)
    path = tmp_path / "max_pool.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), str(path), input_names=["input"], opset_version=17,
                      dynamo=False)
    with pytest.raises(ValueError, match=r"MaxPool\): max pooling .* is not MobileNet v1's global average"):
        mobilenet.load(path)
