"""ONNX graphs in the shapes tf2onnx and hand-written exporters produce, against onnxruntime."""
import json

import numpy as np
import pytest

import mobilenet

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _tf_style_graph(net, *, batch_norm_nodes=True):
    """net as a TensorFlow-converter-style graph: NHWC input + Transpose, SAME_UPPER / Pad + VALID convs,
    BatchNormalization, Clip(0, 6), ReduceMean, Reshape, MatMul + Add, Softmax."""
    nodes, inits = [], []

    def const(name, value, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    const("zero", 0.0)
    const("six", 6.0)
    h, w, _ = net.input_shape
    nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
    x = "nchw"
    for layer in net.layers:
        p = net.params.get(layer.name, {})
        name = layer.name
        if layer.type in ("conv3x3", "dwconv3x3", "conv1x1"):
            weight = np.asarray(p["weight"])
            if layer.type == "conv3x3":
                oihw, group = weight.transpose(3, 2, 0, 1), 1
            elif layer.type == "dwconv3x3":
                oihw, group = weight.transpose(2, 0, 1)[:, None], layer.in_shape[2]
            else:
                oihw, group = weight.T[:, :, None, None], 1
            attrs = dict(strides=[layer.stride] * 2, group=group)
            if layer.type == "conv3x3":
                attrs["auto_pad"] = "SAME_UPPER"
            elif layer.type == "dwconv3x3" and layer.stride == 2:
                const(f"{name}/pads", [0, 0, 0, 0, 0, 0, 1, 1], np.int64)
                nodes.append(helper.make_node("Pad", [x, f"{name}/pads"], [f"{name}/padded"]))
                x, attrs["auto_pad"] = f"{name}/padded", "VALID"
            elif layer.type == "dwconv3x3":
                attrs["pads"] = list(layer.padding)
            nodes.append(helper.make_node("Conv", [x, const(f"{name}/w", oihw)], [f"{name}/conv"], **attrs))
            x = f"{name}/conv"
            bn = p["bn"]
            nodes.append(helper.make_node("BatchNormalization",
                                          [x] + [const(f"{name}/{k}", bn[k]) for k in ("gamma", "beta", "mean", "var")],
                                          [f"{name}/bn"], epsilon=bn["eps"]))
            nodes.append(helper.make_node("Clip", [f"{name}/bn", "zero", "six"], [f"{name}/relu6"]))
            x = f"{name}/relu6"
        elif layer.type == "avgpool":
            nodes.append(helper.make_node("ReduceMean", [x], ["pooled"], axes=[2, 3], keepdims=1))
            nodes.append(helper.make_node("Reshape", ["pooled", const("shape", [-1, layer.out_shape[2]], np.int64)],
                                          ["flat"]))
            x = "flat"
        else:
            nodes.append(helper.make_node("MatMul", [x, const("fc/w", p["weight"])], ["fc/mm"]))
            nodes.append(helper.make_node("Add", ["fc/mm", const("fc/b", p["bias"])], ["logits"]))
            nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    graph = helper.make_graph(nodes, "tf_style_mobilenet",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, h, w, 3])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, net.num_classes])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tf-style-test")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_tf_style_graph_matches_onnxruntime_and_the_source(tmp_path):
    source = mobilenet.MobileNetV1(alpha=0.25, resolution=96, num_classes=17, activation="relu6", seed=4)
    model = _tf_style_graph(source)
    model.metadata_props.add(key="labels", value=json.dumps([f"class {i}" for i in range(17)]))
    path = tmp_path / "tf_style.onnx"
    onnx.save(model, path)
    net = mobilenet.load(path)
    assert net.format == "onnx" and "NHWC input" in net.source and net.labels[3] == "class 3"
    assert [layer.padding for layer in net.layers] == [layer.padding for layer in source.layers]
    assert [layer.activation for layer in net.layers] == [layer.activation for layer in source.layers]
    x = np.random.default_rng(6).uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)
    # The same unfolded weights (batch-norm epsilon goes through a float32 attribute).
    np.testing.assert_allclose(net.logits(x), source.logits(x), rtol=1e-5, atol=1e-6)
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {"image": x})[0]
    assert np.abs(net(x) - want).max() <= 1e-5


def _save(tmp_path, nodes, inits, inputs, outputs, name="model.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / name
    onnx.save(model, path)
    return path


def test_resnet_style_graph_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 7, 7)).astype(np.float32), "w7")]
    nodes = [helper.make_node("Conv", ["x", "w7"], ["c"], strides=[2, 2], pads=[3, 3, 3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[3, 3], strides=[2, 2])]
    path = _save(tmp_path, nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(ValueError, match=r"model\.onnx.*7x7 convolution"):
        mobilenet.load(path)


def test_residual_branch_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w3"),
             numpy_helper.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "w1")]
    nodes = [helper.make_node("Conv", ["x", "w3"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Conv", ["r", "w1"], ["p"]),
             helper.make_node("Add", ["r", "p"], ["y"])]
    path = _save(tmp_path, nodes, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(ValueError, match="branches"):
        mobilenet.load(path)


def test_dynamic_input_size_uses_the_resolution_argument(tmp_path):
    source = mobilenet.MobileNetV1(alpha=0.25, resolution=128, num_classes=5, activation="relu6", seed=2)
    model = _tf_style_graph(source)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for i in (1, 2):
        dims[i].dim_param = "size"
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, path)
    assert mobilenet.load(path).input_shape == (224, 224, 3)
    net = mobilenet.load(path, resolution=128)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    np.testing.assert_allclose(net.logits(x), source.logits(x), rtol=1e-5, atol=1e-6)
    # (height, width): each dynamic axis takes its own size
    wide = mobilenet.MobileNetV1.from_layers(mobilenet.build_layers(0.25, (96, 128), 5, activation="relu6"),
                                             source.params, threads=1)
    net = mobilenet.load(path, resolution=(96, 128))
    assert net.layers == wide.layers
    x = np.random.default_rng(4).uniform(-1, 1, (1, 96, 128, 3)).astype(np.float32)
    np.testing.assert_allclose(net.logits(x), wide.logits(x), rtol=1e-5, atol=1e-6)
