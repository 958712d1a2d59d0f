"""Run-time ISA dispatch as the user sees it: mobilenet.isa(), supported_isas(), MOBILENET_ISA."""
import os
import platform
import subprocess
import sys

import pytest

import mobilenet

ARM = platform.machine().lower() in ("aarch64", "arm64")


def _python(code, isa):
    env = dict(os.environ, MOBILENET_ISA=isa)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_supported_isas_fit_this_architecture():
    isas = mobilenet.supported_isas()
    assert isas[0] == "scalar"
    assert mobilenet.isa() in isas
    if ARM:
        assert "neon" in isas and "avx2" not in isas and "avx512" not in isas
    else:
        assert "neon" not in isas


def test_default_is_the_best_isa():
    result = _python("import mobilenet; print(mobilenet.isa(), mobilenet.supported_isas()[-1])", "")
    assert result.returncode == 0, result.stderr
    chosen, best = result.stdout.split()
    assert chosen == best
    if ARM:
        assert chosen == "neon"


@pytest.mark.parametrize("isa", mobilenet.supported_isas())
def test_environment_forces_each_isa(isa):
    code = ("import mobilenet; net = mobilenet.MobileNetV1(alpha=0.25, resolution=32, threads=1); "
            "print(mobilenet.isa(), net.isa, ' '.join(net.kernel_names))")
    result = _python(code, isa)
    assert result.returncode == 0, result.stderr
    chosen, net_isa, *kernels = result.stdout.split()
    assert chosen == isa and net_isa == isa
    assert all(name.endswith("_" + isa) for name in kernels), kernels


@pytest.mark.parametrize("isa", ["sse9"] + [i for i in ("avx2", "avx512", "neon")
                                            if i not in mobilenet.supported_isas()])
def test_environment_refuses_an_unknown_or_unsupported_isa(isa):
    # A ValueError where a network is built (import succeeds, so the CLI can report it in one line).
    result = _python("import mobilenet; mobilenet.MobileNetV1(alpha=0.25, resolution=32, threads=1)", isa)
    assert result.returncode != 0
    assert "ValueError: MOBILENET_ISA" in result.stderr and f"'{isa}'" in result.stderr


@pytest.mark.parametrize("isa", mobilenet.supported_isas())
def test_gemm_k_blocks_either_way_give_the_same_bits(isa):
    """The float32 GEMM runs k in 32 KB blocks of weights (MOBILENET_GEMM_K_BLOCKS=1; the default
    but on AMD with AVX-512) or in one block up to 512 KB (0). The blocks' partial sums go
    through C as float32, so the network's output must not change by a bit: 1.0/160 (k up to
    1024), batch 2, 1 and 3 threads."""
    code = ("import hashlib, numpy as np, mobilenet\n"
            "x = np.random.default_rng(0).uniform(-1, 1, (2, 160, 160, 3)).astype(np.float32)\n"
            "for threads in (1, 3):\n"
            "    net = mobilenet.MobileNetV1(alpha=1.0, resolution=160, threads=threads)\n"
            "    print(hashlib.sha1(net.logits(x).tobytes()).hexdigest())\n")
    digests = {}
    for value in ("1", "0"):
        env = dict(os.environ, MOBILENET_ISA=isa, MOBILENET_GEMM_K_BLOCKS=value)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        digests[value] = result.stdout.split()
    assert len(digests["1"]) == 2 and digests["1"] == digests["0"]
