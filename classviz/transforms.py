"""Implicit regularizers of class visualization: jitter, Gaussian blur, clipping.

Rule of this module: each transform maps an NHWC float array (N, H, W, C) to an array of the same
shape. They come from Yosinski et al., "Understanding Neural Networks Through Deep Visualization"
(ICML Deep Learning Workshop 2015), as used by the CS231n class visualization seed:

* jitter: a random circular shift of the image by (dy, dx) pixels before the gradient step, undone
  exactly after it (``np.roll`` by the opposite offsets);
* blur: a separable Gaussian blur along the height and width axes only (axes 1 and 2), applied every
  few iterations;
* clipping: :func:`classviz.image.clip_to_valid_range`.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_number


def random_jitter_offsets(rng: np.random.Generator, max_jitter: int) -> tuple[int, int]:
    """Draw a jitter offset (dy, dx), each uniform over the integers in [-max_jitter, max_jitter].

    Args:
        rng: a seeded ``numpy.random.Generator`` (the only source of randomness).
        max_jitter: largest shift in pixels, >= 0.

    Returns:
        (dy, dx) as Python ints, in pixels along the height and width axes.

    Raises:
        TypeError: ``rng`` is not a ``numpy.random.Generator`` or ``max_jitter`` not an integer.
        ValueError: ``max_jitter`` < 0.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"but got {type(rng).__name__}")
    max_jitter = check_number(max_jitter, "max_jitter", minimum=0, integer=True)
    dy, dx = rng.integers(-max_jitter, max_jitter + 1, size=2)
    return int(dy), int(dx)


def jitter(X, dy: int, dx: int) -> np.ndarray:
    """Circularly shift NHWC images by ``dy`` pixels along the height and ``dx`` along the width.

    Args:
        X: array of shape (N, H, W, C).
        dy, dx: shifts in pixels (any sign); pixels leaving one edge re-enter at the other.

    Returns:
        A new array of X's shape and dtype. ``unjitter(jitter(X, dy, dx), dy, dx)`` equals X bit for bit.
    """
    return np.roll(np.asarray(X), shift=(dy, dx), axis=(1, 2))


def unjitter(X, dy: int, dx: int) -> np.ndarray:
    """Undo :func:`jitter` with the same offsets (a circular shift by (-dy, -dx))."""
    return np.roll(np.asarray(X), shift=(-dy, -dx), axis=(1, 2))


def blur_image(X, sigma: float = 1.0) -> np.ndarray:
    """Gaussian-blur NHWC images along height and width (axes 1 and 2), not across images or channels.

    The seed's ``blur_image`` with the current SciPy import path (``scipy.ndimage.gaussian_filter1d``;
    ``scipy.ndimage.filters`` is deprecated).

    Args:
        X: float array of shape (N, H, W, C).
        sigma: standard deviation of the Gaussian in pixels, > 0.

    Returns:
        A new array of X's shape and dtype (SciPy's default ``mode='reflect'``, ``truncate=4.0``).

    Raises:
        ValueError: X is not 4-D, or sigma <= 0.
        TypeError: sigma is not a number.
    """
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"X must have shape (N, H, W, C), but has shape {X.shape}")
    sigma = check_number(sigma, "sigma", strictly_positive=True)
    from scipy.ndimage import gaussian_filter1d  # imported here: scipy.ndimage costs 0.4 s, and only the blur needs it

    X = gaussian_filter1d(X, sigma, axis=1)
    return gaussian_filter1d(X, sigma, axis=2)
