"""The compiled reference loop: the whole iteration of the seed as one TensorFlow graph (instructor side).

Rule of this module: (model, batch size) => one ``tf.function`` per model and batch size that runs a whole
iteration -- jitter, forward pass, input gradient, ascent step on ``L = sum_i s_{y_i}(I_i) - l2_reg ||I||_2^2``,
un-jitter, clip and the periodic blur -- traced once (every per-iteration value is a tensor argument with a fixed
signature): the TF2 counterpart of the seed's "build the gradient graph outside the loop". :class:`CompiledLoop`
plugs it into :func:`classviz.visualize.create_class_visualization`; X stays a tensor between iterations.

Only the target scores s_{y_i} are needed, so for the SqueezeNet 1.1 of :mod:`classviz.squeezenet` the
compiled iteration evaluates the classifier (``conv25``, a 1x1 convolution to 1000 channels, about a quarter of
the network's multiply-adds) for the target channel of each image only: the same scores and the same input
gradient as the full model, for about 75% of the arithmetic (see BENCHMARKS.md). The diagnostics' top-1 check
(:mod:`classviz.diagnostics`) needs all 1000 scores: on check iterations the graph runs the rest of the classifier
on the features it has already computed (a quarter of a forward pass), and only then.

The ascent step written here is the answer to the assignment: this package is never released to students.
"""

from __future__ import annotations

import weakref

import numpy as np

from classviz._checks import check_number
from classviz.image import PREPROCESSED_MAX, PREPROCESSED_MIN
from classviz.squeezenet import IMAGE_SIZE, scores_function
from classviz.visualize import BLUR_SIGMA, AscentLoop, random_jitter_offsets

BLUR_TRUNCATE = 4.0
"""Gaussian kernel half-width in standard deviations (``scipy.ndimage.gaussian_filter1d``'s default)."""

_COMPILED_STEPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def gaussian_kernel1d(sigma: float, truncate: float = BLUR_TRUNCATE) -> np.ndarray:
    """The 1-D Gaussian weights ``scipy.ndimage.gaussian_filter1d`` uses (order 0).

    Args:
        sigma: standard deviation in pixels, > 0.
        truncate: half-width in standard deviations; the radius is ``int(truncate * sigma + 0.5)`` pixels.

    Returns:
        float64 (2 * radius + 1,) weights summing to 1 (5 taps for sigma 0.5).
    """
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (float(sigma) ** 2) * x ** 2)
    return phi / phi.sum()


def blur_tensor(X, sigma: float, truncate: float = BLUR_TRUNCATE):
    """Graph version of :func:`classviz.blur_image`: Gaussian blur of NHWC images along height and width.

    Separable depthwise convolution with :func:`gaussian_kernel1d` after ``SYMMETRIC`` padding, which is
    SciPy's ``mode='reflect'`` (``d c b a | a b c d | d c b a``); it matches ``classviz.blur_image`` to about
    1e-6 (float32 rounding). Usable eagerly and inside ``tf.function``.

    Args:
        X: float32 tensor (N, H, W, C) with H and W larger than the kernel radius.
        sigma: standard deviation in pixels, > 0 (a Python number: it fixes the kernel size).
        truncate: half-width in standard deviations.

    Returns:
        float32 tensor of X's shape.
    """
    import tensorflow as tf

    w = gaussian_kernel1d(sigma, truncate).astype(np.float32)
    r = (len(w) - 1) // 2
    channels = X.shape[-1]
    X = tf.pad(X, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
    along_h = tf.constant(np.tile(w[:, None, None, None], (1, 1, channels, 1)))
    along_w = tf.constant(np.tile(w[None, :, None, None], (1, 1, channels, 1)))
    X = tf.nn.depthwise_conv2d(X, along_h, strides=[1, 1, 1, 1], padding="VALID")
    return tf.nn.depthwise_conv2d(X, along_w, strides=[1, 1, 1, 1], padding="VALID")


def class_head_split(model):
    """Split the SqueezeNet 1.1 of :mod:`classviz.squeezenet` into features and classifier, if it is one.

    The model ends ``scores = mean_{h,w} relu(conv25(F))`` with ``conv25`` a 1x1 convolution from the 512
    feature channels to 1000 classes, so one class score needs only one column of ``conv25``'s kernel.

    Args:
        model: any model.

    Returns:
        ``(features, kernel, bias)``: a ``keras.Model`` float32 (N, 224, 224, 3) -> (N, 13, 13, 512) sharing
        the model's layers, and conv25's kernel (1, 1, 512, 1000) and bias (1000,) variables; or None when
        ``model`` does not have exactly that structure (then the full model is used).
    """
    try:
        import keras

        if not isinstance(model, keras.Model):
            return None
        conv, pool = model.get_layer("conv25"), model.get_layer("global_avg_pool")
        if not (isinstance(conv, keras.layers.Conv2D) and isinstance(pool, keras.layers.GlobalAveragePooling2D)
                and tuple(conv.kernel_size) == (1, 1) and tuple(conv.strides) == (1, 1) and conv.use_bias
                and tuple(conv.dilation_rate) == (1, 1) and conv.groups == 1
                and conv.activation is keras.activations.relu and not pool.keepdims
                and pool.data_format == "channels_last" and conv.data_format == "channels_last"
                and len(model.outputs) == 1 and model.outputs[0] is pool.output and pool.input is conv.output):
            return None
        return keras.Model(model.inputs, conv.input, name=f"{model.name}_features"), conv.kernel, conv.bias
    except (ValueError, AttributeError, TypeError):
        return None


def compiled_ascent_step(model, batch_size: int | None = None, *, class_head: bool = True):
    """The reference iteration (jitter, ascent step, un-jitter, clip, optional blur) compiled once for ``model``.

    One iteration of the seed's loop as one graph (Simonyan et al. 2014 for the ascent on
    ``L = sum_i s_{y_i}(I_i) - l2_reg * ||I||_2^2``; Yosinski et al. 2015 for jitter, clipping and blur):
    ``Xj = roll(X, (dy, dx))``, ``Xj += learning_rate * (ds/dXj - 2 * l2_reg * Xj)``, roll back, clip to the
    valid range, then, when ``blur``, a Gaussian blur of sigma :data:`classviz.visualize.BLUR_SIGMA` pixels
    (:func:`blur_tensor`, equal to ``classviz.blur_image`` to about 1e-6).

    Args:
        model: callable float32 (N, 224, 224, 3) -> (N, 1000) raw class scores.
        batch_size: the number of images N the step will be called with (faster: static shapes, and the clip
            bounds need no broadcasting), or None for any N.
        class_head: for the SqueezeNet 1.1 of :mod:`classviz.squeezenet`, evaluate only the target column of
            the classifier (:func:`class_head_split`; same scores and gradient, about 25% less arithmetic);
            False always runs the full model (for benchmarks).

    Returns:
        A ``tf.function`` ``step(X, target_y, dy, dx, l2_reg, learning_rate, blur=False, all_scores=False)
        -> (X_new, target_scores, scores, finite)`` with X float32 (N, 224, 224, 3) preprocessed, target_y int32
        (N,), dy/dx int32 scalars (pixels), l2_reg and learning_rate float32 scalars, blur and all_scores bool
        scalars; ``target_scores`` float32 (N,) are the raw target scores of the jittered input before the step,
        ``scores`` float32 (N, 1000) all its raw scores when ``all_scores`` (zeros otherwise, unless the full model
        runs anyway), and ``finite`` bool (N,) whether the step's result (before clipping) holds only finite
        values. Cached per (model, batch_size, class_head); its input signature is fixed, so it traces once and
        never retraces.

    Raises:
        ValueError: ``batch_size`` is not None or an integer >= 1.
    """
    if batch_size is not None:
        batch_size = check_number(batch_size, "batch_size", minimum=1, integer=True)
    cached = _COMPILED_STEPS.setdefault(model, {})
    key = (batch_size, bool(class_head))
    if key in cached:
        return cached[key]
    import tensorflow as tf

    shape = (batch_size or 1, IMAGE_SIZE, IMAGE_SIZE, 3)
    # Full-size bounds: broadcasting a (3,) vector over NHWC is ~10x slower than an elementwise min/max.
    low = tf.constant(np.broadcast_to(PREPROCESSED_MIN, shape[0 if batch_size else 1:]))
    high = tf.constant(np.broadcast_to(PREPROCESSED_MAX, shape[0 if batch_size else 1:]))
    head = class_head_split(model) if class_head else None
    # The graph captures the variables, not the model: the cache entry does not keep the model alive.
    model_ref = weakref.ref(model)
    spec = tf.TensorSpec

    def target_scores_of(Xj, target_y):
        """(target scores (N,), and what all scores need: the full scores, or the classifier's input features)."""
        if head is None:
            scores = model_ref()(Xj)
            return tf.gather(scores, target_y[:, None], axis=1, batch_dims=1)[:, 0], scores
        features, kernel, bias = head
        F = features(Xj)
        columns = tf.gather(tf.reshape(kernel, kernel.shape[2:]), target_y, axis=1)  # (512, N)
        z = tf.einsum("nhwc,cn->nhw", F, columns) + tf.gather(bias, target_y)[:, None, None]
        return tf.reduce_mean(tf.nn.relu(z), axis=[1, 2]), F

    def all_scores_of(scores_or_features, wanted):
        if head is None:
            return scores_or_features
        _, kernel, bias = head
        F = scores_or_features
        return tf.cond(wanted, lambda: tf.reduce_mean(tf.nn.relu(
            tf.nn.conv2d(F, kernel, strides=1, padding="VALID") + bias), axis=[1, 2]),
            lambda: tf.zeros(tf.stack([tf.shape(F)[0], kernel.shape[-1]])))

    @tf.function(input_signature=[spec([batch_size, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32),
                                  spec([batch_size], tf.int32), spec([], tf.int32), spec([], tf.int32),
                                  spec([], tf.float32), spec([], tf.float32), spec([], tf.bool), spec([], tf.bool)],
                 autograph=False)
    def step(X, target_y, dy, dx, l2_reg, learning_rate, blur=False, all_scores=False):
        Xj = tf.roll(X, shift=[dy, dx], axis=[1, 2])
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(Xj)
            target_scores, for_all_scores = target_scores_of(Xj, target_y)
            score_sum = tf.reduce_sum(target_scores)
        ds = tape.gradient(score_sum, Xj, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        # unjitter(Xj + lr * (ds - 2 l2_reg Xj)) = X (1 - 2 lr l2_reg) + lr unjitter(ds): the L2 term's gradient
        # in closed form (its value is never needed), and one roll of ds instead of one of the sum.
        X = X * (1.0 - 2.0 * learning_rate * l2_reg) + learning_rate * tf.roll(ds, shift=[-dy, -dx], axis=[1, 2])
        finite = tf.reduce_all(tf.math.is_finite(X), axis=[1, 2, 3])
        X = tf.minimum(tf.maximum(X, low), high)
        X = tf.cond(blur, lambda: blur_tensor(X, BLUR_SIGMA), lambda: X)
        return X, target_scores, all_scores_of(for_all_scores, all_scores), finite

    cached[key] = step
    return step


class CompiledLoop(AscentLoop):
    """The loop of :func:`classviz.visualize.create_class_visualization` with :func:`compiled_ascent_step`.

    Jitter offsets come from the run's generator exactly as in the step loop (one
    :func:`classviz.random_jitter_offsets` call per iteration, in order); jitter, step, un-jitter, clip and the
    blur of blur iterations run in one graph call per iteration, X stays a tensor and is copied to the host only
    for ``callback`` and at the end. ``history`` holds the raw target scores of each iteration's jittered input.
    The diagnostics' top-1 check runs every :attr:`check_every` = 5 iterations until every image has been top-1 (the
    rest of the classifier on features already computed: about 1 ms per check against a 16 ms iteration, at most
    1.5% of a run; see BENCHMARKS.md). A run that keeps its leading images instead scores every iteration's image
    without jitter (:meth:`classviz.monitor.Monitor.observe_result`: one forward pass of the whole model per
    iteration, after the step; see BENCHMARKS.md for its cost), so that the image it keeps is one the network
    ranks first as it is returned.

    Args:
        class_head: see :func:`compiled_ascent_step` (False: the full 1000-class head, for benchmarks).
    """

    check_every = 5

    def __init__(self, class_head: bool = True):
        self.class_head = class_head

    def run(self, model, X, targets, rng, iterations, settings, callback, seconds, monitor=None):
        import time

        import tensorflow as tf

        # The concrete function of the fixed input signature: no per-call signature matching or retracing.
        compiled = compiled_ascent_step(model, len(targets), class_head=self.class_head).get_concrete_function()
        y = tf.constant(targets, tf.int32)
        l2 = tf.constant(settings.l2_reg, tf.float32)
        lr = tf.constant(settings.learning_rate, tf.float32)
        flags = (tf.constant(False), tf.constant(True))
        # A run that keeps its leading images checks every iteration's image without jitter (one forward pass).
        forward = scores_function(model) if monitor is not None and monitor.keep_leading else None
        shifts = {}  # int32 scalar tensors of the offsets met so far (at most 2 * max_jitter + 1)

        def shift(k):
            if k not in shifts:
                shifts[k] = tf.constant(k, tf.int32)
            return shifts[k]

        Xt = tf.constant(X)
        scores = []
        start = time.perf_counter()
        for t in iterations:
            dy, dx = random_jitter_offsets(rng, settings.max_jitter)
            wanted = monitor is not None and monitor.wants_scores(t)
            X_before = Xt
            Xt, target_scores, all_scores, finite = compiled(Xt, y, shift(dy), shift(dx), l2, lr,
                                                             flags[t % settings.blur_every == 0], flags[wanted])
            scores.append(target_scores)
            if monitor is not None:
                monitor.observe_step_result(t, finite.numpy())
                if wanted:
                    monitor.observe_scores(t, all_scores.numpy(), X_before)
            if forward is not None:
                monitor.observe_result(t + 1, forward(Xt).numpy(), Xt)
            seconds.append(time.perf_counter() - start)  # eager calls on the CPU return when the graph has run
            if monitor is not None and monitor.must_stop(Xt):
                break
            if callback is not None and settings.shown(t):
                callback(t, np.array(Xt))
        history = list(tf.stack(scores).numpy()) if scores else []
        return np.array(Xt), history
