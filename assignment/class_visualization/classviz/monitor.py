"""What a loop observes for its diagnostics (:mod:`classviz.diagnostics`), and which image a run keeps.

Rule of this module: the loop hands a :class:`Monitor` what it computes anyway (or what costs little more), the
monitor never changes the loop's images, its random numbers or the calls of the step, and
:meth:`Monitor.diagnose` turns what it saw into one :class:`classviz.diagnostics.ImageDiagnosis` per image.

What is observed, and when (iteration ``t`` counts from 0; "the image after N iterations" is the input of
iteration N, circularly shifted by that iteration's jitter, which is what the network sees):

* every ``check_every`` iterations until every image has been top-1 once (to the end when the run keeps its
  leading image): the raw scores, for the first top-1 iteration, the starting score (``t = 0``) and the images
  where the target led (:meth:`Monitor.observe_scores`); or, from a loop that reports every iteration's image
  without jitter (the compiled reference loop), each of them, keeping the one where the target led by the
  widest margin (:meth:`Monitor.observe_result`);
* every iteration: whether the step's result holds NaN or inf values; the loop stops once every image is NaN
  (a NaN value of X stays NaN through ``X + learning_rate * dX``, un-jitter, clipping and blur);
* the first step of a loop around a step function (:class:`classviz.visualize.StepLoop`): the slope of the raw
  target score along the step, ``(s_y(Xj + h u) - s_y(Xj - h u)) / 2h`` with ``u`` the unit vector of the
  step's change ``X_new - Xj`` and ``h = PROBE_FRACTION * ||Xj||`` (two forward passes, once);
* at the end: the final raw scores, and the pixel spread and saturated share of the deprocessed final image.
"""

from __future__ import annotations

import numpy as np

from .diagnostics import PROBE_FRACTION, ImageDiagnosis, _rank, image_statistics, warnings_for
from .squeezenet import scores_function
from .transforms import jitter


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
