"""Writing TFLite flatbuffers: a network as the graph TensorFlow's converter
emits for MobileNet v1 (`to_tflite`), and the small graphs tests build by hand
(`GraphBuilder`).

Needs the `flatbuffers` and `tflite` packages (`pip install 'mobilenet[tflite]'`).
The MobileNet graph: CONV_2D and DEPTHWISE_CONV_2D with fused ReLU/ReLU6 and
'SAME' padding (a PAD op first where a layer's padding is not TensorFlow's),
AVERAGE_POOL_2D over the whole map, FULLY_CONNECTED, optional SOFTMAX. Batch
norm is folded, as in our engine.
"""
from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._files import FilePath
from .._optional import require
from ..graph import conv_padding
from ..params import fold_batch_norm
from ..quantization import QParams
from ..vocabulary import Activation, LayerType, Padding
from .tflite import ACTIVATION_CODES as ACTIVATIONS

if TYPE_CHECKING:
    from ..model import MobileNetV1

TENSOR_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int8": 9}
PADDINGS = {"SAME": 0, "VALID": 1}
# Builtin operator codes (TFLite's schema) of the operators written here.
OPERATORS = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4, "DEQUANTIZE": 6,
             "FULLY_CONNECTED": 9, "RESHAPE": 22, "SOFTMAX": 25, "PAD": 34, "MEAN": 40, "QUANTIZE": 114}
# Operator versions TFLiteConverter gives int8 graphs (uint8 and float ones are version 1).
INT8_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "PAD": 2, "MEAN": 2, "SOFTMAX": 2, "DEQUANTIZE": 2}
# A tensor's quantization: (scales, zero points, quantized dimension).
TensorQuantization = Tuple[np.ndarray, np.ndarray, int]


def _schema() -> Tuple[types.ModuleType, types.ModuleType]:
    return require("flatbuffers", "writing .tflite files"), require("tflite", "writing .tflite files")


class GraphBuilder:
    """One subgraph of tensors and operators, written out by `finish`.

    Options are plain dicts: CONV_2D / DEPTHWISE_CONV_2D take padding ("SAME" or
    "VALID"), stride and activation ("none", "relu", "relu6"); AVERAGE_POOL_2D
    takes filter (h, w), stride and padding; FULLY_CONNECTED takes activation.
    """

    def __init__(self) -> None:
        self.buffers: List[bytes] = [b""]  # buffer 0: the empty buffer of every non-constant tensor
        # (name, shape, type, buffer index, quantization or None)
        self.tensors: List[Tuple[str, List[int], int, int, Optional[TensorQuantization]]] = []
        # (name, inputs, outputs, options, version)
        self.ops: List[Tuple[str, List[int], List[int], Dict[str, Any], int]] = []

    def tensor(self, name: str, shape: Sequence[int], data: Optional[np.ndarray] = None,
               dtype: str = "float32", quantization: Union[None, QParams, TensorQuantization] = None) -> int:
        """A tensor (a constant where data is given); quantization: a QParams (per tensor) or
        (scales, zero points, axis) (per axis)."""
        buffer = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=dtype).tobytes())
            buffer = len(self.buffers) - 1
        if isinstance(quantization, QParams):
            quantization = (np.array([quantization.scale]), np.array([quantization.zero_point]), 0)
        self.tensors.append((name, [int(s) for s in shape], TENSOR_TYPES[dtype], buffer, quantization))
        return len(self.tensors) - 1

    def op(self, name: str, inputs: Sequence[int], outputs: Sequence[int],
           options: Optional[Dict[str, Any]] = None, version: int = 1) -> None:
        if name not in OPERATORS:
            raise ValueError(f"operator {name!r} is not one this writer knows")
        self.ops.append((name, list(inputs), list(outputs), options or {}, version))

    def _options(self, tfl: types.ModuleType, b: Any, name: str,
                 o: Dict[str, Any]) -> Tuple[int, Optional[Callable[[], int]]]:
        """(BuiltinOptions type, an offset builder) for operator `name`, or (0, None).

        b is the flatbuffers.Builder (the package ships no types); offsets are ints.
        """
        def conv(kind: str) -> Callable[[], int]:
            def build() -> int:
                mod = importlib.import_module(f"tflite.{kind}")
                getattr(mod, f"{kind}Start")(b)
                getattr(mod, f"{kind}AddPadding")(b, PADDINGS[o.get("padding", "SAME")])
                getattr(mod, f"{kind}AddStrideW")(b, o.get("stride", 1))
                getattr(mod, f"{kind}AddStrideH")(b, o.get("stride", 1))
                getattr(mod, f"{kind}AddFusedActivationFunction")(b, ACTIVATIONS[o.get("activation", Activation.NONE)])
                getattr(mod, f"{kind}AddDilationWFactor")(b, 1)
                getattr(mod, f"{kind}AddDilationHFactor")(b, 1)
                if kind == "DepthwiseConv2DOptions":
                    mod.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
                return getattr(mod, f"{kind}End")(b)
            return build

        def pool() -> int:
            mod = importlib.import_module("tflite.Pool2DOptions")
            fh, fw = o["filter"]
            mod.Pool2DOptionsStart(b)
            mod.Pool2DOptionsAddPadding(b, PADDINGS[o.get("padding", "VALID")])
            mod.Pool2DOptionsAddStrideW(b, o.get("stride", 1))
            mod.Pool2DOptionsAddStrideH(b, o.get("stride", 1))
            mod.Pool2DOptionsAddFilterWidth(b, fw)
            mod.Pool2DOptionsAddFilterHeight(b, fh)
            mod.Pool2DOptionsAddFusedActivationFunction(b, 0)
            return mod.Pool2DOptionsEnd(b)

        def fully_connected() -> int:
            mod = importlib.import_module("tflite.FullyConnectedOptions")
            mod.FullyConnectedOptionsStart(b)
            mod.FullyConnectedOptionsAddFusedActivationFunction(b, ACTIVATIONS[o.get("activation", Activation.NONE)])
            return mod.FullyConnectedOptionsEnd(b)

        def softmax() -> int:
            mod = importlib.import_module("tflite.SoftmaxOptions")
            mod.SoftmaxOptionsStart(b)
            mod.SoftmaxOptionsAddBeta(b, o.get("beta", 1.0))
            return mod.SoftmaxOptionsEnd(b)

        def reducer() -> int:
            mod = importlib.import_module("tflite.ReducerOptions")
            mod.ReducerOptionsStart(b)
            mod.ReducerOptionsAddKeepDims(b, bool(o.get("keep_dims", False)))
            return mod.ReducerOptionsEnd(b)

        def reshape() -> int:
            mod = importlib.import_module("tflite.ReshapeOptions")
            shape = b.CreateNumpyVector(np.asarray(o["new_shape"], dtype=np.int32))
            mod.ReshapeOptionsStart(b)
            mod.ReshapeOptionsAddNewShape(b, shape)
            return mod.ReshapeOptionsEnd(b)

        def empty(kind: str) -> Callable[[], int]:
            def build() -> int:
                mod = importlib.import_module(f"tflite.{kind}")
                getattr(mod, f"{kind}Start")(b)
                return getattr(mod, f"{kind}End")(b)
            return build

        builders = {"CONV_2D": ("Conv2DOptions", conv("Conv2DOptions")),
                    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", conv("DepthwiseConv2DOptions")),
                    "AVERAGE_POOL_2D": ("Pool2DOptions", pool),
                    "FULLY_CONNECTED": ("FullyConnectedOptions", fully_connected),
                    "SOFTMAX": ("SoftmaxOptions", softmax),
                    "PAD": ("PadOptions", empty("PadOptions")),
                    "ADD": ("AddOptions", empty("AddOptions")),
                    "MEAN": ("ReducerOptions", reducer),
                    "RESHAPE": ("ReshapeOptions", reshape),
                    "QUANTIZE": ("QuantizeOptions", empty("QuantizeOptions")),
                    "DEQUANTIZE": ("DequantizeOptions", empty("DequantizeOptions"))}
        if name not in builders:
            return 0, None
        kind, build = builders[name]
        return getattr(tfl.BuiltinOptions, kind), build

    def finish(self, inputs: Sequence[int], outputs: Sequence[int], description: str = "mobilenet") -> bytes:
        flatbuffers, tfl = _schema()
        b = flatbuffers.Builder(1 << 20)

        def ints(values: Sequence[int]) -> int:
            return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))

        def offsets(items: Sequence[int]) -> int:
            b.StartVector(4, len(items), 4)
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            return b.EndVector()

        buffer_offsets: List[int] = []
        for data in self.buffers:
            vector = b.CreateNumpyVector(np.frombuffer(data, dtype=np.uint8)) if data else None
            tfl.BufferStart(b)
            if vector is not None:
                tfl.BufferAddData(b, vector)
            buffer_offsets.append(tfl.BufferEnd(b))
        tensor_offsets: List[int] = []
        for name, shape, dtype, buffer, quantization in self.tensors:
            name_offset, shape_offset = b.CreateString(name), ints(shape)
            quantization_offset = None
            if quantization is not None:
                scales, zero_points, axis = quantization
                scale_offset = b.CreateNumpyVector(np.asarray(scales, dtype=np.float32).reshape(-1))
                zero_point_offset = b.CreateNumpyVector(np.asarray(zero_points, dtype=np.int64).reshape(-1))
                tfl.QuantizationParametersStart(b)
                tfl.QuantizationParametersAddScale(b, scale_offset)
                tfl.QuantizationParametersAddZeroPoint(b, zero_point_offset)
                tfl.QuantizationParametersAddQuantizedDimension(b, axis)
                quantization_offset = tfl.QuantizationParametersEnd(b)
            tfl.TensorStart(b)
            if quantization_offset is not None:
                tfl.TensorAddQuantization(b, quantization_offset)
            tfl.TensorAddShape(b, shape_offset)
            tfl.TensorAddType(b, dtype)
            tfl.TensorAddBuffer(b, buffer)
            tfl.TensorAddName(b, name_offset)
            tensor_offsets.append(tfl.TensorEnd(b))
        codes = list(dict.fromkeys((name, version) for name, _, _, _, version in self.ops))  # first use order
        op_offsets: List[int] = []
        for name, op_inputs, op_outputs, options, version in self.ops:
            options_type, build = self._options(tfl, b, name, options)
            options_offset = build() if build else None
            in_offset, out_offset = ints(op_inputs), ints(op_outputs)
            tfl.OperatorStart(b)
            tfl.OperatorAddOpcodeIndex(b, codes.index((name, version)))
            tfl.OperatorAddInputs(b, in_offset)
            tfl.OperatorAddOutputs(b, out_offset)
            if options_offset is not None:
                tfl.OperatorAddBuiltinOptionsType(b, options_type)
                tfl.OperatorAddBuiltinOptions(b, options_offset)
            op_offsets.append(tfl.OperatorEnd(b))
        tensors, operators = offsets(tensor_offsets), offsets(op_offsets)
        graph_inputs, graph_outputs, graph_name = ints(inputs), ints(outputs), b.CreateString("main")
        tfl.SubGraphStart(b)
        tfl.SubGraphAddTensors(b, tensors)
        tfl.SubGraphAddInputs(b, graph_inputs)
        tfl.SubGraphAddOutputs(b, graph_outputs)
        tfl.SubGraphAddOperators(b, operators)
        tfl.SubGraphAddName(b, graph_name)
        subgraph = tfl.SubGraphEnd(b)
        code_offsets: List[int] = []
        for name, version in codes:
            code = OPERATORS[name]
            tfl.OperatorCodeStart(b)
            tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tfl.OperatorCodeAddBuiltinCode(b, code)
            tfl.OperatorCodeAddVersion(b, version)
            code_offsets.append(tfl.OperatorCodeEnd(b))
        opcodes, subgraphs, buffers = offsets(code_offsets), offsets([subgraph]), offsets(buffer_offsets)
        description_offset = b.CreateString(description)
        tfl.ModelStart(b)
        tfl.ModelAddVersion(b, 3)
        tfl.ModelAddOperatorCodes(b, opcodes)
        tfl.ModelAddSubgraphs(b, subgraphs)
        tfl.ModelAddBuffers(b, buffers)
        tfl.ModelAddDescription(b, description_offset)
        b.Finish(tfl.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def to_tflite(net: MobileNetV1, path: FilePath, *, softmax: bool = False, batch: int = 1) -> None:
    """Write ``net`` as a float32 .tflite with input [batch, H, W, 3] (NHWC) and output [batch, classes]."""
    g = GraphBuilder()
    h, w, c = net.layers[0].in_shape
    x = graph_input = g.tensor("input", [batch, h, w, c])
    for layer in net.layers:
        p = net.params.get(layer.name, {})
        oh, ow, oc = layer.out_shape
        kind = layer.kind
        if kind is not None and kind.convolution:
            weight, bias = fold_batch_norm(layer, p)
            op = kind.tflite_op
            if layer.type == LayerType.CONV3X3:
                weight = weight.transpose(3, 0, 1, 2)  # OHWI
            elif layer.type == LayerType.DWCONV3X3:
                weight = weight[None]  # 1HWC
            else:
                weight = weight.T[:, None, None, :]
            padding = "VALID"
            if kind.spatial:
                ih, iw, ic = layer.in_shape
                tf_same = conv_padding(ih, layer.stride, Padding.SAME) + conv_padding(iw, layer.stride, Padding.SAME)
                top, left, bottom, right = layer.padding
                if (top, bottom, left, right) == tf_same:
                    padding = "SAME"
                elif any(layer.padding):  # a framework's own padding: an explicit PAD op, then VALID
                    pads = g.tensor(f"{layer.name}/paddings", [4, 2],
                                    np.array([[0, 0], [top, bottom], [left, right], [0, 0]]), "int32")
                    padded = g.tensor(f"{layer.name}/padded", [batch, ih + top + bottom, iw + left + right, ic])
                    g.op("PAD", [x, pads], [padded])
                    x = padded
            wt = g.tensor(f"{layer.name}/weights", weight.shape, weight)
            bt = g.tensor(f"{layer.name}/bias", bias.shape, bias)
            out = g.tensor(layer.name, [batch, oh, ow, oc])
            g.op(op, [x, wt, bt], [out], {"padding": padding, "stride": layer.stride, "activation": layer.activation})
            x = out
        elif kind is not None and layer.type == LayerType.AVGPOOL:  # every known type has a kind
            ih, iw, _ = layer.in_shape
            out = g.tensor(layer.name, [batch, 1, 1, oc])
            g.op(kind.tflite_op, [x], [out], {"filter": (ih, iw)})
            x = out
        elif kind is not None and layer.type == LayerType.FC:
            weight, bias = fold_batch_norm(layer, p)
            wt = g.tensor(f"{layer.name}/weights", [oc, weight.shape[0]], weight.T)
            bt = g.tensor(f"{layer.name}/bias", [oc], bias)
            out = g.tensor(layer.name, [batch, oc])
            g.op(kind.tflite_op, [x, wt, bt], [out], {"activation": layer.activation})
            x = out
        else:
            raise ValueError(f"layer {layer.name!r}: type {layer.type!r} has no TFLite equivalent here")
    if softmax:
        out = g.tensor("probabilities", [batch, net.num_classes])
        g.op("SOFTMAX", [x], [out])
        x = out
    with open(path, "wb") as f:
        f.write(g.finish([graph_input], [x], description="mobilenet.io.tflite_writer"))


IO_TYPES = ("float32", "int8", "uint8")


def _recast(q: QParams, dtype: str) -> QParams:
    """The same values in the other 8-bit type: the zero point moves by 128."""
    if q.dtype == dtype:
        return q
    return QParams(q.scale, q.zero_point + (128 if dtype == "uint8" else -128), dtype)


def to_tflite_int8(net: MobileNetV1, path: FilePath, *, io: str = "float32", softmax: bool = True,
                   batch: int = 1) -> None:
    """Write an int8 network (``net.precision == "int8"``) as a full-integer TFLite model.

    The graph TFLiteConverter writes for MobileNet v1 with a representative dataset:
    CONV_2D / DEPTHWISE_CONV_2D with the network's integer weights (per-channel int8 on their
    output-channel axis, or per-tensor uint8) and int32 biases, fused ReLU/ReLU6, 'SAME' or a
    PAD op (which pads with the zero point) and 'VALID'; the pooling as MEAN over H and W
    (keep_dims) or, where the network pools without rescaling (uint8 models), AVERAGE_POOL_2D;
    the classifier as a 1x1 CONV_2D; RESHAPE to [batch, classes]; SOFTMAX where the network has
    one (and softmax is True). io: the file's input and output type: "float32" puts QUANTIZE
    and DEQUANTIZE at the ends; "int8" / "uint8" takes and returns integers, the network's own
    type or the other one through a QUANTIZE that moves the zero point by 128.
    """
    quant = net.quantization
    if net.precision != "int8" or quant is None:
        raise ValueError(f"to_tflite_int8 writes int8 networks; this one is {net.precision}")
    if io not in IO_TYPES:
        raise ValueError(f"io must be one of {IO_TYPES}, got {io!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    dtype = quant.input.dtype  # every activation's
    versions = INT8_VERSIONS if dtype == "int8" else {}
    g = GraphBuilder()

    def activation(name: str, shape: Sequence[int], q: QParams) -> int:
        return g.tensor(name, shape, None, q.dtype, q)

    def op(name: str, inputs: Sequence[int], outputs: Sequence[int], options: Optional[Dict[str, Any]] = None) -> None:
        g.op(name, inputs, outputs, options, versions.get(name, 1))

    h, w, c = net.layers[0].in_shape
    shape = [batch, h, w, c]
    if io == "float32":
        graph_input = g.tensor("input", shape)
        x = activation("input/quantized", shape, quant.input)
        op("QUANTIZE", [graph_input], [x])
    else:
        graph_input = x = activation("input", shape, _recast(quant.input, io))
        if io != dtype:
            x = activation(f"input/{dtype}", shape, quant.input)
            op("QUANTIZE", [graph_input], [x])
    x_q = quant.input
    for layer in net.layers:
        q = quant.layers[layer.name]
        oh, ow, oc = layer.out_shape
        ih, iw, ic = layer.in_shape
        if layer.type == LayerType.AVGPOOL:
            out = activation(layer.name, [batch, 1, 1, oc], q.output)
            if q.mean:
                if dtype != "int8":
                    raise ValueError(f"layer {layer.name!r}: a uint8 MEAN is not written (TFLite's uint8 mean "
                                     "is another kernel)")
                axes = g.tensor(f"{layer.name}/axes", [2], np.array([1, 2]), "int32")
                op("MEAN", [x, axes], [out], {"keep_dims": True})
            else:
                op("AVERAGE_POOL_2D", [x], [out], {"filter": (ih, iw)})
            x, x_q = out, q.output
            continue
        if q.weight is None or q.weight_scale is None or q.weight_zero_point is None:
            raise ValueError(f"layer {layer.name!r} has no integer weights")
        weight = np.asarray(q.weight)
        if layer.type == LayerType.CONV3X3:
            weight, axis, name = weight.transpose(3, 0, 1, 2), 0, "CONV_2D"  # OHWI
        elif layer.type == LayerType.DWCONV3X3:
            weight, axis, name = weight[None], 3, "DEPTHWISE_CONV_2D"  # 1HWC
        else:  # 1x1 convolution or classifier: a 1x1 CONV_2D, OHWI
            weight, axis, name = weight.T[:, None, None, :], 0, "CONV_2D"
        scales = np.asarray(q.weight_scale, np.float32).reshape(-1)
        zero_points = np.asarray(q.weight_zero_point).reshape(-1)
        inputs = [x, g.tensor(f"{layer.name}/weights", weight.shape, weight, str(weight.dtype),
                              (scales, zero_points, axis if scales.size > 1 else 0))]
        if q.bias is not None:
            if dtype == "uint8":  # the scale TFLite checks a uint8 bias against: the float32 product
                b_scales = np.float32(x_q.scale) * scales
            else:
                b_scales = (float(np.float32(x_q.scale)) * scales.astype(np.float64)).astype(np.float32)
            # One scale for per-tensor weights: TFLite reads a single scale as the tensor's (the
            # one it checks a uint8 bias against), several as per-channel.
            inputs.append(g.tensor(f"{layer.name}/bias", [oc], np.asarray(q.bias), "int32",
                                   (b_scales, np.zeros(b_scales.size, np.int64), 0)))
        padding = "VALID"
        if layer.kind is not None and layer.kind.spatial:
            tf_same = conv_padding(ih, layer.stride, Padding.SAME) + conv_padding(iw, layer.stride, Padding.SAME)
            top, left, bottom, right = layer.padding
            if (top, bottom, left, right) == tf_same:
                padding = "SAME"
            elif any(layer.padding):  # a PAD op (padding with the zero point), then VALID
                pads = g.tensor(f"{layer.name}/paddings", [4, 2],
                                np.array([[0, 0], [top, bottom], [left, right], [0, 0]]), "int32")
                padded = activation(f"{layer.name}/padded", [batch, ih + top + bottom, iw + left + right, ic], x_q)
                op("PAD", [x, pads], [padded])
                inputs[0] = padded
        out = activation(layer.name, [batch, oh, ow, oc], q.output)
        op(name, inputs, [out], {"padding": padding, "stride": layer.stride, "activation": layer.activation})
        x, x_q = out, q.output
    classes = net.layers[-1].out_shape[2]
    new_shape = [batch, classes]
    flat = activation("output/flat", new_shape, x_q)
    op("RESHAPE", [x, g.tensor("output/shape", [2], np.array(new_shape), "int32")], [flat], {"new_shape": new_shape})
    x = flat
    if softmax and quant.softmax is not None:
        x_q = quant.softmax
        probabilities = activation("probabilities", new_shape, x_q)
        op("SOFTMAX", [x], [probabilities], {"beta": 1.0})
        x = probabilities
    if io == "float32":
        out = g.tensor("output", new_shape)
        op("DEQUANTIZE", [x], [out])
        x = out
    elif io != dtype:
        if not (softmax and quant.softmax is not None):
            raise ValueError(f"io={io!r}: an {dtype} network without its softmax is written with {dtype} or "
                             "float32 output")
        out = activation("output", new_shape, _recast(x_q, io))
        op("QUANTIZE", [x], [out])
        x = out
    with open(path, "wb") as f:
        f.write(g.finish([graph_input], [x], description="mobilenet.io.tflite_writer"))
