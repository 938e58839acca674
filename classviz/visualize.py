"""Class visualization by gradient ascent on the image (Simonyan et al. 2014; Yosinski et al. 2015).

Rule of this module: (model, target classes, hyper-parameters, seed) => (N, 224, 224, 3) preprocessed images
whose raw class scores s_y(I) are high. Each iteration, as in the CS231n seed:

1. jitter: circularly shift the images by a random (dy, dx) in [-max_jitter, max_jitter]^2 pixels;
2. gradient ascent step on ``s_y(I) - l2_reg * ||I||_2^2``: ``I <- I + learning_rate * dL/dI``;
3. undo the jitter exactly;
4. clip to the range real pixels can take (``classviz.image.clip_to_valid_range``);
5. every ``blur_every`` iterations (t = 0, blur_every, 2 blur_every, ...), blur with sigma 0.5 pixels.

All randomness (the initial ``255 * U[0, 1)`` image and the jitter offsets) comes from one
``numpy.random.Generator``, consumed in the same order whichever step function is used, so the reference step
and a student's step see the same images and offsets for the same seed.

The reference step (``step=None``) is one ``tf.function`` per model: jitter, forward pass, input gradient,
ascent step, un-jitter and clip run as one graph, traced once (every per-iteration value is a tensor
argument with a fixed signature), the TF2 counterpart of the seed's "build the gradient graph once".
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_batch, check_number
from .classes import class_index
from .image import PREPROCESSED_MAX, PREPROCESSED_MIN, clip_to_valid_range, preprocess_image
from .squeezenet import IMAGE_SIZE
from .transforms import blur_image, jitter, random_jitter_offsets, unjitter

DEFAULTS = dict(l2_reg=1e-3, learning_rate=25.0, num_iterations=100, blur_every=10, max_jitter=16,
                show_every=25)
"""The seed's keyword arguments and defaults (L2 strength, step size, iterations, blur period in
iterations, jitter in pixels, display period in iterations)."""

BLUR_SIGMA = 0.5
"""Standard deviation, in pixels, of the periodic Gaussian blur (the seed's value)."""

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


@dataclass
class VisualizationResult:
    """What :func:`create_class_visualization` returns.

    Attributes:
        images: float32 (N, 224, 224, 3) preprocessed images (deprocess with ``classviz.deprocess_image``).
        target_y: int list of the N target classes.
        scores: float32 (N, 1000) raw class scores of the final images.
        history: per iteration, the raw target scores (N,) measured during the step (reference step only).
    """
    images: np.ndarray
    target_y: list
    scores: np.ndarray
    history: list = field(default_factory=list)

    @property
    def target_scores(self) -> np.ndarray:
        """float32 (N,): final raw score of each image's target class."""
        return self.scores[np.arange(len(self.target_y)), self.target_y]

    def top_k(self, k: int = 5) -> list[list[int]]:
        """Per image, the indices of the k highest raw scores, best first."""
        return [list(np.argsort(-row, kind="stable")[:k]) for row in self.scores]


def initial_image(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    """The seed's starting point: ``preprocess_image(255 * U[0, 1))``, float32 (n, 224, 224, 3)."""
    return preprocess_image(255.0 * rng.random((n, IMAGE_SIZE, IMAGE_SIZE, 3)))


def create_class_visualization(target_y, model, *, step=None, seed=0, callback=None, X0=None, progress=False,
                               **kwargs):
    """Generate images that maximize the raw score of the target class(es) under ``model``.

    Args:
        target_y: class index or name (``76``, ``"tarantula"``), or a list of them: one image per class,
            optimized together as one batch.
        model: callable float32 (N, 224, 224, 3) -> (N, 1000) raw class scores (e.g. ``load_squeezenet()``).
        step: None for the compiled reference step; or a function with the assignment's signature
            ``step(model, X, target_y, l2_reg, learning_rate) -> X_new`` (X of shape (1, 224, 224, 3), one
            class at a time) that makes one gradient-ascent step; it is called on the jittered image.
        seed: int seed or ``numpy.random.Generator``; the only source of randomness.
        callback: optional ``callback(t, X)`` called after iteration t (0-based) when
            ``t == 0 or (t + 1) % show_every == 0 or t == num_iterations - 1`` (the seed's display rule).
        X0: optional float32 (N, 224, 224, 3) preprocessed starting images instead of random noise.
        progress: show a tqdm progress bar over the iterations (on stderr).
        **kwargs: ``l2_reg`` (>= 0), ``learning_rate`` (> 0), ``num_iterations`` (>= 0, int),
            ``blur_every`` (>= 1, int, iterations), ``max_jitter`` (>= 0, int, pixels), ``show_every`` (>= 1).
            Defaults: :data:`DEFAULTS`.

    Returns:
        :class:`VisualizationResult`.

    Raises:
        TypeError, ValueError: an unknown keyword, a bad class, or a hyper-parameter of the wrong type or range
            (the message quotes the value received).
    """
    unknown = set(kwargs) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown keyword argument(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
    hp = {**DEFAULTS, **kwargs}
    l2_reg = check_number(hp["l2_reg"], "l2_reg", minimum=0)
    learning_rate = check_number(hp["learning_rate"], "learning_rate", strictly_positive=True)
    num_iterations = check_number(hp["num_iterations"], "num_iterations", minimum=0, integer=True)
    blur_every = check_number(hp["blur_every"], "blur_every", minimum=1, integer=True)
    max_jitter = check_number(hp["max_jitter"], "max_jitter", minimum=0, integer=True)
    show_every = check_number(hp["show_every"], "show_every", minimum=1, integer=True)
    targets = [class_index(t) for t in (target_y if isinstance(target_y, (list, tuple)) else [target_y])]
    if not targets:
        raise ValueError("target_y must name at least one class, but got an empty list")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(
        check_number(seed, "seed", minimum=0, integer=True))

    X = initial_image(rng, len(targets)) if X0 is None else check_batch(X0, "X0").copy()
    if X.shape[0] != len(targets):
        raise ValueError(f"X0 holds {X.shape[0]} images but {len(targets)} target classes were given")

    import tensorflow as tf

    history = []
    if step is None:
        compiled = compiled_ascent_step(model)
        y = tf.constant(targets, tf.int32)
        l2 = tf.constant(l2_reg, tf.float32)
        lr = tf.constant(learning_rate, tf.float32)
    iterations = range(num_iterations)
    if progress:
        from tqdm.auto import tqdm
        iterations = tqdm(iterations, desc="gradient ascent", unit="it")
    for t in iterations:
        dy, dx = random_jitter_offsets(rng, max_jitter)
        if step is None:
            X, scores = compiled(tf.constant(X), y, tf.constant(dy), tf.constant(dx), l2, lr)
            X = X.numpy()
            history.append(scores.numpy())
        else:
            X = np.concatenate([
                unjitter(np.asarray(step(model, jitter(X[i:i + 1], dy, dx), targets[i], l2_reg, learning_rate),
                                    dtype=np.float32), dy, dx)
                for i in range(len(targets))])
            X = clip_to_valid_range(X)
        if t % blur_every == 0:
            X = blur_image(X, sigma=BLUR_SIGMA)
        if callback is not None and (t == 0 or (t + 1) % show_every == 0 or t == num_iterations - 1):
            callback(t, X)
    scores = np.asarray(model(tf.constant(X)), dtype=np.float32)
    return VisualizationResult(images=X, target_y=targets, scores=scores, history=history)
