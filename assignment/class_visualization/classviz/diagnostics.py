"""Did the visualization work, and if not, why? Per-image diagnostics observed during the loop.

Rule of this module: the loop hands a :class:`Monitor` what it computes anyway (or what costs little more), the
monitor never changes the loop's images, its random numbers or the calls of the step, and
:meth:`Monitor.diagnose` turns what it saw into one :class:`ImageDiagnosis` per image: whether the target class
became the network's top-1 class and when, its final rank, and warnings that name a symptom and its likely cause.

What is observed, and when (iteration ``t`` counts from 0; "the image after N iterations" is the input of
iteration N, circularly shifted by that iteration's jitter, which is what the network sees):

* every ``check_every`` iterations (``t = 0, check_every, ...``) until every image has been top-1 at least once
  (to the end when the run keeps its leading image): the 1000 raw class scores of the images, for the first
  iteration at which the target is top-1, for the starting raw target score (``t = 0``) and, when the run keeps
  its leading image, a copy of each image at every check where its target led (:attr:`Monitor.led`);
* every iteration, when the run keeps its leading image and its loop reports them (the compiled reference loop,
  :meth:`Monitor.observe_result`): the 1000 raw scores of the image after the iteration, not jittered (one
  forward pass), for the first iteration at which the target is top-1 and a copy of the image where the target
  led by the widest margin (:attr:`Monitor.leader`); these checks then replace the periodic ones after ``t = 0``;
* every iteration: whether the step's result holds NaN or inf values; the loop stops once every image is NaN
  (a NaN value of X stays NaN through ``X + learning_rate * dX``, un-jitter, clipping and blur, so nothing is
  left to compute);
* the first step of a loop around a step function (:class:`classviz.visualize.StepLoop`): the slope of the raw
  target score along the step, ``(s_y(Xj + h u) - s_y(Xj - h u)) / 2h`` with ``u`` the unit vector of the
  step's change ``X_new - Xj`` and ``h = PROBE_FRACTION * ||Xj||`` (two forward passes, once);
* at the end: the final raw scores, and the pixel spread and saturated share of the deprocessed final image.

The thresholds (:data:`GREY_SPREAD`, :data:`SATURATED_SHARE`, :data:`MIN_RISE`) were set from runs of the
compiled reference loop and of a descending step on the real SqueezeNet 1.1 weights, 6 classes (76 tarantula,
217 English springer, 130 flamingo, 963 pizza, 1 goldfish, 340 zebra), seed 0; their docstrings give the
figures. ``bench/bench_quality.py`` measures the outcome over 50 classes (BENCHMARKS.md).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from .classes import class_name
from .image import deprocess_image
from .squeezenet import IMAGE_SIZE
from .transforms import jitter

GREY_SPREAD = 20.0
"""Below this standard deviation of the final image's deprocessed pixel values (0-255 scale), warn of a grey
image: the step is too small or the L2 term too strong.

Measured after 100 iterations (6 classes, seed 0): the seed's defaults give 45-57 (37-56 over the 50 classes of
``bench/bench_quality.py``, 38-58 after 200 iterations); learning_rate 5 gives 28-35, 2.5 gives 17-25;
learning_rate 0.01-1 gives 13-17 (blurred noise: ten blurs of sigma 0.5 take the starting noise's 74 down to
14.5); l2_reg 0.03 gives 11-16 and 0.019 gives 14-31. Far too large steps give 50-127."""

SATURATED_SHARE = 0.25
"""At or above this share of the final image's deprocessed pixel values at 0 or 255, warn of saturation: the
step is too large.

Measured after 100 iterations (6 classes, seed 0): the seed's defaults give 0.017-0.048 (0.006-0.048 over the 50
classes of ``bench/bench_quality.py``, up to 0.052 after 200 iterations); l2_reg 0 or learning_rate 100 give up to
0.095; learning_rate 1000 gives 0.02-0.23 (there the L2 term flips the image's sign every step: no saturation,
but the score falls); learning_rate 2000 or more, or l2_reg 0.1, give 0.99-1.00. The starting noise has 0.004."""

MIN_RISE = 1.0
"""Below this rise of the raw target score (final minus start, raw-score units), the score is "not rising".

Measured (6 classes, seed 0): with the seed's defaults the score rises by 2.0-12 after 5 iterations, 6.5-55 after
10 and 57-168 after 100; a descending step changes it by -5.6 to -0.4 (the raw score, a mean of ReLU outputs,
cannot fall below 0); learning_rate 0.01 by -1.9 to +0.6 after 20 to 100 iterations."""

PROBE_FRACTION = 0.01
"""Half-width ``h`` of the first step's slope probe, as a fraction of the jittered image's L2 norm.

With ``h = 0.01 ||Xj||`` (about 5 for the starting noise) the slope along an ascent step was +0.06 to +0.34 (8
classes; the same for learning rates 0.01, 25 and 1e4, and for the half L2 term) and exactly its negative along
a descent step: the sign separates ascent from descent whatever the step's size."""

START_SPREAD = 255.0 / np.sqrt(12.0)
"""Pixel spread of the starting noise ``255 * U[0, 1)`` (73.6, 0-255 scale), for the grey-image message."""


@dataclass(frozen=True)
class ImageDiagnosis:
    """What became of one image of a run (see the module docstring for how each value is observed).

    Attributes:
        target_y: the target class index.
        iterations: iterations run (fewer than asked when the loop stopped on NaN).
        first_top1: the first iteration count N at which the image after N iterations had the target as the top-1
            class (checked every ``check_every`` iterations, and on the final image), or None.
        check_every: the period of those checks, in iterations (1: every iteration, without jitter, see
            :meth:`Monitor.observe_result`), or None when not known.
        kept: when the run returned an earlier image than its last (an image of a check where the target led,
            see :func:`classviz.visualize.create_class_visualization`'s ``keep``), its iteration count N;
            None when the image is the run's last. Every other value but ``first_top1`` describes the returned
            image.
        last_top1: when ``kept`` is not None, the top-1 class of the run's last image.
        rank: final rank of the target among the 1000 raw scores (1 = top-1), or None when its score is NaN.
        top1: the final top-1 class index, or None when the scores are NaN.
        start_score, final_score: raw target score of the starting and of the final image (NaN if not measured).
        spread: standard deviation of the final image's deprocessed pixel values, 0-255 scale (NaN if not finite).
        saturated: share of the final image's deprocessed pixel values at 0 or 255 (NaN if not finite).
        step_slope: slope of the raw target score along the first step, or None when not measured (the compiled
            reference loop ascends by construction).
        nonfinite_at: the first iteration (1-based) whose step result held NaN or inf values, or None.
        warnings: symptom -> one-line message naming the symptom and its likely cause, in order of importance.
            Symptoms: ``"NaN or inf"``, ``"descent"``, ``"saturated"``, ``"grey"``, ``"not rising"``.
    """
    target_y: int
    iterations: int
    first_top1: int | None
    rank: int | None
    top1: int | None
    start_score: float
    final_score: float
    spread: float
    saturated: float
    step_slope: float | None = None
    nonfinite_at: int | None = None
    warnings: dict = field(default_factory=dict)
    check_every: int | None = None
    kept: int | None = None
    last_top1: int | None = None

    @property
    def outcome(self) -> str:
        """``"top-1 by iteration N (checks every K)"`` or ``"not top-1 (rank R; top-1 is NAME)"`` (or why there is
        no rank), then which image was kept when it is not the last (``"kept iteration N of M"``).

        N is the first check at which the target led: the target became top-1 after the previous check (K
        iterations earlier) and by iteration N, so loops that check at different periods give different N for the
        same run; the line says the period (``"checked every iteration"`` when K is 1)."""
        if self.rank is None:
            return "no valid scores (the image holds NaN values)"
        if self.rank == 1:
            text = f"top-1 by iteration {self.first_top1}"
            if self.check_every == 1:
                text += " (checked every iteration)"
            elif self.check_every is not None:
                text += f" (checks every {self.check_every})"
        else:
            text = f"not top-1 (rank {self.rank}; top-1 is {class_name(self.top1)})"
            if self.first_top1 is not None:
                text += f", though it led at iteration {self.first_top1}"
        if self.kept is not None:
            text += f", kept iteration {self.kept} of {self.iterations}"
            if self.last_top1 is not None:
                text += f" (the last image's top-1 is {class_name(self.last_top1)})"
        return text

    def line(self) -> str:
        """One line for a person: class, outcome, raw score from start to end, and any warning."""
        parts = [f"{self.target_y} {class_name(self.target_y)}: {self.outcome}"]
        if np.isfinite(self.start_score) and np.isfinite(self.final_score):
            parts[0] += f", raw score {self.start_score:.1f} -> {self.final_score:.1f}"
        return "; ".join(parts + [f"warning: {text}" for text in self.warnings.values()])

    def title(self) -> str:
        """A short label for a figure panel: the outcome in a few words, then the symptoms."""
        label = (f"top-1 by iteration {self.first_top1}" if self.rank == 1 else "no valid scores"
                 if self.rank is None else f"rank {self.rank} (top-1: {class_name(self.top1)})")
        if self.kept is not None:
            label += f"\nkept iteration {self.kept}"
        return label + "".join(f"\nwarning: {symptom}" for symptom in self.warnings)


def image_statistics(image) -> tuple[float, float]:
    """Pixel spread and saturated share of one preprocessed image, as a person sees it after deprocessing.

    Args:
        image: float (224, 224, 3) (any H, W) preprocessed image.

    Returns:
        ``(spread, saturated)``: the standard deviation of the uint8 deprocessed values (0-255 scale) and the
        share of them equal to 0 or 255; both NaN when the image holds NaN or inf values.
    """
    if not np.isfinite(image).all():
        return float("nan"), float("nan")
    pixels = deprocess_image(image)
    return float(pixels.std(dtype=np.float64)), float(np.mean((pixels == 0) | (pixels == 255)))


def warnings_for(*, spread, saturated, start_score, final_score, step_slope=None, nonfinite_at=None,
                 iterations=0) -> dict:
    """The warnings of one image from its observed values (see :class:`ImageDiagnosis` for their meaning).

    Rules: NaN or inf alone (nothing else can be judged); a falling score along a downhill first step is
    descent (and the grey or saturated image it leaves is its consequence, not reported); otherwise
    saturation (``saturated >= SATURATED_SHARE``), a grey image (``spread < GREY_SPREAD``), and, when neither
    explains it, a raw target score that rose by less than :data:`MIN_RISE`.

    Returns:
        dict symptom -> message, in order of importance (empty when nothing looks wrong).
    """
    if nonfinite_at is not None:
        return {"NaN or inf": f"NaN or inf values: the step returned them at iteration {nonfinite_at} (look for a "
                              "division by zero, a log of 0, or a learning rate so large that values overflow)"}
    rise = final_score - start_score
    not_rising = bool(np.isfinite(rise)) and rise < MIN_RISE
    if not_rising and step_slope is not None and step_slope < 0:
        return {"descent": f"the raw target score falls ({start_score:.1f} -> {final_score:.1f}) and the first step "
                           "lowers it: gradient descent instead of ascent? Check the sign of the step, and that "
                           "the loss is the raw score of the target class"}
    found = {}
    if saturated >= SATURATED_SHARE:
        found["saturated"] = (f"saturated image: {100 * saturated:.0f}% of the pixel values are at 0 or 255: the steps "
                              "are too large (is the learning rate too large?)")
    if spread < GREY_SPREAD:
        found["grey"] = (f"grey image: the pixel spread is {spread:.0f} on the 0-255 scale (the starting noise has "
                         f"{START_SPREAD:.0f}): the steps are too small (is the learning rate too small?) or the L2 "
                         "term too strong")
    if not found and not_rising:
        found["not rising"] = (f"the raw target score does not rise ({start_score:.1f} -> {final_score:.1f} in "
                               f"{iterations} iterations): the steps are too small, or so large that the image "
                               "oscillates")
    return found


def _rank(scores: np.ndarray, y: int) -> int:
    """1 + the number of classes with a strictly higher raw score than class y."""
    return 1 + int(np.sum(scores > scores[y]))


_FORWARDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def scores_function(model):
    """``model`` as a function of float32 (None, 224, 224, 3) images -> (N, 1000) raw scores: a ``tf.function``
    traced once, or the model itself when it computes in NumPy (``model.numpy_model`` true; no TensorFlow needed).

    A Keras model called eagerly costs about 100 ms per call here, its traced graph about 12 ms. Cached per
    model (weakly: the cache does not keep the model alive).
    """
    if getattr(model, "numpy_model", False):
        return model
    if model in _FORWARDS:
        return _FORWARDS[model]
    import tensorflow as tf

    model_ref = weakref.ref(model)
    forward = tf.function(lambda X: model_ref()(X), autograph=False,
                          input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32)])
    _FORWARDS[model] = forward
    return forward


def raw_scores(model, X) -> np.ndarray:
    """float32 (N, 1000) raw scores of float32 (N, 224, 224, 3) images, by one eager call of ``model`` (on ``X``
    itself when the model computes in NumPy, ``model.numpy_model`` true; else on ``tf.constant(X)``)."""
    if getattr(model, "numpy_model", False):
        return np.asarray(model(X), dtype=np.float32)
    import tensorflow as tf

    return np.asarray(model(tf.constant(X)), dtype=np.float32)


class Monitor:
    """Collects what a loop observes and diagnoses each image at the end (see the module docstring).

    Args:
        targets: the N target classes.
        check_every: period, in iterations, of the top-1 check (>= 1).
        keep_leading: check to the end, and keep in :attr:`led` a copy of each image at every check where its
            target led (for a run that returns one of them, :meth:`keep_leading_images`).

    Attributes:
        led: per image, the list of ``(N, image)``: each check N at which the target was top-1, and a float32
            (224, 224, 3) copy of the image after N iterations (not jittered); only with ``keep_leading`` (at most
            one per check: 20 images, 12 MB, for 100 iterations checked every 5).
        leader: per image, None or ``(N, image, scores, margin)``: of the images after N iterations reported by
            :meth:`observe_result` (not jittered) where the target was top-1, the one with the widest margin of
            the target's raw score over the runner-up's (the latest of equals), a float32 (224, 224, 3) copy, its
            (1000,) raw scores and the margin.
        checked_every_iteration: whether the loop reports every iteration's image (:meth:`observe_result`).
    """

    def __init__(self, targets, check_every: int, keep_leading: bool = False):
        self.targets = [int(y) for y in targets]
        self.check_every = int(check_every)
        self.keep_leading = bool(keep_leading)
        n = len(self.targets)
        self.led: list = [[] for _ in range(n)]
        self.leader: list = [None] * n
        self.checked_every_iteration = False
        self.first_top1: list = [None] * n
        self.start_scores = np.full(n, np.nan)
        self.step_slopes: list = [None] * n
        self.nonfinite_at: list = [None] * n
        self.iterations = 0

    def wants_scores(self, t: int) -> bool:
        """Whether iteration t is a top-1 check (t = 0 always: it measures the starting score)."""
        if self.checked_every_iteration:
            return t == 0
        return t == 0 or (t % self.check_every == 0 and (self.keep_leading or None in self.first_top1))

    def observe_scores(self, t: int, scores, X=None) -> None:
        """Record the (N, 1000) raw scores of the images after t iterations (the inputs of iteration t).

        Args:
            t: the iteration.
            scores: (N, 1000) raw scores of the images the network saw (jittered).
            X: the images after t iterations, not jittered ((N, 224, 224, 3), NumPy or tensor), copied where the
                target leads when the monitor keeps leading images; None otherwise.
        """
        scores = np.asarray(scores, dtype=np.float32)
        rows = np.arange(len(self.targets))
        if t == 0:
            self.start_scores = scores[rows, self.targets].astype(np.float64)
        images = None
        for i, y in enumerate(self.targets):
            if not (np.isfinite(scores[i, y]) and _rank(scores[i], y) == 1):
                continue
            if self.first_top1[i] is None:
                self.first_top1[i] = t
            if self.keep_leading and X is not None:
                images = np.asarray(X, dtype=np.float32) if images is None else images
                self.led[i].append((t, images[i].copy()))

    def observe_result(self, n: int, scores, X) -> None:
        """Record the (N, 1000) raw scores of the images after n iterations, not jittered (X, NumPy or tensor).

        For a run that keeps its leading images, from a loop that reports every iteration's image (one forward
        pass each): the periodic checks stop (:meth:`wants_scores` is then true at ``t = 0`` only), the first
        top-1 iteration comes from these checks, and :attr:`leader` keeps, per image, the image where the target
        led by the widest margin.
        """
        self.checked_every_iteration = True
        scores = np.asarray(scores, dtype=np.float32)
        images = None
        for i, y in enumerate(self.targets):
            row = scores[i]
            if not (np.isfinite(row).all() and _rank(row, y) == 1):
                continue
            if self.first_top1[i] is None:
                self.first_top1[i] = n
            margin = float(row[y] - np.max(np.delete(row, y)))
            if self.leader[i] is None or margin >= self.leader[i][3]:
                images = np.asarray(X, dtype=np.float32) if images is None else images
                self.leader[i] = (n, images[i].copy(), row.copy(), margin)

    def observe_step_result(self, t: int, finite) -> None:
        """Record, per image, whether the step's result at iteration t was finite ((N,) bool)."""
        for i, ok in enumerate(np.asarray(finite).reshape(-1)):
            if not ok and self.nonfinite_at[i] is None:
                self.nonfinite_at[i] = t + 1
        self.iterations = t + 1

    def must_stop(self, X) -> bool:
        """True when every image is entirely NaN (X: the images after the iteration, NumPy or tensor)."""
        if None in self.nonfinite_at:
            return False
        return bool(np.isnan(np.asarray(X)).all())

    def observe_step(self, t: int, model, X, stepped, dy: int, dx: int) -> None:
        """What a loop around a step function reports after the steps of iteration t.

        Args:
            t: the iteration.
            model: the model the steps use.
            X: float32 (N, 224, 224, 3) images before the iteration (not jittered).
            stepped: float32 (N, 224, 224, 3) the steps' results, un-jittered, before clipping.
            dy, dx: the iteration's jitter offsets.
        """
        self.observe_step_result(t, np.isfinite(stepped).all(axis=(1, 2, 3)))
        if not self.wants_scores(t):
            return
        forward = scores_function(model)
        Xj = jitter(X, dy, dx)
        if t > 0:
            self.observe_scores(t, forward(Xj), X)
            return
        # The first step's slope: two probes per image along the step's change, in the same forward pass.
        with np.errstate(all="ignore"):  # a NaN or inf step gives no slope, and no RuntimeWarning on stderr
            change = jitter(stepped, dy, dx).astype(np.float64) - Xj
            norms = np.sqrt(np.sum(change ** 2, axis=(1, 2, 3)))
            usable = np.isfinite(norms) & (norms > 0)
            unit = np.where(usable[:, None, None, None], change / np.where(usable, norms, 1.0)[:, None, None, None],
                            0.0)
        h = PROBE_FRACTION * np.sqrt(np.sum(Xj.astype(np.float64) ** 2, axis=(1, 2, 3)))
        probes = np.concatenate([Xj, Xj + h[:, None, None, None] * unit, Xj - h[:, None, None, None] * unit])
        scores = np.asarray(forward(probes.astype(np.float32)), dtype=np.float64)
        n = len(self.targets)
        self.observe_scores(0, scores[:n], X)
        for i, y in enumerate(self.targets):
            if usable[i] and h[i] > 0:
                self.step_slopes[i] = float((scores[n + i, y] - scores[2 * n + i, y]) / (2 * h[i]))

    def diagnose(self, images, scores, kept=None, last_scores=None) -> list[ImageDiagnosis]:
        """One :class:`ImageDiagnosis` per image, from the returned images (N, 224, 224, 3) and raw scores (N, 1000).

        Args:
            images, scores: the images the run returns and their raw scores (not jittered).
            kept: None when the run returns its last images; otherwise per image, the iteration count of the
                returned image, or None where it is the last.
            last_scores: (N, 1000) raw scores of the run's last images, when ``kept`` is given.
        """
        scores = np.asarray(scores, dtype=np.float32)
        kept = kept or [None] * len(self.targets)
        result = []
        for i, y in enumerate(self.targets):
            row = scores[i]
            finite = bool(np.isfinite(row).all())
            rank = _rank(row, y) if finite else None
            first = self.first_top1[i]
            if first is None and rank == 1:
                first = self.iterations
            spread, saturated = image_statistics(images[i])
            final = float(row[y])
            warnings = warnings_for(spread=spread, saturated=saturated, start_score=self.start_scores[i],
                                    final_score=final, step_slope=self.step_slopes[i],
                                    nonfinite_at=self.nonfinite_at[i], iterations=self.iterations)
            result.append(ImageDiagnosis(
                target_y=y, iterations=self.iterations, first_top1=first, rank=rank,
                top1=int(np.argmax(row)) if finite else None, start_score=float(self.start_scores[i]),
                final_score=final, spread=spread, saturated=saturated, step_slope=self.step_slopes[i],
                nonfinite_at=self.nonfinite_at[i], warnings=warnings, kept=kept[i],
                check_every=1 if self.checked_every_iteration else self.check_every,
                last_top1=None if kept[i] is None else int(np.argmax(last_scores[i]))))
        return result

    def keep_leading_images(self, images, scores, rescore):
        """The images a run returns when it keeps, per image, an image with the target on top.

        Where the target is not the top-1 class of the last image: when the loop reported every iteration's image
        (:meth:`observe_result`), the image where the target led by the widest margin (:attr:`leader`), if it
        led; otherwise the images of the checks where it led (:attr:`led`) are re-scored without jitter (the
        checks saw them jittered); the last of them that the network still ranks first is returned, or failing
        that the one that ranks the target highest (the latest of equals), if it ranks the target higher than the
        last image does.

        Args:
            images: float32 (N, 224, 224, 3) the run's last images.
            scores: (N, 1000) their raw scores.
            rescore: ``rescore(X) -> (M, 1000)`` raw scores of float32 (M, 224, 224, 3) images.

        Returns:
            ``(images, scores, kept)``: the returned images and their raw scores (new arrays), and per image the
            iteration count of the returned image, or None where it is the last.
        """
        images, scores = np.array(images, dtype=np.float32), np.array(scores, dtype=np.float32)
        kept = [None] * len(self.targets)
        for i, y in enumerate(self.targets):
            last_rank = _rank(scores[i], y) if np.isfinite(scores[i]).all() else np.inf
            if last_rank == 1:
                continue
            if self.leader[i] is not None:
                kept[i], images[i], scores[i], _ = self.leader[i]
                continue
            if not self.led[i]:
                continue
            rows = np.asarray(rescore(np.stack([image for _, image in self.led[i]])), dtype=np.float32)
            ranks = [_rank(row, y) if np.isfinite(row).all() else np.inf for row in rows]
            best = min(range(len(ranks)), key=lambda j: (ranks[j], -j))
            if ranks[best] < last_rank:
                (kept[i], images[i]), scores[i] = self.led[i][best], rows[best]
        return images, scores, kept
