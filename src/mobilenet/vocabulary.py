"""The package's words, each spelled once: layer types, activations, layouts,
paddings, channel roundings and backends; what each layer type is; and the
limits every entry point shares.

Each word is a ``str`` Enum whose member *is* its spelling: it compares and
hashes equal to the string (``LayerType.CONV3X3 == "conv3x3"``), prints,
formats and reprs as it, and is written to JSON as it. Users keep passing and
comparing plain strings; the package spells them through these names, so a
typo is an AttributeError at import rather than a silently false comparison.
The C++ core is handed the plain strings (``str(word)``), exactly as before.

The ``...Name`` ``Literal`` types are the same spellings for annotations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Dict, Literal, Optional, Tuple, Type, TypeVar

_W = TypeVar("_W", bound="Word")


class Word(str, Enum):
    """Base of the vocabulary's enums: a member stands for its spelling everywhere."""

    _value_: str

    # Python's default str() / format() of a str-mixin Enum give "LayerType.CONV3X3"
    # (3.11+) and repr gives "<LayerType...>": spell the value, so messages, CSV
    # cells and tables read exactly as they did with plain strings.
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __repr__(self) -> str:
        return repr(self.value)

    @classmethod
    def values(cls) -> Tuple[str, ...]:
        """The spellings, in definition order (the order error messages list them in)."""
        return tuple(member.value for member in cls)

    @classmethod
    def expected(cls) -> str:
        """What an error message says the parameter must be."""
        return f"one of {cls.values()}"

    @classmethod
    def parse(cls: Type[_W], value: object, parameter: str) -> _W:
        """The member spelled ``value`` (a member or its string), else ValueError naming ``parameter``."""
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        raise ValueError(f"{parameter} must be {cls.expected()}, got {value!r}")


class LayerType(Word):
    """The layers of Table 1 (the order is the paper's Table 2 order for reports)."""

    CONV3X3 = "conv3x3"      # the full 3x3 convolution of the stem
    DWCONV3X3 = "dwconv3x3"  # depthwise 3x3
    CONV1X1 = "conv1x1"      # pointwise
    AVGPOOL = "avgpool"      # global average pooling
    FC = "fc"                # the classifier


class Activation(Word):
    RELU = "relu"    # the paper
    RELU6 = "relu6"  # TensorFlow's released models
    NONE = "none"


class Layout(Word):
    NHWC = "NHWC"
    NCHW = "NCHW"

    @classmethod
    def expected(cls) -> str:
        return "'NHWC' or 'NCHW'"


class Padding(Word):
    """How a 3x3 convolution pads: TensorFlow's 'SAME' (the odd pixel after) or PyTorch's padding=1."""

    SAME = "same"
    SYMMETRIC = "symmetric"


class ChannelRounding(Word):
    """How the width multiplier rounds channels: Keras / TF-slim's int(c * alpha), or timm's make_divisible."""

    FLOOR = "floor"
    MULTIPLE_OF_8 = "multiple_of_8"


class Backend(Word):
    """What runs the 1x1 convolutions: our kernel (weights packed once) or OpenBLAS sgemm."""

    GEMM = "gemm"
    BLAS = "blas"


LayerTypeName = Literal["conv3x3", "dwconv3x3", "conv1x1", "avgpool", "fc"]
ActivationName = Literal["relu", "relu6", "none"]
LayoutName = Literal["NHWC", "NCHW"]
PaddingName = Literal["same", "symmetric"]
ChannelRoundingName = Literal["floor", "multiple_of_8"]
BackendName = Literal["gemm", "blas"]

# The spellings as tuples, for membership tests and messages.
LAYER_TYPES = LayerType.values()
ACTIVATIONS = Activation.values()
LAYOUTS = Layout.values()
PADDINGS = Padding.values()
CHANNEL_ROUNDINGS = ChannelRounding.values()
BACKENDS = Backend.values()

# An activation as the interval it clamps to (ONNX writes ReLU6 as Clip(0, 6)).
ACTIVATION_BOUNDS: Dict[Activation, Tuple[float, float]] = {
    Activation.RELU: (0.0, math.inf),
    Activation.RELU6: (0.0, 6.0),
    Activation.NONE: (-math.inf, math.inf),
}


# ---------------------------------------------------------------- layer types

_WEIGHT_AXES = {"H": "kernel", "W": "kernel", "I": "cin", "O": "cout", "C": "cout"}


@dataclass(frozen=True)
class LayerKind:
    """What a layer type is, for every piece of code that would otherwise branch on its name."""

    kernel: int                   # spatial size of the filter: 3, 1, or 0 (no weights)
    convolution: bool             # a convolution (the classifier is a matrix product, pooling has no weights)
    depthwise: bool               # one filter per channel: weights do not grow with the input channels
    weight_layout: Optional[str]  # canonical unfolded weights, output channels last (H, W, I, O; C = channels)
    table2_label: str             # the paper's name for it (Table 2), as reports print it
    onnx_op: str                  # the node export_onnx writes for it
    tflite_op: str                # the builtin operator a TFLite graph uses for it

    @property
    def has_weights(self) -> bool:
        return self.kernel > 0

    @property
    def has_batch_norm(self) -> bool:
        """Every convolution of MobileNet v1 is followed by batch norm; the classifier has a bias instead."""
        return self.convolution

    @property
    def spatial(self) -> bool:
        """A 3x3 window: has a stride and padding, and shrinks the map."""
        return self.kernel == 3

    @property
    def pointwise(self) -> bool:
        """A product over channels at each pixel (a GEMM): the 1x1 convolutions and the classifier."""
        return self.kernel == 1

    def weights_per_output(self, cin: int) -> int:
        """Multiply-adds per output value; also the fan-in of He initialization."""
        return self.kernel * self.kernel * (1 if self.depthwise else cin)

    def weight_shape(self, cin: int, cout: int) -> Optional[Tuple[int, ...]]:
        if self.weight_layout is None:
            return None
        sizes = {"kernel": self.kernel, "cin": cin, "cout": cout}
        return tuple(sizes[_WEIGHT_AXES[axis]] for axis in self.weight_layout)


# Keyed by member; looked up by a member or its plain spelling (they hash equal).
LAYER_KINDS: Dict[str, LayerKind] = {
    LayerType.CONV3X3: LayerKind(kernel=3, convolution=True, depthwise=False, weight_layout="HWIO",
                                 table2_label="Conv 3x3 (full)", onnx_op="Conv", tflite_op="CONV_2D"),
    LayerType.DWCONV3X3: LayerKind(kernel=3, convolution=True, depthwise=True, weight_layout="HWC",
                                   table2_label="Conv DW 3x3", onnx_op="Conv", tflite_op="DEPTHWISE_CONV_2D"),
    LayerType.CONV1X1: LayerKind(kernel=1, convolution=True, depthwise=False, weight_layout="IO",
                                 table2_label="Conv 1x1", onnx_op="Conv", tflite_op="CONV_2D"),
    LayerType.AVGPOOL: LayerKind(kernel=0, convolution=False, depthwise=False, weight_layout=None,
                                 table2_label="Avg pool", onnx_op="GlobalAveragePool", tflite_op="AVERAGE_POOL_2D"),
    LayerType.FC: LayerKind(kernel=1, convolution=False, depthwise=False, weight_layout="IO",
                            table2_label="Fully connected", onnx_op="Gemm", tflite_op="FULLY_CONNECTED"),
}


def kind_of(layer_type: object) -> LayerKind:
    """The LayerKind of a layer type (a member or its spelling); ValueError for an unknown one."""
    kind = LAYER_KINDS.get(layer_type) if isinstance(layer_type, str) else None
    if kind is None:
        raise ValueError(f"unknown layer type {layer_type!r}")
    return kind


# ---------------------------------------------------------------- limits

MIN_THREADS, MAX_THREADS = 1, 1024   # worker threads of one network
STRIDES = (1, 2)                     # of a 3x3 layer
MAX_PADDING = 2                      # pixels on any side of a 3x3 layer (the engine's bound)
# Batch-norm epsilons of the frameworks whose weights we read. TF-slim's and
# Keras's is also the default of parameters that do not record one.
BN_EPSILON = 1e-3
TORCH_BN_EPSILON = 1e-5  # PyTorch's BatchNorm2d, and the default of ONNX's BatchNormalization
