"""The typed boundary between the package and its C++ core: bound enums and LayerSpec."""
import numpy as np
import pytest

from mobilenet import _core
from mobilenet.vocabulary import Activation, Backend, LayerType, Layout

# Each vocabulary enum and the C++ enum bound for it (python/bindings.cpp).
PAIRS = [(LayerType, _core.LayerKind), (Activation, _core.Activation), (Layout, _core.InputLayout),
         (Backend, _core.PointwiseBackend)]


@pytest.mark.parametrize("vocabulary, bound", PAIRS, ids=lambda e: e.__name__)
def test_bound_enums_have_the_vocabulary_member_names(vocabulary, bound):
    """A word crosses the boundary by member name, so the two enums must name the same members."""
    assert set(bound.__members__) == set(vocabulary.__members__)


def test_a_spelling_reads_as_its_bound_member():
    """The bindings also take the vocabulary's spellings (a vocabulary member is one)."""
    for word in LayerType:
        assert _core.LayerSpec(str(word), 4, 4, 3, 3).kind is _core.LayerKind[word.name]
        assert _core.LayerSpec(word, 4, 4, 3, 3).kind is _core.LayerKind[word.name]
    for word in Activation:
        spec = _core.LayerSpec(_core.LayerKind.CONV1X1, 4, 4, 3, 3, activation=str(word))
        assert spec.activation is _core.Activation[word.name]


def test_layer_spec_keeps_float32_weights_without_a_copy():
    weight, bias = np.ones(9, np.float32), np.zeros(3, np.float32)
    spec = _core.LayerSpec(_core.LayerKind.CONV1X1, 2, 2, 3, 3, padding=(0, 0, 0, 0), weight=weight, bias=bias)
    assert np.shares_memory(spec.weight, weight) and np.shares_memory(spec.bias, bias)
    assert (spec.in_h, spec.in_w, spec.in_c, spec.out_c, spec.stride, spec.padding) == (2, 2, 3, 3, 1, (0, 0, 0, 0))
    converted = _core.LayerSpec(_core.LayerKind.CONV1X1, 2, 2, 3, 3, weight=np.ones(9), bias=None)
    assert converted.weight.dtype == np.float32 and converted.bias is None


def test_layer_spec_reads_back_its_int8_parameters():
    """spec.int8 gives what set_int8 set (tests/cross/int8_cases.py writes the C++ cases from it)."""
    spec = _core.LayerSpec(_core.LayerKind.CONV1X1, 2, 2, 2, 3)
    weight = np.arange(-3, 3, dtype=np.int32)
    spec.set_int8(weight, np.array([1, 2, 3], np.int32), np.full(3, 1 << 30, np.int32), np.array([-1, -2, -3]),
                  5, 7, 7, 200, True, mean=False)
    q = spec.int8
    np.testing.assert_array_equal(q["weight"], weight)
    np.testing.assert_array_equal(q["shift"], [-1, -2, -3])
    assert q["weight"].dtype == np.int32 and q["bias"].tolist() == [1, 2, 3] and q["multiplier"][0] == 1 << 30
    assert (q["in_zero_point"], q["out_zero_point"], q["act_min"], q["act_max"]) == (5, 7, 7, 200)
    assert q["signed_values"] is True and q["mean"] is False


def test_layer_spec_rejects_bad_words_and_padding():
    with pytest.raises(ValueError, match=r"unknown layer type 'conv5x5' \(expected conv3x3, dwconv3x3, conv1x1"):
        _core.LayerSpec("conv5x5", 4, 4, 3, 3)
    with pytest.raises(ValueError, match=r"unknown activation 'gelu' \(expected none, relu, relu6\)"):
        _core.LayerSpec("conv1x1", 4, 4, 3, 3, activation="gelu")
    with pytest.raises(ValueError, match=r"padding must be \(top, left, bottom, right\)"):
        _core.LayerSpec("dwconv3x3", 4, 4, 3, 3, padding=(1, 1))
    with pytest.raises(TypeError):
        _core.Network([{"type": "conv1x1"}])  # a dict of strings no longer crosses


def test_network_reports_its_backend_as_the_bound_enum():
    spec = _core.LayerSpec("fc", 1, 1, 4, 2, weight=np.ones(8, np.float32))
    assert _core.Network([spec], backend="gemm").backend is _core.PointwiseBackend.GEMM
    if _core.blas_available():
        assert _core.Network([spec], backend=_core.PointwiseBackend.BLAS).backend is _core.PointwiseBackend.BLAS
    with pytest.raises(ValueError, match="unknown pointwise backend 'mkl'"):
        _core.Network([spec], backend="mkl")


def test_precision_enum_spells_the_package_precisions():
    """mobilenet.precision has spellings, not an enum: each bound member is one of them in capitals."""
    from mobilenet.precision import PRECISIONS
    assert {name.lower() for name in _core.Precision.__members__} <= set(PRECISIONS)
    spec = _core.LayerSpec("fc", 1, 1, 4, 2, weight=np.ones(8, np.float32))
    assert _core.Network([spec]).precisions == [_core.Precision.FLOAT32]
