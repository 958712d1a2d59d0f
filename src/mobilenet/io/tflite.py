"""TFLite MobileNet v1 models (the TF-slim graphs TensorFlow publishes), parsed with the `tflite` schema package.

The graph: CONV_2D 3x3 stride 2 (SAME, fused RELU6), 13 x (DEPTHWISE_CONV_2D,
CONV_2D 1x1), AVERAGE_POOL_2D (VALID, filter = the whole map) or MEAN, a 1x1
CONV_2D or FULLY_CONNECTED classifier with bias, then SQUEEZE / RESHAPE and
SOFTMAX. Batch norm is already folded into the convolutions' biases. Weight
layouts: conv OHWI, depthwise 1HWC, fully connected [out, in].

TFLiteConverter's variations of that graph are the same network:
- explicit PAD (or PADV2 with a zero value) before a VALID convolution, which
  Keras' ZeroPadding2D becomes at odd input sizes, is merged into the
  convolution's padding;
- the dynamic-batch tail: SHAPE of the data, STRIDED_SLICE / PACK of that
  shape, then RESHAPE of the data to it (a side computation of the reshape's
  target, not a step of the data path);
- DEQUANTIZE of a constant (float16 weights) reads as that constant.

uint8 / int8 quantized models keep their integer weights, biases, scales and
zero points (a mobilenet.quantization.Quantization, checked here: positive
scales, zero points in range, per-channel scales on the output channel axis,
8-bit activations), for the int8 precision; their weights are also
dequantized (real = (q - zero_point) * scale) for the float precisions.
Dynamic-range files (int8 weights, float input and activations) are read
with their weights dequantized.
"""
from __future__ import annotations

import io
import zipfile
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np

from .._optional import require
from ..preprocess import TENSORFLOW, Preprocessing
from ..quantization import QParams, Quantization, QuantizedLayer
from ..vocabulary import LAYER_KINDS, Activation, LayerType
from ._chain import ModelData, Op, assemble, same_padding
from ._limits import MAX_LABELS_BYTES, read_at_most

_FLOAT_TYPES = {0: np.float32, 1: np.float16, 10: np.float64}  # TensorType FLOAT32, FLOAT16, FLOAT64
_INT_TYPES = {2: np.int32, 3: np.uint8, 9: np.int8}  # INT32, UINT8, INT8
# TFLite's ActivationFunctionType codes (the writer uses them too).
ACTIVATION_CODES = {Activation.NONE: 0, Activation.RELU: 1, Activation.RELU6: 3}
_ACTIVATIONS = {code: activation for activation, code in ACTIVATION_CODES.items()}


def is_tflite(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] == b"TFL3"


class _Graph:
    """Typed access to subgraph 0 of a TFLite flatbuffer.

    The tflite package (flatc-generated) ships no types: its tables (operators, tensors, the
    subgraph) are Any here.
    """

    def __init__(self, data: bytes) -> None:
        tflite = require("tflite", "reading .tflite models")
        from tflite.BuiltinOperator import BuiltinOperator
        self.tflite = tflite
        self.data = data
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() < 1:
            raise ValueError("the model has no subgraph")
        self.graph = self.model.Subgraphs(0)
        self.op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
        # The outputs of DEQUANTIZE ops of constants (float16 weights), by the constant they read.
        self.aliases: Dict[int, int] = {}

    def op_name(self, op: Any) -> str:
        index = op.OpcodeIndex()
        if not 0 <= index < self.model.OperatorCodesLength():
            raise ValueError(f"operator code index {index} out of range")
        code = self.model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == 32:  # CUSTOM
            custom = code.CustomCode()
            return "CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "?")
        return self.op_names.get(builtin, f"operator #{builtin}")

    def tensor(self, index: int) -> Any:
        index = self.aliases.get(index, index)
        if not 0 <= index < self.graph.TensorsLength():
            raise ValueError(f"tensor index {index} out of range")
        return self.graph.Tensors(index)

    def shape(self, index: int) -> Tuple[int, ...]:
        t = self.tensor(index)
        return tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def name(self, index: int) -> str:
        raw = self.tensor(index).Name()
        return raw.decode("utf-8", "replace") if raw else f"tensor {index}"

    def quantization(self, index: int) -> Optional[Tuple[np.ndarray, np.ndarray, int]]:
        """(scale array, zero_point array, axis) or None for a float tensor."""
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        return q.ScaleAsNumpy().astype(np.float64), q.ZeroPointAsNumpy().astype(np.float64), q.QuantizedDimension()

    def raw(self, index: int) -> np.ndarray:
        """The constant data of a tensor, in its stored dtype and shape."""
        t = self.tensor(index)
        ttype = t.Type()
        dtype = _FLOAT_TYPES.get(ttype) or _INT_TYPES.get(ttype)
        if dtype is None:
            from tflite.TensorType import TensorType
            names = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}
            raise ValueError(f"tensor {self.name(index)!r} has type {names.get(ttype, f'#{ttype}')}, which is not "
                             "read (FLOAT32, FLOAT16, INT8, UINT8 and INT32 are)")
        buffer_index = t.Buffer()
        if not 0 < buffer_index < self.model.BuffersLength():
            raise ValueError(f"tensor {self.name(index)!r} has no constant data (buffer {buffer_index})")
        buf = self.model.Buffers(buffer_index)
        offset = buf.Offset() if hasattr(buf, "Offset") else 0
        if offset > 1:  # large models keep buffers after the flatbuffer
            size = buf.Size()
            if offset + size > len(self.data):
                raise ValueError(f"tensor {self.name(index)!r}: data beyond the end of the file")
            raw = np.frombuffer(self.data, np.uint8, size, offset)
        else:
            raw = buf.DataAsNumpy()
            if isinstance(raw, int):
                raise ValueError(f"tensor {self.name(index)!r} has no constant data")
        shape = self.shape(index)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        itemsize = np.dtype(dtype).itemsize
        if any(s < 0 for s in shape) or raw.size != count * itemsize:
            raise ValueError(f"tensor {self.name(index)!r}: {raw.size} bytes of data for shape {shape}")
        return np.frombuffer(raw.tobytes(), dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)

    def constant(self, index: int) -> np.ndarray:
        """A constant tensor as float64, dequantized if it is quantized."""
        raw = self.raw(index)
        if raw.dtype.kind == "f":
            return raw.astype(np.float64)
        q = self.quantization(index)
        if q is None:
            raise ValueError(f"tensor {self.name(index)!r} is integer without quantization parameters")
        scale, zero_point, axis = q
        values: np.ndarray = raw.astype(np.float64)
        if scale.size == 1:
            return (values - zero_point.reshape(-1)[0]) * scale[0]
        if not 0 <= axis < raw.ndim or raw.shape[axis] != scale.size or zero_point.size not in (1, scale.size):
            raise ValueError(f"tensor {self.name(index)!r}: per-channel quantization of {scale.size} scales on "
                             f"axis {axis} does not fit its shape {raw.shape}")
        bshape = [1] * raw.ndim
        bshape[axis] = scale.size
        return (values - zero_point.reshape(bshape if zero_point.size > 1 else -1)) * scale.reshape(bshape)

    def has_data(self, index: int) -> bool:
        """Whether the tensor is a constant: it has a buffer with data (graph inputs and activations have none)."""
        buffer_index = self.tensor(index).Buffer()
        if not 0 < buffer_index < self.model.BuffersLength():
            return False
        buf = self.model.Buffers(buffer_index)
        return buf.DataLength() > 0 or (hasattr(buf, "Offset") and buf.Offset() > 1)

    def options(self, op: Any, cls_name: str) -> Any:
        table = op.BuiltinOptions()
        if table is None:
            raise ValueError("operator without options")
        opts = getattr(self.tflite, cls_name)()
        opts.Init(table.Bytes, table.Pos)
        return opts


def _labels_from_metadata(data: bytes, num_classes: int) -> Optional[List[str]]:
    """Labels from a TFLite-metadata zip appended to the flatbuffer, if there is one.

    A labels file is decompressed through a cap (MAX_LABELS_BYTES), not by its
    size in the zip directory, which a zip bomb controls.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return None
    for name in names:
        if not (name.lower().endswith(".txt") and "label" in name.lower()):
            continue
        what = f"labels file {name!r} in the model's metadata"
        try:
            with archive.open(name) as member:
                text = read_at_most(member, MAX_LABELS_BYTES, f"{what}, decompressed,")
            lines = text.decode("utf-8").splitlines()
        except (zipfile.BadZipFile, UnicodeDecodeError, KeyError, OSError, EOFError, NotImplementedError):
            continue
        lines = [line.strip() for line in lines if line.strip()]
        if len(lines) == num_classes:
            return lines
    return None


class _Walk:
    """One pass over the operators: the ops found so far and the map's size, which handlers update."""

    def __init__(self, g: _Graph, height: int, width: int) -> None:
        self.g = g
        self.ops: List[Op] = []
        self.h, self.w = height, width
        self.pooled = self.softmax_seen = False
        self.output = -1  # the output tensor of the operator being read
        # Quantized graphs: each op's QuantizedLayer (parallel to ops), the network input's
        # quantization (after a leading QUANTIZE), the softmax's output.
        self.quant: List[QuantizedLayer] = []
        self.input_quant: Optional[QParams] = None
        self.float_input = self.float_output = False
        self.softmax_quant: Optional[QParams] = None
        self.softmax_tensor: Optional[int] = None
        self.last_quant: Optional[QParams] = None  # the quantization of the current tensor
        # The file's input / output types where a QUANTIZE recasts them (uint8 <-> int8).
        self.io_input: Optional[QParams] = None
        self.io_output: Optional[QParams] = None
        self.pending_pad = (0, 0, 0, 0)  # a PAD op's (top, left, bottom, right), merged into the next convolution
        self.shape_tensors: Set[int] = set()  # the dynamic-batch tail's shape computation (SHAPE and what follows)

    def take_padding(self, same: bool, stride: int) -> Tuple[int, int, int, int]:
        """The convolution's (top, left, bottom, right): 'SAME' or 'VALID', plus a preceding PAD op's."""
        top, left, bottom, right = same_padding(self.h, self.w, stride) if same else (0, 0, 0, 0)
        pad_top, pad_left, pad_bottom, pad_right = self.pending_pad
        self.pending_pad = (0, 0, 0, 0)
        return top + pad_top, left + pad_left, bottom + pad_bottom, right + pad_right


# ---------------------------------------------------------------- one handler per operator
# handler(walk, op, name, inputs, where): checks the operator, then appends to walk.ops.

def _optional_input(walk: _Walk, inputs: List[int], index: int) -> Optional[np.ndarray]:
    return walk.g.constant(inputs[index]) if len(inputs) > index and inputs[index] >= 0 else None


_QUANT_TYPES = {3: "uint8", 9: "int8"}


def _activation_quant(g: _Graph, index: int, where: str) -> Optional[QParams]:
    """An activation tensor's quantization, checked; None for a float tensor."""
    ttype = g.tensor(index).Type()
    if ttype in _FLOAT_TYPES:
        return None
    if ttype == 7:  # INT16
        raise ValueError(f"{where}: int16 activations ({g.name(index)!r}) are not supported: "
                         "only 8-bit (uint8, int8) quantized models")
    if ttype not in _QUANT_TYPES:
        raise ValueError(f"{where}: tensor {g.name(index)!r} has unsupported type #{ttype}")
    q = g.quantization(index)
    if q is None:
        raise ValueError(f"{where}: tensor {g.name(index)!r} is integer without quantization parameters")
    scale, zero_point, _ = q
    if scale.size != 1 or zero_point.size != 1:
        raise ValueError(f"{where}: activation {g.name(index)!r} has per-axis quantization")
    try:
        return QParams(float(np.float32(scale[0])), int(zero_point[0]), _QUANT_TYPES[ttype])
    except ValueError as e:
        raise ValueError(f"{where}: tensor {g.name(index)!r}: {e}") from None


def _layer_quant(walk: _Walk, op_inputs: List[int], where: str, axis: int, layout: Callable[[np.ndarray], np.ndarray],
                 out_channels: int) -> Optional[QuantizedLayer]:
    """A convolution's integer parameters (weights through `layout`, as the float ones), checked
    against its input and output; None in a float graph. axis: TFLite's output-channel axis."""
    g = walk.g
    inq = walk.last_quant
    outq = _activation_quant(g, walk.output, where)
    if inq is None and outq is None:
        return None
    if inq is None or outq is None:
        raise ValueError(f"{where}: a float input with a quantized output (or the reverse) needs QUANTIZE "
                         "or DEQUANTIZE between them")
    if outq.dtype != inq.dtype:
        raise ValueError(f"{where}: input is {inq.dtype} but output is {outq.dtype}")
    w_index = op_inputs[1]
    raw = g.raw(w_index)
    if raw.dtype not in (np.uint8, np.int8):
        raise ValueError(f"{where}: weight type {raw.dtype} in an integer layer (expected uint8 or int8)")
    q = g.quantization(w_index)
    if q is None:
        raise ValueError(f"{where}: integer weights without quantization parameters")
    scale, zero_point, q_axis = q
    if scale.size not in (1, out_channels) or zero_point.size not in (1, scale.size):
        raise ValueError(f"{where}: weight quantization has {scale.size} scales for {out_channels} output channels")
    if scale.size > 1 and q_axis != axis:
        raise ValueError(f"{where}: per-axis weight quantization on axis {q_axis}; TFLite quantizes "
                         f"this operator per output channel, axis {axis}")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"{where}: weight quantization scale not positive ({scale.min():g})")
    lo, hi = (0, 255) if raw.dtype == np.uint8 else (-128, 127)
    if ((zero_point < lo) | (zero_point > hi)).any():
        raise ValueError(f"{where}: weight zero point out of the {raw.dtype} range")
    if raw.dtype == np.int8 and (zero_point != 0).any():
        raise ValueError(f"{where}: int8 weights must have zero point 0 (TFLite's symmetric weights)")
    bias = None
    if len(op_inputs) > 2 and op_inputs[2] >= 0:
        bias = g.raw(op_inputs[2])
        if bias.dtype != np.int32 or bias.shape != (out_channels,):
            raise ValueError(f"{where}: bias of an integer layer must be int32 [{out_channels}], "
                             f"got {bias.dtype} {bias.shape}")
        bias = bias.astype(np.int32)
    return QuantizedLayer(output=outq, weight=np.ascontiguousarray(layout(raw)),
                          weight_scale=scale.astype(np.float32), weight_zero_point=zero_point.astype(np.int32),
                          bias=bias, tensor=walk.output)


def _same_quant(walk: _Walk, where: str) -> QParams:
    """The output quantization of an operator that keeps its input's (pooling, reshape)."""
    assert walk.last_quant is not None
    outq = _activation_quant(walk.g, walk.output, where)
    if outq != walk.last_quant:
        raise ValueError(f"{where}: output quantization {outq} differs from its input's {walk.last_quant}; "
                         "this operator does not rescale")
    return walk.last_quant


def _conv(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    """CONV_2D (weights OHWI: 3x3 = the stem, 1x1 = pointwise) and DEPTHWISE_CONV_2D (1HWC)."""
    depthwise = name == "DEPTHWISE_CONV_2D"
    opts = walk.g.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
    if (opts.DilationHFactor(), opts.DilationWFactor()) not in ((1, 1), (0, 0)):
        raise ValueError(f"{where}: dilated convolutions are not part of MobileNet v1")
    stride = opts.StrideH()
    if opts.StrideW() != stride:
        raise ValueError(f"{where}: unequal strides {stride}x{opts.StrideW()}")
    activation = _ACTIVATIONS.get(opts.FusedActivationFunction())
    if activation is None:
        raise ValueError(f"{where}: unsupported fused activation #{opts.FusedActivationFunction()}")
    if len(inputs) < 2:
        raise ValueError(f"{where}: no weight tensor")
    kernel = walk.g.constant(inputs[1])
    bias = _optional_input(walk, inputs, 2)
    if kernel.ndim != 4:
        raise ValueError(f"{where}: weight shape {kernel.shape} is not 4-D")
    kh, kw = kernel.shape[1:3]
    same = opts.Padding() == 0  # Padding.SAME
    ops = walk.ops
    layout: Callable[[np.ndarray], np.ndarray]
    if depthwise:
        if kernel.shape[0] != 1 or (kh, kw) != (3, 3):
            raise ValueError(f"{where}: depthwise weight shape {kernel.shape} is not [1, 3, 3, C]")
        if opts.DepthMultiplier() not in (0, 1):
            raise ValueError(f"{where}: depth multiplier {opts.DepthMultiplier()} is not 1")
        padding = walk.take_padding(same, stride)
        layout = lambda k: k[0]  # noqa: E731
        ops.append(Op(LayerType.DWCONV3X3, where, layout(kernel), bias, stride=stride, padding=padding,
                      activation=activation))
    elif (kh, kw) == (3, 3):
        padding = walk.take_padding(same, stride)
        layout = lambda k: k.transpose(1, 2, 3, 0)  # noqa: E731
        ops.append(Op(LayerType.CONV3X3, where, layout(kernel), bias, stride=stride, padding=padding,
                      activation=activation))
    elif (kh, kw) == (1, 1):
        if any(walk.pending_pad):
            raise ValueError(f"{where}: a padded 1x1 convolution is not part of MobileNet v1")
        layout = lambda k: k[:, 0, 0, :].T  # noqa: E731
        ops.append(Op(LayerType.CONV1X1, where, layout(kernel), bias, stride=stride, activation=activation))
    else:
        raise ValueError(f"{where}: a {kh}x{kw} convolution is not part of MobileNet v1")
    axis = 3 if depthwise else 0
    _record_quant(walk, _layer_quant(walk, inputs, where, axis, layout, kernel.shape[axis]))
    if LAYER_KINDS[ops[-1].kind].spatial:
        top, left, bottom, right = ops[-1].padding
        walk.h, walk.w = (walk.h + top + bottom - 3) // stride + 1, (walk.w + left + right - 3) // stride + 1


def _fully_connected(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    opts = walk.g.options(op, "FullyConnectedOptions")
    activation = _ACTIVATIONS.get(opts.FusedActivationFunction())
    if activation is None or len(inputs) < 2:
        raise ValueError(f"{where}: unsupported fully connected layer")
    kernel = walk.g.constant(inputs[1])
    if kernel.ndim != 2:
        raise ValueError(f"{where}: weight shape {kernel.shape} is not [out, in]")
    bias = _optional_input(walk, inputs, 2)
    walk.ops.append(Op(LayerType.FC, where, kernel.T, bias, activation=activation))
    _record_quant(walk, _layer_quant(walk, inputs, where, 0, lambda k: k.T, kernel.shape[0]))


def _record_quant(walk: _Walk, quant: Optional[QuantizedLayer]) -> None:
    """Keeps an op's integer parameters (parallel to walk.ops) in a quantized graph."""
    if quant is None:
        return
    walk.quant.append(quant)
    walk.last_quant = quant.output


def _global_pool(walk: _Walk, where: str, mean: bool = False) -> None:
    walk.ops.append(Op(LayerType.AVGPOOL, where))
    walk.pooled, walk.h, walk.w = True, 1, 1
    if walk.last_quant is None:
        return
    if mean:  # TFLite's quantized MEAN rescales to its output's scale
        outq = _activation_quant(walk.g, walk.output, where)
        if outq is None or outq.dtype != walk.last_quant.dtype:
            raise ValueError(f"{where}: a quantized MEAN's output must have its input's type")
    else:
        outq = _same_quant(walk, where)
    _record_quant(walk, QuantizedLayer(output=outq, tensor=walk.output, mean=mean))


def _average_pool(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    opts = walk.g.options(op, "Pool2DOptions")
    if walk.pooled or opts.Padding() != 1 or (opts.FilterHeight(), opts.FilterWidth()) != (walk.h, walk.w):
        raise ValueError(f"{where}: only a global average pooling (VALID, filter = the {walk.h}x{walk.w} map) "
                         "is part of MobileNet v1")
    if opts.FusedActivationFunction() != 0:
        raise ValueError(f"{where}: activation after pooling is not supported")
    _global_pool(walk, where)


def _mean(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    axes = sorted(int(a) for a in walk.g.raw(inputs[1]).reshape(-1)) if len(inputs) > 1 else []
    if walk.pooled or axes != [1, 2]:
        raise ValueError(f"{where}: only a mean over the spatial axes is supported")
    _global_pool(walk, where, mean=True)


def _reshape(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    if (walk.h, walk.w) != (1, 1):
        raise ValueError(f"{where}: reshaping a {walk.h}x{walk.w} map is not part of MobileNet v1")
    if walk.last_quant is not None:
        _same_quant(walk, where)
    for index in inputs[1:]:  # RESHAPE's target shape: a constant, or the dynamic-batch tail's
        if index >= 0 and index not in walk.shape_tensors and not walk.g.has_data(index):
            raise ValueError(f"{where}: the target shape {walk.g.name(index)!r} is neither a constant nor "
                             "computed from the data's shape")


def _pad(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    """PAD / PADV2 with zeros over H and W: merged into the next convolution (odd sizes in Keras' graph)."""
    if len(inputs) < 2 or any(walk.pending_pad) or walk.pooled:
        raise ValueError(f"{where}: only one zero padding of the map before a convolution is supported")
    pads = walk.g.raw(inputs[1])
    if pads.shape != (4, 2) or pads.dtype.kind not in "iu":
        raise ValueError(f"{where}: paddings of shape {pads.shape} ({pads.dtype}) are not [4, 2] integers")
    value = _optional_input(walk, inputs, 2)
    if value is not None and (value.size != 1 or float(value.reshape(-1)[0]) != 0.0):
        raise ValueError(f"{where}: padding with a value other than zero is not part of MobileNet v1")
    (n0, n1), (top, bottom), (left, right), (c0, c1) = (tuple(int(v) for v in row) for row in pads)
    if n0 or n1 or c0 or c1:
        raise ValueError(f"{where}: padding the batch or channel axis is not part of MobileNet v1")
    walk.pending_pad = (top, left, bottom, right)
    if walk.last_quant is not None:
        _same_quant(walk, where)  # a quantized PAD pads with the zero point: TFLite's padding of the convolution


def _shape_computation(walk: _Walk, op: Any, name: str, inputs: List[int], current: int, where: str) -> int:
    """SHAPE of the data, STRIDED_SLICE / PACK of that shape (TFLiteConverter's dynamic-batch tail): a side
    computation of a RESHAPE's target, which leaves the data path where it is. Returns its output."""
    if name == "SHAPE":
        if inputs != [current] or (walk.h, walk.w) != (1, 1):
            raise ValueError(f"{where}: only the shape of the pooled data may be taken (the dynamic-batch tail)")
    else:
        known = [i for i in inputs if i >= 0 and i in walk.shape_tensors]
        others = [i for i in inputs if i >= 0 and i not in walk.shape_tensors]
        if not known or any(not walk.g.has_data(i) for i in others):
            raise ValueError(f"{where}: {name} of something other than the data's shape and constants "
                             "is not part of MobileNet v1")
    outputs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
    if len(outputs) != 1:
        raise ValueError(f"{where}: expected one output")
    return outputs[0]


def _softmax(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    opts = walk.g.options(op, "SoftmaxOptions")
    if opts.Beta() != 1.0:
        raise ValueError(f"{where}: softmax with beta {opts.Beta()} is not supported")
    walk.softmax_seen = True
    if walk.last_quant is not None:
        outq = _activation_quant(walk.g, walk.output, where)
        if outq is None or outq.dtype != walk.last_quant.dtype:
            raise ValueError(f"{where}: a quantized softmax's output must have its input's type")
        if outq.scale != 1.0 / 256 or outq.zero_point != outq.qmin:
            raise ValueError(f"{where}: a quantized softmax's output must have scale 1/256 and zero point "
                             f"{outq.qmin}, got {outq.scale:g} and {outq.zero_point}")
        walk.softmax_quant, walk.softmax_tensor = outq, walk.output
        walk.last_quant = outq


def _recast(inq: QParams, outq: QParams, where: str) -> None:
    """A QUANTIZE between uint8 and int8 at an edge of the graph must only move the zero point by 128
    (the same values; TFLite's requantization by 1.0 is then exact)."""
    if inq.dtype == outq.dtype or inq.scale != outq.scale or abs(inq.zero_point - outq.zero_point) != 128:
        raise ValueError(f"{where}: a QUANTIZE from {inq} to {outq} rescales; only uint8 <-> int8 with the same "
                         "scale (zero points 128 apart) is supported at the graph's edges")


def _quantize(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    """QUANTIZE at the start of a quantized graph (of a float input, or uint8 to int8), or after the
    softmax (int8 to uint8): TFLiteConverter's float and uint8 input / output files."""
    outq = _activation_quant(walk.g, walk.output, where)
    inq = walk.last_quant
    if outq is None:
        raise ValueError(f"{where}: QUANTIZE to a float tensor")
    if not walk.ops and not walk.quant:
        if inq is None:
            walk.float_input = True
        else:
            _recast(inq, outq, where)
            walk.io_input = inq
        walk.input_quant = walk.last_quant = outq
        return
    if walk.softmax_seen and inq is not None and walk.io_output is None:
        _recast(inq, outq, where)
        walk.io_output = outq
        return
    raise ValueError(f"{where}: a QUANTIZE inside the graph is not supported (only at its input and output)")


def _dequantize(walk: _Walk, op: Any, name: str, inputs: List[int], where: str) -> None:
    """DEQUANTIZE: of float16 weights (a constant: not on the data path), or of the final output."""
    if walk.last_quant is None:
        raise ValueError(f"{where}: DEQUANTIZE of a float tensor")
    walk.float_output = True


_HANDLERS: Dict[str, Callable[[_Walk, object, str, List[int], str], None]] = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _average_pool, "MEAN": _mean, "RESHAPE": _reshape, "SQUEEZE": _reshape,
    "SOFTMAX": _softmax, "QUANTIZE": _quantize, "DEQUANTIZE": _dequantize, "PAD": _pad, "PADV2": _pad,
}
_SHAPE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK")


def _input_scheme(g: _Graph, graph: Any, quant: Optional[Quantization]) -> Tuple[Preprocessing, str]:
    """(preprocessing, source) from the input tensor's type: a uint8 input's quantization is its scaling."""
    in_type = g.tensor(int(graph.Inputs(0))).Type()
    if in_type == 0:  # FLOAT32
        return TENSORFLOW, "tflite" if quant is None else "tflite (quantized, float input)"
    assert quant is not None
    # uint8 input q means real = (q - zero_point) * scale, i.e. mean zp/255, std 1/(255 scale).
    scale, zero_point = quant.input.scale, quant.input.zero_point
    offset = 0 if quant.input.dtype == "uint8" else 128  # an int8 input holds pixel - 128
    mean = (zero_point + offset) / 255.0
    pre = Preprocessing(mean=(mean,) * 3, std=(1.0 / (255.0 * scale),) * 3,
                        note=f"TFLite {quant.input.dtype} input: real = (q - {zero_point:g}) * {scale:g}, "
                             "whole image, bilinear")
    return pre, f"tflite (quantized: {quant.scheme})"


def _walk(g: _Graph, height: int, width: int, what: str) -> _Walk:
    """Every operator of g's subgraph 0 through its handler."""
    graph = g.graph
    current = int(graph.Inputs(0))
    walk = _Walk(g, height, width)
    walk.last_quant = walk.input_quant = _activation_quant(g, current, f"{what} input")
    operators = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name = g.op_name(op)
        inputs = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outputs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if name == "DEQUANTIZE" and len(inputs) == 1 and len(outputs) == 1 and g.has_data(inputs[0]):
            g.aliases[outputs[0]] = inputs[0]  # float16 weights: the constant, read as float
            continue
        operators.append((i, op, name, inputs, outputs))
    for i, op, name, inputs, outputs in operators:
        where = f"op {i} ({name})"
        if not inputs or len(outputs) != 1:
            raise ValueError(f"{where}: expected one data input and one output")
        if name in _SHAPE_OPS:
            walk.shape_tensors.add(_shape_computation(walk, op, name, inputs, current, where))
            continue
        if inputs[0] != current:
            raise ValueError(f"{where} does not take the previous operator's output: "
                             "a branching graph is not a MobileNet v1 (residual connections, as in MobileNet v2?)")
        if walk.softmax_seen and name not in ("QUANTIZE", "DEQUANTIZE"):  # the output's type conversion
            raise ValueError(f"{where} after the softmax is not part of MobileNet v1")
        handler = _HANDLERS.get(name)
        if handler is None:
            raise ValueError(f"{where}: operator {name} is not part of MobileNet v1")
        walk.output = outputs[0]
        handler(walk, op, name, inputs, where)
        current = outputs[0]
    if graph.OutputsLength() != 1 or int(graph.Outputs(0)) != current:
        names = [g.name(int(graph.Outputs(k))) for k in range(graph.OutputsLength())]
        raise ValueError(f"the graph's outputs {names} are not the end of its data path ({g.name(current)!r})")
    if any(walk.pending_pad):
        raise ValueError("a PAD op is not followed by a convolution")
    return walk


def _quantization(walk: _Walk, layers: Tuple[Any, ...]) -> Optional[Quantization]:
    """The network's Quantization from a walk over a quantized graph (None for a float graph)."""
    if walk.input_quant is None:
        if walk.quant:
            raise ValueError("quantized layers after a float input without QUANTIZE")
        return None
    if len(walk.quant) != len(layers):
        raise ValueError(f"{len(walk.quant)} quantized operators for {len(layers)} layers: "
                         "a graph mixing float and integer layers is not supported")
    dtypes = {q.output.dtype for q in walk.quant}
    if len(dtypes) != 1 or walk.input_quant.dtype not in dtypes:
        raise ValueError(f"activations of several types ({sorted(dtypes | {walk.input_quant.dtype})}) in one graph")
    dtype = dtypes.pop()
    scheme = "per-tensor uint8" if dtype == "uint8" else "per-channel int8"
    return Quantization(scheme, walk.input_quant, {layer.name: q for layer, q in zip(layers, walk.quant)},
                        softmax=walk.softmax_quant, softmax_tensor=walk.softmax_tensor,
                        io_input=walk.io_input, io_output=walk.io_output,
                        extra={"float_input": walk.float_input, "float_output": walk.float_output})


def read(data: bytes, source: str, resolution: Optional[Tuple[int, int]] = None,
         head: Optional[bytes] = None) -> ModelData:
    """(layers, params, attributes) of a TFLite MobileNet v1 (the file fixes the input size: resolution
    is not used, and load refuses one that differs). Each operator is read by its handler in _HANDLERS.

    head: a second TFLite file that continues this one (a feature extractor ending at the pooling,
    then a head that starts from the embedding: classifier, reshape, softmax); its input must be
    this file's output, with the same quantization."""
    g = _Graph(data)
    graph = g.graph
    if graph.InputsLength() != 1:
        raise ValueError(f"expected one input tensor, found {graph.InputsLength()}")
    in_shape = g.shape(int(graph.Inputs(0)))
    if len(in_shape) != 4 or in_shape[3] != 3:
        raise ValueError(f"input shape {in_shape} is not [1, H, W, 3]")
    height, width = in_shape[1], in_shape[2]
    walk = _walk(g, height, width, "model")
    if head is not None:
        walk = _join_head(walk, head)
    layers, params = assemble(walk.ops, height, width, "TFLite model", features_only=head is None)
    quant = _quantization(walk, layers)
    pre, source = _input_scheme(g, graph, quant)
    labels = _labels_from_metadata(head if head is not None else data, layers[-1].out_shape[2])
    channels = layers[0].out_shape[2]
    return layers, params, {"alpha": channels / 32.0, "preprocessing": pre, "labels": labels, "source": source,
                            "quantization": quant}


def _join_head(walk: _Walk, data: bytes) -> _Walk:
    """The walk over a feature extractor continued by a head file's operators."""
    if not walk.pooled or walk.softmax_seen or walk.ops[-1].kind != LayerType.AVGPOOL:
        raise ValueError("a head can only continue a feature extractor that ends at the global pooling")
    g = _Graph(data)
    graph = g.graph
    if graph.InputsLength() != 1:
        raise ValueError(f"head: expected one input tensor, found {graph.InputsLength()}")
    in_shape = g.shape(int(graph.Inputs(0)))
    last_weight = walk.ops[-2].weight if len(walk.ops) > 1 else None
    channels = last_weight.shape[-1] if last_weight is not None else -1
    if int(np.prod(in_shape)) != channels:
        raise ValueError(f"head: its input shape {in_shape} does not take the {channels}-wide embedding")
    head_walk = _walk(g, 1, 1, "head")
    if head_walk.input_quant != walk.last_quant:
        raise ValueError(f"head: its input quantization {head_walk.input_quant} differs from the "
                         f"feature extractor's output {walk.last_quant}")
    if any(op.kind == LayerType.AVGPOOL for op in head_walk.ops) or not head_walk.ops:
        raise ValueError("head: expected the classifier after the pooling, found no layer or another pooling")
    head_walk.pooled = True
    for op in head_walk.ops:
        op.where = f"head {op.where}"
    walk.ops.extend(head_walk.ops)
    walk.quant.extend(head_walk.quant)
    walk.softmax_seen = head_walk.softmax_seen
    walk.softmax_quant, walk.softmax_tensor = head_walk.softmax_quant, head_walk.softmax_tensor
    walk.float_output = head_walk.float_output
    return walk
