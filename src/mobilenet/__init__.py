"""mobilenet: MobileNet v1 (Howard et al. 2017) inference on CPUs, fast.

    import mobilenet
    net = mobilenet.MobileNetV1(alpha=0.75, resolution=160)
    probs = net(images)        # (N, H, W, 3) float32 -> (N, classes)
    net = mobilenet.load("mobilenet_v1_0.25_224.tflite")   # real weights
    net = mobilenet.pretrained()   # the bundled TF 0.25/224, ImageNet-trained
    probs = net(mobilenet.preprocess("cat.jpg", net))
    for row in mobilenet.classify_files(paths):   # many files: threads decode, batches run
        print(row.input, row.top[0].label if row.ok else row.error)
"""
from importlib.metadata import PackageNotFoundError, version as _version
from typing import List

# By its full name: until the generated _core.pyi lands, mypy can treat the
# compiled module as missing (pyproject.toml) only through this form.
import mobilenet._core as _core

from . import reference
from .batch_classify import ClassifyRow, classify_files
from .bundled import pretrained, sample_image
from .graph import Layer, build_layers
from .io import load
from .model import MobileNetV1
from .preprocess import Preprocessing, preprocess
from .summary import Summary

try:
    __version__ = _version("mobilenet")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"


def isa() -> str:
    """The instruction set in use: 'avx512', 'avx2', 'neon' or 'scalar' (MOBILENET_ISA forces one)."""
    return _core.isa()


def supported_isas() -> List[str]:
    """Every instruction set this CPU and build can run, best last."""
    return list(_core.supported_isas())


def default_threads() -> int:
    """The thread count a network gets by default: the physical cores in this process's
    CPU affinity mask (SMT siblings count once), capped by its cgroup CPU quota
    (rounded down), at least 1."""
    return _core.default_threads()


__all__ = ["MobileNetV1", "Layer", "Summary", "build_layers", "load", "preprocess", "Preprocessing", "isa",
           "supported_isas", "default_threads", "reference", "pretrained", "sample_image",
           "classify_files", "ClassifyRow", "__version__"]
