"""The arithmetic a network runs in: its precision.

    float32   the default for float files and random networks; exact against the oracle
    int8      TFLite's integer arithmetic; the default for quantized files
    bfloat16  float32 accumulation over bf16 weights and activations
    float16   ARMv8.2 half-precision arithmetic

A network's precision is fixed when it is built: `net.with_precision(p)` and
`net.quantize(calibration)` return new networks. float32 and int8 run in this
version (int8 for quantized TFLite files); the others are refused with
`PrecisionNotAvailable` until their kernels land.
"""
from __future__ import annotations

from typing import Literal, Optional, Tuple

Precision = Literal["float32", "int8", "bfloat16", "float16"]
PRECISIONS: Tuple[str, ...] = ("float32", "int8", "bfloat16", "float16")
# The precisions the engine has kernels for.
AVAILABLE: Tuple[str, ...] = ("float32", "int8")


class PrecisionNotAvailable(NotImplementedError):
    """A precision this version of mobilenet does not run (yet)."""


def check_precision(precision: object) -> Optional[str]:
    """`precision` as given (None stays None: the default depends on the model), or a ValueError naming it."""
    if precision is None:
        return None
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def runnable_precision(precision: Optional[str], *, quantized_file: bool = False) -> str:
    """The precision to build with: the default where None (int8 for a quantized file, else
    float32), refused with PrecisionNotAvailable where this version has no kernels for it."""
    precision = check_precision(precision) or ("int8" if quantized_file else "float32")
    if precision not in AVAILABLE:
        hint = ""
        if precision == "int8" and quantized_file:
            hint = "; pass precision='float32' to run this quantized model with its weights dequantized"
        raise PrecisionNotAvailable(f"precision={precision!r} is not available yet in this version of mobilenet "
                                    f"(available: {', '.join(AVAILABLE)}){hint}")
    return precision
