"""Random networks against the float64 oracle: every hyperparameter, engine
setting and input form at once, so that combinations no hand-written test
names are covered too. Bounded (derandomized, about a minute) for CI.
"""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import mobilenet
from mobilenet import _core, reference

from conftest import ISAS, max_rel_error

NETWORK_TOLERANCE = 1e-4
BACKENDS = ["gemm", "blas"] if _core.blas_available() else ["gemm"]

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

networks = st.fixed_dictionaries({
    "alpha": st.floats(0.1, 1.3, allow_nan=False).map(lambda a: round(a, 3)),
    "resolution": st.tuples(st.integers(32, 96), st.integers(32, 96)),
    "padding": st.sampled_from(["same", "symmetric"]),
    "activation": st.sampled_from(["relu", "relu6"]),
    "channel_rounding": st.sampled_from(["floor", "multiple_of_8"]),
    "shallow": st.booleans(),
    "num_classes": st.integers(1, 64),
    "seed": st.integers(0, 2**16),
    "threads": st.integers(1, 16),
    "backend": st.sampled_from(BACKENDS),
    "isa": st.sampled_from(ISAS),
})
runs = st.fixed_dictionaries({"batch": st.integers(1, 3), "layout": st.sampled_from(["NHWC", "NCHW"]),
                              "scale": st.sampled_from([1e-3, 1.0, 50.0])})


@FUZZ
@given(options=networks, run=runs)
def test_random_networks_match_the_oracle(options, run):
    net = mobilenet.MobileNetV1(**options)
    h, w, _ = net.input_shape
    rng = np.random.default_rng(options["seed"])
    x = (run["scale"] * rng.standard_normal((run["batch"], h, w, 3))).astype(np.float32)
    xin = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if run["layout"] == "NCHW" else x
    got = net.logits(xin, layout=run["layout"])
    assert got.shape == (run["batch"], options["num_classes"])
    want = reference.forward(net.layers, net.params, x)
    assert max_rel_error(got, want) <= NETWORK_TOLERANCE, options
    probs = net(xin, layout=run["layout"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    if options["threads"] > 1 and options["backend"] == "gemm":  # thread counts never change the bits
        net.set_threads(1)
        assert np.array_equal(net.logits(xin, layout=run["layout"]), got)
