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

This module holds the loop only, never the gradient of the objective: it is released to students with the
assignment. The reference step (``step=None``) lives in :mod:`classviz.reference`, which is not released.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_batch, check_number
from .classes import class_index
from .image import clip_to_valid_range, preprocess_image
from .squeezenet import IMAGE_SIZE
from .transforms import blur_image, jitter, random_jitter_offsets, unjitter

DEFAULTS = dict(l2_reg=1e-3, learning_rate=25.0, num_iterations=100, blur_every=10, max_jitter=16,
                show_every=25)
"""The seed's keyword arguments and defaults (L2 strength, step size, iterations, blur period in
iterations, jitter in pixels, display period in iterations)."""

BLUR_SIGMA = 0.5
"""Standard deviation, in pixels, of the periodic Gaussian blur (the seed's value)."""

@dataclass
class VisualizationResult:
    """What :func:`create_class_visualization` returns.

    Attributes:
        images: float32 (N, 224, 224, 3) preprocessed images (deprocess with ``classviz.deprocess_image``).
        target_y: int list of the N target classes.
        scores: float32 (N, 1000) raw class scores of the final images.
        history: per iteration, the raw target scores (N,) measured during the step (reference step only).
        seconds: per iteration, wall-clock seconds (float) from the start of the loop to the end of that
            iteration.
    """
    images: np.ndarray
    target_y: list
    scores: np.ndarray
    history: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    @property
    def ms_per_iteration(self) -> float:
        """Mean wall-clock milliseconds per iteration after the first (which traces the graph); NaN if < 2."""
        if len(self.seconds) < 2:
            return float("nan")
        return 1e3 * (self.seconds[-1] - self.seconds[0]) / (len(self.seconds) - 1)

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
        step: None for the compiled reference iteration (:func:`classviz.reference.compiled_ascent_step`: the
            whole iteration, blur included, is one graph call; X stays a tensor between iterations and is copied
            to NumPy only for ``callback`` and at the end); or a function with the assignment's signature
            ``step(model, X, target_y, l2_reg, learning_rate) -> X_new`` (X of shape (1, 224, 224, 3), one
            class at a time) that makes one gradient-ascent step; it is called on the jittered image, and the
            rest of the iteration runs in NumPy.
        seed: int seed or ``numpy.random.Generator``; the only source of randomness.
        callback: optional ``callback(t, X)`` called after iteration t (0-based) when
            ``t == 0 or (t + 1) % show_every == 0 or t == num_iterations - 1`` (the seed's display rule), with
            X a float32 (N, 224, 224, 3) NumPy array (a copy with the reference step).
        X0: optional float32 (N, 224, 224, 3) preprocessed starting images instead of random noise.
        progress: show a tqdm progress bar over the iterations (on stderr).
        **kwargs: ``l2_reg`` (>= 0), ``learning_rate`` (> 0), ``num_iterations`` (>= 0, int),
            ``blur_every`` (>= 1, int, iterations), ``max_jitter`` (>= 0, int, pixels), ``show_every`` (>= 1).
            Defaults: :data:`DEFAULTS`.

    Returns:
        :class:`VisualizationResult` (its ``seconds`` time every iteration; ``ms_per_iteration`` is the cost of
        one iteration after the first, which traces the graph once per model and batch size).

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

    iterations = range(num_iterations)
    if progress:
        from tqdm.auto import tqdm
        iterations = tqdm(iterations, desc="gradient ascent", unit="it")
    seconds = []
    if step is None:
        X, history = _reference_loop(model, X, targets, rng, iterations, num_iterations=num_iterations,
                                     l2_reg=l2_reg, learning_rate=learning_rate, blur_every=blur_every,
                                     max_jitter=max_jitter, show_every=show_every, callback=callback,
                                     seconds=seconds)
    else:
        history = []
        start = time.perf_counter()
        for t in iterations:
            dy, dx = random_jitter_offsets(rng, max_jitter)
            X = np.concatenate([
                unjitter(np.asarray(step(model, jitter(X[i:i + 1], dy, dx), targets[i], l2_reg, learning_rate),
                                    dtype=np.float32), dy, dx)
                for i in range(len(targets))])
            X = clip_to_valid_range(X)
            if t % blur_every == 0:
                X = blur_image(X, sigma=BLUR_SIGMA)
            seconds.append(time.perf_counter() - start)
            if callback is not None and _shown(t, show_every, num_iterations):
                callback(t, X)
    scores = np.asarray(model(tf.constant(X)), dtype=np.float32)
    return VisualizationResult(images=X, target_y=targets, scores=scores, history=history, seconds=seconds)


def _shown(t: int, show_every: int, num_iterations: int) -> bool:
    """The seed's display rule: after the first iteration, every ``show_every``-th and the last."""
    return t == 0 or (t + 1) % show_every == 0 or t == num_iterations - 1


def _reference_loop(model, X, targets, rng, iterations, *, num_iterations, l2_reg, learning_rate, blur_every,
                    max_jitter, show_every, callback, seconds):
    """The loop with the compiled reference iteration: X stays a tensor, one graph call per iteration.

    Jitter offsets come from ``rng`` exactly as in the student-step loop (one :func:`random_jitter_offsets`
    call per iteration, in order); jitter, step, un-jitter, clip and the blur of blur iterations run in the
    graph of :func:`classviz.reference.compiled_ascent_step`, and X is copied to the host only for ``callback``
    and at the end.

    Returns:
        (X, history): float32 (N, 224, 224, 3) NumPy images and the per-iteration (N,) target scores; the
        end time of each iteration (seconds since the start) is appended to ``seconds``.
    """
    import tensorflow as tf

    from .reference import compiled_ascent_step  # noqa: PLC0415 (not released)

    # The concrete function of the fixed input signature: no per-call signature matching or retracing.
    compiled = compiled_ascent_step(model, len(targets)).get_concrete_function()
    y = tf.constant(targets, tf.int32)
    l2 = tf.constant(l2_reg, tf.float32)
    lr = tf.constant(learning_rate, tf.float32)
    blur_flags = (tf.constant(False), tf.constant(True))
    shifts = {}  # int32 scalar tensors of the offsets met so far (at most 2 * max_jitter + 1)

    def shift(k):
        if k not in shifts:
            shifts[k] = tf.constant(k, tf.int32)
        return shifts[k]

    Xt = tf.constant(X)
    scores = []
    start = time.perf_counter()
    for t in iterations:
        dy, dx = random_jitter_offsets(rng, max_jitter)
        Xt, target_scores = compiled(Xt, y, shift(dy), shift(dx), l2, lr, blur_flags[t % blur_every == 0])
        scores.append(target_scores)
        seconds.append(time.perf_counter() - start)  # eager calls on the CPU return when the graph has run
        if callback is not None and _shown(t, show_every, num_iterations):
            callback(t, np.array(Xt))
    history = list(tf.stack(scores).numpy()) if scores else []
    return np.array(Xt), history


def compile_loss_and_gradient(loss_and_gradient, model, l2_reg=DEFAULTS["l2_reg"]):
    """Try to compile an assignment-style gradient function with ``tf.function``.

    ``loss_and_gradient(model, X, target_y, l2_reg) -> (loss, dX)`` is traced once for ``model`` with a fixed
    signature (X float32 (1, 224, 224, 3), target_y int32 scalar, l2_reg float32 scalar; AutoGraph off), run
    on a seeded test image, and compared with its eager result.

    Args:
        loss_and_gradient: the function to compile.
        model: the model it will always be called with.
        l2_reg: the regularization strength used for the comparison.

    Returns:
        ``(function, reason)``: on success a drop-in replacement with the same signature that runs the compiled
        graph for ``model`` (and the original function for any other model), and ``reason`` None; otherwise
        the original function and a one-line reason (e.g. "calls .numpy() on a symbolic tensor").
    """
    import tensorflow as tf

    spec = [tf.TensorSpec([1, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32), tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32)]

    def traced(X, target_y, l2):
        loss, dX = loss_and_gradient(model, X, target_y, l2)
        return tf.convert_to_tensor(loss, tf.float32), tf.convert_to_tensor(dX, tf.float32)

    graph = tf.function(traced, input_signature=spec, autograph=False)
    X = initial_image(np.random.default_rng(12345))
    try:
        loss_c, dX_c = graph(tf.constant(X), tf.constant(76), tf.constant(l2_reg, tf.float32))
        loss_e, dX_e = loss_and_gradient(model, tf.constant(X), 76, l2_reg)
        same = (np.allclose(float(loss_c), float(np.asarray(loss_e)), rtol=1e-3, atol=1e-3)
                and np.allclose(dX_c.numpy(), np.asarray(dX_e), rtol=1e-3, atol=1e-5))
    except Exception as exc:  # anything a student's function may raise while being traced
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        return loss_and_gradient, f"{type(exc).__name__}: {first_line}"
    if not same:
        return loss_and_gradient, "the compiled function gives other values than the eager one"

    def compiled(model_, X, target_y, l2_reg_):
        if model_ is not model:
            return loss_and_gradient(model_, X, target_y, l2_reg_)
        return graph(tf.convert_to_tensor(X, tf.float32), tf.constant(int(target_y), tf.int32),
                     tf.constant(float(l2_reg_), tf.float32))

    compiled.__name__ = getattr(loss_and_gradient, "__name__", "compiled_loss_and_gradient")
    compiled.graph = graph
    return compiled, None


def assignment_step(update_step, loss_and_gradient, model):
    """Make the loop's ``step`` from the assignment's two functions, compiling the gradient when it can.

    The student's ``update_step(model, X, target_y, l2_reg, learning_rate)`` calls their
    ``loss_and_gradient`` by its global name. While the returned step runs, that global name refers to the
    compiled version from :func:`compile_loss_and_gradient` (and is restored afterwards), so the update step is
    run as written while the expensive forward/backward pass runs as one graph.

    Returns:
        ``(step, reason)``: the step for :func:`create_class_visualization`, and None if compiled, else a
        one-line reason why it runs eagerly.
    """
    compiled, reason = compile_loss_and_gradient(loss_and_gradient, model)
    name = getattr(loss_and_gradient, "__name__", None)
    namespace = getattr(update_step, "__globals__", None)
    if reason is not None or namespace is None or namespace.get(name) is not loss_and_gradient:
        return update_step, reason

    def step(model_, X, target_y, l2_reg, learning_rate):
        namespace[name] = compiled
        try:
            return update_step(model_, X, target_y, l2_reg, learning_rate)
        finally:
            namespace[name] = loss_and_gradient

    return step, None
