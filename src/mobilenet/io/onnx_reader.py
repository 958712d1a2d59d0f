"""ONNX graphs of MobileNet v1 structure, read with the ``onnx`` package.

The reader follows the single data path from the graph input and maps:
Conv (weights OIHW; 3x3 over 3 channels = the stem, 3x3 with group == channels
= depthwise, 1x1 = pointwise; ``pads`` [t, l, b, r] or auto_pad SAME_UPPER /
SAME_LOWER / VALID; a preceding zero Pad is merged), BatchNormalization,
Relu, Clip(0, 6), GlobalAveragePool / AveragePool over the whole map /
ReduceMean over H and W, Flatten / Reshape / Squeeze (no-ops on a 1x1 map),
Gemm or MatMul + Add (the classifier), Softmax at the end, Identity / Dropout,
and a leading Transpose from NHWC (tf2onnx), after Casts to float32 (Keras 3).
Anything else (Add of two branches, 7x7 kernels, ...) is not MobileNet v1 and
raises ValueError; max pooling (timm's ``global_pool='max'``) is refused by
name. Each operator has one handler in ``_HANDLERS``: supporting another is
adding one.

A graph does not record preprocessing; the default is TensorFlow's
(mean = std = 0.5, i.e. pixels scaled to [-1, 1], whole image, bilinear).
Metadata properties ``labels`` (JSON list or one per line),
``preprocessing`` (JSON object, ``Preprocessing.to_dict``) and ``source``,
which ``net.to_onnx`` writes, are used when present.
"""
from __future__ import annotations

import json
import math
import os
import stat
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .._optional import require
from ..preprocess import TENSORFLOW, Preprocessing
from ..vocabulary import ACTIVATION_BOUNDS, LAYER_KINDS, TORCH_BN_EPSILON, Activation, LayerType
from ._chain import ModelData, Op, assemble, same_padding
from ._limits import MAX_TENSOR_ELEMENTS, Budget

# onnx is imported through _optional.require (a ModuleType to mypy): its protobuf messages are Any here.
Node = Any  # onnx.NodeProto
Attributes = Dict[str, Any]  # a node's attributes by name, as onnx.helper.get_attribute_value gives them
Dims = List[Optional[int]]  # a tensor's shape, None where an axis is dynamic

_WEIGHTED = tuple(t for t, kind in LAYER_KINDS.items() if kind.has_weights)  # what BN and activations follow
_POINTWISE = tuple(t for t, kind in LAYER_KINDS.items() if kind.pointwise)


def _import_onnx() -> Tuple[Any, Any]:
    onnx = require("onnx", "reading ONNX models")
    return onnx, require("onnx.numpy_helper", "reading ONNX models")


def _attrs(node: Node, onnx: Any) -> Attributes:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info: Any) -> Optional[Dims]:
    tensor_type = value_info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return [int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in tensor_type.shape.dim]


class _Reader:
    def __init__(self, model: Any, onnx: Any, numpy_helper: Any, resolution: Optional[Tuple[int, int]]) -> None:
        self.onnx = onnx
        graph = model.graph
        self.constants: Dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.consumers: Dict[str, List[Node]] = {}
        self.producers: Dict[str, Node] = {}  # what computes each tensor: for the shape arithmetic
        self.data_shapes: Dict[str, Tuple[int, ...]] = {}  # the data path's tensors, batch 1, as the walk meets them
        self.folded = 0  # shape-arithmetic nodes evaluated
        for node in graph.node:
            for name in node.output:
                if name:
                    self.producers.setdefault(name, node)
            if node.op_type == "Constant":
                attrs = _attrs(node, onnx)
                if "value" in attrs:
                    self.constants[node.output[0]] = numpy_helper.to_array(attrs["value"])
                elif "value_float" in attrs:
                    self.constants[node.output[0]] = np.array(attrs["value_float"], np.float32)
                elif "value_floats" in attrs:
                    self.constants[node.output[0]] = np.array(attrs["value_floats"], np.float32)
                elif "value_ints" in attrs:
                    self.constants[node.output[0]] = np.array(attrs["value_ints"], np.int64)
                elif "value_int" in attrs:
                    self.constants[node.output[0]] = np.array(attrs["value_int"], np.int64)
                continue
            for name in node.input:
                if name and name not in self.constants:
                    self.consumers.setdefault(name, []).append(node)
        inputs = [i for i in graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise ValueError(f"expected one data input, found {len(inputs)}: {[i.name for i in inputs]}")
        self.input = inputs[0]
        self.outputs = {o.name for o in graph.output}
        self.resolution = resolution
        self.steps = 0  # nodes visited along the data path

    def const(self, name: str, where: str) -> np.ndarray:
        """A constant input: an initializer or Constant, or the value of shape arithmetic over the data's
        known shapes and constants (traced exports compute 'same' padding that way), evaluated here."""
        if name not in self.constants:
            self.constants[name] = self._evaluate(name, where, depth=0)
        return self.constants[name]

    def _evaluate(self, name: str, where: str, depth: int) -> np.ndarray:
        if name in self.constants:
            return self.constants[name]
        node = self.producers.get(name)
        if node is None or node.op_type not in _SHAPE_ARITHMETIC or depth > _MAX_FOLD_DEPTH:
            raise ValueError(f"{where}: input {name!r} is not a constant (weights must be initializers)")
        self.folded += 1
        if self.folded > _MAX_FOLDED_NODES:
            raise ValueError(f"{where}: more than {_MAX_FOLDED_NODES} nodes of shape arithmetic")
        if node.op_type == "Shape":
            shape = self.data_shapes.get(node.input[0])
            if shape is None:  # the shape of a value of the shape arithmetic itself
                shape = tuple(self._evaluate(node.input[0], where, depth + 1).shape)
            attrs = _attrs(node, self.onnx)
            value = np.array(shape, np.int64)[attrs.get("start", 0):attrs.get("end", len(shape))]
        else:
            inputs = [self._evaluate(i, where, depth + 1) if i else None for i in node.input]
            try:
                value = _SHAPE_ARITHMETIC[node.op_type](inputs, _attrs(node, self.onnx), self.onnx)
            except (IndexError, TypeError, KeyError, ValueError, AttributeError) as e:
                raise ValueError(f"{where}: the shape arithmetic at {name!r} ({node.op_type}) fails: {e}") from e
        value = np.asarray(value)
        if value.size > _MAX_FOLDED_ELEMENTS:
            raise ValueError(f"{where}: shape arithmetic at {name!r} makes {value.size} values")
        self.constants[name] = value
        return value

    def next_node(self, current: str) -> Optional[Tuple[Node, str]]:
        """(node, where) of the one node that takes current as its data input; None at the path's end."""
        # Shape nodes read the data's shape, not its values: side computations, evaluated when used.
        consumers = [n for n in self.consumers.get(current, []) if n.op_type != "Shape"]
        self.steps += 1
        if not consumers:
            return None
        if len(consumers) > 1:
            names = ", ".join(f"{n.op_type} {n.name!r}" for n in consumers)
            raise ValueError(f"the graph branches at {current!r} ({names}): residual connections are not "
                             "MobileNet v1 (MobileNet v2, ResNet?)")
        node = consumers[0]
        where = f"node {node.name or self.steps!r} ({node.op_type})"
        if node.input[0] != current:
            raise ValueError(f"{where} takes the data as a secondary input")
        if len(node.output) < 1:
            raise ValueError(f"{where} has no output")
        return node, where

    def input_layout(self) -> Tuple[str, bool]:
        """(the tensor past the input's optional NHWC -> NCHW Transpose (tf2onnx, Keras 3), whether there is
        one). Casts to float32 before it (Keras 3's export starts with some) are no-ops on a float32 input."""
        current = str(self.input.name)
        while True:
            step = self.next_node(current)
            if step is None:
                raise ValueError("the graph has no operations")
            node, where = step
            if node.op_type != "Cast":
                break
            if _attrs(node, self.onnx).get("to") != self.onnx.TensorProto.FLOAT:
                raise ValueError(f"{where}: a cast of the input to a type other than float32")
            current = str(node.output[0])
        if node.op_type != "Transpose":
            self.steps -= 1  # the node is visited again by the walk
            return current, False
        if list(_attrs(node, self.onnx).get("perm", [])) != [0, 3, 1, 2]:
            raise ValueError(f"{where}: only an NHWC -> NCHW transpose of the input is supported")
        return str(node.output[0]), True

    def input_size(self, dims: Dims, nhwc: bool) -> Tuple[int, int]:
        """The input's (H, W): from the graph, else the resolution argument's, the other axis's, or 224."""
        channels = dims[3] if nhwc else dims[1]
        if channels not in (None, 3):
            raise ValueError(f"the input has {channels} channels, expected 3 (RGB)")
        hh, ww = (dims[1], dims[2]) if nhwc else (dims[2], dims[3])
        resolution = self.resolution

        def resolve(value: Optional[int], other: Optional[int], axis: int) -> int:
            if value is not None:
                return value
            if resolution is not None:
                return resolution[axis]
            return other if other is not None else 224

        return resolve(hh, ww, 0), resolve(ww, hh, 1)

    def run(self) -> _Walk:
        """The walk down the data path from the graph input, each node handled by its op type's handler."""
        dims = _dims(self.input)
        if dims is None or len(dims) != 4:
            raise ValueError(f"input {self.input.name!r} is not 4-D (N, C, H, W)")
        current, nhwc = self.input_layout()
        height, width = self.input_size(dims, nhwc)
        walk = _Walk(self, height, width, nhwc)
        self.data_shapes[str(self.input.name)] = (1, height, width, 3) if nhwc else (1, 3, height, width)
        while True:
            self.data_shapes[current] = walk.data_shape()
            step = self.next_node(current)
            if step is None:
                break
            node, where = step
            if walk.softmax:
                raise ValueError(f"{where} after the softmax is not part of MobileNet v1")
            handler = _HANDLERS.get(node.op_type)
            if handler is None:
                raise ValueError(f"{where}: operator {node.op_type} is not part of MobileNet v1")
            handler(walk, node, _attrs(node, self.onnx), where)
            current = str(node.output[0])
        if current not in self.outputs:
            raise ValueError(f"the data path ends at {current!r}, which is not a graph output")
        return walk


class _Walk:
    """One pass down the data path: the ops found so far and the map's size, which handlers update."""

    def __init__(self, reader: _Reader, height: int, width: int, nhwc: bool) -> None:
        self.reader = reader
        self.height, self.width = height, width  # the input's
        self.h, self.w = height, width  # the map's at this point of the walk
        self.nhwc = nhwc  # the graph starts with a transpose from NHWC (tf2onnx)
        # The data's layout here: NCHW (as ONNX convolves), NHWC between a pair of transposes (Keras 3's
        # export wraps every convolution in them), or FLAT after a flatten or a fully connected layer.
        self.layout = _NCHW
        self.ops: List[Op] = []
        self.pending_pad = (0, 0, 0, 0)  # a Pad node's, merged into the next convolution
        self.pooled = self.softmax = False

    def const(self, node: Node, index: int, where: str) -> Optional[np.ndarray]:
        """The node's constant input at index, or None where the node has no such input."""
        if len(node.input) > index and node.input[index]:
            return self.reader.const(node.input[index], where)
        return None

    def channels(self) -> int:
        last = next((op.weight for op in reversed(self.ops) if op.weight is not None), None)
        return 3 if last is None else int(last.shape[-1])

    def data_shape(self) -> Tuple[int, ...]:
        """The data's shape here, with a batch of 1 (for the shape arithmetic of traced exports)."""
        c = self.channels()
        return {_NCHW: (1, c, self.h, self.w), _NHWC: (1, self.h, self.w, c), _FLAT: (1, c)}[self.layout]

    def channel_axis(self) -> int:
        return {_NCHW: 1, _NHWC: 3, _FLAT: 1}[self.layout]

    def last_op(self, where: str, kinds: Sequence[str]) -> Op:
        if not self.ops or self.ops[-1].kind not in kinds:
            raise ValueError(f"{where} does not follow a convolution or linear layer")
        return self.ops[-1]


# ---------------------------------------------------------------- one handler per operator
# handler(walk, node, attrs, where): checks the node, then appends to walk.ops or updates the last op.

def _transpose(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    # The input's NHWC -> NCHW transpose is taken before the walk (_Reader.input_layout); past it, the map
    # may go to NHWC and back (Keras 3's export does around each convolution); a 1x1 map's is a no-op.
    perm = [int(p) for p in attrs.get("perm", [])]
    if walk.layout == _NCHW and perm == [0, 2, 3, 1]:
        walk.layout = _NHWC
    elif walk.layout == _NHWC and perm == [0, 3, 1, 2]:
        walk.layout = _NCHW
    elif (walk.h, walk.w) != (1, 1):
        raise ValueError(f"{where}: transposing a {walk.h}x{walk.w} map with perm {perm} is not part of "
                         "MobileNet v1")


def _cast(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    if attrs.get("to") != walk.reader.onnx.TensorProto.FLOAT:
        raise ValueError(f"{where}: a cast of the data to a type other than float32")


def _pad(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    mode = attrs.get("mode", b"constant")
    pads = attrs.get("pads")
    if pads is None and len(node.input) > 1:
        pads = walk.reader.const(node.input[1], where).reshape(-1).tolist()
    fill = walk.const(node, 2, where)
    value = 0.0 if fill is None else float(fill.reshape(-1)[0])
    if mode not in (b"constant", "constant") or value != 0.0 or pads is None or len(pads) != 8:
        raise ValueError(f"{where}: only zero padding of H and W is supported")
    amounts = [int(p) for p in pads]
    h_axis, w_axis = (2, 3) if walk.layout == _NCHW else (1, 2)
    if walk.layout == _FLAT or any(amounts[i] for i in range(8) if i % 4 not in (h_axis, w_axis)):
        raise ValueError(f"{where}: padding the batch or channel axis is not supported")
    if any(walk.pending_pad):
        raise ValueError(f"{where}: a second padding before one convolution")
    walk.pending_pad = (amounts[h_axis], amounts[w_axis], amounts[h_axis + 4], amounts[w_axis + 4])


def _conv_padding(walk: _Walk, attrs: Attributes, stride: int, where: str) -> Tuple[int, int, int, int]:
    """(top, left, bottom, right) from pads or auto_pad, with a preceding Pad node's merged in."""
    raw = attrs.get("auto_pad", b"NOTSET")
    auto_pad = raw.decode() if isinstance(raw, bytes) else str(raw)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        top, left, bottom, right = same_padding(walk.h, walk.w, stride)
        if auto_pad == "SAME_LOWER":
            top, left, bottom, right = bottom, right, top, left
    elif auto_pad in ("NOTSET", "VALID", ""):
        pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])] if auto_pad != "VALID" else [0] * 4
        if len(pads) != 4:
            raise ValueError(f"{where}: pads {pads} is not [top, left, bottom, right]")
        top, left, bottom, right = pads
    else:
        raise ValueError(f"{where}: unknown auto_pad {auto_pad!r}")
    pad_top, pad_left, pad_bottom, pad_right = walk.pending_pad
    walk.pending_pad = (0, 0, 0, 0)
    return top + pad_top, left + pad_left, bottom + pad_bottom, right + pad_right


def _conv(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    """Conv, weights OIHW: 3x3 over the input = the stem, 3x3 with group == channels = depthwise, 1x1 = pointwise."""
    weight = np.asarray(walk.reader.const(node.input[1], where))
    bias = walk.const(node, 2, where)
    if weight.ndim != 4:
        raise ValueError(f"{where}: weight shape {weight.shape} is not OIHW")
    kh, kw = weight.shape[2:]
    if list(attrs.get("dilations", [1, 1])) != [1, 1]:
        raise ValueError(f"{where}: dilated convolutions are not part of MobileNet v1")
    strides = list(attrs.get("strides", [1, 1]))
    if len(strides) != 2 or strides[0] != strides[1]:
        raise ValueError(f"{where}: strides {strides} are not equal")
    stride = int(strides[0])
    group = int(attrs.get("group", 1))
    padding = _conv_padding(walk, attrs, stride, where)
    ops = walk.ops
    previous = ops[-1].weight if ops else None
    cin = previous.shape[-1] if previous is not None else None
    if (kh, kw) == (3, 3) and group == 1 and not ops:
        ops.append(Op(LayerType.CONV3X3, where, weight.transpose(2, 3, 1, 0), bias, stride=stride, padding=padding))
    elif (kh, kw) == (3, 3) and group > 1 and weight.shape[1] == 1 and weight.shape[0] == group:
        ops.append(Op(LayerType.DWCONV3X3, where, weight[:, 0].transpose(1, 2, 0), bias, stride=stride,
                      padding=padding))
    elif (kh, kw) == (1, 1) and group == 1:
        if any(padding):
            raise ValueError(f"{where}: a padded 1x1 convolution is not part of MobileNet v1")
        ops.append(Op(LayerType.CONV1X1, where, weight[:, :, 0, 0].T, bias, stride=stride))
    else:
        raise ValueError(f"{where}: a {kh}x{kw} convolution with group {group} over "
                         f"{cin if cin else 'the input'} channels is not part of MobileNet v1")
    if LAYER_KINDS[ops[-1].kind].spatial:
        top, left, bottom, right = padding
        walk.h = (walk.h + top + bottom - 3) // stride + 1
        walk.w = (walk.w + left + right - 3) // stride + 1
        if walk.h < 1 or walk.w < 1:
            raise ValueError(f"{where}: the input is too small for this convolution")
    elif stride != 1:
        raise ValueError(f"{where}: a strided 1x1 convolution is not part of MobileNet v1")


def _batch_norm(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    op = walk.last_op(where, _WEIGHTED)
    if op.bn is not None or op.activation != Activation.NONE:
        raise ValueError(f"{where}: a second normalization or one after the activation")
    gamma, beta, mean, var = (walk.reader.const(node.input[i], where) for i in range(1, 5))
    op.bn = {"gamma": gamma, "beta": beta, "mean": mean, "var": var,
             "eps": float(attrs.get("epsilon", TORCH_BN_EPSILON))}


def _activation(walk: _Walk, where: str) -> Op:
    op = walk.last_op(where, _WEIGHTED)
    if op.activation != Activation.NONE:
        raise ValueError(f"{where}: two activations in a row")
    return op


def _relu(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    _activation(walk, where).activation = Activation.RELU


def _clip(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    op = _activation(walk, where)
    low, high = attrs.get("min"), attrs.get("max")  # attributes before opset 11, inputs from 11 on
    low_input, high_input = walk.const(node, 1, where), walk.const(node, 2, where)
    if low_input is not None:
        low = float(low_input.reshape(-1)[0])
    if high_input is not None:
        high = float(high_input.reshape(-1)[0])
    if (low, high) == ACTIVATION_BOUNDS[Activation.RELU6]:
        op.activation = Activation.RELU6
    elif low == 0.0 and (high is None or np.isinf(high)):
        op.activation = Activation.RELU
    else:
        raise ValueError(f"{where}: Clip({low}, {high}) is not ReLU or ReLU6")


def _pool(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    """GlobalAveragePool, AveragePool over the whole map, or ReduceMean over H and W."""
    if walk.pooled:
        raise ValueError(f"{where}: a second pooling is not part of MobileNet v1")
    h, w = walk.h, walk.w
    if node.op_type == "AveragePool":
        kernel = [int(k) for k in attrs.get("kernel_shape", [])]
        if kernel != [h, w] or any(int(p) for p in attrs.get("pads", [])):
            raise ValueError(f"{where}: only an average pooling over the whole {h}x{w} map is supported")
    if node.op_type == "ReduceMean":
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1:
            axes = walk.reader.const(node.input[1], where).reshape(-1).tolist()
        spatial = [1, 2] if walk.layout == _NHWC else [2, 3]
        if walk.layout == _FLAT or sorted(int(a) % 4 for a in (axes or [])) != spatial:
            raise ValueError(f"{where}: only a mean over H and W is supported")
        if not attrs.get("keepdims", 1):
            walk.layout = _FLAT
    walk.ops.append(Op(LayerType.AVGPOOL, where))
    walk.pooled, walk.h, walk.w = True, 1, 1


def _max_pool(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    raise ValueError(f"{where}: max pooling (timm's global_pool='max', or a pooling inside the network) is not "
                     "MobileNet v1's global average pooling, and would give different answers")


def _linear(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    """Gemm, or MatMul (its bias in the Add that follows): the classifier."""
    if not walk.pooled:
        raise ValueError(f"{where}: a fully connected layer before the global pooling")
    weight = np.asarray(walk.reader.const(node.input[1], where), np.float64)
    if weight.ndim != 2:
        raise ValueError(f"{where}: weight shape {weight.shape} is not 2-D")
    bias = None
    if node.op_type == "Gemm":
        if attrs.get("transA", 0):
            raise ValueError(f"{where}: transA is not supported")
        if attrs.get("transB", 0):
            weight = weight.T
        weight = weight * float(attrs.get("alpha", 1.0))
        bias = walk.const(node, 2, where)
        if bias is not None:
            bias = np.asarray(bias, np.float64).reshape(-1) * float(attrs.get("beta", 1.0))
    walk.ops.append(Op(LayerType.FC, where, weight, bias))
    walk.layout = _FLAT


def _per_channel(walk: _Walk, value: np.ndarray, channels: int, where: str) -> np.ndarray:
    """A constant operand as one value per channel: a scalar, or a tensor that broadcasts along the channel
    axis only ((C,) after a flatten, (1, C, 1, 1) in NCHW, (1, 1, 1, C) in NHWC)."""
    if value.size == 1:
        return np.full(channels, float(value.reshape(-1)[0]))
    ndim = 2 if walk.layout == _FLAT else 4
    shape = (1,) * (ndim - value.ndim) + tuple(value.shape)
    axis = walk.channel_axis()
    if len(shape) != ndim or shape[axis] != channels or any(n != 1 for i, n in enumerate(shape) if i != axis):
        raise ValueError(f"{where}: a constant of shape {tuple(value.shape)} is not one value per channel of "
                         f"the {walk.layout} data ({channels} channels)")
    return value.reshape(-1).astype(np.float64)


def _affine(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    """Add / Sub / Mul / Div of the last layer's output by a per-channel constant, folded into its weights
    and bias: a classifier's bias (MatMul + Add), and batch norm as Keras 3's export spells it
    ((x - mean) * scale + beta)."""
    op = walk.last_op(where, _WEIGHTED)
    if op.bn is not None or op.activation != Activation.NONE or op.weight is None:
        raise ValueError(f"{where}: an {node.op_type} after a normalization or an activation is not part of "
                         "MobileNet v1 (a residual connection?)")
    channels = int(op.weight.shape[-1])
    value = _per_channel(walk, np.asarray(walk.reader.const(node.input[1], where), np.float64), channels, where)
    bias = np.zeros(channels) if op.bias is None else np.asarray(op.bias, np.float64).reshape(-1)
    if node.op_type == "Add":
        bias = bias + value
    elif node.op_type == "Sub":
        bias = bias - value
    else:
        scale = value if node.op_type == "Mul" else 1.0 / value
        op.weight = np.asarray(op.weight, np.float64) * scale  # output channels are the weights' last axis
        bias = bias * scale
    op.bias = bias


def _flatten(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    if (walk.h, walk.w) != (1, 1):
        raise ValueError(f"{where}: reshaping a {walk.h}x{walk.w} map is not part of MobileNet v1")
    if node.op_type == "Unsqueeze":
        return
    if node.op_type == "Reshape" and len(node.input) > 1:
        try:
            target = walk.reader.const(node.input[1], where).reshape(-1)
        except ValueError:
            target = None  # a target computed from something else: the element count is the same anyway
        if target is not None and len(target) == 4:
            return
    walk.layout = _FLAT


def _softmax(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    walk.softmax = True


def _passthrough(walk: _Walk, node: Node, attrs: Attributes, where: str) -> None:
    pass


_HANDLERS: Dict[str, Callable[[_Walk, Node, Attributes, str], None]] = {
    "Transpose": _transpose, "Pad": _pad, "Conv": _conv, "BatchNormalization": _batch_norm,
    "Relu": _relu, "Clip": _clip,
    "GlobalAveragePool": _pool, "AveragePool": _pool, "ReduceMean": _pool,
    "GlobalMaxPool": _max_pool, "MaxPool": _max_pool, "ReduceMax": _max_pool,
    "Gemm": _linear, "MatMul": _linear, "Add": _affine, "Sub": _affine, "Mul": _affine, "Div": _affine,
    "Cast": _cast,
    "Flatten": _flatten, "Reshape": _flatten, "Squeeze": _flatten, "Unsqueeze": _flatten,
    "Softmax": _softmax, "Identity": _passthrough, "Dropout": _passthrough,
}


# ---------------------------------------------------------------- shape arithmetic of traced exports
# Evaluated with NumPy over the data's known shapes (batch 1) and constants, never on the data itself.

_NCHW, _NHWC, _FLAT = "NCHW", "NHWC", "flat"
_MAX_FOLD_DEPTH = 64
_MAX_FOLDED_NODES = 20000
_MAX_FOLDED_ELEMENTS = 1 << 16


def _np_dtype(onnx: Any, data_type: int) -> Any:
    if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):
        return onnx.helper.tensor_dtype_to_np_dtype(data_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[data_type]  # onnx < 1.13


def _arg(inputs: List[Optional[np.ndarray]], index: int) -> Optional[np.ndarray]:
    return inputs[index] if len(inputs) > index else None


def _ints(value: Optional[np.ndarray], attrs: Attributes, name: str) -> Optional[List[int]]:
    """An operand given as an input (newer opsets) or an attribute (older ones)."""
    if value is not None:
        return [int(v) for v in np.asarray(value).reshape(-1)]
    return None if attrs.get(name) is None else [int(v) for v in attrs[name]]


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        if np.any(b == 0):
            raise ValueError("an integer division by zero in the shape arithmetic")
        return (np.trunc(a / b)).astype(np.result_type(a, b))  # ONNX integer Div truncates, as C does
    return a / b


def _slice(inputs: List[Optional[np.ndarray]], attrs: Attributes) -> np.ndarray:
    data = np.asarray(inputs[0])
    starts = _ints(_arg(inputs, 1), attrs, "starts") or []
    ends = _ints(_arg(inputs, 2), attrs, "ends") or []
    axes = _ints(_arg(inputs, 3), attrs, "axes") or list(range(len(starts)))
    steps = _ints(_arg(inputs, 4), attrs, "steps") or [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise ValueError("a slice with step 0")
        index[axis % data.ndim] = slice(start, end, step)
    return data[tuple(index)]


def _reshape(inputs: List[Optional[np.ndarray]], attrs: Attributes) -> np.ndarray:
    data = np.asarray(inputs[0])
    shape = [int(v) for v in np.asarray(inputs[1]).reshape(-1)]
    shape = [data.shape[i] if v == 0 and not attrs.get("allowzero", 0) else v for i, v in enumerate(shape)]
    return data.reshape(shape)


def _constant_of_shape(inputs: List[Optional[np.ndarray]], attrs: Attributes, onnx: Any) -> np.ndarray:
    shape = [int(v) for v in np.asarray(inputs[0]).reshape(-1)]
    if any(v < 0 for v in shape) or math.prod(shape) > _MAX_FOLDED_ELEMENTS:
        raise ValueError(f"ConstantOfShape {shape} in the shape arithmetic")
    fill = attrs.get("value")
    value = onnx.numpy_helper.to_array(fill).reshape(-1)[:1] if fill is not None else np.zeros(1, np.float32)
    return np.full(shape, value[0], value.dtype)


def _squeeze(inputs: List[Optional[np.ndarray]], attrs: Attributes) -> np.ndarray:
    axes = _ints(_arg(inputs, 1), attrs, "axes")
    data = np.asarray(inputs[0])
    return np.squeeze(data) if axes is None else np.squeeze(data, axis=tuple(axes))


def _unsqueeze(inputs: List[Optional[np.ndarray]], attrs: Attributes) -> np.ndarray:
    data = np.asarray(inputs[0])
    for axis in sorted(_ints(_arg(inputs, 1), attrs, "axes") or []):
        data = np.expand_dims(data, axis if axis >= 0 else axis + data.ndim + 1)
    return data


_Arith = Callable[[List[Optional[np.ndarray]], Attributes, Any], np.ndarray]
_SHAPE_ARITHMETIC: Dict[str, _Arith] = {
    "Shape": lambda i, a, o: np.zeros(0),  # handled by _Reader._evaluate, which knows the data's shapes
    "Identity": lambda i, a, o: np.asarray(i[0]),
    "Cast": lambda i, a, o: np.asarray(i[0]).astype(_np_dtype(o, int(a["to"]))),
    "Add": lambda i, a, o: np.asarray(i[0]) + np.asarray(i[1]),
    "Sub": lambda i, a, o: np.asarray(i[0]) - np.asarray(i[1]),
    "Mul": lambda i, a, o: np.asarray(i[0]) * np.asarray(i[1]),
    "Div": lambda i, a, o: _divide(np.asarray(i[0]), np.asarray(i[1])),
    "Neg": lambda i, a, o: -np.asarray(i[0]),
    "Gather": lambda i, a, o: np.take(np.asarray(i[0]), np.asarray(i[1]), axis=int(a.get("axis", 0))),
    "Concat": lambda i, a, o: np.concatenate([np.asarray(x) for x in i if x is not None], axis=int(a["axis"])),
    "Unsqueeze": lambda i, a, o: _unsqueeze(i, a),
    "Squeeze": lambda i, a, o: _squeeze(i, a),
    "Slice": lambda i, a, o: _slice(i, a),
    "Reshape": lambda i, a, o: _reshape(i, a),
    "ConstantOfShape": _constant_of_shape,
    "Transpose": lambda i, a, o: np.transpose(np.asarray(i[0]), a.get("perm")),
}


def _all_tensors(model: Any) -> Iterator[Any]:
    """Every TensorProto in the model: initializers, attributes, nested graphs and functions."""

    def sparse(tensor: Any) -> Iterator[Any]:
        yield tensor.values
        yield tensor.indices

    def of_nodes(nodes: Sequence[Node]) -> Iterator[Any]:
        for node in nodes:
            for a in node.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("sparse_tensor"):
                    yield from sparse(a.sparse_tensor)
                for s in a.sparse_tensors:
                    yield from sparse(s)
                if a.HasField("g"):
                    yield from of_graph(a.g)
                for g in a.graphs:
                    yield from of_graph(g)

    # nesting depth is bounded by protobuf's own recursion limit when parsing
    def of_graph(graph: Any) -> Iterator[Any]:
        yield from graph.initializer
        for s in graph.sparse_initializer:
            yield from sparse(s)
        yield from of_nodes(graph.node)

    yield from of_graph(model.graph)
    for function in model.functions:
        yield from of_nodes(function.node)


def _open_inside(folder: str, location: str, where: str) -> Tuple[int, int]:
    """(fd, size) of the regular file at location, a relative path inside folder.

    Refuses absolute paths, '..', symbolic links at any step and anything but
    a regular file; each step is opened relative to the previous one with
    O_NOFOLLOW, so a link swapped in after the check is not followed either.
    """
    parts = location.replace("\\", "/").split("/")
    if not location or "\0" in location or location.startswith(("/", "\\")) or os.path.isabs(location) \
            or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{where}: the location must be a relative path inside the model's folder, "
                         "without '..' or an absolute path")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    directory = getattr(os, "O_DIRECTORY", 0)
    dir_fd = os.open(folder, os.O_RDONLY | directory)
    try:
        for i, part in enumerate(parts):
            try:
                mode = os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                raise ValueError(f"{where}: no such file beside the model") from None
            last = i == len(parts) - 1
            if stat.S_ISLNK(mode):
                raise ValueError(f"{where}: {part!r} is a symbolic link; links are not followed")
            if not last and not stat.S_ISDIR(mode):
                raise ValueError(f"{where}: {part!r} is not a directory")
            if last and not stat.S_ISREG(mode):
                raise ValueError(f"{where}: not a regular file")
            flags = os.O_RDONLY | nofollow | (os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) if last else directory)
            try:
                fd = os.open(part, flags, dir_fd=dir_fd)
            except OSError as e:
                raise ValueError(f"{where}: cannot open {part!r} without following a link ({e})") from e
            os.close(dir_fd)
            dir_fd = fd
        st = os.fstat(dir_fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{where}: not a regular file")
        fd, dir_fd = dir_fd, -1
        return fd, st.st_size
    finally:
        if dir_fd >= 0:
            os.close(dir_fd)


def _itemsize(onnx: Any, data_type: int, where: str) -> int:
    try:
        if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):
            dtype = onnx.helper.tensor_dtype_to_np_dtype(data_type)
        else:  # onnx < 1.13
            dtype = onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[data_type]
    except (KeyError, ValueError, TypeError):
        dtype = None
    if dtype is None or np.dtype(dtype).kind not in "biuf":
        raise ValueError(f"{where}: external data of element type #{data_type} is not supported")
    return np.dtype(dtype).itemsize


def _load_external_data(model: Any, onnx: Any, folder: str, model_size: int) -> None:
    """Moves every tensor's external data into the model, after checking where it comes from and its size."""
    tensors = [t for t in _all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    if not tensors:
        return
    opened: Dict[str, Tuple[int, int]] = {}
    try:
        for tensor in tensors:
            info = {entry.key: entry.value for entry in tensor.external_data}
            location = info.get("location", "")
            where = f"tensor {tensor.name!r}: external data {location!r}"
            if location not in opened:
                opened[location] = _open_inside(folder, location, where)
        # Several tensors may name the same bytes: what is copied is bounded by the files' sizes.
        budget = Budget(model_size + sum(size for _, size in opened.values()))
        for tensor in tensors:
            info = {entry.key: entry.value for entry in tensor.external_data}
            location = info["location"]
            where = f"tensor {tensor.name!r}: external data {location!r}"
            fd, size = opened[location]
            try:
                offset = int(info.get("offset", "0"))
                length = int(info["length"]) if "length" in info else size - offset
            except ValueError:
                raise ValueError(f"{where}: offset or length is not an integer") from None
            if offset < 0 or length < 0 or offset + length > size:
                raise ValueError(f"{where}: offset {offset} and length {length} are past the file's end ({size} "
                                 "bytes)")
            count = math.prod(tensor.dims)
            if any(d < 0 for d in tensor.dims) or count > MAX_TENSOR_ELEMENTS:
                raise ValueError(f"{where}: shape {list(tensor.dims)} is not a MobileNet v1 weight's")
            if length != count * _itemsize(onnx, tensor.data_type, where):
                raise ValueError(f"{where}: {length} bytes for shape {list(tensor.dims)}")
            budget.take(length, where)
            raw = os.pread(fd, length, offset)
            if len(raw) != length:
                raise ValueError(f"{where}: the file is shorter than its offset and length")
            tensor.raw_data = raw
            del tensor.external_data[:]
            tensor.data_location = onnx.TensorProto.DEFAULT
    finally:
        for fd, _ in opened.values():
            os.close(fd)


def read(data: bytes, source: str, resolution: Optional[Tuple[int, int]] = None) -> ModelData:
    onnx, numpy_helper = _import_onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ValueError(f"not a valid ONNX protobuf ({type(e).__name__}: {e})") from e
    if not model.graph.node:
        raise ValueError("not an ONNX model: the graph has no nodes")
    # Weights in a side file (the torch.export-based exporter writes <name>.onnx.data): read by our
    # own checks, never by onnx's loader, whose safety has changed between versions.
    _load_external_data(model, onnx, os.path.dirname(os.path.abspath(source)), len(data))
    reader = _Reader(model, onnx, numpy_helper, resolution)
    walk = reader.run()
    layers, params = assemble(walk.ops, walk.height, walk.width, "ONNX model")
    meta = {p.key: p.value for p in model.metadata_props}
    labels = None
    if "labels" in meta:
        text = meta["labels"]
        try:
            labels = json.loads(text)
        except json.JSONDecodeError:
            labels = [line for line in text.splitlines() if line.strip()]
        if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
            raise ValueError("metadata 'labels' is not a list of strings")
    pre = TENSORFLOW
    if "preprocessing" in meta:
        try:
            recorded = json.loads(meta["preprocessing"])
        except json.JSONDecodeError as e:
            raise ValueError(f"metadata 'preprocessing' is not JSON ({e})") from e
        pre = Preprocessing.from_dict(recorded)
    channels = layers[0].out_shape[2]
    producer = model.producer_name or "unknown producer"
    source = f"onnx ({producer}{', NHWC input' if walk.nhwc else ''})"
    if meta.get("source"):
        source = f"{source}, from {meta['source']}"
    return layers, params, {"alpha": channels / 32.0, "preprocessing": pre, "labels": labels, "source": source}
