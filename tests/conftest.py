import os
import pathlib

import numpy as np
import pytest

import mobilenet

REPO = pathlib.Path(__file__).resolve().parent.parent


def models_dir():
    """The shared real models: $MOBILENET_TEST_MODELS, else ../shared/models beside the repository."""
    path = pathlib.Path(os.environ.get("MOBILENET_TEST_MODELS", REPO.parent / "shared" / "models"))
    return path if path.is_dir() else None


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


ISAS = mobilenet.supported_isas()


def max_rel_error(got, want):
    """Largest absolute difference, relative to the largest reference magnitude."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
