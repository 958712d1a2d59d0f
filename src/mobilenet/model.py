"""MobileNetV1: the network, its packed engine, and its forward passes."""
from __future__ import annotations

import copy
import numbers
import os
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Type, TypeVar, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._files import FilePath
from .graph import Layer, build_layers, check_chain
from .params import Params, check_params, fold_batch_norm, random_params
from .precision import check_cpu_runs, check_precision, runnable_precision
from .quantization import Quantization
from .summary import Summary
from .vocabulary import (  # noqa: F401
    BACKENDS,
    LAYOUTS,
    MAX_THREADS,
    MIN_THREADS,
    Activation,
    Backend,
    ChannelRounding,
    LayerType,
    Layout,
    Padding,
    Word,
)

if TYPE_CHECKING:
    from .profiler import ProfileReport
    from .vocabulary import ActivationName, ChannelRoundingName, PaddingName

ISAS = ("scalar", "avx2", "avx512", "neon")
# Activation memory a forward call may use for its batch, and the fewest images
# a chunk of a larger batch holds (see MobileNetV1.chunk_size).
CHUNK_BYTES = 256 << 20
MIN_CHUNK = 40
MAX_ENGINE_BATCH = 1 << 16  # the engine's limit on images per call


def _check_threads(threads: object) -> int:
    if threads is None:
        return min(_core.default_threads(), 1024)  # the engine's limit, on the largest machines
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be an integer, got {type(threads).__name__}")
    if not MIN_THREADS <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be between {MIN_THREADS} and {MAX_THREADS}, got {threads}")
    return int(threads)


def _check_seed(seed: object) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return int(seed)


def _check_isa(isa: object) -> Optional[str]:
    if isa is None:
        return None
    if not isinstance(isa, str):
        raise TypeError(f"isa must be a string or None, got {type(isa).__name__}")
    if isa not in ISAS:
        raise ValueError(f"isa must be an instruction set, one of {ISAS}, got {isa!r}")
    if isa not in _core.supported_isas():
        raise ValueError(f"isa={isa!r}: this CPU or build does not support that instruction set "
                         f"(supported: {', '.join(_core.supported_isas())})")
    return isa


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def _resolution(layers: Sequence[Layer]) -> Union[int, Tuple[int, int]]:
    """The input size: an integer for square inputs (the paper's), else (height, width)."""
    height, width = layers[0].in_shape[:2]
    return height if height == width else (height, width)


# The C++ core's enums are bound under the vocabulary's member names (python/bindings.cpp
# holds both words of each), so a word crosses the boundary by name, either way.
CoreEnum = TypeVar("CoreEnum", bound=Enum)
VocabularyWord = TypeVar("VocabularyWord", bound=Word)


def _core_word(word: str, vocabulary: Type[Word], core: Type[CoreEnum]) -> CoreEnum:
    """The core's member for a vocabulary word (a member or its spelling)."""
    return core[vocabulary(word).name]


def _vocabulary_word(member: Enum, vocabulary: Type[VocabularyWord]) -> VocabularyWord:
    return vocabulary[member.name]


def engine_specs_int8(layers: Sequence[Layer], quantization: Quantization) -> List[_core.LayerSpec]:
    """The engine's int8 layer descriptions: TFLite's integer parameters, values in uint8 storage
    (an int8 tensor's values + 128), multipliers and clamps computed as TFLite's kernels do."""
    from . import quantization as qz
    specs: List[_core.LayerSpec] = []
    x_q = quantization.input
    empty: np.ndarray = np.zeros(0, np.int32)
    for layer in layers:
        if layer.name not in quantization.layers:
            raise ValueError(f"layer {layer.name!r} has no integer parameters")
        q = quantization.layers[layer.name]
        out = q.output
        if out.dtype != x_q.dtype:
            raise ValueError(f"layer {layer.name!r}: {x_q.dtype} input but {out.dtype} output")
        offset = out.storage_offset
        (h, w, cin), cout = layer.in_shape, layer.out_shape[2]
        spec = _core.LayerSpec(_core_word(layer.type, LayerType, _core.LayerKind), h, w, cin, cout,
                               stride=layer.stride, padding=layer.padding,
                               activation=_core_word(layer.activation, Activation, _core.Activation))
        if layer.type == LayerType.AVGPOOL:
            if q.mean:
                m, s = qz.mean_multiplier(x_q.scale, out.scale, h * w)
                spec.set_int8(empty, empty, np.array([m], np.int32), np.array([s], np.int32), x_q.zero_point + offset,
                              out.zero_point + offset, out.qmin + offset, out.qmax + offset, out.dtype == "int8",
                              mean=True)
            else:
                if out != x_q:
                    raise ValueError(f"layer {layer.name!r}: average pooling must keep its input's quantization")
                spec.set_int8(empty, empty, empty, empty, x_q.zero_point + offset, out.zero_point + offset,
                              out.qmin + offset, out.qmax + offset, out.dtype == "int8")
        else:
            if q.weight is None or q.weight_scale is None or q.weight_zero_point is None:
                raise ValueError(f"layer {layer.name!r} has no integer weights")
            effective = np.asarray(q.weight, np.int32) - np.asarray(q.weight_zero_point, np.int32)
            multiplier, shift = qz.conv_multipliers(x_q.scale, q.weight_scale, out.scale, x_q.dtype)
            lo, hi = qz.activation_range(layer.activation, out)
            spec.set_int8(effective.ravel(), empty if q.bias is None else np.asarray(q.bias, np.int32),
                          np.broadcast_to(multiplier, (cout,)).astype(np.int32),
                          np.broadcast_to(shift, (cout,)).astype(np.int32),
                          x_q.zero_point + offset, out.zero_point + offset, lo + offset, hi + offset, False)
        specs.append(spec)
        x_q = out
    return specs


def engine_specs(layers: Sequence[Layer], params: Params) -> List[_core.LayerSpec]:
    """The C++ engine's layer descriptions (``_core.LayerSpec``): batch norm folded, weights float32."""
    specs: List[_core.LayerSpec] = []
    for layer in layers:
        (h, w, cin), cout = layer.in_shape, layer.out_shape[2]
        weight: Optional[npt.NDArray[np.float32]] = None
        bias: Optional[npt.NDArray[np.float32]] = None
        if layer.name in params and layer.weight_shape is not None:
            weight, bias = fold_batch_norm(layer, params[layer.name])
            weight = weight.ravel()
        specs.append(_core.LayerSpec(_core_word(layer.type, LayerType, _core.LayerKind), h, w, cin, cout,
                                     stride=layer.stride, padding=layer.padding,
                                     activation=_core_word(layer.activation, Activation, _core.Activation),
                                     weight=weight, bias=bias))
    return specs


def _chunk_images(layers: Sequence[Layer]) -> int:
    """MobileNetV1.chunk_size of a network of these layers."""
    # Two activation buffers of the largest layer output, each pixel padded by
    # up to 16 floats (the engine's pixel stride): an upper bound on the engine's.
    per_image = 2 * 4 * max(h * w * (c + 16) for h, w, c in (layer.out_shape for layer in layers))
    return min(max(MIN_CHUNK, CHUNK_BYTES // per_image), MAX_ENGINE_BATCH)


class _Int8Call(NamedTuple):
    """What an int8 network's direct call (MobileNetV1._forward_int8) needs, worked out once.

    uint8_input: uint8 arrays are the engine's storage as they are (the model takes uint8);
    quantize: quantize_input's parameters for float32 input; softmax: softmax_int8's, None
    without a softmax; output / softmax_output: dequantize_uint8's (zero point plus storage
    offset, scale) for the last layer's output and for the softmax's (the file's type)."""

    uint8_input: bool
    quantize: Tuple[float, int, int, int, int]
    softmax: Optional[Tuple[int, int, int]]
    output: Tuple[int, float]
    softmax_output: Tuple[int, float]

    @classmethod
    def of(cls, quant: Quantization) -> _Int8Call:
        from . import quantization as qz
        q = quant.input
        accepted = {q.dtype} | ({quant.io_input.dtype} if quant.io_input else set())
        last = list(quant.layers.values())[-1].output
        after = quant.io_output or quant.softmax or last  # the last layer's where there is no softmax (unused)
        return cls("uint8" in accepted, (q.scale, q.zero_point, q.qmin, q.qmax, q.storage_offset),
                   qz.softmax_parameters(last.scale) if quant.softmax is not None else None,
                   (last.zero_point + last.storage_offset, last.scale),
                   (after.zero_point + after.storage_offset, after.scale))


class MobileNetV1:
    """MobileNet v1 (Howard et al. 2017) for CPU inference.

    With no weights given, the network of the paper's Table 1 is built with
    seeded random weights (He initialization) and random batch-norm statistics.
    Batch norm is folded and weights are packed once, here; a forward pass
    runs the whole network in one C++ call with the GIL released.

    alpha: width multiplier (> 0); resolution: input size (>= 32), or a
    (height, width) pair for non-square inputs;
    shallow: drop the five 14x14x512 blocks (Table 5); activation: "relu"
    (the paper) or "relu6" (TensorFlow's releases); padding: "same"
    (TensorFlow: stride-2 layers pad bottom/right) or "symmetric" (PyTorch);
    channel_rounding: "floor" (Keras, TF-slim) or "multiple_of_8" (timm);
    threads: worker threads (default: ``mobilenet.default_threads()``, the
    physical cores this process may use); backend: "gemm" (our kernel,
    weights packed once) or "blas" (OpenBLAS sgemm + fused epilogue);
    precision: the arithmetic (mobilenet.precision; float32 here: an int8
    network comes from `quantize`, other precisions from `with_precision`).
    """

    # None where the network came from a file or a layer list (from_layers).
    alpha: Optional[float]
    shallow: Optional[bool]
    padding: Optional[str]
    channel_rounding: Optional[str]
    seed: Optional[int]

    def __init__(self, alpha: float = 1.0, resolution: int = 224, num_classes: int = 1000, shallow: bool = False,
                 activation: Union[Activation, ActivationName] = Activation.RELU,
                 padding: Union[Padding, PaddingName] = Padding.SAME, seed: int = 0, *,
                 channel_rounding: Union[ChannelRounding, ChannelRoundingName] = ChannelRounding.FLOOR,
                 threads: Optional[int] = None,
                 backend: str = Backend.GEMM, isa: Optional[str] = None, precision: str = "float32") -> None:
        if check_precision(precision) == "int8":
            raise ValueError("precision='int8' needs calibration data to choose its scales: build the float32 "
                             "network and call net.quantize(calibration_images)")
        precision = runnable_precision(precision)
        layers = build_layers(alpha, resolution, num_classes, shallow=shallow, activation=activation,
                              padding=padding, channel_rounding=channel_rounding)
        seed = _check_seed(seed)
        # Settings are checked before the weights are made: at alpha 16 that takes minutes.
        threads, backend, isa = _check_threads(threads), _check_backend(backend), _check_isa(isa)
        self._setup(layers, random_params(layers, seed), threads=threads, backend=backend, isa=isa,
                    precision=precision)
        self.alpha, self.resolution, self.shallow = float(alpha), _resolution(self.layers), bool(shallow)
        self.padding, self.channel_rounding, self.seed = padding, channel_rounding, seed

    @classmethod
    def from_layers(cls, layers: Sequence[Layer], params: Params, *, threads: Optional[int] = None,
                    backend: str = Backend.GEMM, isa: Optional[str] = None, precision: str = "float32",
                    quantization: Optional[Quantization] = None, **attributes: Any) -> MobileNetV1:
        """A network from an explicit layer list and unfolded parameters (used by the loaders).

        quantization: the integer scheme (mobilenet.quantization) an int8 network runs with.
        ``attributes`` (alpha, resolution, preprocessing, labels, ...) are recorded on the network.
        """
        net = cls.__new__(cls)
        net.quantization = quantization
        net._setup(tuple(layers), params, threads=threads, backend=backend, isa=isa,
                   precision=runnable_precision(precision))
        net.alpha, net.resolution, net.shallow = None, _resolution(net.layers), None
        net.padding = net.channel_rounding = net.seed = None
        for key, value in attributes.items():
            setattr(net, key, value)
        return net

    def _setup(self, layers: Sequence[Layer], params: Params, *, threads: Optional[int], backend: str,
               isa: Optional[str], precision: str) -> None:
        check_chain(layers)
        if layers[0].type != LayerType.CONV3X3 or layers[0].in_shape[2] != 3:
            raise ValueError("the first layer must be a 3x3 convolution over 3 input channels")
        check_params(layers, params)
        backend, isa, threads = _check_backend(backend), _check_isa(isa), _check_threads(threads)
        check_cpu_runs(precision, isa)
        if precision in ("bfloat16", "float16") and backend != Backend.GEMM:
            raise ValueError(f"precision={precision!r} runs on backend='gemm' only, got backend={backend!r}")
        self.layers = tuple(layers)
        self.params = params
        self.num_classes = layers[-1].out_shape[2]
        # What _forward's direct call accepts: one image's shape per layout, and the images of one call.
        h, w, c = self.input_shape
        self._image_shapes = {Layout.NHWC.value: (h, w, c), Layout.NCHW.value: (c, h, w)}
        self._chunk_size = _chunk_images(self.layers)
        self.activation = layers[0].activation
        self.preprocessing = getattr(self, "preprocessing", None)
        self.labels = getattr(self, "labels", None)
        self.precision = precision
        # An integer network's scheme (scales, zero points, per-channel or not); None in float precisions.
        self.quantization = getattr(self, "quantization", None)
        if precision == "int8":
            if self.quantization is None:
                raise ValueError("precision='int8' needs a quantized model: load a quantized TFLite file, "
                                 "or call net.quantize(calibration_images) on a float network")
            self._engine = _core.Network(engine_specs_int8(self.layers, self.quantization), isa=isa, threads=threads,
                                         backend=_core_word(backend, Backend, _core.PointwiseBackend),
                                         precision=_core.Precision.INT8)
            self._int8_call = _Int8Call.of(self.quantization)
            return
        self.quantization = None
        self._engine = _core.Network(engine_specs(self.layers, params), isa=isa, threads=threads,
                                     backend=_core_word(backend, Backend, _core.PointwiseBackend),
                                     precision=precision)

    # ------------------------------------------------------------------ running

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        """(height, width, channels) of one NHWC image."""
        return self.layers[0].in_shape

    def _check_input(self, x: npt.ArrayLike, layout: str) -> np.ndarray:
        """x as an array of the network's input shape, not yet converted to float32."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        if x.dtype != np.float32 and x.dtype.kind != "f":
            raise TypeError(f"input must be a float32 array, got dtype {x.dtype}; "
                            "images (uint8) go through mobilenet.preprocess(image, net) first")
        h, w, c = self.input_shape
        expected = (h, w, c) if layout == Layout.NHWC else (c, h, w)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            hint = ""
            if x.ndim == 3 and tuple(x.shape) == expected:
                hint = "; for one image, pass x[None]"
            elif x.ndim == 4 and tuple(x.shape[1:]) == ((c, h, w) if layout == Layout.NHWC else (h, w, c)):
                other = str(Layout.NCHW if layout == Layout.NHWC else Layout.NHWC)
                hint = f"; this looks like {other}: pass layout={other!r}"
            raise ValueError(f"input shape {tuple(x.shape)} does not match (N, {', '.join(map(str, expected))}) "
                             f"for layout={layout!r}{hint}")
        return x

    def _prepare(self, x: npt.ArrayLike, layout: str) -> np.ndarray:
        # float16 / float64 are converted, as documented; copies only other dtypes and
        # non-contiguous or negatively strided arrays
        return np.ascontiguousarray(self._check_input(x, layout), dtype=np.float32)

    @property
    def chunk_size(self) -> int:
        """Most images per engine call: ``net(x)`` runs larger batches in nearly equal chunks.

        As many images as fit in ``CHUNK_BYTES`` (256 MB) of activations, but
        never fewer than ``MIN_CHUNK`` (40), so that every chunk has at least 20
        images: from about 20 on, the engine's GEMM tiles sum each row in the
        same order whatever the batch, and chunked results are the bits of one call.
        """
        return self._chunk_size  # worked out once (_chunk_images): _forward reads it on every call

    def _int8_storage(self, x: npt.ArrayLike, layout: str) -> np.ndarray:
        """x as the engine's uint8 storage, NHWC: x quantized (the model's input type) or float32
        real values, which are quantized with the input's scale and zero point (TFLite's QUANTIZE)."""
        assert self.quantization is not None
        quant = self.quantization
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")
        arr = np.asarray(x)
        accepted = {quant.input.numpy_dtype} | ({quant.io_input.numpy_dtype} if quant.io_input else set())
        if arr.dtype.kind in "ui" and arr.dtype not in accepted:
            names = " or ".join(sorted(str(d) for d in accepted))
            raise TypeError(f"input must be {names} (the model's quantized input) or float32 "
                            f"(real values, quantized with its scale), got dtype {arr.dtype}")
        if arr.dtype.kind == "f":
            arr = self._check_input(arr, layout)
            # QParams.quantize in C++, straight to NHWC storage (NumPy's took ~0.7 ms a 224x224 image);
            # ValueError on NaN or Inf
            q = quant.input
            return self._engine.quantize_input(arr, layout == Layout.NCHW, q.scale, q.zero_point, q.qmin, q.qmax,
                                               q.storage_offset)
        h, w, c = self.input_shape
        expected = (h, w, c) if layout == Layout.NHWC else (c, h, w)
        if arr.ndim != 4 or tuple(arr.shape[1:]) != expected:
            raise ValueError(f"input shape {tuple(arr.shape)} does not match (N, {', '.join(map(str, expected))}) "
                             f"for layout={layout!r}")
        if layout == Layout.NCHW:
            arr = arr.transpose(0, 2, 3, 1)
        # uint8 storage (an int8 value + 128): a uint8 <-> int8 recast of the input is the same storage.
        storage = arr.view(np.uint8) ^ np.uint8(0x80) if arr.dtype == np.int8 else arr
        return np.ascontiguousarray(storage)

    def _forward_int8(self, x: npt.ArrayLike, layout: str, softmax: bool, quantized_output: bool) -> np.ndarray:
        """The integer network on x (see _int8_storage); the output dequantized, or raw."""
        # An NHWC array of the input's shape, as the engine stores it (uint8) or float32 values,
        # goes straight to the engine and comes back dequantized in C++, as in _forward.
        call = self._int8_call
        if (not quantized_output and type(x) is np.ndarray and isinstance(layout, str) and layout == "NHWC"
                and x.shape[1:] == self._image_shapes["NHWC"]):
            storage = (x if x.dtype == np.uint8 and call.uint8_input
                       else self._engine.quantize_input(x, False, *call.quantize) if x.dtype == np.float32 else None)
            if storage is not None:
                out = self._engine.forward_int8(storage)
                if softmax and call.softmax is not None:
                    return _core.dequantize_uint8(_core.softmax_int8(out, *call.softmax), *call.softmax_output)
                return _core.dequantize_uint8(out, *call.output)
        assert self.quantization is not None
        quant = self.quantization
        out = self._engine.forward_int8(self._int8_storage(x, layout))
        result_q = list(quant.layers.values())[-1].output
        if softmax and call.softmax is not None:
            # TFLite's integer softmax on the uint8 storage (the same for uint8 and int8 tensors)
            out = _core.softmax_int8(out, *call.softmax)
            # the file's QUANTIZE after it (int8 -> uint8) keeps the storage
            result_q = quant.io_output if quant.io_output is not None else quant.softmax
        q = (out ^ np.uint8(0x80)).view(np.int8) if result_q.dtype == "int8" else out
        return q if quantized_output else result_q.dequantize(q)

    def _forward(self, x: npt.ArrayLike, layout: str, softmax: bool, check_finite: bool) -> np.ndarray:
        if self.precision == "int8":
            return self._forward_int8(x, layout, softmax, False)
        # A float32 array of the network's input shape goes straight to the engine (which copies a
        # non-contiguous one): after a pass this code runs from cold caches, where every further
        # check cost several microseconds (bench/RESULTS.md, log entry 109).
        if (type(x) is np.ndarray and x.dtype == np.float32 and isinstance(layout, str)
                and x.shape[1:] == self._image_shapes.get(layout) and x.shape[0] <= self._chunk_size):
            return self._engine.forward(x, layout, softmax, check_finite)
        x = self._check_input(x, layout)
        n, chunk = x.shape[0], self._chunk_size
        if n <= chunk:
            out = self._engine.forward(np.ascontiguousarray(x, dtype=np.float32), layout, softmax, check_finite)
        else:
            out = np.empty((n, self.num_classes), np.float32)
            chunks = -(-n // chunk)
            # Larger chunks first: the first chunk's workspace then serves every later one.
            sizes = [n // chunks + 1] * (n % chunks) + [n // chunks] * (chunks - n % chunks)
            try:
                start = 0
                for size in sizes:
                    part = np.ascontiguousarray(x[start:start + size], dtype=np.float32)
                    out[start:start + size] = self._engine.forward(part, layout, softmax, check_finite)
                    start += size
            finally:
                # A chunk's workspace is not kept for later calls (single images'
                # are): allocating it again costs well under 1% of such a call.
                self._engine.trim_workspaces(1)
        return out  # with check_finite, the engine has refused an output with NaN or Inf

    def logits(self, x: npt.ArrayLike, layout: str = Layout.NHWC, *, check_finite: bool = True) -> np.ndarray:
        """Pre-softmax class scores, (N, num_classes) float32.

        x: (N, H, W, 3) float32, or (N, 3, H, W) with layout="NCHW". Raises
        ValueError if x holds NaN or Inf, or if finite values overflow to NaN
        or Inf inside the network (check_finite=False skips both checks).

        Batches larger than ``chunk_size`` run in chunks with the same results,
        so that beyond its input and output a call needs at most 256 MB of
        activations or 40 images' (8 MB each at 1.0/224), whichever is more,
        plus one image's per thread; a float64 input is converted chunk by chunk.
        """
        return self._forward(x, layout, False, check_finite)

    def __call__(self, x: npt.ArrayLike, layout: str = Layout.NHWC, *, check_finite: bool = True,
                 quantized_output: bool = False) -> np.ndarray:
        """Class probabilities (softmax of the logits), (N, num_classes) float32; see ``logits``.

        An int8 network (``precision == "int8"``) takes its quantized input type (uint8 or int8)
        or float32 real values (quantized with the input's scale and zero point) and returns its
        output dequantized to float32 (the integer softmax's where the model has one; a feature
        extractor's embedding otherwise); quantized_output=True returns the raw quantized output
        (the model's uint8 or int8) instead.
        """
        if quantized_output:
            if self.precision != "int8":
                raise ValueError("quantized_output=True is for int8 networks; this one is " + self.precision)
            return self._forward_int8(x, layout, True, True)
        return self._forward(x, layout, True, check_finite)

    predict = __call__

    # ------------------------------------------------------------------ settings

    @property
    def threads(self) -> int:
        return self._engine.threads

    def set_threads(self, threads: int) -> None:
        self._engine.threads = _check_threads(threads)

    @property
    def isa(self) -> str:
        """The instruction set this network's kernels use."""
        return self._engine.isa

    @property
    def backend(self) -> str:
        return _vocabulary_word(self._engine.backend, Backend)

    @property
    def kernel_names(self) -> List[str]:
        """The kernel variant that runs each layer, e.g. 'dwconv3x3s2_blocks_avx512'."""
        return list(self._engine.kernel_names)

    @property
    def layer_precisions(self) -> List[str]:
        """Each layer's precision as the plan chose it: a bfloat16 network runs its 1x1
        convolutions and classifier in bf16, its depthwise and pooling layers in float32, and
        its stem in bf16 where the CPU's bf16 GEMM runs it (AMX, vdpbf16ps) from 16 channels on."""
        return [str(p.name).lower() for p in self._engine.precisions]

    def timed_passes(self, x: npt.ArrayLike, runs: int, warmup: int = 10, layout: str = Layout.NHWC, *,
                     softmax: bool = True) -> Dict[str, Any]:
        """The engine's own clock over ``warmup`` untimed and ``runs`` timed forward passes of x,
        in one C++ call with the GIL released (what ``profile`` and the benchmarks build on;
        Ctrl-C stops it between two passes).

        Returns numpy arrays: ``total_ns`` (runs,), whole passes with no clock read inside;
        ``layer_ns`` (runs, layers), each layer timed around its kernel in passes of their
        own; ``warmup_ns`` (warmup,); ``first_ns``, the first pass; ``output``, the last
        pass's probabilities (logits with softmax=False).
        """
        from .profiler import check_count
        runs, warmup = check_count("runs", runs, 1), check_count("warmup", warmup, 0)
        if self.precision == "int8":
            import time
            storage = self._int8_storage(x, layout)
            warmup_ns: np.ndarray = np.empty(warmup, np.int64)
            for i in range(warmup):
                t0 = time.perf_counter_ns()
                self._engine.forward_int8(storage)
                warmup_ns[i] = time.perf_counter_ns() - t0
            layer_ns, total_ns = self._engine.profile_int8(storage, runs)
            first = int(warmup_ns[0]) if warmup else int(total_ns[0])
            return {"total_ns": total_ns, "layer_ns": layer_ns, "warmup_ns": warmup_ns, "first_ns": first,
                    "output": self._forward_int8(x, layout, softmax, False)}
        x = self._prepare(x, layout)
        return self._engine.profile(x, layout, softmax, runs, warmup)  # checks for an empty batch and NaN/Inf

    def profile(self, x: npt.ArrayLike, runs: int = 100, warmup: int = 10,
                layout: str = Layout.NHWC, progress: Optional[Callable[[int], object]] = None,
                peak: Optional[Dict[str, float]] = None) -> ProfileReport:
        """Per-layer latency report (a ``mobilenet.profiler.ProfileReport``) of ``runs`` timed passes on x.

        Every layer is timed in C++ around its kernel; whole passes are timed in
        alternate runs with no clock reads inside. ``print(report)`` shows it.
        progress: called with the number of runs done since its last call (e.g. a tqdm's update).
        peak: one core's measured peaks (``mobilenet.profiler.load_peak`` of `bench/peak --json`'s
        output): each layer's GOP/s is also reported as a share of the peak of its precision.
        """
        from .profiler import profile
        return profile(self, x, runs=runs, warmup=warmup, layout=layout, progress=progress, peak=peak)

    def summary(self) -> Summary:
        """Per-layer shapes, mult-adds and parameters, computed from the graph."""
        h, w, _ = self.input_shape
        alpha = f"alpha {self.alpha:g}, " if self.alpha is not None else ""
        return Summary(self.layers, f"MobileNet v1 ({alpha}{h}x{w} input, {self.num_classes} classes)")

    def __repr__(self) -> str:
        h, w, _ = self.input_shape
        return (f"MobileNetV1(alpha={self.alpha}, resolution={h}x{w}, num_classes={self.num_classes}, "
                f"layers={len(self.layers)}, isa={self.isa!r}, threads={self.threads}, backend={self.backend!r})")

    def to_onnx(self, path: FilePath, *, opset: int = 13, fold_batch_norm: bool = True,
                softmax: bool = False) -> Any:
        """Write this network as an ONNX graph (NCHW "input", "logits" out); see mobilenet.export_onnx.

        Needs the optional extra: pip install 'mobilenet[onnx]'.
        """
        from .export_onnx import to_onnx
        return to_onnx(self, path, opset=opset, fold_batch_norm=fold_batch_norm, softmax=softmax)

    def with_precision(self, precision: str) -> MobileNetV1:
        """A new network with the same layers, weights and settings in another precision
        (mobilenet.precision); this one is unchanged. int8 comes from `quantize` instead."""
        if check_precision(precision) == "int8":
            raise ValueError("an int8 network needs calibration data to choose its scales: "
                             "use net.quantize(calibration_images)")
        net = self.copy()
        if precision != self.precision:
            net.quantization = None
            net._setup(net.layers, net.params, threads=self.threads, backend=self.backend, isa=self.isa,
                       precision=runnable_precision(precision))
        return net

    def quantize(self, calibration: Any, *, method: str = "minmax", percentile: float = 99.999,
                 bias_correction: bool = True, logit_headroom: float = 1.5, layout: str = Layout.NHWC,
                 batch_size: int = 16) -> MobileNetV1:
        """An int8 network in TFLite's full-integer scheme, its activation ranges calibrated on
        images; this network is unchanged (see mobilenet.calibration).

        calibration: preprocessed images as for ``net(x)``: a float array (N, H, W, 3) (or
        (N, 3, H, W) with layout="NCHW"), or an iterable of images (H, W, 3) or batches, e.g. a
        generator over a folder (a few hundred representative images are plenty).
        method: "minmax" (each tensor's range is the extremes of its values over the calibration
        images, as TFLiteConverter's) or "percentile" (the range clips the values above the
        `percentile`-th and below the (100 - percentile)-th percentile, which ignores rare
        outliers at the cost of clamping them). bias_correction: subtract from each layer's bias
        the mean shift that rounding its weights to int8 causes on the calibration images
        (empirical bias correction, Nagel et al. 2019; False: TFLiteConverter's plain rounding).
        logit_headroom: the classifier's range is this many times the calibrated one (1 to 16),
        so that confident predictions, rarer than in the calibration images, do not saturate
        their logits (which ties the top classes); 1 as TFLiteConverter. batch_size: images
        per engine call. On the real float 0.25/224, method="percentile" kept the float top-1
        of the four test images on every calibration set tried, "minmax" on two of four.

        The result (``precision == "int8"``, ``quantization.scheme == "per-channel int8"``)
        has per-channel symmetric int8 weights (batch norm folded), asymmetric int8
        activations, int32 biases, fused ReLU/ReLU6 as clamps, a quantized MEAN for the
        pooling and, after a classifier, the integer softmax; it runs bit-exact to LiteRT's
        reference kernels on the file ``to_tflite`` writes. Its ``params`` are the weights it
        computes with, dequantized. Raises ValueError for an empty calibration, NaN or Inf in
        it, a network that is already int8; TypeError / ValueError for images of the wrong
        type or shape, naming the item.
        """
        from .calibration import quantize
        return quantize(self, calibration, method=method, percentile=percentile, bias_correction=bias_correction,
                        logit_headroom=logit_headroom, layout=layout, batch_size=batch_size)

    def to_tflite(self, path: FilePath, *, io: Optional[str] = None, softmax: Optional[bool] = None,
                  batch: int = 1) -> None:
        """Write this network as a TFLite flatbuffer (needs the `flatbuffers` and `tflite` packages).

        A float network: a float32 model (batch norm folded), ending at the logits, or the
        probabilities with softmax=True. An int8 network: a full-integer model in TFLite's
        operators (CONV_2D / DEPTHWISE_CONV_2D with per-channel int8 weights and int32 biases,
        PAD where the padding is not TensorFlow's 'SAME', MEAN, RESHAPE, SOFTMAX), which
        LiteRT's reference kernels run bit for bit as this network does, and which
        ``mobilenet.load`` reads back as the same network. io: the file's input and output
        type: "float32" (default; QUANTIZE and DEQUANTIZE at the ends, a drop-in for the float
        model with the same preprocessing), or "int8" / "uint8" (the integers themselves; the
        other 8-bit type through a QUANTIZE that moves the zero point by 128, as
        TFLiteConverter's inference_input_type). softmax=False ends an int8 file at the logits.
        batch: the input's batch dimension.
        """
        from .io import tflite_writer
        if self.precision == "int8":
            tflite_writer.to_tflite_int8(self, path, io="float32" if io is None else io,
                                         softmax=True if softmax is None else softmax, batch=batch)
            return
        if io not in (None, "float32"):
            raise ValueError(f"io={io!r}: a {self.precision} network is written with float32 input and output; "
                             "quantize it first (net.quantize(calibration_images)) for an integer file")
        tflite_writer.to_tflite(self, path, softmax=bool(softmax), batch=batch)

    def copy(self) -> MobileNetV1:
        """An independent copy (parameters copied, engine built again), through __getstate__/__setstate__."""
        return copy.deepcopy(self)

    def __getstate__(self) -> Dict[str, Any]:
        """Pickling keeps the layers, the unfolded parameters and the attributes; the
        engine (packed weights, thread pool) is built again when the pickle is loaded,
        with the same threads, backend and instruction set (or, where the loading CPU
        lacks that instruction set, the best one it has; where the loading process
        sets MOBILENET_ISA, that one)."""
        state = {key: value for key, value in self.__dict__.items() if key != "_engine"}
        state["_engine_settings"] = {"threads": self.threads, "backend": self.backend, "isa": self.isa}
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        state = dict(state)
        settings = state.pop("_engine_settings")
        layers, params = state.pop("layers"), state.pop("params")
        self.__dict__.update(state)
        isa = settings["isa"] if settings["isa"] in _core.supported_isas() else None
        if os.environ.get("MOBILENET_ISA"):
            isa = None  # the engine's default: the instruction set MOBILENET_ISA chose at import
        self._setup(layers, params, threads=settings["threads"], backend=settings["backend"], isa=isa,
                    precision=state.get("precision", "float32"))

    def save(self, path: FilePath) -> None:
        """Writes layers, unfolded weights and attributes to an .npz that mobilenet.load reads back exactly."""
        from .io.npz import save
        save(self, path)
