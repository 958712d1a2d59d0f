"""
mobilenet compute core (private; use the mobilenet package)
"""
from __future__ import annotations
import collections.abc
import enum
import numpy
import numpy.typing
import typing
__all__: list[str] = ['Activation', 'InputLayout', 'LayerKind', 'LayerSpec', 'Network', 'PointwiseBackend', 'Precision', 'affinity_cpus', 'blas_available', 'blas_config', 'cgroup_cpu_limit', 'cpu_features', 'default_threads', 'dequantize_uint8', 'fast_precisions', 'isa', 'physical_cores', 'physical_cores_of', 'precision_unavailable', 'softmax_int8', 'supported_isas']
class LayerKind(enum.Enum):
    """
    A layer's type (mobilenet.vocabulary.LayerType).
    """
    AVGPOOL = 3
    CONV1X1 = 2
    CONV3X3 = 0
    DWCONV3X3 = 1
    FC = 4
class Activation(enum.Enum):
    """
    What follows a layer (mobilenet.vocabulary.Activation).
    """
    NONE = 0
    RELU = 1
    RELU6 = 2
class InputLayout(enum.Enum):
    """
    How an input batch is laid out (mobilenet.vocabulary.Layout).
    """
    NCHW = 1
    NHWC = 0
class PointwiseBackend(enum.Enum):
    """
    What runs the 1x1 convolutions (mobilenet.vocabulary.Backend).
    """
    BLAS = 1
    GEMM = 0
class Precision(enum.Enum):
    """
    The arithmetic a layer runs in (mobilenet.precision).
    """
    BFLOAT16 = 16
    FLOAT16 = 17
    FLOAT32 = 0
    INT8 = 1
class LayerSpec:
    """
    One layer for the engine, batch norm folded. Weight layouts: CONV3X3 (3, 3, in_c, out_c), DWCONV3X3 (3, 3, c), CONV1X1 and FC (in_c, out_c); bias (out_c,).
    """
    def __init__(self, kind: LayerKind | str, in_h: typing.SupportsInt | typing.SupportsIndex, in_w: typing.SupportsInt | typing.SupportsIndex, in_c: typing.SupportsInt | typing.SupportsIndex, out_c: typing.SupportsInt | typing.SupportsIndex, stride: typing.SupportsInt | typing.SupportsIndex = 1, padding: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = (0, 0, 0, 0), activation: Activation | str = Activation.NONE, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> None:
        ...
    def set_int8(self, weight: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], multiplier: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], shift: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], in_zero_point: typing.SupportsInt | typing.SupportsIndex, out_zero_point: typing.SupportsInt | typing.SupportsIndex, act_min: typing.SupportsInt | typing.SupportsIndex, act_max: typing.SupportsInt | typing.SupportsIndex, signed_values: bool, mean: bool = False) -> None:
        """
        The layer's int8 parameters (Precision.INT8): effective weights w - w_zp in the float weight's layout, int32 bias, per-channel multiplier and shift, zero points and clamp in uint8 storage; mean: the pool is TFLite's MEAN, its one multiplier and shift rescaling input to output.
        """
    @property
    def activation(self) -> Activation:
        ...
    @property
    def bias(self) -> numpy.typing.NDArray[numpy.float32] | None:
        ...
    @property
    def in_c(self) -> int:
        ...
    @property
    def in_h(self) -> int:
        ...
    @property
    def in_w(self) -> int:
        ...
    @property
    def int8(self) -> dict[str, typing.Any]:
        """
        The int8 parameters as set_int8 set them (a dict of its arguments; int32 arrays).
        """
    @property
    def kind(self) -> LayerKind:
        ...
    @property
    def out_c(self) -> int:
        ...
    @property
    def padding(self) -> tuple[int, int, int, int]:
        ...
    @property
    def stride(self) -> int:
        ...
    @property
    def weight(self) -> numpy.typing.NDArray[numpy.float32] | None:
        ...
class Network:
    def __init__(self, layers: collections.abc.Sequence[LayerSpec], isa: str | None = None, threads: typing.SupportsInt | typing.SupportsIndex = 1, backend: PointwiseBackend | str = PointwiseBackend.GEMM, fuse: bool = True, precision: Precision | str = Precision.FLOAT32) -> None:
        ...
    def forward(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], layout: InputLayout | str = InputLayout.NHWC, softmax: bool = False, check_finite: bool = True) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def forward_int8(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8]) -> numpy.typing.NDArray[numpy.uint8]:
        ...
    def output_shape(self, layer: typing.SupportsInt | typing.SupportsIndex) -> list[int]:
        ...
    def profile(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], layout: InputLayout | str = InputLayout.NHWC, softmax: bool = False, runs: typing.SupportsInt | typing.SupportsIndex = 100, warmup: typing.SupportsInt | typing.SupportsIndex = 10) -> dict[str, typing.Any]:
        ...
    def profile_int8(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], runs: typing.SupportsInt | typing.SupportsIndex = 10) -> tuple[numpy.typing.NDArray[numpy.int64], numpy.typing.NDArray[numpy.int64]]:
        """
        Timed int8 passes: (layer_ns (runs, layers), total_ns (runs,)), whole passes and per-layer passes alternating.
        """
    def quantize_input(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], nchw: bool, scale: typing.SupportsFloat | typing.SupportsIndex, zero_point: typing.SupportsInt | typing.SupportsIndex, qmin: typing.SupportsInt | typing.SupportsIndex, qmax: typing.SupportsInt | typing.SupportsIndex, storage_offset: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.uint8]:
        """
        TFLite's QUANTIZE of a float32 batch (NHWC, or NCHW with nchw) to NHWC uint8 storage (an int8 value + storage_offset 128), with this network's kernels; ValueError on NaN or Inf.
        """
    def trim_workspaces(self, max_batch: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def backend(self) -> PointwiseBackend:
        ...
    @property
    def input_shape(self) -> tuple[int, int, int]:
        ...
    @property
    def isa(self) -> str:
        ...
    @property
    def kernel_names(self) -> list[str]:
        ...
    @property
    def num_layers(self) -> int:
        ...
    @property
    def output_size(self) -> int:
        ...
    @property
    def packed_weight_bytes(self) -> int:
        ...
    @property
    def pipelined_layers(self) -> int:
        ...
    @property
    def precisions(self) -> list[Precision]:
        ...
    @property
    def threads(self) -> int:
        ...
    @threads.setter
    def threads(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
def affinity_cpus() -> list[int]:
    """
    CPUs in this process's affinity mask.
    """
def blas_available() -> bool:
    ...
def blas_config() -> str:
    ...
def cgroup_cpu_limit(proc_self_cgroup: str = '/proc/self/cgroup', cgroup_root: str = '/sys/fs/cgroup') -> int:
    """
    Whole CPUs the cgroup CPU quota allows (rounded down, at least 1), or 0 when none is set.
    """
def cpu_features() -> list[str]:
    """
    The CPU features beyond the instruction sets that the narrow precisions use, as /proc/cpuinfo spells them (avx512_bf16, amx_bf16, amx_int8, bf16, asimdhp).
    """
def default_threads(sysfs_cpu_dir: str = '/sys/devices/system/cpu', proc_self_cgroup: str = '/proc/self/cgroup', cgroup_root: str = '/sys/fs/cgroup') -> int:
    """
    Physical cores in the affinity mask, capped by the cgroup CPU quota; at least 1.
    """
def dequantize_uint8(x: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], storage_zero_point: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
    """
    TFLite's DEQUANTIZE on uint8 storage, (stored - storage_zero_point) * scale in float32, where storage_zero_point is the zero point plus the storage offset (128 for int8 values).
    """
def fast_precisions(isa: str | None = None) -> list[str]:
    """
    The precisions these kernels run on this CPU's own instructions (the scalar bf16 GEMM emulates them).
    """
def isa() -> str:
    """
    The instruction set chosen at import.
    """
def physical_cores() -> int:
    """
    Physical cores of every online CPU (the machine's).
    """
def physical_cores_of(cpus: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], sysfs_cpu_dir: str = '/sys/devices/system/cpu') -> int:
    """
    Physical cores among the given CPUs (SMT siblings count once).
    """
def precision_unavailable(precision: Precision | str, isa: str | None = None) -> str:
    """
    Why a network in this precision cannot run with these kernels (the CPU feature it lacks), or ''.
    """
def softmax_int8(x: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], input_multiplier: typing.SupportsInt | typing.SupportsIndex, input_left_shift: typing.SupportsInt | typing.SupportsIndex, diff_min: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.uint8]:
    """
    TFLite's reference quantized softmax on uint8 storage (an int8 value + 128), rows of classes.
    """
def supported_isas() -> list[str]:
    ...
