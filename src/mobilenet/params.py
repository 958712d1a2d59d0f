"""Unfolded parameters (conv weights, optional bias, batch norm) and their folding.

Layout of ``params[layer.name]`` (every array float32, output channels last):
``weight`` in the shape of ``Layer.weight_shape``; optional ``bias`` [cout];
optional ``bn`` = {gamma, beta, mean, var: [cout], eps: float}.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from .graph import Layer
from .vocabulary import BN_EPSILON, LayerType

# One layer's entry, as the module docstring lays it out; Params maps layer names to them.
LayerParams = Dict[str, Any]
Params = Dict[str, LayerParams]


def random_params(layers: Sequence[Layer], seed: int = 0) -> Params:
    """He-initialized weights and non-trivial batch-norm statistics, reproducible from seed."""
    rng = np.random.default_rng(seed)
    params: Params = {}
    for layer in layers:
        if layer.weight_shape is None:
            continue
        cin, cout = layer.in_shape[2], layer.out_shape[2]
        assert layer.kind is not None  # a layer with a weight_shape has a known type
        fan_in = layer.kind.weights_per_output(cin)
        gain = 1.0 if layer.type == LayerType.FC else 2.0  # no ReLU after the classifier
        weight = rng.standard_normal(layer.weight_shape) * np.sqrt(gain / fan_in)
        p: LayerParams = {"weight": weight.astype(np.float32)}
        if layer.has_batch_norm:
            p["bn"] = {
                "gamma": rng.uniform(0.5, 1.5, cout).astype(np.float32),
                "beta": rng.normal(0.0, 0.2, cout).astype(np.float32),
                "mean": rng.normal(0.0, 0.2, cout).astype(np.float32),
                "var": rng.uniform(0.5, 2.0, cout).astype(np.float32),
                "eps": BN_EPSILON,
            }
        else:
            p["bias"] = rng.normal(0.0, 0.1, cout).astype(np.float32)
        params[layer.name] = p
    return params


def fold_batch_norm(layer: Layer, p: LayerParams) -> Tuple[np.ndarray, np.ndarray]:
    """(weight, bias) with batch norm folded in, computed in float64, returned as float32."""
    weight = np.asarray(p["weight"], dtype=np.float64)
    cout = layer.out_shape[2]
    bias = np.asarray(p["bias"], dtype=np.float64) if p.get("bias") is not None else np.zeros(cout)
    bn = p.get("bn")
    if bn is not None:
        scale = np.asarray(bn["gamma"], np.float64) / np.sqrt(np.asarray(bn["var"], np.float64) + float(bn["eps"]))
        weight = weight * scale  # output channels are the last axis in every layout
        bias = (bias - np.asarray(bn["mean"], np.float64)) * scale + np.asarray(bn["beta"], np.float64)
    return weight.astype(np.float32), bias.astype(np.float32)


def check_params(layers: Sequence[Layer], params: Params) -> None:
    """Raises ValueError naming the first missing, misshapen or non-finite tensor.

    Every network passes here (built, loaded or unpickled), so this is the one
    NaN/Inf scan of the weights in Python; readers check only structure.
    """
    for layer in layers:
        if layer.weight_shape is None:
            continue
        p = params.get(layer.name)
        if p is None or "weight" not in p:
            raise ValueError(f"missing weight for layer {layer.name!r}")
        cout = layer.out_shape[2]
        tensors = {"weight": (p["weight"], layer.weight_shape)}
        if p.get("bias") is not None:
            tensors["bias"] = (p["bias"], (cout,))
        if p.get("bn") is not None:
            for key in ("gamma", "beta", "mean", "var"):
                if key not in p["bn"]:
                    raise ValueError(f"layer {layer.name!r}: batch norm lacks {key!r}")
                tensors["bn." + key] = (p["bn"][key], (cout,))
            eps = p["bn"].get("eps", BN_EPSILON)
            if not np.isfinite(eps) or eps < 0:
                raise ValueError(f"layer {layer.name!r}: batch-norm epsilon must be >= 0, got {eps}")
        for key, (value, shape) in tensors.items():
            arr = np.asarray(value)
            if arr.shape != tuple(shape):
                raise ValueError(f"layer {layer.name!r}: {key} has shape {arr.shape}, expected {tuple(shape)}")
            if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
                raise ValueError(f"layer {layer.name!r}: {key} must be finite floating-point values")
        if p.get("bn") is not None and np.any(np.asarray(p["bn"]["var"]) + p["bn"].get("eps", BN_EPSILON) <= 0):
            raise ValueError(f"layer {layer.name!r}: batch-norm variance + epsilon must be positive")
