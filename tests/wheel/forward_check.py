"""Run by tests/wheel/smoke.sh inside a fresh venv holding only the installed wheel.

Checks that the installed package (not a source tree) imports, that its
vendored OpenBLAS is the one loaded, and that a forward pass on every ISA
and both pointwise backends matches the float64 oracle.
"""
import os
import sys

import numpy as np

import mobilenet
from mobilenet import reference

package_dir = os.path.dirname(mobilenet.__file__)
assert "site-packages" in package_dir, f"imported mobilenet from {package_dir}, not from the installed wheel"

x = np.random.default_rng(0).random((2, 96, 96, 3), dtype=np.float32)
for isa in mobilenet.supported_isas():
    for backend in ("gemm", "blas"):
        net = mobilenet.MobileNetV1(alpha=0.25, resolution=96, threads=2, backend=backend, isa=isa)
        logits = net.logits(x)
        expected = reference.forward(net.layers, net.params, x)
        error = float(np.abs(logits - expected).max() / np.abs(expected).max())
        probs = net(x)
        ok = error < 1e-4 and probs.shape == (2, 1000) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        print(f"{isa:7s} {backend:5s} max relative error {error:.2e} {'ok' if ok else 'FAILED'}")
        if not ok:
            sys.exit(1)

# The BLAS backend ran above: the scipy-openblas32 library mapped into this
# process must be the copy inside the installed package (numpy's own
# libscipy_openblas64_ is a different library and may be loaded too).
with open("/proc/self/maps") as maps:
    ours = {line.split()[-1] for line in maps if os.path.basename(line.split()[-1]).startswith("libscipy_openblas.")}
print("OpenBLAS loaded from:", ", ".join(sorted(ours)))
assert ours and all(path.startswith(package_dir) for path in ours), ours
print("isa:", mobilenet.isa(), "supported:", mobilenet.supported_isas(), "version:", mobilenet.__version__)
