"""mobilenet.io.tflite_writer: what it writes runs in LiteRT and loads back."""
import numpy as np
import pytest

import mobilenet

pytest.importorskip("flatbuffers")
from mobilenet.io.tflite_writer import to_tflite  # noqa: E402


@pytest.mark.parametrize("alpha, resolution, padding, activation, batch, softmax", [
    (0.25, 96, "same", "relu6", 1, False),
    (0.5, 65, "symmetric", "relu", 2, False),  # PyTorch padding: explicit PAD ops
    (0.3, 97, "same", "relu", 3, True),
])
def test_written_network_runs_in_litert_and_loads_back(tmp_path, alpha, resolution, padding, activation, batch,
                                                       softmax):
    pytest.importorskip("tflite")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    net = mobilenet.MobileNetV1(alpha, resolution, padding=padding, activation=activation, threads=1, seed=2)
    path = tmp_path / "net.tflite"
    to_tflite(net, path, softmax=softmax, batch=batch)
    interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    x = np.random.default_rng(0).uniform(-1, 1, (batch,) + net.input_shape).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, net(x) if softmax else net.logits(x), rtol=0, atol=1e-4)
    back = mobilenet.load(path, threads=1)  # and our own reader reads it back to the same network
    np.testing.assert_allclose(back.logits(x), net.logits(x), rtol=0, atol=1e-5)
