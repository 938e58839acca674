"""Shared fixtures: tiny stand-in models with known gradients (fast) and the real SqueezeNet 1.1 (marked)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent


class LinearStandIn:
    """A stand-in for SqueezeNet whose raw scores are linear in the image, so every gradient is known.

    ``scores[n, k] = c[k] * sum(P * X[n]) + b[k]``, with P a fixed (224, 224, 3) pattern; hence
    ``d s_y / d X[n] = c[y] * P`` exactly.
    """

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.P = rng.standard_normal((224, 224, 3)).astype(np.float32) / 224.0
        self.c = rng.standard_normal(1000).astype(np.float32)
        self.b = rng.standard_normal(1000).astype(np.float32)

    def __call__(self, X):
        import tensorflow as tf

        X = tf.convert_to_tensor(X, tf.float32)
        proj = tf.reduce_sum(X * self.P, axis=[1, 2, 3])
        return proj[:, None] * self.c[None, :] + self.b[None, :]

    def score_gradient(self, y: int) -> np.ndarray:
        return (self.c[y] * self.P)[None]


@pytest.fixture
def linear_model():
    return LinearStandIn()


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The verified weights and reference data (fetched by setup.sh; fetched here if missing)."""
    from classviz import weights

    return weights.fetch(weights.GROUPS, quiet=True)


@pytest.fixture(scope="session")
def squeezenet(weights_dir):
    import classviz

    return classviz.load_squeezenet(weights_dir)
