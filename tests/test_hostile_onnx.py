"""ONNX external data is read by our own checks, whatever the onnx version: nothing outside the model's
folder, no links, no special files, no offsets past the end. CI also runs this file with the oldest onnx allowed."""
import re

import numpy as np
import pytest

import mobilenet

from hostile import make_corpus
from hostile.capped import load_capped

onnx = pytest.importorskip("onnx")


def _model(tmp_path, variant):
    return make_corpus.onnx_external(tmp_path / "model", variant)


def test_external_data_beside_the_model_loads(tmp_path):
    net = mobilenet.load(_model(tmp_path, "valid"))
    want = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1, seed=1)
    x = np.random.default_rng(0).random((2, 32, 32, 3), np.float32)
    np.testing.assert_allclose(net(x), want(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant, message", [
    ("symlink", r"external data 'weights\.bin': 'weights\.bin' is a symbolic link; links are not followed"),
    ("symlinked_folder", r"external data 'data/secret\.bin': 'data' is a symbolic link"),
    ("absolute", r"external data '/.*secret\.bin': the location must be a relative path inside the model's folder"),
    ("dotdot", r"external data '\.\./outside/secret\.bin': the location must be a relative path inside"),
    ("directory", r"external data 'sub': not a regular file"),
    ("past_end", r"external data 'weights\.bin': offset \d+ and length \d+ are past the file's end"),
    ("attribute_symlink", r"external data 'constant\.bin': 'constant\.bin' is a symbolic link"),
])
def test_hostile_external_data_is_refused(tmp_path, variant, message):
    with pytest.raises(ValueError, match=r"model\.onnx: tensor '[^']*': " + message):
        mobilenet.load(_model(tmp_path, variant))


@pytest.mark.parametrize("variant, message", [
    ("fifo", r"external data 'pipe': not a regular file"),  # never opened: reading it would block
    ("huge_length", r"external data 'weights\.bin': offset 0 and length 1099511627776 are past the file's end"),
])
def test_hostile_external_data_is_refused_without_blocking_or_allocating(tmp_path, variant, message):
    code, output = load_capped(_model(tmp_path, variant), modules=("onnx",), timeout=60)
    assert code == 0 and output.startswith("ValueError: ") and "MemoryError" not in output, output
    assert re.search(message, output), output


def _padded_by_arithmetic(tmp_path, pads_nodes):
    """A MobileNet ONNX graph (net.to_onnx) whose first Conv reads a Pad whose pads come from nodes of
    shape arithmetic, ending in the tensor "pads"; the Conv's own pads are then zero."""
    from onnx import helper

    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, threads=1, seed=1)
    model = net.to_onnx(tmp_path / "plain.onnx")
    graph = model.graph
    first = graph.node[0]
    assert first.op_type == "Conv"
    first.input[0] = "padded"
    for attribute in first.attribute:
        if attribute.name == "pads":
            del attribute.ints[:]
            attribute.ints.extend([0, 0, 0, 0])
    nodes = list(pads_nodes) + [helper.make_node("Pad", ["input", "pads"], ["padded"])]
    for node in reversed(nodes):
        graph.node.insert(0, node)
    path = tmp_path / "arithmetic.onnx"
    onnx.save(model, path)
    return net, path


def test_shape_arithmetic_is_evaluated_over_the_datas_shape(tmp_path):
    from onnx import helper, numpy_helper

    # pads = [0, 0, H - 32, W - 32, 0, 0, H - 31, W - 31] from Shape(input): at 32x32 the stem's 'same'
    # padding (0, 0, 1, 1), as traced exports compute it.
    def const(name, value):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, np.int64)))

    nodes = [helper.make_node("Shape", ["input"], ["shape"]), const("hw", [2, 3]),
             helper.make_node("Gather", ["shape", "hw"], ["sizes"], axis=0), const("size", [32, 32]),
             helper.make_node("Sub", ["sizes", "size"], ["zeros"]), const("one", [1, 1]),
             helper.make_node("Add", ["zeros", "one"], ["ones"]), const("nc", [0, 0]),
             helper.make_node("Concat", ["nc", "zeros", "nc", "ones"], ["pads"], axis=0)]
    net, path = _padded_by_arithmetic(tmp_path, nodes)
    back = mobilenet.load(path)
    assert back.layers[0].padding == net.layers[0].padding == (0, 0, 1, 1)
    x = np.random.default_rng(0).random((2, 32, 32, 3), np.float32)
    np.testing.assert_allclose(back.logits(x), net.logits(x), rtol=1e-5, atol=1e-5)


def test_shape_arithmetic_cannot_allocate_much(tmp_path):
    from onnx import helper, numpy_helper

    huge = numpy_helper.from_array(np.array([1 << 40], np.int64))
    nodes = [helper.make_node("Constant", [], ["count"], value=huge),
             helper.make_node("ConstantOfShape", ["count"], ["pads"])]
    _, path = _padded_by_arithmetic(tmp_path, nodes)
    with pytest.raises(ValueError, match=r"ConstantOfShape \[1099511627776\] in the shape arithmetic"):
        mobilenet.load(path)
