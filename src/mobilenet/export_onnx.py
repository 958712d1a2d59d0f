"""Export a network as a standard ONNX graph (for deployment elsewhere and side-by-side benchmarks).

The graph takes NCHW float32 input named "input" with a dynamic batch
dimension and returns (N, num_classes) "logits", or "probabilities" with
``softmax=True``. Every layer keeps its own padding (TensorFlow's asymmetric
'SAME' included) and activation, so onnxruntime reproduces our output. The
labels and the preprocessing go into the model's metadata_props (JSON), from
which ``mobilenet.load`` restores them.
Needs the optional ``onnx`` package: ``pip install 'mobilenet[onnx]'``.
"""
from __future__ import annotations

import json
import os
import types
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

import numpy as np

from ._files import FilePath
from ._optional import require
from .graph import Layer
from .params import fold_batch_norm as _fold_batch_norm
from .preprocess import Preprocessing
from .vocabulary import ACTIVATION_BOUNDS, BN_EPSILON, Activation, LayerType

if TYPE_CHECKING:
    from .model import MobileNetV1

MIN_OPSET = 11  # Clip takes min/max as inputs from opset 11 on


def _import_onnx() -> Tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    onnx = require("onnx", "to_onnx")
    return onnx, require("onnx.helper", "to_onnx"), require("onnx.numpy_helper", "to_onnx")


# Our weight layouts (output channels last, see LayerKind.weight_layout) to ONNX's OIHW.
_TO_OIHW = {
    "HWIO": lambda weight: weight.transpose(3, 2, 0, 1),
    "HWC": lambda weight: weight.transpose(2, 0, 1)[:, None],  # one input channel per group
    "IO": lambda weight: weight.T[:, :, None, None],
}


def _onnx_conv_weight(layer: Layer, weight: np.ndarray) -> np.ndarray:
    kind = layer.kind
    if kind is None or not kind.convolution:
        raise ValueError(f"layer {layer.name!r} of type {layer.type!r} is not a convolution")
    assert kind.weight_layout is not None  # every convolution has its weights' layout
    return np.ascontiguousarray(_TO_OIHW[kind.weight_layout](weight))


def onnx_metadata(net: MobileNetV1) -> Dict[str, str]:
    """What the graph cannot say, as ONNX metadata_props (JSON text), which mobilenet.load reads back:
    ``labels`` (a list of class names) and ``preprocessing`` (Preprocessing.to_dict), where the network
    has them, and ``source`` (where the weights came from)."""
    meta: Dict[str, str] = {}
    labels = getattr(net, "labels", None)
    if labels is not None:
        meta["labels"] = json.dumps([str(label) for label in labels])
    pre = getattr(net, "preprocessing", None)
    if isinstance(pre, Preprocessing):
        meta["preprocessing"] = json.dumps(pre.to_dict())
    source = getattr(net, "source", None)
    if source is not None:
        meta["source"] = str(source)
    return meta


def to_onnx(net: MobileNetV1, path: FilePath, *, opset: int = 13, fold_batch_norm: bool = True,
            softmax: bool = False) -> Any:
    """Write ``net`` as an ONNX model to ``path`` and return the ``onnx.ModelProto``.

    Input "input": float32 (N, 3, H, W), N dynamic. Output "logits"
    (N, num_classes), or "probabilities" (softmax applied) with softmax=True.
    fold_batch_norm=True folds batch norm into each Conv's weight and bias
    (what our engine runs); False keeps BatchNormalization nodes.
    """
    onnx, helper, numpy_helper = _import_onnx()
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TypeError(f"opset must be an integer, got {type(opset).__name__}")
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"directory {directory!r} does not exist")

    nodes, initializers = [], []

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    if any(layer.activation == Activation.RELU6 for layer in net.layers):
        low, high = ACTIVATION_BOUNDS[Activation.RELU6]
        constant("relu6_min", np.array(low))
        constant("relu6_max", np.array(high))

    def activate(layer: Layer, x: str) -> str:
        if layer.activation == Activation.NONE:
            return x
        out = f"{layer.name}/{layer.activation}"
        if layer.activation == Activation.RELU:
            nodes.append(helper.make_node("Relu", [x], [out], name=out))
        else:  # Activation.RELU6
            nodes.append(helper.make_node("Clip", [x, "relu6_min", "relu6_max"], [out], name=out))
        return out

    x, four_d = "input", True
    for layer in net.layers:
        p = net.params.get(layer.name, {})
        kind = layer.kind
        if kind is not None and kind.convolution:
            bias: Optional[np.ndarray]
            if fold_batch_norm:
                weight, bias = _fold_batch_norm(layer, p)
            else:
                weight = np.asarray(p["weight"], np.float32)
                bias = p.get("bias")
            inputs = [x, constant(f"{layer.name}/weight", _onnx_conv_weight(layer, weight))]
            if bias is not None:
                inputs.append(constant(f"{layer.name}/bias", bias))
            top, left, bottom, right = layer.padding
            size = kind.kernel
            group = layer.in_shape[2] if kind.depthwise else 1
            out = f"{layer.name}/conv"
            nodes.append(helper.make_node("Conv", inputs, [out], name=out, kernel_shape=[size, size],
                                          strides=[layer.stride, layer.stride], pads=[top, left, bottom, right],
                                          group=group, dilations=[1, 1]))
            x = out
            bn = p.get("bn")
            if not fold_batch_norm and bn is not None:
                out = f"{layer.name}/batch_norm"
                names = [constant(f"{layer.name}/bn_{key}", bn[key]) for key in ("gamma", "beta", "mean", "var")]
                nodes.append(helper.make_node("BatchNormalization", [x] + names, [out], name=out,
                                              epsilon=float(bn.get("eps", BN_EPSILON))))
                x = out
            x = activate(layer, x)
        elif kind is not None and layer.type == LayerType.AVGPOOL:  # every known type has a kind
            out = f"{layer.name}/pool"
            nodes.append(helper.make_node(kind.onnx_op, [x], [out], name=out))
            x = out
        elif kind is not None and layer.type == LayerType.FC:
            if four_d:
                out = f"{layer.name}/flatten"
                nodes.append(helper.make_node("Flatten", [x], [out], name=out, axis=1))
                x, four_d = out, False
            weight, bias = _fold_batch_norm(layer, p)  # no batch norm here: weight and bias as they are
            out = f"{layer.name}/gemm"
            nodes.append(helper.make_node(kind.onnx_op, [x, constant(f"{layer.name}/weight", weight),
                                                   constant(f"{layer.name}/bias", bias)], [out], name=out))
            x = activate(layer, out)
        else:
            raise ValueError(f"layer {layer.name!r} has a type ONNX export does not know: {layer.type!r}")

    if four_d:  # a network ending before the classifier: flatten in our NHWC order
        nodes.append(helper.make_node("Transpose", [x], ["nhwc"], name="nhwc", perm=[0, 2, 3, 1]))
        nodes.append(helper.make_node("Flatten", ["nhwc"], ["flat"], name="flat", axis=1))
        x = "flat"
    output_name = "probabilities" if softmax else "logits"
    final = "softmax" if softmax else "identity"
    nodes.append(helper.make_node("Softmax" if softmax else "Identity", [x], [output_name], name=final,
                                  **({"axis": 1} if softmax else {})))

    h, w, c = net.layers[0].in_shape
    out_size = int(np.prod(net.layers[-1].out_shape))
    graph = helper.make_graph(
        nodes, "mobilenet_v1",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", c, h, w])],
        [helper.make_tensor_value_info(output_name, onnx.TensorProto.FLOAT, ["batch", out_size])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="mobilenet")
    # The oldest IR version that holds this opset, so older runtimes read the file too.
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    for key, value in onnx_metadata(net).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model
