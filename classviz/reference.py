"""The reference solution of the class visualization objective (not released to students).

Rule of this module: (model, images, classes, l2_reg) => (loss, gradient), for
``L(I) = sum_i s_{y_i}(I_i) - l2_reg * ||I||_2^2`` (Simonyan et al. 2014, eq. 1, with the L2 term of the
CS231n seed), and the whole reference iteration compiled once per model with ``tf.function``: jitter,
forward pass, input gradient, ascent step, un-jitter and clip run as one graph, traced once (every
per-iteration value is a tensor argument with a fixed signature) -- the TF2 counterpart of the seed's
"build the gradient graph outside the loop".

The assignment build leaves this file out of the student's copy of ``classviz``.
"""

from __future__ import annotations

import weakref

from .image import PREPROCESSED_MAX, PREPROCESSED_MIN
from .squeezenet import IMAGE_SIZE

_COMPILED_STEPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reference_loss_and_gradient(model, X, target_y, l2_reg):
    """Reference objective and its gradient: ``L = sum_i s_{y_i}(X_i) - l2_reg * ||X||_2^2``, ``dL/dX``.

    Args:
        model: callable mapping float32 (N, 224, 224, 3) to (N, 1000) raw class scores.
        X: float32 (N, 224, 224, 3) preprocessed images (NumPy array or tf.Tensor).
        target_y: int class index, or int sequence/tensor of N class indices (one per image).
        l2_reg: L2 regularization strength (float >= 0).

    Returns:
        (loss, dX): a scalar float32 tf.Tensor and a float32 tf.Tensor of X's shape.
        For a single image, dX = ds_y/dX - 2 * l2_reg * X (Simonyan et al. 2014, eq. 1).
    """
    import tensorflow as tf

    X = tf.convert_to_tensor(X, dtype=tf.float32)
    target_y = tf.broadcast_to(tf.cast(target_y, tf.int32), tf.shape(X)[:1])
    with tf.GradientTape() as tape:
        tape.watch(X)
        scores = model(X)
        target_scores = tf.gather(scores, target_y[:, None], axis=1, batch_dims=1)
        loss = tf.reduce_sum(target_scores) - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)


def compiled_ascent_step(model):
    """The reference iteration (jitter, ascent step, un-jitter, clip) compiled once for ``model``.

    Returns:
        A ``tf.function`` ``step(X, target_y, dy, dx, l2_reg, learning_rate) -> (X_new, target_scores)``
        with X float32 (N, 224, 224, 3), target_y int32 (N,), dy/dx int32 scalars (pixels), l2_reg and
        learning_rate float32 scalars; ``target_scores`` (N,) are the raw target scores of the jittered input
        before the step. Cached per model; its input signature is fixed, so it never retraces.
    """
    step = _COMPILED_STEPS.get(model)
    if step is not None:
        return step
    import tensorflow as tf

    low = tf.constant(PREPROCESSED_MIN)
    high = tf.constant(PREPROCESSED_MAX)
    spec = tf.TensorSpec

    @tf.function(input_signature=[spec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32), spec([None], tf.int32),
                                  spec([], tf.int32), spec([], tf.int32), spec([], tf.float32),
                                  spec([], tf.float32)], reduce_retracing=True)
    def step(X, target_y, dy, dx, l2_reg, learning_rate):
        Xj = tf.roll(X, shift=[dy, dx], axis=[1, 2])
        with tf.GradientTape() as tape:
            tape.watch(Xj)
            scores = model(Xj)
            target_scores = tf.gather(scores, target_y[:, None], axis=1, batch_dims=1)[:, 0]
            loss = tf.reduce_sum(target_scores) - l2_reg * tf.reduce_sum(tf.square(Xj))
        Xj = Xj + learning_rate * tape.gradient(loss, Xj)
        X = tf.roll(Xj, shift=[-dy, -dx], axis=[1, 2])
        return tf.clip_by_value(X, low, high), target_scores

    _COMPILED_STEPS[model] = step
    return step
