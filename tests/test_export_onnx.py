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
