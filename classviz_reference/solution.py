"""The reference solution of the assignment's objective (instructor side, never released to students).

Rule of this module: (model, images, classes, l2_reg) => (loss, gradient), for
``L(I) = sum_i s_{y_i}(I_i) - l2_reg * ||I||_2^2`` (Simonyan et al. 2014, eq. 1, with the L2 term of the
CS231n seed) -- what a student's ``class_visualization_loss_and_gradient`` must compute, for a batch.
"""

from __future__ import annotations


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
