"""Class visualization by gradient ascent on the image (Simonyan et al. 2014; Yosinski et al. 2015).

Rule of this module: (model, target classes, a gradient-ascent step, hyper-parameters, seed) => (N, 224, 224, 3)
preprocessed images whose raw class scores s_y(I) are high. Each iteration, as in the CS231n seed:

1. jitter: circularly shift the images by a random (dy, dx) in [-max_jitter, max_jitter]^2 pixels;
2. gradient ascent step on ``s_y(I) - l2_reg * ||I||_2^2``: ``I <- I + learning_rate * dL/dI``;
3. undo the jitter exactly;
4. clip to the range real pixels can take (``classviz.image.clip_to_valid_range``);
5. every ``blur_every`` iterations (t = 0, blur_every, 2 blur_every, ...), blur with sigma 0.5 pixels.

All randomness (the initial ``255 * U[0, 1)`` image and the jitter offsets) comes from one
``numpy.random.Generator``, consumed in the same order by every loop, so two loops see the same images and
offsets for the same seed.

This module holds the loop, never the gradient of the objective: the step (2.) is the caller's -- in the
assignment, the student's ``class_visualization_update_step`` -- and it is released to students with the whole
package. A faster loop can be plugged in as an :class:`AscentLoop` (the course's compiled reference loop is
one; it lives outside this package, with the reference solution). The loop's pieces live beside it, and the
names the notebook and the grader use stay importable from here: the hyper-parameters and the starting image in
:mod:`classviz.settings`, the ``tf.function`` compiler of the student's gradient (:func:`compile_loss_and_gradient`,
:data:`COMPILE_PITFALLS`) in :mod:`classviz.tf_compile`, its ``tf.Variable`` patch in :mod:`classviz.tf_variables`;
:func:`assignment_step` joins the student's two functions into the loop's step.

Every run is diagnosed (:mod:`classviz.diagnostics`): the loop reports to a monitor that only observes, and the
result says per image whether the target became the top-1 class, when, and what looks wrong if not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_batch, check_number
from .classes import class_index
from .diagnostics import ImageDiagnosis
from .image import clip_to_valid_range
from .monitor import Monitor
from .settings import BLUR_SIGMA, DEFAULTS, Settings, initial_image  # noqa: F401 (public names of this module)
from .squeezenet import raw_scores
from .tf_compile import COMPILE_PITFALLS, compile_loss_and_gradient  # noqa: F401 (public names of this module)
from .tf_variables import variables_as_watched_tensors  # noqa: F401 (public name of this module)
from .transforms import blur_image, jitter, random_jitter_offsets, unjitter  # noqa: F401 (the loop's, and public)


@dataclass
class VisualizationResult:
    """What :func:`create_class_visualization` returns.

    Attributes:
        images: float32 (N, 224, 224, 3) preprocessed images (deprocess with ``classviz.deprocess_image``): the
            run's last images, or with ``keep="leading"`` the images kept (see :func:`create_class_visualization`).
        target_y: int list of the N target classes.
        scores: float32 (N, 1000) raw class scores of ``images``.
        history: per iteration, the raw target scores (N,) measured during the step, when the loop
            reports them (an :class:`AscentLoop` may; the step loop does not).
        seconds: per iteration, wall-clock seconds (float) from the start of the loop to the end of that
            iteration.
        diagnostics: per image, an :class:`classviz.diagnostics.ImageDiagnosis`: the iteration at which the target
            became the top-1 class, its final rank, the top-1 class, and warnings (grey, saturated, NaN or inf,
            descent, not rising); ``diagnostics[i].line()`` says it in one line.
    """
    images: np.ndarray
    target_y: list
    scores: np.ndarray
    history: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    diagnostics: list[ImageDiagnosis] = field(default_factory=list)

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



class AscentLoop:
    """How the iterations of :func:`create_class_visualization` run (override :meth:`run`).

    Attributes:
        check_every: period, in iterations, of the diagnostics' top-1 check (all 1000 raw scores of the images;
            see :class:`classviz.monitor.Monitor`).
    """

    check_every = 20

    def run(self, model, X, targets, rng, iterations, settings: Settings, callback, seconds, monitor=None):
        """Run the iterations on ``X`` and return ``(X, history)``.

        Args:
            model: the model (float32 (N, 224, 224, 3) -> (N, 1000) raw scores).
            X: float32 (N, 224, 224, 3) preprocessed starting images.
            targets: the N target classes (ints).
            rng: the run's ``numpy.random.Generator``; draw one :func:`random_jitter_offsets` per iteration.
            iterations: iterable of the iteration indices t (a progress bar may wrap it).
            settings: the hyper-parameters.
            callback: None or ``callback(t, X)`` to call when ``settings.shown(t)``.
            seconds: list to append, after each iteration, the seconds since the loop started.
            monitor: None or the run's :class:`classviz.monitor.Monitor`, to report to as it asks; the loop
                stops early only when :meth:`~classviz.monitor.Monitor.must_stop` says so (every image NaN).

        Returns:
            ``(X, history)``: float32 (N, 224, 224, 3) NumPy images and a list (maybe empty) of per-iteration
            raw target scores (N,).
        """
        raise NotImplementedError


class StepLoop(AscentLoop):
    """The seed's loop in NumPy around a step with the assignment's signature, one image at a time.

    Its top-1 check is a traced forward pass of the whole model, every :attr:`check_every` = 20 iterations until
    every image has been top-1: a forward pass costs about half an iteration (the backward pass costs about as much
    as the forward), so the worst case -- a target never top-1 -- costs 3.4% of a 100-iteration run, the first
    step's slope probe included (measured; see BENCHMARKS.md).

    Args:
        step: ``step(model, X, target_y, l2_reg, learning_rate) -> X_new`` (X float32 (1, 224, 224, 3)), one
            gradient-ascent step; it is called on the jittered image and its result is converted with
            ``np.asarray(..., float32)``.
    """

    def __init__(self, step):
        if not callable(step):
            raise TypeError(f"step must be a function step(model, X, target_y, l2_reg, learning_rate) -> X_new "
                            f"or an AscentLoop, but got {type(step).__name__}")
        self.step = step

    def run(self, model, X, targets, rng, iterations, settings, callback, seconds, monitor=None):
        start = time.perf_counter()
        for t in iterations:
            dy, dx = random_jitter_offsets(rng, settings.max_jitter)
            stepped = np.concatenate([
                unjitter(np.asarray(self.step(model, jitter(X[i:i + 1], dy, dx), targets[i], settings.l2_reg,
                                              settings.learning_rate), dtype=np.float32), dy, dx)
                for i in range(len(targets))])
            if monitor is not None:
                monitor.observe_step(t, model, X, stepped, dy, dx)
            X = clip_to_valid_range(stepped)
            if t % settings.blur_every == 0:
                X = blur_image(X, sigma=BLUR_SIGMA)
            seconds.append(time.perf_counter() - start)
            if monitor is not None and monitor.must_stop(X):
                break
            if callback is not None and settings.shown(t):
                callback(t, X)
        return X, []


KEEP = ("last", "leading")
"""Which image a run returns: its last (the seed's behaviour), or the last one with the target on top."""


def create_class_visualization(target_y, model, *, step, seed=0, callback=None, X0=None, progress=False,
                               keep="last", **kwargs):
    """Generate images that maximize the raw score of the target class(es) under ``model``.

    Args:
        target_y: class index or name (``76``, ``"tarantula"``), or a list of them: one image per class.
        model: callable float32 (N, 224, 224, 3) -> (N, 1000) raw class scores (e.g. ``load_squeezenet()``),
            called on tf.Tensors; a model with ``numpy_model = True`` is called on NumPy arrays, and the loop then
            needs no TensorFlow (the grader's NumPy SqueezeNet).
        step: the gradient-ascent step, a function with the assignment's signature
            ``step(model, X, target_y, l2_reg, learning_rate) -> X_new`` (X of shape (1, 224, 224, 3), one class
            at a time; see :func:`assignment_step`), called on the jittered image while the rest of the iteration
            runs in NumPy; or an :class:`AscentLoop` that runs the whole loop (e.g. the course's compiled
            reference loop).
        seed: int seed or ``numpy.random.Generator``; the only source of randomness.
        callback: optional ``callback(t, X)`` called after iteration t (0-based) when
            ``t == 0 or (t + 1) % show_every == 0 or t == num_iterations - 1`` (the seed's display rule), with
            X a float32 (N, 224, 224, 3) NumPy array.
        X0: optional float32 (N, 224, 224, 3) preprocessed starting images instead of random noise.
        progress: show a tqdm progress bar over the iterations (on stderr).
        keep: ``"last"`` (default, the seed's behaviour): return each run's last image. ``"leading"``: where the
            target is not the last image's top-1 class, return instead an image of a top-1 check at which the
            target led, re-scored without jitter: the last one the network still ranks first, else the one that
            ranks the target highest, if higher than the last image does (the checks then run to the end). A loop
            that checks every iteration's image without jitter (the course's compiled reference loop, one
            forward pass per iteration) returns the image where the target led by the widest margin over the
            runner-up. ``diagnostics[i].kept`` says which iteration was kept; see
            :meth:`classviz.monitor.Monitor.keep_leading_images`. The iterations, the random numbers and the
            calls of the step are the same either way.
        **kwargs: ``l2_reg`` (>= 0), ``learning_rate`` (> 0), ``num_iterations`` (>= 0, int),
            ``blur_every`` (>= 1, int, iterations), ``max_jitter`` (>= 0, int, pixels), ``show_every`` (>= 1).
            Defaults: :data:`DEFAULTS`.

    Returns:
        :class:`VisualizationResult` (its ``seconds`` time every iteration; ``ms_per_iteration`` is the cost of
        one iteration after the first; ``diagnostics`` say per image whether the target became the top-1 class
        and what looks wrong if not). The loop stops before ``num_iterations`` only when every image has become
        NaN (see :mod:`classviz.diagnostics`); the diagnostics never change the images or the random numbers.

    Raises:
        TypeError, ValueError: an unknown keyword, a bad class, step or start image, or a hyper-parameter of the
            wrong type or range (the message quotes the value received).
    """
    settings = Settings.from_kwargs(kwargs)
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {KEEP}, but got {keep!r}")
    loop = step if isinstance(step, AscentLoop) else StepLoop(step)
    targets = [class_index(t) for t in (target_y if isinstance(target_y, (list, tuple)) else [target_y])]
    if not targets:
        raise ValueError("target_y must name at least one class, but got an empty list")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(
        check_number(seed, "seed", minimum=0, integer=True))

    X = initial_image(rng, len(targets)) if X0 is None else check_batch(X0, "X0").copy()
    if X.shape[0] != len(targets):
        raise ValueError(f"X0 holds {X.shape[0]} images but {len(targets)} target classes were given")

    iterations = range(settings.num_iterations)
    if progress:
        from tqdm.auto import tqdm
        iterations = tqdm(iterations, desc="gradient ascent", unit="it")
    seconds = []
    monitor = Monitor(targets, loop.check_every, keep_leading=keep == "leading")
    X, history = loop.run(model, X, targets, rng, iterations, settings, callback, seconds, monitor)
    scores = raw_scores(model, X)
    if keep == "last":
        return VisualizationResult(images=X, target_y=targets, scores=scores, history=history, seconds=seconds,
                                   diagnostics=monitor.diagnose(X, scores))
    images, kept_scores, kept = monitor.keep_leading_images(
        X, scores, lambda images: raw_scores(model, images))
    return VisualizationResult(images=images, target_y=targets, scores=kept_scores, history=history,
                               seconds=seconds, diagnostics=monitor.diagnose(images, kept_scores, kept, scores))


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
