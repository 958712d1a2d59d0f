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
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._files import FilePath
from .._optional import require
from ..graph import conv_padding
from ..params import fold_batch_norm
from ..vocabulary import Activation, LayerType, Padding
from .tflite import ACTIVATION_CODES as ACTIVATIONS

if TYPE_CHECKING:
    from ..model import MobileNetV1

TENSOR_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int8": 9}
PADDINGS = {"SAME": 0, "VALID": 1}
# Builtin operator codes (TFLite's schema) of the operators written here.
OPERATORS = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4, "FULLY_CONNECTED": 9,
             "SOFTMAX": 25, "PAD": 34, "MEAN": 40}


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
        self.tensors: List[Tuple[str, List[int], int, int]] = []  # (name, shape, type, buffer index)
        self.ops: List[Tuple[str, List[int], List[int], Dict[str, Any]]] = []  # (name, inputs, outputs, options)

    def tensor(self, name: str, shape: Sequence[int], data: Optional[np.ndarray] = None,
               dtype: str = "float32") -> int:
        buffer = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=dtype).tobytes())
            buffer = len(self.buffers) - 1
        self.tensors.append((name, [int(s) for s in shape], TENSOR_TYPES[dtype], buffer))
        return len(self.tensors) - 1

    def op(self, name: str, inputs: Sequence[int], outputs: Sequence[int],
           options: Optional[Dict[str, Any]] = None) -> None:
        if name not in OPERATORS:
            raise ValueError(f"operator {name!r} is not one this writer knows")
        self.ops.append((name, list(inputs), list(outputs), options or {}))

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
                    "ADD": ("AddOptions", empty("AddOptions"))}
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
        for name, shape, dtype, buffer in self.tensors:
            name_offset, shape_offset = b.CreateString(name), ints(shape)
            tfl.TensorStart(b)
            tfl.TensorAddShape(b, shape_offset)
            tfl.TensorAddType(b, dtype)
            tfl.TensorAddBuffer(b, buffer)
            tfl.TensorAddName(b, name_offset)
            tensor_offsets.append(tfl.TensorEnd(b))
        codes = list(dict.fromkeys(name for name, _, _, _ in self.ops))  # first use order
        op_offsets: List[int] = []
        for name, op_inputs, op_outputs, options in self.ops:
            options_type, build = self._options(tfl, b, name, options)
            options_offset = build() if build else None
            in_offset, out_offset = ints(op_inputs), ints(op_outputs)
            tfl.OperatorStart(b)
            tfl.OperatorAddOpcodeIndex(b, codes.index(name))
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
        for name in codes:
            code = OPERATORS[name]
            tfl.OperatorCodeStart(b)
            tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tfl.OperatorCodeAddBuiltinCode(b, code)
            tfl.OperatorCodeAddVersion(b, 1)
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
