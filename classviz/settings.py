"""The seed's hyper-parameters, their validation, and its starting image (CS231n's class visualization).

Rule of this module: every run of :func:`classviz.visualize.create_class_visualization` starts from
:func:`initial_image` and is configured by one :class:`Settings`, built from :data:`DEFAULTS` and the caller's
keyword arguments; nothing here runs the loop or imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_number
from .image import preprocess_image
from .squeezenet import IMAGE_SIZE

DEFAULTS = dict(l2_reg=1e-3, learning_rate=25.0, num_iterations=100, blur_every=10, max_jitter=16,
                show_every=25)
"""The seed's keyword arguments and defaults (L2 strength, step size, iterations, blur period in
iterations, jitter in pixels, display period in iterations)."""

BLUR_SIGMA = 0.5
"""Standard deviation, in pixels, of the periodic Gaussian blur (the seed's value)."""


def initial_image(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    """The seed's starting point: ``preprocess_image(255 * U[0, 1))``, float32 (n, 224, 224, 3)."""
    return preprocess_image(255.0 * rng.random((n, IMAGE_SIZE, IMAGE_SIZE, 3)))


@dataclass(frozen=True)
class Settings:
    """The validated hyper-parameters of one run (see :data:`DEFAULTS` for their meaning and units)."""
    l2_reg: float
    learning_rate: float
    num_iterations: int
    blur_every: int
    max_jitter: int
    show_every: int

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "Settings":
        """:data:`DEFAULTS` updated with ``kwargs``, each checked.

        Raises:
            TypeError, ValueError: an unknown keyword, or a value of the wrong type or range (quoted).
        """
        unknown = set(kwargs) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown keyword argument(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
        hp = {**DEFAULTS, **kwargs}
        return cls(l2_reg=check_number(hp["l2_reg"], "l2_reg", minimum=0),
                   learning_rate=check_number(hp["learning_rate"], "learning_rate", strictly_positive=True),
                   num_iterations=check_number(hp["num_iterations"], "num_iterations", minimum=0, integer=True),
                   blur_every=check_number(hp["blur_every"], "blur_every", minimum=1, integer=True),
                   max_jitter=check_number(hp["max_jitter"], "max_jitter", minimum=0, integer=True),
                   show_every=check_number(hp["show_every"], "show_every", minimum=1, integer=True))

    def shown(self, t: int) -> bool:
        """The seed's display rule: after the first iteration (t = 0), every ``show_every``-th and the last."""
        return t == 0 or (t + 1) % self.show_every == 0 or t == self.num_iterations - 1
