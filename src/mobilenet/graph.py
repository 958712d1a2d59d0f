"""The MobileNet v1 architecture (Howard et al. 2017, Table 1) as a list of layers.

Everything the paper reports (mult-adds, parameters, their split by layer
type) is computed from this graph, never typed in.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Type, Union, overload

import numpy as np

# The tuples of spellings stay importable from here, where they used to be defined.
from .vocabulary import (  # noqa: F401
    ACTIVATIONS,
    CHANNEL_ROUNDINGS,
    LAYER_KINDS,
    LAYER_TYPES,
    PADDINGS,
    Activation,
    ActivationName,
    ChannelRounding,
    ChannelRoundingName,
    LayerKind,
    LayerType,
    LayerTypeName,
    Padding,
    PaddingName,
)

# Table 1 after the stem: (output channels at alpha 1, depthwise stride) per block.
# The paper prints stride 2 for block 13; the 7x7 output (and every release) use 1.
TABLE1_BLOCKS: Tuple[Tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)
STEM_CHANNELS = 32
SHALLOW_DROPPED_BLOCKS = frozenset(range(7, 12))  # Table 5: the five 14x14x512 blocks
MAX_RESOLUTION = 4096  # a sanity bound on input sizes: beyond it a typo, not a model
# The engine's limit on one image's activation in any layer (values, as C++ checks it).
MAX_ACTIVATION = 2**31 - 1


@dataclass(frozen=True)
class Layer:
    """One layer: shapes are (height, width, channels); padding is (top, left, bottom, right)."""

    name: str
    # A plain str beyond the Literal: a file's unknown spelling is kept, for check_chain to name.
    type: Union[LayerType, LayerTypeName, str]
    in_shape: Tuple[int, int, int]
    out_shape: Tuple[int, int, int]
    stride: int = 1
    padding: Tuple[int, int, int, int] = (0, 0, 0, 0)
    activation: Union[Activation, ActivationName, str] = Activation.NONE

    def __post_init__(self) -> None:
        # Known spellings become the vocabulary's members; an unknown one is kept
        # as given, for check_chain to name (files are read into Layers first).
        if self.type in LAYER_TYPES:
            object.__setattr__(self, "type", LayerType(self.type))
        if self.activation in ACTIVATIONS:
            object.__setattr__(self, "activation", Activation(self.activation))

    @property
    def kind(self) -> Optional[LayerKind]:
        """What this layer's type is (None for an unknown type)."""
        return LAYER_KINDS.get(self.type)

    @property
    def mult_adds(self) -> int:
        """Multiply-adds per image; pooling's additions are not counted, as in the paper."""
        kind = self.kind
        if kind is None or not kind.has_weights:
            return 0
        (_, _, cin), (oh, ow, cout) = self.in_shape, self.out_shape
        return oh * ow * cout * kind.weights_per_output(cin)

    @property
    def params(self) -> int:
        """Weights, as the paper counts them (no biases, no batch norm)."""
        kind = self.kind
        if kind is None or not kind.has_weights:
            return 0
        return self.out_shape[2] * kind.weights_per_output(self.in_shape[2])

    @property
    def weight_shape(self) -> Optional[Tuple[int, ...]]:
        """Canonical (unfolded) weight layout: output channels last."""
        kind = self.kind
        return None if kind is None else kind.weight_shape(self.in_shape[2], self.out_shape[2])

    @property
    def has_batch_norm(self) -> bool:
        kind = self.kind
        return kind is not None and kind.has_batch_norm


def scaled_channels(channels: int, alpha: float,
                    rounding: Union[ChannelRounding, ChannelRoundingName] = ChannelRounding.FLOOR) -> int:
    """Channels of a layer thinned by the width multiplier.

    "floor" is Keras's and TF-slim's int(c * alpha); "multiple_of_8" is timm's
    make_divisible (nearest multiple of 8, never more than 10% below c * alpha).
    """
    rounding = ChannelRounding.parse(rounding, "channel_rounding")
    if rounding == ChannelRounding.FLOOR:
        return max(1, int(channels * alpha))
    value = channels * alpha  # ChannelRounding.MULTIPLE_OF_8
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


def conv_padding(size: int, stride: int, mode: Union[Padding, PaddingName]) -> Tuple[int, int]:
    """(before, after) padding of a 3x3 convolution along one axis.

    "same" is TensorFlow's rule: output = ceil(size / stride), and the odd pixel
    of padding goes after (bottom/right). "symmetric" is PyTorch's padding=1.
    """
    if Padding.parse(mode, "padding") == Padding.SYMMETRIC:
        return 1, 1
    out = -(-size // stride)  # Padding.SAME
    total = max((out - 1) * stride + 3 - size, 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, stride: int, before: int, after: int) -> int:
    return (size + before + after - 3) // stride + 1


@overload
def _check_number(name: str, value: Any, kind: Type[int]) -> int: ...
@overload
def _check_number(name: str, value: Any, kind: Type[float] = ...) -> float: ...
def _check_number(name: str, value: Any, kind: Type[float] = float) -> float:
    """value as a Python int (kind=int) or float; NumPy scalars are accepted, bools are not."""
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if kind is int:
        if not is_int:
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        return int(value)
    if not (is_int or isinstance(value, numbers.Real)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def check_flag(name: str, value: object) -> bool:
    """A bool (or NumPy bool); anything else, "no" included, is a TypeError rather than truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def resolution_pair(resolution: object) -> Tuple[int, int]:
    """(height, width) from an input size: an integer (square) or a (height, width) pair."""
    if isinstance(resolution, (tuple, list)):
        if len(resolution) != 2:
            raise ValueError(f"resolution must be an integer or a (height, width) pair, got {resolution!r}")
        pair = (resolution[0], resolution[1])
    else:
        pair = (resolution, resolution)
    checked = (_check_number("resolution", pair[0], int), _check_number("resolution", pair[1], int))
    for size in checked:
        if size < 32:
            raise ValueError(f"resolution must be >= 32, got {resolution}")
        if size > MAX_RESOLUTION:
            raise ValueError(f"resolution must be <= {MAX_RESOLUTION}, got {resolution}")
    return checked


def build_layers(alpha: float = 1.0, resolution: int = 224, num_classes: int = 1000, *,
                 shallow: bool = False, activation: Union[Activation, ActivationName] = Activation.RELU,
                 padding: Union[Padding, PaddingName] = Padding.SAME,
                 channel_rounding: Union[ChannelRounding, ChannelRoundingName] = ChannelRounding.FLOOR
                 ) -> Tuple[Layer, ...]:
    """The layers of Table 1 for a width multiplier and input resolution (an
    integer, or a (height, width) pair for non-square inputs)."""
    alpha = _check_number("alpha", alpha)
    if alpha <= 0:
        raise ValueError(f"alpha (width multiplier) must be > 0, got {alpha}")
    if alpha > 16:
        raise ValueError(f"alpha (width multiplier) must be <= 16, got {alpha}")
    height, width = resolution_pair(resolution)
    num_classes = _check_number("num_classes", num_classes, int)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    shallow = check_flag("shallow", shallow)
    activation = Activation.parse(activation, "activation")
    padding = Padding.parse(padding, "padding")
    channel_rounding = ChannelRounding.parse(channel_rounding, "channel_rounding")

    layers = []
    shape = (height, width, 3)

    def spatial(name: str, type_: LayerType, cout: int, stride: int) -> None:
        nonlocal shape
        h, w, _ = shape
        top, bottom = conv_padding(h, stride, padding)
        left, right = conv_padding(w, stride, padding)
        out = (conv_output_size(h, stride, top, bottom), conv_output_size(w, stride, left, right), cout)
        layers.append(Layer(name, type_, shape, out, stride, (top, left, bottom, right), activation))
        shape = out

    spatial("conv1", LayerType.CONV3X3, scaled_channels(STEM_CHANNELS, alpha, channel_rounding), 2)
    for index, (channels, stride) in enumerate(TABLE1_BLOCKS, start=1):
        if shallow and index in SHALLOW_DROPPED_BLOCKS:
            continue
        spatial(f"conv_dw_{index}", LayerType.DWCONV3X3, shape[2], stride)
        cout = scaled_channels(channels, alpha, channel_rounding)
        layers.append(Layer(f"conv_pw_{index}", LayerType.CONV1X1, shape, shape[:2] + (cout,), 1, (0, 0, 0, 0),
                            activation))
        shape = shape[:2] + (cout,)
    layers.append(Layer("avgpool", LayerType.AVGPOOL, shape, (1, 1, shape[2])))
    layers.append(Layer("fc", LayerType.FC, (1, 1, shape[2]), (1, 1, num_classes)))
    check_sizes(layers)
    return tuple(layers)


def check_sizes(layers: Sequence[Layer]) -> None:
    """Raises ValueError for a layer past the engine's size limit, before any weights are made for it."""
    for layer in layers:
        h, w, c = layer.in_shape
        values = h * w * max(c, layer.out_shape[2])
        if values > MAX_ACTIVATION:
            raise ValueError(f"layer {layer.name!r} would hold {h}x{w}x{max(c, layer.out_shape[2])} = {values:,} "
                             f"values per image, past the engine's limit of {MAX_ACTIVATION:,}: "
                             "use a smaller alpha, resolution or num_classes")


def check_chain(layers: Sequence[Layer]) -> None:
    """Raises ValueError unless each layer's input is the previous layer's output."""
    if not layers:
        raise ValueError("a network needs at least one layer")
    for prev, layer in zip(layers, layers[1:]):
        if prev.out_shape != layer.in_shape:
            raise ValueError(f"layer {layer.name!r} expects input {layer.in_shape}, "
                             f"but {prev.name!r} produces {prev.out_shape}")
    for layer in layers:
        if layer.type not in LAYER_TYPES:
            raise ValueError(f"layer {layer.name!r} has unknown type {layer.type!r}")
        if layer.activation not in ACTIVATIONS:
            raise ValueError(f"layer {layer.name!r} has unknown activation {layer.activation!r}")
    check_sizes(layers)
