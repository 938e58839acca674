"""Validation of user input shared by the helpers: clear errors that quote what was received."""

from __future__ import annotations

import numbers

import numpy as np

from .squeezenet import IMAGE_SIZE


def check_image_array(x, name: str) -> np.ndarray:
    """Return ``x`` as a NumPy array after checking it is a finite real (H, W, 3) or (N, H, W, 3) image.

    Raises:
        TypeError: not a real-valued numeric array.
        ValueError: wrong rank, last axis not 3, or NaN/inf values.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of shape (H, W, 3) or (N, H, W, 3), "
                        f"but could not be converted: {exc}") from exc
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers (uint8 or float), but has dtype {arr.dtype}")
    if arr.ndim not in (3, 4) or arr.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3) or (N, H, W, 3) (channels last, RGB), "
                         f"but has shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values; pass finite numbers")
    return arr


def check_batch(X, name: str = "X", size: int = IMAGE_SIZE) -> np.ndarray:
    """Check a preprocessed batch: float, shape (N, size, size, 3), finite. Returns a float32 array.

    Raises:
        TypeError: not a real-valued array.
        ValueError: wrong shape or non-finite values.
    """
    arr = check_image_array(X, name)
    if arr.ndim != 4 or arr.shape[1:] != (size, size, 3):
        raise ValueError(f"{name} must have shape (N, {size}, {size}, 3) (NHWC, preprocessed), "
                         f"but has shape {arr.shape}; add a batch axis with X[None] if needed")
    return arr.astype(np.float32, copy=False)


def check_number(value, name: str, *, minimum=None, integer: bool = False, strictly_positive=False):
    """Check a scalar hyper-parameter and return it as ``int`` or ``float``.

    Args:
        value: the value received.
        name: its name, quoted in the error.
        minimum: smallest allowed value (inclusive), or None.
        integer: require an integer (``bool`` is refused).
        strictly_positive: require value > 0.

    Raises:
        TypeError: not a number (or not an integer when ``integer``).
        ValueError: NaN/inf, below ``minimum`` or not > 0 when ``strictly_positive``.
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {what}, but got {value!r} of type {type(value).__name__}")
    if not integer and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, but got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, but got {value!r}")
    if strictly_positive and not value > 0:
        raise ValueError(f"{name} must be > 0, but got {value!r}")
    return int(value) if integer else float(value)
