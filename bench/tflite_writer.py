"""Write a mobilenet network as a float32 .tflite flatbuffer, so LiteRT/XNNPACK can run every configuration.

Bench-only (needs the `tflite` and `flatbuffers` packages of the bench extra).
The graph is what TensorFlow's converter emits for MobileNet v1: CONV_2D and
DEPTHWISE_CONV_2D with fused ReLU/ReLU6 and 'SAME' padding (a PAD op first
where a layer's padding is not TensorFlow's), AVERAGE_POOL_2D over the whole
map, FULLY_CONNECTED, optional SOFTMAX. Batch norm is folded, as in our engine.
"""
from __future__ import annotations

import sys

import flatbuffers
import numpy as np
import tflite  # noqa: F401  (imports the generated modules below)

from mobilenet.graph import conv_padding
from mobilenet.params import fold_batch_norm

_m = {name: sys.modules[f"tflite.{name}"] for name in (
    "Model", "SubGraph", "Tensor", "Buffer", "Operator", "OperatorCode", "Conv2DOptions",
    "DepthwiseConv2DOptions", "Pool2DOptions", "FullyConnectedOptions", "SoftmaxOptions", "PadOptions")}
Op = tflite.BuiltinOperator
Options = tflite.BuiltinOptions
ACTIVATIONS = {"none": tflite.ActivationFunctionType.NONE, "relu": tflite.ActivationFunctionType.RELU,
               "relu6": tflite.ActivationFunctionType.RELU6}


class _GraphBuilder:
    def __init__(self):
        self.b = flatbuffers.Builder(1 << 20)
        self.buffers = [b""]  # buffer 0: the empty buffer of every non-constant tensor
        self.tensors = []  # (name, shape, type, buffer index)
        self.ops = []  # (opcode, inputs, outputs, options type, options builder)
        self.opcodes = []

    def tensor(self, name, shape, data=None, dtype=tflite.TensorType.FLOAT32) -> int:
        buffer = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buffer = len(self.buffers) - 1
        self.tensors.append((name, [int(s) for s in shape], dtype, buffer))
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, options_type=0, options=None):
        if code not in self.opcodes:
            self.opcodes.append(code)
        self.ops.append((self.opcodes.index(code), inputs, outputs, options_type, options))

    def _int_vector(self, values):
        return self.b.CreateNumpyVector(np.asarray(values, dtype=np.int32))

    def _offsets(self, start, offsets):
        start(self.b, len(offsets))
        for off in reversed(offsets):
            self.b.PrependUOffsetTRelative(off)
        return self.b.EndVector()

    def finish(self, inputs, outputs) -> bytes:
        b, m = self.b, _m
        buffer_offsets = []
        for data in self.buffers:
            vector = b.CreateNumpyVector(np.frombuffer(data, dtype=np.uint8)) if data else None
            m["Buffer"].Start(b)
            if vector is not None:
                m["Buffer"].AddData(b, vector)
            buffer_offsets.append(m["Buffer"].End(b))
        tensor_offsets = []
        for name, shape, dtype, buffer in self.tensors:
            name_off, shape_off = b.CreateString(name), self._int_vector(shape)
            m["Tensor"].Start(b)
            m["Tensor"].AddShape(b, shape_off)
            m["Tensor"].AddType(b, dtype)
            m["Tensor"].AddBuffer(b, buffer)
            m["Tensor"].AddName(b, name_off)
            tensor_offsets.append(m["Tensor"].End(b))
        op_offsets = []
        for opcode, op_inputs, op_outputs, options_type, options in self.ops:
            options_off = options(b) if options else None
            in_off, out_off = self._int_vector(op_inputs), self._int_vector(op_outputs)
            m["Operator"].Start(b)
            m["Operator"].AddOpcodeIndex(b, opcode)
            m["Operator"].AddInputs(b, in_off)
            m["Operator"].AddOutputs(b, out_off)
            if options_off is not None:
                m["Operator"].AddBuiltinOptionsType(b, options_type)
                m["Operator"].AddBuiltinOptions(b, options_off)
            op_offsets.append(m["Operator"].End(b))
        tensors = self._offsets(m["SubGraph"].StartTensorsVector, tensor_offsets)
        operators = self._offsets(m["SubGraph"].StartOperatorsVector, op_offsets)
        graph_inputs, graph_outputs = self._int_vector(inputs), self._int_vector(outputs)
        name = b.CreateString("main")
        m["SubGraph"].Start(b)
        m["SubGraph"].AddTensors(b, tensors)
        m["SubGraph"].AddInputs(b, graph_inputs)
        m["SubGraph"].AddOutputs(b, graph_outputs)
        m["SubGraph"].AddOperators(b, operators)
        m["SubGraph"].AddName(b, name)
        subgraph = m["SubGraph"].End(b)
        code_offsets = []
        for code in self.opcodes:
            m["OperatorCode"].Start(b)
            m["OperatorCode"].AddDeprecatedBuiltinCode(b, min(code, 127))
            m["OperatorCode"].AddBuiltinCode(b, code)
            m["OperatorCode"].AddVersion(b, 1)
            code_offsets.append(m["OperatorCode"].End(b))
        opcodes = self._offsets(m["Model"].StartOperatorCodesVector, code_offsets)
        subgraphs = self._offsets(m["Model"].StartSubgraphsVector, [subgraph])
        buffers = self._offsets(m["Model"].StartBuffersVector, buffer_offsets)
        description = b.CreateString("mobilenet bench/tflite_writer.py")
        m["Model"].Start(b)
        m["Model"].AddVersion(b, 3)
        m["Model"].AddOperatorCodes(b, opcodes)
        m["Model"].AddSubgraphs(b, subgraphs)
        m["Model"].AddBuffers(b, buffers)
        m["Model"].AddDescription(b, description)
        b.Finish(m["Model"].End(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _conv_options(kind, stride, padding, activation):
    def build(b):
        mod = _m[kind]
        mod.Start(b)
        mod.AddPadding(b, padding)
        mod.AddStrideW(b, stride)
        mod.AddStrideH(b, stride)
        mod.AddFusedActivationFunction(b, activation)
        mod.AddDilationWFactor(b, 1)
        mod.AddDilationHFactor(b, 1)
        if kind == "DepthwiseConv2DOptions":
            mod.AddDepthMultiplier(b, 1)
        return mod.End(b)
    return build


def to_tflite(net, path, *, softmax: bool = False, batch: int = 1) -> None:
    """Write ``net`` as a float32 .tflite with input [batch, H, W, 3] (NHWC) and output [batch, classes]."""
    g = _GraphBuilder()
    h, w, c = net.layers[0].in_shape
    x = g.tensor("input", [batch, h, w, c])
    graph_input = x
    for layer in net.layers:
        p = net.params.get(layer.name, {})
        oh, ow, oc = layer.out_shape
        if layer.type in ("conv3x3", "dwconv3x3", "conv1x1"):
            weight, bias = fold_batch_norm(layer, p)
            if layer.type == "conv3x3":
                weight, code, kind = weight.transpose(3, 0, 1, 2), Op.CONV_2D, "Conv2DOptions"  # OHWI
            elif layer.type == "dwconv3x3":
                weight, code, kind = weight[None], Op.DEPTHWISE_CONV_2D, "DepthwiseConv2DOptions"  # 1HWC
            else:
                weight, code, kind = weight.T[:, None, None, :], Op.CONV_2D, "Conv2DOptions"
            options_type = Options.DepthwiseConv2DOptions if kind.startswith("Depthwise") else Options.Conv2DOptions
            padding = tflite.Padding.VALID
            if layer.type != "conv1x1":
                ih, iw, _ = layer.in_shape
                tf_same = conv_padding(ih, layer.stride, "same") + conv_padding(iw, layer.stride, "same")
                top, left, bottom, right = layer.padding
                if (top, bottom, left, right) == tf_same:
                    padding = tflite.Padding.SAME
                elif any(layer.padding):  # a framework's own padding: an explicit PAD op, then VALID
                    pads = g.tensor(f"{layer.name}/paddings", [4, 2],
                                    np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32),
                                    tflite.TensorType.INT32)
                    ih, iw, ic = layer.in_shape
                    padded = g.tensor(f"{layer.name}/padded", [batch, ih + top + bottom, iw + left + right, ic])
                    g.op(Op.PAD, [x, pads], [padded], Options.PadOptions,
                         lambda b: (_m["PadOptions"].Start(b), _m["PadOptions"].End(b))[1])
                    x = padded
            wt = g.tensor(f"{layer.name}/weights", weight.shape, weight.astype(np.float32))
            bt = g.tensor(f"{layer.name}/bias", bias.shape, bias.astype(np.float32))
            out = g.tensor(layer.name, [batch, oh, ow, oc])
            g.op(code, [x, wt, bt], [out], options_type,
                 _conv_options(kind, layer.stride, padding, ACTIVATIONS[layer.activation]))
            x = out
        elif layer.type == "avgpool":
            ih, iw, _ = layer.in_shape

            def pool_options(b, ih=ih, iw=iw):
                mod = _m["Pool2DOptions"]
                mod.Start(b)
                mod.AddPadding(b, tflite.Padding.VALID)
                mod.AddStrideW(b, 1)
                mod.AddStrideH(b, 1)
                mod.AddFilterWidth(b, iw)
                mod.AddFilterHeight(b, ih)
                mod.AddFusedActivationFunction(b, tflite.ActivationFunctionType.NONE)
                return mod.End(b)
            out = g.tensor(layer.name, [batch, 1, 1, oc])
            g.op(Op.AVERAGE_POOL_2D, [x], [out], Options.Pool2DOptions, pool_options)
            x = out
        elif layer.type == "fc":
            weight, bias = fold_batch_norm(layer, p)
            wt = g.tensor(f"{layer.name}/weights", [oc, weight.shape[0]], np.ascontiguousarray(weight.T))
            bt = g.tensor(f"{layer.name}/bias", [oc], bias)
            out = g.tensor(layer.name, [batch, oc])
            activation = ACTIVATIONS[layer.activation]

            def fc_options(b, activation=activation):
                mod = _m["FullyConnectedOptions"]
                mod.Start(b)
                mod.AddFusedActivationFunction(b, activation)
                return mod.End(b)
            g.op(Op.FULLY_CONNECTED, [x, wt, bt], [out], Options.FullyConnectedOptions, fc_options)
            x = out
        else:
            raise ValueError(f"layer {layer.name!r}: type {layer.type!r} has no TFLite equivalent here")
    if softmax:
        out = g.tensor("probabilities", [batch, net.num_classes])

        def softmax_options(b):
            _m["SoftmaxOptions"].Start(b)
            _m["SoftmaxOptions"].AddBeta(b, 1.0)
            return _m["SoftmaxOptions"].End(b)
        g.op(Op.SOFTMAX, [x], [out], Options.SoftmaxOptions, softmax_options)
        x = out
    with open(path, "wb") as f:
        f.write(g.finish([graph_input], [x]))
