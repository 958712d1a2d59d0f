"""What timm's train.py and torch's wrappers write: training checkpoints (args, EMA weights), torch.compile
and DataParallel prefixes, bf16 / fp16 safetensors, a model's act_layer, and pickles that must never run.

timm itself is not imported (it always imports torchvision, whose wheels do not fit our CPU torch): the
files are written the way timm writes them, with torch alone.
"""
import argparse
import os
import pickle

import numpy as np
import pytest

import mobilenet

from model_files import max_rel_error, timm_mobilenetv1

torch = pytest.importorskip("torch")


def _logits(model, x_nhwc):
    with torch.no_grad():
        return model(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy())).float().numpy()


def _x(size=96, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)


def _train_py_checkpoint(path, model, ema_model=None, epoch=3):
    """timm's CheckpointSaver._save: the state_dict, the optimizer's, the command line (argparse.Namespace),
    the metric, and with --model-ema the EMA weights (timm's ModelEmaV3 keeps them under module.)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    args = argparse.Namespace(model="mobilenetv1_100", lr=0.1, epochs=10, batch_size=32, model_ema=ema_model
                              is not None, model_ema_decay=0.9998, amp=False, input_size=None, mean=None,
                              std=None, interpolation="", smoothing=0.1, opt="sgd", sched="cosine", seed=42,
                              output="", experiment="", drop=0.0, aa=None, hflip=0.5, scale=[0.08, 1.0])
    state = {"epoch": epoch, "arch": "mobilenetv1_100", "state_dict": model.state_dict(),
             "optimizer": optimizer.state_dict(), "version": 2, "args": args, "metric": 12.5}
    if ema_model is not None:
        state["state_dict_ema"] = {"module." + k: v for k, v in ema_model.state_dict().items()}
    torch.save(state, path)


def test_train_py_checkpoint_prefers_ema_weights(tmp_path):
    model = timm_mobilenetv1(1.0, num_classes=10, seed=1)
    ema = timm_mobilenetv1(1.0, num_classes=10, seed=2)
    path = tmp_path / "checkpoint-3.pth.tar"
    _train_py_checkpoint(path, model, ema)
    x = _x()
    net = mobilenet.load(path, resolution=96)  # as timm's load_checkpoint(use_ema=True)
    assert max_rel_error(net.logits(x), _logits(ema, x)) <= 1e-4
    trained = mobilenet.load(path, resolution=96, ema=False)
    assert max_rel_error(trained.logits(x), _logits(model, x)) <= 1e-4
    assert max_rel_error(net.logits(x), _logits(model, x)) > 1e-2  # the two really differ


def test_train_py_checkpoint_without_ema(tmp_path):
    model = timm_mobilenetv1(1.0, num_classes=10, seed=3)
    path = tmp_path / "last.pth.tar"
    _train_py_checkpoint(path, model)
    x = _x()
    for ema in (None, False):
        assert max_rel_error(mobilenet.load(path, resolution=96, ema=ema).logits(x), _logits(model, x)) <= 1e-4
    with pytest.raises(ValueError, match="ema=True, but the checkpoint has no EMA weights"):
        mobilenet.load(path, resolution=96, ema=True)


def test_ema_option_is_for_torch_checkpoints_only(tmp_path):
    net = mobilenet.MobileNetV1(alpha=0.25, resolution=96, num_classes=5)
    path = tmp_path / "net.npz"
    net.save(path)
    with pytest.raises(ValueError, match="ema= applies to torch files only"):
        mobilenet.load(path, ema=False)
    with pytest.raises(TypeError, match="ema must be"):
        mobilenet.load(path, ema="yes")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")  # torch.compile's imports warn about torch.jit
def test_compile_and_data_parallel_prefixes(tmp_path):
    model = timm_mobilenetv1(1.0, num_classes=10, seed=4)
    compiled = torch.compile(model)  # compiles lazily: its state_dict is the wrapper's, keys _orig_mod.*
    keys = list(compiled.state_dict())
    assert keys[0].startswith("_orig_mod.")
    x = _x()
    for name, state in (("compiled.pth", compiled.state_dict()),
                        ("ddp_compiled.pth", {"module." + k: v for k, v in compiled.state_dict().items()})):
        torch.save(state, tmp_path / name)
        net = mobilenet.load(tmp_path / name, resolution=96)
        assert max_rel_error(net.logits(x), _logits(model, x)) <= 1e-4, name


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_safetensors(tmp_path, dtype):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = timm_mobilenetv1(1.0, num_classes=10, seed=5)
    half = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path / f"model.{dtype}.safetensors"
    safetensors_torch.save_file(half, str(path))
    net = mobilenet.load(path, resolution=96)
    # The weights are the file's half-precision values, widened exactly to float32.
    np.testing.assert_array_equal(net.params["conv1"]["weight"],
                                  half["conv_stem.weight"].float().numpy().transpose(2, 3, 1, 0))
    # And the network is PyTorch's with those weights, in float32.
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    x = _x()
    assert max_rel_error(net.logits(x), _logits(model, x)) <= 1e-4


def _calibrated(model, x, gamma, beta):
    """model with each batch norm's statistics measured on x (so the signal survives all layers, unlike
    random statistics, under which the logits hardly depend on the input), then scale gamma and shift beta."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: the statistics of x itself
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        for norm in norms:
            norm.weight.fill_(gamma)
            norm.bias.fill_(beta)
    return model.eval()


def test_activation_the_state_dict_cannot_record(tmp_path):
    x = np.random.default_rng(8).uniform(-1, 1, (8, 96, 96, 3)).astype(np.float32)
    # Normalized maps scaled by 2.5 and shifted by 0.5: enough values above 6 for ReLU and ReLU6 to part.
    model = _calibrated(timm_mobilenetv1(1.0, num_classes=10, seed=6, act="relu"), x, 2.5, 0.5)
    path = tmp_path / "relu.pth"
    torch.save(model.state_dict(), path)
    want = _logits(model, x)
    net = mobilenet.load(path, resolution=96, activation="relu")
    assert {layer.activation for layer in net.layers if layer.type not in ("avgpool", "fc")} == {"relu"}
    assert max_rel_error(net.logits(x), want) <= 1e-4
    assert max_rel_error(mobilenet.load(path, resolution=96).logits(x), want) > 1e-2  # read as ReLU6: wrong
    assert mobilenet.load(path, resolution=96, activation="relu6").layers[0].activation == "relu6"
    with pytest.raises(ValueError, match="activation must be one of"):
        mobilenet.load(path, activation="gelu")


def test_activation_cannot_contradict_a_file_that_records_it(tmp_path):
    path = tmp_path / "net.npz"
    mobilenet.MobileNetV1(alpha=0.25, resolution=96, num_classes=5, activation="relu6").save(path)
    assert mobilenet.load(path, activation="relu6").layers[0].activation == "relu6"
    with pytest.raises(ValueError, match="the file records its activation"):
        mobilenet.load(path, activation="relu")


class _Payload:
    """Unpickling this calls os.system, which would create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("layout", ["zip", "legacy", "plain pickle"])
def test_code_in_a_malicious_checkpoint_never_runs(tmp_path, layout):
    model = timm_mobilenetv1(1.0, num_classes=10, seed=7)
    marker = tmp_path / "ran"
    # The payload first: the unpickler meets it before anything else it would refuse.
    state = {"hook": _Payload(marker), "state_dict": model.state_dict(), "args": argparse.Namespace(lr=0.1)}
    path = tmp_path / "evil.pth"
    if layout == "plain pickle":
        path.write_bytes(pickle.dumps(state, protocol=2))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=layout == "zip")
    with pytest.raises(ValueError, match=r"pickles a (posix|nt|os)\.system, which is not unpickled"):
        mobilenet.load(path, resolution=96)
    assert not marker.exists()
    # The payload is live: plain pickle would have run it.
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_a_dtype_we_do_not_read_is_named(tmp_path, kind):
    model = timm_mobilenetv1(1.0, num_classes=5, seed=8)
    state = {k: v.to(torch.float8_e4m3fn) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path / f"float8.{kind}"
    if kind == "pth":
        torch.save(state, path)
        message = r"has dtype torch\.float8_e4m3fn, which is not read"
    else:
        pytest.importorskip("safetensors.torch").save_file(state, str(path))
        message = r"has dtype F8_E4M3, which is not read"
    with pytest.raises(ValueError, match=message):
        mobilenet.load(path, resolution=96)
