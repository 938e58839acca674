"""Did the visualization work, and if not, why? Per-image diagnostics observed during the loop.

Rule of this module: a loop's :class:`classviz.monitor.Monitor` turns what it saw into one
:class:`ImageDiagnosis` per image: whether the target class became the network's top-1 class and when, its
final rank, and warnings that name a symptom and its likely cause.

What is observed during the loop, and when: :mod:`classviz.monitor`.

The thresholds (:data:`GREY_SPREAD`, :data:`SATURATED_SHARE`, :data:`MIN_RISE`) were set from runs of the
compiled reference loop and of a descending step on the real SqueezeNet 1.1 weights, 6 classes (76 tarantula,
217 English springer, 130 flamingo, 963 pizza, 1 goldfish, 340 zebra), seed 0; their docstrings give the
figures. ``bench/bench_quality.py`` measures the outcome over 50 classes (BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .classes import class_name
from .image import deprocess_image

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
