"""The arithmetic a network runs in: its precision.

    float32   the default for float files and random networks; exact against the oracle
    int8      TFLite's integer arithmetic; the default for quantized files
    bfloat16  the 1x1 convolutions and the classifier on bf16 weights and inputs,
              float32 sums (AVX512_BF16 vdpbf16ps); the other layers float32
    float16   the stem, depthwise and 1x1 layers in ARMv8.2 half-precision arithmetic
              (AArch64 CPUs with asimdhp); the pooling and the classifier float32

A network's precision is fixed when it is built: `net.with_precision(p)` and
`net.quantize(calibration)` return new networks. float32 and int8 run on every
CPU (int8 for quantized files). A precision this version has no kernels for, or
this CPU lacks the feature of, is refused with `PrecisionNotAvailable` naming
what is missing. `fast_precisions()` lists the half precisions this CPU runs on
its own instructions.
"""
from __future__ import annotations

from typing import Literal, Optional, Tuple

from . import _core

Precision = Literal["float32", "int8", "bfloat16", "float16"]
PRECISIONS: Tuple[str, ...] = ("float32", "int8", "bfloat16", "float16")
# The precisions the engine has kernels for (on a CPU with the features they need).
AVAILABLE: Tuple[str, ...] = ("float32", "int8", "bfloat16", "float16")
# Those the engine checks against the CPU's features (precision_unavailable).
_CPU_DEPENDENT: Tuple[str, ...] = ("bfloat16", "float16")


class PrecisionNotAvailable(NotImplementedError):
    """A precision this version of mobilenet does not run (yet)."""


def check_precision(precision: object) -> Optional[str]:
    """`precision` as given (None stays None: the default depends on the model), or a ValueError naming it."""
    if precision is None:
        return None
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def fast_precisions(isa: Optional[str] = None) -> Tuple[str, ...]:
    """The precisions this CPU runs on its own instructions, with the given instruction
    set's kernels (None: the one chosen at import). bfloat16 also runs, emulated and
    slowly, on the scalar kernels (the reference), which are not listed as fast."""
    return tuple(_core.fast_precisions(isa))


def cpu_features() -> Tuple[str, ...]:
    """The CPU features beyond the instruction sets that the narrow precisions use, as
    /proc/cpuinfo spells them ("avx512_bf16", "amx_bf16", "amx_int8"; on ARM "bf16", "asimdhp")."""
    return tuple(_core.cpu_features())


def precision_unavailable(precision: str, isa: Optional[str] = None) -> str:
    """Why `precision` cannot run on this CPU with the given kernels, or ''."""
    if precision not in _CPU_DEPENDENT:
        return ""
    return str(_core.precision_unavailable(precision, isa))


def check_cpu_runs(precision: str, isa: Optional[str] = None) -> None:
    """PrecisionNotAvailable naming the CPU feature `precision` needs, where the given
    instruction set's kernels (None: the one chosen at import) lack it here."""
    reason = precision_unavailable(precision, isa)
    if reason:
        raise PrecisionNotAvailable(f"precision={precision!r} is not available on this CPU: {reason}")


def runnable_precision(precision: Optional[str], *, quantized_file: bool = False) -> str:
    """The precision to build with: the default where None (int8 for a quantized file, else
    float32), refused with PrecisionNotAvailable where this version has no kernels for it
    (check_cpu_runs then checks the CPU's features, once the instruction set is known)."""
    precision = check_precision(precision) or ("int8" if quantized_file else "float32")
    if precision not in AVAILABLE:
        hint = ""
        if precision == "int8" and quantized_file:
            hint = "; pass precision='float32' to run this quantized model with its weights dequantized"
        raise PrecisionNotAvailable(f"precision={precision!r} is not available yet in this version of mobilenet "
                                    f"(available: {', '.join(AVAILABLE)}){hint}")
    return precision
