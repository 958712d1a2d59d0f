"""PyTorch state_dicts in the naming of timm's mobilenetv1_100 / mobilenetv1_100h / mobilenetv1_125.

Names: ``conv_stem`` + ``bn1`` (3x3 stride 2); ``blocks.<stage>.<i>.conv_dw`` +
``bn1`` and ``conv_pw`` + ``bn2`` (timm's DepthwiseSeparableConv, activation
after both); for the ``h`` variant ``conv_head`` (1x1, no bias) + ``bn2``
before the pooling; ``classifier`` (Linear). Stages 1.. start with a stride-2
block. Conventions: symmetric padding 1, ReLU6, BatchNorm epsilon 1e-5,
weights OIHW, widths rounded to multiples of 8 (alpha 1.25 gives 40, 80, ...,
1280), preprocessing as timm's pretrained_cfg (Inception mean/std 0.5, crop
0.875, or 0.9 for mobilenetv1_125, bicubic).

Files: a bare state_dict, or a training checkpoint that holds one (timm's
train.py ``checkpoint-*.pth.tar``: ``state_dict``, ``state_dict_ema``, an
``argparse.Namespace`` under ``args``; the EMA weights are preferred unless
``load(..., ema=False)``), with any ``module.`` / ``_orig_mod.`` prefixes
(DataParallel, torch.compile). float32, float16 or bfloat16 tensors.

``torch.save`` files need torch >= 2.6 (``torch.load(weights_only=True)``,
with argparse.Namespace the only class allowed beyond tensors and plain
containers: no code is unpickled, and a refused class is named);
``.safetensors`` files need only the safetensors package. Neither records the
activation (timm's ``act_layer``): ReLU6 unless ``load(..., activation=)``.
"""
from __future__ import annotations

import argparse
import io
import json
import re
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

import numpy as np

from .._optional import require
from ..preprocess import timm_mobilenetv1
from ..vocabulary import TORCH_BN_EPSILON, Activation, LayerType
from ._chain import ModelData, Op, assemble

_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(\d+)\.(conv_dw|bn1|conv_pw|bn2)\.(weight|bias|running_mean|running_var|"
                        r"num_batches_tracked)$")
_TOP_MODULES = ("conv_stem", "bn1", "conv_head", "bn2", "classifier")


# What torch.load(weights_only=True) may build besides tensors and containers: timm's train.py keeps its
# command line (an argparse.Namespace of plain values) under "args". Nothing else is allowed.
SAFE_GLOBALS = (argparse.Namespace,)
# Where checkpoints keep the state_dict: timm's train.py ("state_dict", and "state_dict_ema" for the
# exponential moving average of the weights), and other trainers' usual keys.
_WRAPPERS = ("state_dict", "model", "model_state_dict", "module")
_EMA_KEYS = ("state_dict_ema", "model_ema")
_PREFIXES = ("module.", "_orig_mod.", "model.")  # DataParallel / DDP, torch.compile, wrappers
_REFUSED_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)")


def _torch_load(torch: Any, data: bytes) -> Any:
    """torch.load with weights_only=True, allowing SAFE_GLOBALS only; a refused class is named."""
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        message = str(e)
        match = _REFUSED_GLOBAL.search(message)
        if match is None:
            if "Weights only load failed" not in message:
                raise
            reasons = [line.strip() for line in message.splitlines() if "nsupported" in line]
            raise ValueError("the checkpoint holds pickled objects that are not unpickled (unpickling them could "
                             f"run code from the file): {' '.join(reasons) or message}") from None
        allowed = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in SAFE_GLOBALS)
        raise ValueError(f"the checkpoint pickles a {match.group(1)}, which is not unpickled: only tensors, "
                         f"plain containers and {allowed} are read (unpickling other classes can run code "
                         "from the file)") from None


def _choose_state_dict(obj: Any, ema: Optional[bool]) -> Any:
    """The state_dict inside a checkpoint: the EMA weights where present unless ema=False (as timm's
    load_checkpoint(use_ema=True) does), the plain ones with ema=False; ema=True requires EMA weights."""
    if not isinstance(obj, dict) or "conv_stem.weight" in obj:
        if ema:
            raise ValueError("ema=True, but the file is a bare state_dict without EMA weights")
        return obj
    ema_key = next((k for k in _EMA_KEYS if isinstance(obj.get(k), dict)), None)
    if ema is True and ema_key is None:
        raise ValueError(f"ema=True, but the checkpoint has no EMA weights (keys: {sorted(map(str, obj))[:8]})")
    if ema is not False and ema_key is not None:
        return obj[ema_key]
    for key in _WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and "conv_stem.weight" not in obj:
            obj = obj[key]
    return obj


def _load_torch(data: bytes, ema: Optional[bool]) -> Dict[str, np.ndarray]:
    torch = require("torch", "reading a PyTorch checkpoint")
    # weights_only=True unpickles tensors and containers only; before 2.6 it could still be made to
    # run code (CVE-2025-32434), so an older torch is not trusted with a file.
    version = tuple(int(part) for part in re.findall(r"\d+", torch.__version__.split("+")[0])[:2])
    if version < (2, 6):
        raise ImportError(f"reading a PyTorch checkpoint needs torch>=2.6 (found {torch.__version__}): older "
                          "torch.load(weights_only=True) can run code from the file (CVE-2025-32434)")
    obj = _choose_state_dict(_torch_load(torch, data), ema)
    if not isinstance(obj, dict):
        raise ValueError(f"the checkpoint holds a {type(obj).__name__}, not a state_dict")
    tensors: Dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            if not value.dtype.is_floating_point and not key.endswith("num_batches_tracked"):
                raise ValueError(f"tensor {key!r} has dtype {value.dtype}; floating-point weights are read "
                                 "(a quantized checkpoint is not)")
            if value.dtype.is_floating_point and value.dtype not in (torch.float32, torch.float16, torch.bfloat16,
                                                                     torch.float64):
                raise ValueError(f"tensor {key!r} has dtype {value.dtype}, which is not read (float32, float16, "
                                 "bfloat16 and float64 are)")
            value = value.detach().to("cpu")
            tensors[str(key)] = value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()
    return tensors


_SAFETENSORS_HEADER_CAP = 100 << 20  # the format's own limit on its JSON header
# What safetensors.numpy holds (BF16 through the U16 retyping below); float8 and the like are refused by name.
_SAFETENSORS_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"}


def _load_safetensors(data: bytes) -> Dict[str, np.ndarray]:
    """A .safetensors file's tensors. NumPy has no bfloat16: BF16 tensors are read as their raw 16 bits
    (the header retyped to U16, which safetensors still checks) and widened to float32 exactly."""
    numpy_loader = require("safetensors.numpy", "reading .safetensors")
    bf16: List[str] = []
    if len(data) >= 8:
        size = int.from_bytes(data[:8], "little")
        if 2 <= size <= min(_SAFETENSORS_HEADER_CAP, len(data) - 8):
            try:
                header = json.loads(data[8:8 + size])
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                header = None  # safetensors reports the damage below
            if isinstance(header, dict):
                for key, entry in header.items():
                    dtype = entry.get("dtype") if isinstance(entry, dict) and key != "__metadata__" else None
                    if dtype is not None and dtype not in _SAFETENSORS_DTYPES:
                        raise ValueError(f"tensor {key!r} has dtype {dtype}, which is not read (F32, F16, BF16 "
                                         "and F64 weights are)")
                bf16 = [k for k, v in header.items() if isinstance(v, dict) and v.get("dtype") == "BF16"]
                for key in bf16:
                    header[key]["dtype"] = "U16"
                if bf16:
                    text = json.dumps(header).encode()
                    data = len(text).to_bytes(8, "little") + text + data[8 + size:]
    tensors = dict(numpy_loader.load(data))
    for key in bf16:
        tensors[key] = (tensors[key].astype(np.uint32) << 16).view(np.float32)
    return tensors


def _strip_prefix(tensors: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Keys without the wrappers' prefixes ("module._orig_mod.conv_stem.weight" -> "conv_stem.weight")."""
    changed = True
    while changed and tensors:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in tensors):
                tensors = {k[len(prefix):]: v for k, v in tensors.items()}
                changed = True
    return tensors


class _StateDict:
    def __init__(self, tensors: Mapping[str, np.ndarray]) -> None:
        self.tensors = tensors

    def get(self, key: str, ndim: Optional[int] = None) -> np.ndarray:
        if key not in self.tensors:
            raise ValueError(f"missing tensor {key!r}")
        value = np.asarray(self.tensors[key])
        if ndim is not None and value.ndim != ndim:
            raise ValueError(f"tensor {key!r} has shape {value.shape}, expected {ndim} dimensions")
        return value

    def bn(self, prefix: str) -> Dict[str, Any]:
        return {"gamma": self.get(prefix + ".weight"), "beta": self.get(prefix + ".bias"),
                "mean": self.get(prefix + ".running_mean"), "var": self.get(prefix + ".running_var"),
                "eps": TORCH_BN_EPSILON}


def read(data: bytes, source: str, resolution: Optional[Tuple[int, int]] = None, *,
         ema: Optional[bool] = None) -> ModelData:
    """(layers, params, attributes) from a torch.save checkpoint: a state_dict, or a training checkpoint
    (timm's train.py: EMA weights preferred unless ema=False)."""
    return _read_state_dict(_load_torch(data, ema), resolution)


def read_safetensors(data: bytes, source: str, resolution: Optional[Tuple[int, int]] = None) -> ModelData:
    """(layers, params, attributes) from a .safetensors file (float32, float16 or bfloat16)."""
    return _read_state_dict(_load_safetensors(data), resolution)


def _read_state_dict(tensors: Dict[str, np.ndarray], resolution: Optional[Tuple[int, int]]) -> ModelData:
    tensors = _strip_prefix(tensors)
    if "conv_stem.weight" not in tensors:
        sample = ", ".join(sorted(tensors)[:4]) or "no tensors"
        raise ValueError(f"no 'conv_stem.weight': not a state_dict in timm's mobilenetv1 naming (found {sample}, ...)")
    blocks: Dict[Tuple[int, int], Set[str]] = {}
    for key in tensors:
        match = _BLOCK_KEY.match(key)
        if match:
            blocks.setdefault((int(match.group(1)), int(match.group(2))), set()).add(match.group(3))
        elif key.split(".")[0] not in _TOP_MODULES:
            raise ValueError(f"unexpected tensor {key!r}: not timm's MobileNet v1 (DepthwiseSeparableConv blocks; "
                             "MobileNet v2 / EfficientNet blocks have conv_pwl or se)")
    if not blocks:
        raise ValueError("no blocks.<stage>.<i>.conv_dw tensors: not timm's MobileNet v1")
    stages = sorted({s for s, _ in blocks})
    if stages != list(range(len(stages))):
        raise ValueError(f"block stages {stages} are not numbered 0..{len(stages) - 1}")
    for (s, i), parts in sorted(blocks.items()):
        if parts != {"conv_dw", "bn1", "conv_pw", "bn2"}:
            raise ValueError(f"block blocks.{s}.{i} has {sorted(parts)}, expected conv_dw, bn1, conv_pw, bn2")
    sd = _StateDict(tensors)
    height, width = (224, 224) if resolution is None else resolution
    stem = sd.get("conv_stem.weight", 4)
    if stem.shape[1:] != (3, 3, 3):
        raise ValueError(f"conv_stem.weight has shape {stem.shape}, expected [C, 3, 3, 3]")
    ops = [Op(LayerType.CONV3X3, "conv_stem", stem.transpose(2, 3, 1, 0), bn=sd.bn("bn1"), stride=2,
              padding=(1, 1, 1, 1), activation=Activation.RELU6)]
    for s, i in sorted(blocks):
        prefix = f"blocks.{s}.{i}"
        dw = sd.get(prefix + ".conv_dw.weight", 4)
        if dw.shape[1:] != (1, 3, 3):
            raise ValueError(f"{prefix}.conv_dw.weight has shape {dw.shape}, expected [C, 1, 3, 3]")
        stride = 2 if s > 0 and i == 0 else 1
        ops.append(Op(LayerType.DWCONV3X3, prefix + ".conv_dw", dw[:, 0].transpose(1, 2, 0),
                      bn=sd.bn(prefix + ".bn1"), stride=stride, padding=(1, 1, 1, 1), activation=Activation.RELU6))
        pw = sd.get(prefix + ".conv_pw.weight", 4)
        if pw.shape[2:] != (1, 1):
            raise ValueError(f"{prefix}.conv_pw.weight has shape {pw.shape}, expected [Cout, Cin, 1, 1]")
        ops.append(Op(LayerType.CONV1X1, prefix + ".conv_pw", pw[:, :, 0, 0].T, bn=sd.bn(prefix + ".bn2"),
                      activation=Activation.RELU6))
    head = "conv_head.weight" in tensors
    if head:
        weight = sd.get("conv_head.weight", 4)
        if weight.shape[2:] != (1, 1):
            raise ValueError(f"conv_head.weight has shape {weight.shape}, expected [C, Cin, 1, 1]")
        bias = sd.get("conv_head.bias") if "conv_head.bias" in tensors else None
        ops.append(Op(LayerType.CONV1X1, "conv_head", weight[:, :, 0, 0].T, bias, bn=sd.bn("bn2"),
                      activation=Activation.RELU6))
    elif any(k.startswith("bn2.") for k in tensors):
        raise ValueError("bn2 without conv_head")
    ops.append(Op(LayerType.AVGPOOL, "global_pool"))
    classifier = sd.get("classifier.weight", 2)
    bias = sd.get("classifier.bias") if "classifier.bias" in tensors else None
    ops.append(Op(LayerType.FC, "classifier", classifier.T, bias))
    layers, params = assemble(ops, height, width, "PyTorch state_dict")
    last_block = max(layer.out_shape[2] for layer in layers if layer.name.startswith("conv_pw"))
    alpha = last_block / 1024.0
    variant = {1.0: "mobilenetv1_100h" if head else "mobilenetv1_100", 1.25: "mobilenetv1_125"}.get(alpha)
    pre = timm_mobilenetv1(0.9 if alpha == 1.25 else 0.875)
    # A state_dict does not say which activation the model used (timm's act_layer): ReLU6, timm's
    # mobilenetv1 default, unless load(..., activation=) says otherwise.
    return layers, params, {"alpha": alpha, "preprocessing": pre, "labels": None, "activation_recorded": False,
                            "source": f"timm {variant}" if variant else "timm mobilenetv1 layout"}
