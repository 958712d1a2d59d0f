"""The real TFLite models TensorFlow publishes, against the stored LiteRT outputs and LiteRT run live."""
import json

import numpy as np
import pytest

import mobilenet

from model_files import FLOAT_TFLITE, QUANT_TFLITES, shared_models

IMAGES = ("chelsea", "coffee", "astronaut", "rocket")


@pytest.fixture(scope="module")
def models():
    return shared_models()


@pytest.fixture(scope="module")
def float_net(models):
    pytest.importorskip("tflite")
    return mobilenet.load(models / FLOAT_TFLITE)


def test_float_model_graph_conventions(float_net):
    net = float_net
    assert net.num_classes == 1001 and net.alpha == 0.25 and net.input_shape == (224, 224, 3)
    assert net.source == "tflite" and net.format == "tflite" and net.labels is None
    assert [layer.type for layer in net.layers][:3] == ["conv3x3", "dwconv3x3", "conv1x1"]
    assert net.layers[-2].type == "avgpool" and net.layers[-1].type == "fc"
    assert net.params["fc"]["bias"].shape == (1001,)
    assert all(layer.activation == "relu6" for layer in net.layers if layer.type not in ("avgpool", "fc"))
    # TF 'SAME' on even sizes: stride-2 layers pad one pixel, at the bottom/right only.
    strided = [layer for layer in net.layers if layer.stride == 2]
    assert len(strided) == 5 and all(layer.padding == (0, 0, 1, 1) for layer in strided)
    assert net.layers[1].padding == (1, 1, 1, 1)
    assert net.preprocessing.mean == (0.5,) * 3 and net.preprocessing.std == (0.5,) * 3
    assert net.preprocessing.crop is None and net.preprocessing.interpolation == "bilinear"


def _top5_without_zero_ties(scores):
    order = np.argsort(-scores, kind="stable")[:5]
    return [int(i) for i in order if round(float(scores[i]), 4) > 0]


@pytest.mark.parametrize("image", IMAGES)
def test_float_model_matches_stored_litert_outputs(models, float_net, image):
    inputs = np.load(models / "test_inputs.npz")
    expected = np.load(models / "expected_outputs.npz")[f"{FLOAT_TFLITE}|{image}"]
    top5 = json.loads((models / "expected_top5.json").read_text())["models"][FLOAT_TFLITE]["top5"][image]
    x = mobilenet.preprocess(inputs[f"{image}_224"], float_net)
    probs = float_net(x)[0]
    assert np.abs(probs - expected).max() <= 1e-5
    want = [entry["index"] for entry in top5 if entry["score"] > 0]
    assert _top5_without_zero_ties(probs)[:len(want)] == want


def test_float_model_matches_litert_live_on_random_inputs(models, float_net):
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = interpreter_module.Interpreter(model_path=str(models / FLOAT_TFLITE))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    rng = np.random.default_rng(2026)
    for _ in range(3):
        x = rng.uniform(-1.0, 1.0, (1, 224, 224, 3)).astype(np.float32)
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        want = interpreter.get_tensor(out["index"])
        got = float_net(x)
        assert np.abs(got - want).max() <= 1e-5
        assert int(got.argmax()) == int(want.argmax())


@pytest.mark.parametrize("name", sorted(QUANT_TFLITES))
def test_quantized_models_load_dequantized_with_their_labels(models, name):
    pytest.importorskip("tflite")
    net = mobilenet.load(models / name, precision="float32")  # int8, their default, is not available yet
    assert net.precision == "float32" and net.quantization is None
    size = QUANT_TFLITES[name]
    assert net.input_shape == (size, size, 3) and net.num_classes == 1001
    labels = (models / "imagenet_labels.txt").read_text().splitlines()
    assert net.labels == labels  # from the TFLite-metadata zip inside the flatbuffer
    # uint8 input: real = (q - 128) / 128, recorded as mean/std in pixel / 255 units.
    assert net.preprocessing.mean[0] == pytest.approx(128 / 255)
    assert net.preprocessing.std[0] == pytest.approx(128 / 255)
    inputs = np.load(models / "test_inputs.npz")
    expected = np.load(models / "expected_outputs.npz")
    for image in ("chelsea", "coffee"):
        probs = net(mobilenet.preprocess(inputs[f"{image}_{size}"], net))[0]
        want = expected[f"{name}|{image}"]
        # Weights dequantized, activations float32: close to the integer interpreter, same top-1.
        assert int(probs.argmax()) == int(want.argmax())
        assert np.abs(probs - want).max() < 0.05


def test_preprocess_reproduces_the_reference_resize(models, float_net):
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("PIL")
    stored = np.load(models / "test_inputs.npz")["chelsea_224"]
    x = mobilenet.preprocess(skimage_data.chelsea(), float_net)
    np.testing.assert_allclose(x[0], stored.astype(np.float32) / 127.5 - 1.0, atol=1e-6)
