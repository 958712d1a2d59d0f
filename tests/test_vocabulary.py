"""The vocabulary: each word spelled once, and its members interchangeable with their strings."""
import json
import pickle
import typing

import pytest

import mobilenet
from mobilenet.graph import Layer, build_layers
from mobilenet.vocabulary import (
    LAYER_KINDS,
    Activation,
    ActivationName,
    Backend,
    BackendName,
    ChannelRounding,
    ChannelRoundingName,
    LayerType,
    LayerTypeName,
    Layout,
    LayoutName,
    Padding,
    PaddingName,
    kind_of,
)

WORDS = [(LayerType, LayerTypeName), (Activation, ActivationName), (Layout, LayoutName), (Padding, PaddingName),
         (ChannelRounding, ChannelRoundingName), (Backend, BackendName)]


@pytest.mark.parametrize("enum, literal", WORDS)
def test_literal_types_spell_the_same_words(enum, literal):
    assert typing.get_args(literal) == enum.values()


def test_a_member_is_its_spelling():
    word = LayerType.CONV3X3
    assert word == "conv3x3" and isinstance(word, str)
    assert {"conv3x3": 1}[word] == 1 and {word: 1}["conv3x3"] == 1
    assert (str(word), f"{word}", f"{word:>8}", repr(word)) == ("conv3x3", "conv3x3", " conv3x3", "'conv3x3'")
    assert json.dumps({word: [Activation.RELU6]}) == '{"conv3x3": ["relu6"]}'
    assert pickle.loads(pickle.dumps(word)) is word


@pytest.mark.parametrize("enum, value, parameter", [
    (Activation, "gelu", "activation"), (Layout, "HWC", "layout"), (Padding, "valid", "padding"),
    (ChannelRounding, "up", "channel_rounding"), (Backend, "mkl", "backend"), (LayerType, "conv5x5", "type"),
    (Activation, None, "activation"), (Layout, Padding.SAME, "layout"),
])
def test_unknown_words_are_refused_naming_the_parameter(enum, value, parameter):
    with pytest.raises(ValueError, match=rf"^{parameter} must be .*{enum.values()[0]}.*, got {value!r}$"):
        enum.parse(value, parameter)


def test_parse_takes_members_and_strings():
    assert Activation.parse("relu6", "activation") is Activation.RELU6
    assert Activation.parse(Activation.RELU, "activation") is Activation.RELU
    with pytest.raises(ValueError, match=r"^layout must be 'NHWC' or 'NCHW', got 'nhwc'$"):
        Layout.parse("nhwc", "layout")


def test_every_layer_type_has_one_kind():
    assert set(LAYER_KINDS) == set(LayerType)
    assert kind_of("dwconv3x3").depthwise and kind_of(LayerType.FC).pointwise
    with pytest.raises(ValueError, match="unknown layer type 'conv5x5'"):
        kind_of("conv5x5")


def test_layers_hold_members_and_keep_unknown_spellings_for_check_chain():
    layer = Layer("x", "conv1x1", (7, 7, 8), (7, 7, 16), activation="relu6")
    assert layer.type is LayerType.CONV1X1 and layer.activation is Activation.RELU6
    assert (layer.weight_shape, layer.params, layer.mult_adds) == ((8, 16), 128, 49 * 128)
    odd = Layer("y", "conv5x5", (7, 7, 8), (7, 7, 16))
    assert odd.type == "conv5x5" and odd.weight_shape is None and odd.mult_adds == 0


def test_words_and_strings_build_the_same_network():
    by_word = build_layers(0.25, 64, 10, activation=Activation.RELU6, padding=Padding.SYMMETRIC,
                           channel_rounding=ChannelRounding.MULTIPLE_OF_8)
    by_string = build_layers(0.25, 64, 10, activation="relu6", padding="symmetric", channel_rounding="multiple_of_8")
    assert by_word == by_string
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, num_classes=4, activation=Activation.RELU6,
                                backend=Backend.GEMM, threads=1)
    assert net.activation == "relu6" and net.backend == "gemm"
