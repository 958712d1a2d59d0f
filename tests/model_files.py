"""Helpers for the loader tests: where the shared real models are, and model files the tests write themselves."""
from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from mobilenet.graph import TABLE1_BLOCKS, scaled_channels

REPO = pathlib.Path(__file__).resolve().parent.parent
FLOAT_TFLITE = "mobilenet_v1_0.25_224_1_default_1.tflite"
QUANT_TFLITES = {"mobilenet_v1_0.25_128_quant.tflite": 128, "mobilenet_v1_0.5_160_quant.tflite": 160,
                 "mobilenet_v1_0.75_192_quant.tflite": 192}


def shared_models() -> pathlib.Path:
    """$MOBILENET_TEST_MODELS, else ../shared/models beside the repository; skips the test if absent."""
    path = pathlib.Path(os.environ.get("MOBILENET_TEST_MODELS", REPO.parent / "shared" / "models"))
    if not (path / FLOAT_TFLITE).is_file():
        pytest.skip(f"the shared real models are not at {path} (set MOBILENET_TEST_MODELS to their folder)")
    return path


# ---------------------------------------------------------------- timm layout in plain torch.nn

def timm_mobilenetv1(alpha: float = 1.0, head: bool = False, num_classes: int = 1000, seed: int = 0,
                     act: str = "relu6"):
    """timm's mobilenetv1_100 / 100h / 125 (eval mode, random weights and batch-norm statistics);
    act: its act_layer, "relu6" (timm's default for these models) or "relu".

    Uses timm when it is importable; otherwise the same modules, names and
    forward pass built from plain torch.nn layers (timm needs torchvision, a
    multi-GB install here).
    """
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(seed)
    try:
        import timm
        name = {(1.0, False): "mobilenetv1_100", (1.0, True): "mobilenetv1_100h", (1.25, False): "mobilenetv1_125"}
        model = timm.create_model(name[(alpha, head)], pretrained=False, num_classes=num_classes, act_layer=act)
    except (ImportError, KeyError, RuntimeError):
        model = _plain_torch_mobilenetv1(torch, nn, alpha, head, num_classes, act)
    with torch.no_grad():  # non-trivial batch-norm statistics, so an ignored BN would show
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _plain_torch_mobilenetv1(torch, nn, alpha, head, num_classes, act="relu6"):
    def width(c):
        return scaled_channels(c, alpha, "multiple_of_8")

    activation = {"relu6": nn.functional.relu6, "relu": nn.functional.relu}[act]

    class BatchNormAct(nn.BatchNorm2d):  # timm's BatchNormAct2d: BN then its act_layer, same state_dict names
        def forward(self, x):
            return activation(super().forward(x))

    class DepthwiseSeparableConv(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
            self.bn1 = BatchNormAct(cin)
            self.conv_pw = nn.Conv2d(cin, cout, 1, bias=False)
            self.bn2 = BatchNormAct(cout)

        def forward(self, x):
            return self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))

    class MobileNetV1(nn.Module):
        def __init__(self):
            super().__init__()
            stem = width(32)
            self.conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
            self.bn1 = BatchNormAct(stem)
            stages, cin = [], stem
            for count, (channels, _) in zip((1, 2, 2, 6, 2), ((64, 1), (128, 2), (256, 2), (512, 2), (1024, 2))):
                blocks = []
                for i in range(count):
                    stride = 2 if i == 0 and channels != 64 else 1
                    blocks.append(DepthwiseSeparableConv(cin, width(channels), stride))
                    cin = width(channels)
                stages.append(nn.Sequential(*blocks))
            self.blocks = nn.Sequential(*stages)
            if head:
                features = max(1024, width(1024))
                self.conv_head = nn.Conv2d(cin, features, 1, bias=False)
                self.bn2 = BatchNormAct(features)
                cin = features
            else:
                self.conv_head = self.bn2 = nn.Identity()
            self.global_pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(cin, num_classes)

        def forward(self, x):
            x = self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))
            return self.classifier(torch.flatten(self.global_pool(x), 1))

    return MobileNetV1()


# ---------------------------------------------------------------- Keras layout with h5py

def keras_mobilenet_arrays(alpha: float = 0.25, num_classes: int = 10, seed: int = 0):
    """{layer: {weight name: array}} in keras.applications.MobileNet's names and shapes (random values)."""
    rng = np.random.default_rng(seed)

    def bn(c):
        return {"gamma": rng.uniform(0.5, 1.5, c), "beta": rng.normal(0, 0.2, c),
                "moving_mean": rng.normal(0, 0.2, c), "moving_variance": rng.uniform(0.5, 2.0, c)}

    def he(shape, fan_in):
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    c = int(32 * alpha)
    layers = {"conv1": {"kernel": he((3, 3, 3, c), 27)}, "conv1_bn": bn(c)}
    for k, (channels, _) in enumerate(TABLE1_BLOCKS, start=1):
        layers[f"conv_dw_{k}"] = {"depthwise_kernel": he((3, 3, c, 1), 9)}
        layers[f"conv_dw_{k}_bn"] = bn(c)
        cout = int(channels * alpha)
        layers[f"conv_pw_{k}"] = {"kernel": he((1, 1, c, cout), c)}
        layers[f"conv_pw_{k}_bn"] = bn(cout)
        c = cout
    layers["conv_preds"] = {"kernel": rng.standard_normal((1, 1, c, num_classes)) / np.sqrt(c),
                            "bias": rng.normal(0, 0.1, num_classes)}
    return {name: {k: np.asarray(v, np.float32) for k, v in weights.items()} for name, weights in layers.items()}


def write_keras_h5(path, arrays, keras3: bool = False) -> None:
    """Writes arrays the way Keras 2's save_weights (or Keras 3's .weights.h5) lays them out."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        if keras3:
            for layer, weights in arrays.items():
                group = f.create_group(f"layers/{layer}/vars")
                for i, value in enumerate(weights.values()):
                    group.create_dataset(str(i), data=value)
            return
        f.attrs["layer_names"] = [name.encode() for name in ["input_1"] + list(arrays) + ["act_softmax"]]
        f.attrs["backend"] = b"tensorflow"
        f.create_group("input_1").attrs["weight_names"] = []
        for layer, weights in arrays.items():
            group = f.create_group(layer)
            names = [f"{layer}/{k}:0" for k in weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, value in zip(names, weights.values()):
                group.create_dataset(name, data=value)
        f.create_group("act_softmax").attrs["weight_names"] = []


def keras_forward(arrays, x_nhwc: np.ndarray) -> np.ndarray:
    """keras.applications.MobileNet's forward pass in NumPy float64 (pre-softmax logits).

    Written from Keras's definition, independent of the loader: conv1 is 'same'
    with stride 2 (TensorFlow's rule), stride-2 depthwise layers use
    ZeroPadding2D(((0, 1), (0, 1))) then 'valid', batch norm epsilon 1e-3, ReLU6.
    """
    from mobilenet.reference import conv3x3, dwconv3x3

    def bn_relu6(y, p):
        y = (y - p["moving_mean"]) / np.sqrt(p["moving_variance"].astype(np.float64) + 1e-3) * p["gamma"] + p["beta"]
        return np.clip(y, 0.0, 6.0)

    def tf_same(size, stride):
        out = -(-size // stride)
        total = max((out - 1) * stride + 3 - size, 0)
        return total // 2, total - total // 2

    x = np.asarray(x_nhwc, np.float64)
    top, bottom = tf_same(x.shape[1], 2)
    left, right = tf_same(x.shape[2], 2)
    x = bn_relu6(conv3x3(x, arrays["conv1"]["kernel"], 2, (top, left, bottom, right)), arrays["conv1_bn"])
    for k, (_, stride) in enumerate(TABLE1_BLOCKS, start=1):
        if stride == 2:
            x = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
            pad = (0, 0, 0, 0)
        else:
            pad = (1, 1, 1, 1)
        x = bn_relu6(dwconv3x3(x, arrays[f"conv_dw_{k}"]["depthwise_kernel"][:, :, :, 0], stride, pad),
                     arrays[f"conv_dw_{k}_bn"])
        x = bn_relu6(x @ arrays[f"conv_pw_{k}"]["kernel"][0, 0].astype(np.float64), arrays[f"conv_pw_{k}_bn"])
    x = x.mean(axis=(1, 2))
    return x @ arrays["conv_preds"]["kernel"][0, 0].astype(np.float64) + arrays["conv_preds"]["bias"]


def max_rel_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


# ---------------------------------------------------------------- small TFLite flatbuffers

def build_tflite(tensors, ops, inputs, outputs) -> bytes:
    """A float32 TFLite flatbuffer, through the package's writer.

    tensors: [(name, shape, data or None[, dtype])]; ops: [(builtin name, [input ids], [output ids], options)] where
    options is None or a dict with "padding" ("SAME"/"VALID"), "stride", "activation" (0 none, 3 relu6),
    and for AVERAGE_POOL_2D "filter".
    """
    pytest.importorskip("flatbuffers")
    pytest.importorskip("tflite")
    from mobilenet.io.tflite_writer import GraphBuilder

    g = GraphBuilder()
    for name, shape, data, *dtype in tensors:  # an optional fourth item: the dtype ("float32" by default)
        g.tensor(name, shape, data, *dtype)
    activations = {0: "none", 1: "relu", 3: "relu6"}
    for name, op_inputs, op_outputs, options in ops:
        options = dict(options or {})
        if "activation" in options:
            options["activation"] = activations[options["activation"]]
        if name == "AVERAGE_POOL_2D":
            options = {"filter": (options["filter"], options["filter"]), "stride": 2, "padding": "VALID"}
        g.op(name, op_inputs, op_outputs, options)
    return g.finish(inputs, outputs)


def mobilenet_v2_like_tflite(seed: int = 0) -> bytes:
    """The start of a MobileNet v2: stem, then an inverted residual (expand 1x1, depthwise, linear project, ADD)."""
    rng = np.random.default_rng(seed)
    t = [("input", [1, 32, 32, 3], None),
         ("stem/w", [8, 3, 3, 3], rng.standard_normal((8, 3, 3, 3))), ("stem/b", [8], np.zeros(8)),
         ("stem", [1, 16, 16, 8], None),
         ("expand/w", [16, 1, 1, 8], rng.standard_normal((16, 1, 1, 8))), ("expand/b", [16], np.zeros(16)),
         ("expand", [1, 16, 16, 16], None),
         ("dw/w", [1, 3, 3, 16], rng.standard_normal((1, 3, 3, 16))), ("dw/b", [16], np.zeros(16)),
         ("dw", [1, 16, 16, 16], None),
         ("project/w", [8, 1, 1, 16], rng.standard_normal((8, 1, 1, 16))), ("project/b", [8], np.zeros(8)),
         ("project", [1, 16, 16, 8], None),
         ("residual", [1, 16, 16, 8], None)]
    ops = [("CONV_2D", [0, 1, 2], [3], {"stride": 2, "activation": 3}),
           ("CONV_2D", [3, 4, 5], [6], {"activation": 3}),
           ("DEPTHWISE_CONV_2D", [6, 7, 8], [9], {"activation": 3}),
           ("CONV_2D", [9, 10, 11], [12], {}),
           ("ADD", [3, 12], [13], None)]
    return build_tflite(t, ops, [0], [13])


def reference_interpreter(path):
    """LiteRT on a .tflite with TFLite's reference kernels (BUILTIN_REF), keeping every
    intermediate tensor: what the int8 engine must match bit for bit."""
    litert = pytest.importorskip("ai_edge_litert.interpreter",
                                 reason="LiteRT (ai-edge-litert) runs the reference kernels")
    it = litert.Interpreter(model_path=str(path), experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
                            experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    return it
