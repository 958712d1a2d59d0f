"""timm-layout PyTorch state_dicts (torch.save and safetensors) and their ONNX exports, against PyTorch's forward."""
import numpy as np
import pytest

import mobilenet

from model_files import max_rel_error, timm_mobilenetv1

torch = pytest.importorskip("torch")


def _torch_logits(model, x_nhwc):
    with torch.no_grad():
        return model(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2).copy())).numpy()


@pytest.mark.parametrize("alpha, head, resolution", [(1.0, False, 224), (1.0, True, 160), (1.25, False, 128)])
def test_state_dict_matches_pytorch_forward(tmp_path, alpha, head, resolution):
    model = timm_mobilenetv1(alpha, head, num_classes=1000, seed=int(alpha * 100) + head)
    path = tmp_path / "mobilenetv1.pth"
    torch.save(model.state_dict(), path)
    net = mobilenet.load(path, resolution=resolution)
    assert net.format == "torch" and net.alpha == alpha and net.num_classes == 1000
    assert all(layer.padding == (1, 1, 1, 1) for layer in net.layers if layer.type in ("conv3x3", "dwconv3x3"))
    assert all(layer.activation == "relu6" for layer in net.layers if layer.type not in ("avgpool", "fc"))
    assert net.params["conv1"]["bn"]["eps"] == 1e-5
    assert ("conv_head" in net.params) == head
    if alpha == 1.25:  # timm rounds widths to multiples of 8: 32 * 1.25 = 40, 1024 * 1.25 = 1280
        assert net.layers[0].out_shape[2] == 40 and net.layers[-1].in_shape[2] == 1280
    assert net.preprocessing.crop == (0.9 if alpha == 1.25 else 0.875)
    assert net.preprocessing.crop_mode == "resize_then_crop" and net.preprocessing.interpolation == "bicubic"
    x = np.random.default_rng(3).uniform(-1, 1, (2, resolution, resolution, 3)).astype(np.float32)
    assert max_rel_error(net.logits(x), _torch_logits(model, x)) <= 1e-4


def test_checkpoint_wrappers_and_safetensors(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = timm_mobilenetv1(1.0, False, num_classes=10, seed=7)
    x = np.random.default_rng(4).uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)
    want = _torch_logits(model, x)
    wrapped = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, wrapped)
    tensors = tmp_path / "model.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tensors))
    legacy = tmp_path / "legacy.pt"  # torch.save's pre-1.6 pickle format
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    for path, kind in ((wrapped, "torch"), (tensors, "safetensors"), (legacy, "torch")):
        net = mobilenet.load(path, resolution=96)
        assert net.format == kind and net.num_classes == 10
        assert max_rel_error(net.logits(x), want) <= 1e-4


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")  # exporters' own notices
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_torch_onnx_export_loads_back(tmp_path, dynamo):
    pytest.importorskip("onnx")
    if dynamo:
        pytest.importorskip("onnxscript")  # the torch.export-based exporter (the default since torch 2.9)
    model = timm_mobilenetv1(1.0, False, num_classes=1000, seed=11)
    path = tmp_path / "mobilenetv1.onnx"
    example = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["logits"],
                      opset_version=18, dynamo=dynamo)
    net = mobilenet.load(path)
    assert net.format == "onnx" and net.num_classes == 1000 and net.input_shape == (224, 224, 3)
    assert [layer.padding for layer in net.layers if layer.stride == 2] == [(1, 1, 1, 1)] * 5
    x = np.random.default_rng(5).uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    assert max_rel_error(net.logits(x), _torch_logits(model, x)) <= 1e-4
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for image in x:
        ort_logits = session.run(None, {"input": image[None].transpose(0, 3, 1, 2).copy()})[0]
        assert max_rel_error(net.logits(image[None]), ort_logits) <= 1e-4
