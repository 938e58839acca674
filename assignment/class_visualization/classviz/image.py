"""Image value spaces: preprocess (uint8 RGB -> ImageNet-normalized) and deprocess (back).

Rule of this module: every image array is NHWC or HWC, channels last, RGB. Two value spaces exist:

* *deprocessed*: RGB pixel values in [0, 255] (uint8 on output, uint8 or float on input);
* *preprocessed* (what SqueezeNet 1.1 consumes): ``(x / 255 - SQUEEZENET_MEAN) / SQUEEZENET_STD``,
  float32, per channel.

The constants are the ImageNet RGB statistics used by the upstream SqueezeNet 1.1 export
(``PROVENANCE.md`` of the weights; the same values as the CS231n seed).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_image_array

SQUEEZENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
"""ImageNet per-channel RGB mean of x / 255, shape (3,), float32."""

SQUEEZENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
"""ImageNet per-channel RGB standard deviation of x / 255, shape (3,), float32."""

PREPROCESSED_MIN = -SQUEEZENET_MEAN / SQUEEZENET_STD
"""Lowest valid preprocessed value per channel (pixel value 0), shape (3,), float32."""

PREPROCESSED_MAX = (1.0 - SQUEEZENET_MEAN) / SQUEEZENET_STD
"""Highest valid preprocessed value per channel (pixel value 255), shape (3,), float32."""


def preprocess_image(img) -> np.ndarray:
    """Normalize an RGB image the way SqueezeNet 1.1 was trained.

    Args:
        img: array-like of shape (H, W, 3) or (N, H, W, 3), RGB, values in [0, 255]
            (uint8, or any real dtype).

    Returns:
        float32 array of the same shape: ``(img / 255 - SQUEEZENET_MEAN) / SQUEEZENET_STD``.

    Raises:
        TypeError: ``img`` is not a real-valued array (e.g. strings, complex, bool).
        ValueError: the last axis is not 3 (RGB), the rank is not 3 or 4, or values are NaN/inf.
    """
    img = check_image_array(img, "img")
    return ((img.astype(np.float32) / np.float32(255.0)) - SQUEEZENET_MEAN) / SQUEEZENET_STD


def deprocess_image(x, rescale: bool = False) -> np.ndarray:
    """Undo :func:`preprocess_image` and return a displayable uint8 RGB image.

    Args:
        x: array-like of shape (H, W, 3) or (N, H, W, 3), preprocessed float values
            (a ``tf.Tensor`` is accepted too).
        rescale: if True, stretch the deprocessed values linearly to fill [0, 255] (useful for
            images far outside the valid range); if False (the seed's default) values are only clipped.

    Returns:
        uint8 array of the same shape, values in [0, 255]. Values are clipped to [0, 255] and rounded
        *before* the cast, so nothing wraps around (300 becomes 255, not 44).

    Raises:
        TypeError, ValueError: as for :func:`preprocess_image`.
    """
    x = check_image_array(np.asarray(x), "x")
    img = x.astype(np.float32) * SQUEEZENET_STD + SQUEEZENET_MEAN
    if rescale:
        low, high = float(img.min()), float(img.max())
        img = (img - low) / (high - low) if high > low else np.zeros_like(img)
    return np.clip(np.rint(255.0 * img), 0, 255).astype(np.uint8)


def clip_to_valid_range(X) -> np.ndarray:
    """Clip a preprocessed image to the values that real pixels in [0, 255] can take.

    The implicit "clipping" regularizer of Yosinski et al. (2015) and of the seed:
    ``np.clip(X, -mean / std, (1 - mean) / std)`` per channel.

    Args:
        X: array of shape (..., 3), preprocessed float values.

    Returns:
        float32 array of the same shape, clipped per channel to
        [PREPROCESSED_MIN, PREPROCESSED_MAX].
    """
    return np.clip(np.asarray(X, dtype=np.float32), PREPROCESSED_MIN, PREPROCESSED_MAX)
