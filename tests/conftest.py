"""Shared fixtures: tiny stand-in models with known gradients (fast) and the real SqueezeNet 1.1 (marked)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.child.standin import LinearStandIn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def linear_model():
    """The grader's linear stand-in: scores linear in the image, ``d s_y / d X = c[y] P`` exactly."""
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
