"""A stand-in for SqueezeNet whose every score, probability and gradient is known exactly.

Rule of this module: ``scores[n, k] = c[k] * <P, X[n]> + b[k]`` with a fixed pattern P of shape (224, 224, 3)
and fixed vectors c, b of shape (1000,), all drawn from ``numpy.random.default_rng(seed)``; hence
``d s_y / d X[n] = c[y] * P`` for every image. The grader's process and the student's process build it from
the same seed, so both sides agree on it to the last bit. Scores spread over about +-6, so a softmax
probability or a log-softmax is far from the raw score (what the raw-score check needs).
"""

from __future__ import annotations

import numpy as np

IMAGE_SHAPE = (224, 224, 3)
"""``classviz.IMAGE_SIZE`` (a test keeps them equal; this package imports nothing before the sandbox is set up)."""


class LinearStandIn:
    """Callable like the Keras SqueezeNet: float32 (N, 224, 224, 3) -> (N, 1000) raw scores (a tf.Tensor).

    Args:
        seed: seed of P, c and b.
    """

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.P = (rng.standard_normal(IMAGE_SHAPE) / float(IMAGE_SHAPE[0])).astype(np.float32)
        self.c = rng.standard_normal(1000).astype(np.float32)
        self.b = rng.standard_normal(1000).astype(np.float32)
        self.name = "linear_stand_in"
        self._tensors = None

    def _constants(self):
        if self._tensors is None:
            import tensorflow as tf

            with tf.init_scope():  # eager constants even when first called while a tf.function traces
                self._tensors = (tf.constant(self.P), tf.constant(self.c[None, :]), tf.constant(self.b[None, :]))
        return self._tensors

    def __call__(self, X, training=None, **kwargs):
        """Raw scores, float32 tf.Tensor (N, 1000). ``training`` and other Keras keywords are accepted and ignored."""
        import tensorflow as tf

        P, c, b = self._constants()
        X = tf.convert_to_tensor(X, tf.float32)
        proj = tf.reduce_sum(X * P, axis=[1, 2, 3])
        return proj[:, None] * c + b

    def predict(self, X, verbose=0, **kwargs):
        """Like ``keras.Model.predict``: a NumPy array (so no gradient flows through it)."""
        return np.asarray(self(X))

    # Exact values, in float64, for the grader.
    def scores64(self, X: np.ndarray) -> np.ndarray:
        """float64 (N, 1000) scores of a float32 batch (the exact value the float32 model approximates)."""
        proj = np.sum(np.asarray(X, np.float64) * self.P.astype(np.float64), axis=(1, 2, 3))
        return proj[:, None] * self.c.astype(np.float64)[None, :] + self.b.astype(np.float64)[None, :]

    def score_gradient(self, y: int) -> np.ndarray:
        """float64 (1, 224, 224, 3): d s_y / d X for one image."""
        return (float(self.c[y]) * self.P.astype(np.float64))[None]
