"""Diagnostics of a run (classviz.diagnostics): top-1 iteration, rank, warnings; they only observe the loop."""

import re

import numpy as np
import pytest

import classviz
from classviz.diagnostics import (GREY_SPREAD, MIN_RISE, SATURATED_SHARE, ImageDiagnosis, _rank, image_statistics,
                                  warnings_for)
from classviz.monitor import Monitor
from classviz.visualize import Settings, StepLoop, create_class_visualization, initial_image
from classviz_reference import CompiledLoop, reference_loss_and_gradient
from classviz_reference import create_class_visualization as reference_run

PIXELS = 224 * 224 * 3
RIVAL = 0.52


class MeanStandIn:
    """Raw scores that depend on the image's mean m only: ``s_7 = m`` (cock), ``s_9 = RIVAL`` (ostrich), every other
    class -10. Class 7 is top-1 exactly when m > RIVAL; ``d s_7 / dX = 1 / PIXELS`` at every pixel."""

    def __init__(self):
        self.a = np.zeros(1000, np.float32)
        self.a[7] = 1.0
        self.b = np.full(1000, -10.0, np.float32)
        self.b[7], self.b[9] = 0.0, RIVAL

    def __call__(self, X, training=None):
        import tensorflow as tf

        m = tf.reduce_mean(tf.convert_to_tensor(X, tf.float32), axis=[1, 2, 3])
        return m[:, None] * self.a + self.b


class NaNStandIn:
    """Scores sqrt(mean(X) - 10): NaN, and so is their gradient, for every valid image."""

    def __call__(self, X, training=None):
        import tensorflow as tf

        m = tf.reduce_mean(tf.convert_to_tensor(X, tf.float32), axis=[1, 2, 3])
        return tf.sqrt(m - 10.0)[:, None] * tf.ones([1, 1000])


def add_learning_rate(model, X, target_y, l2_reg, learning_rate):
    """A step that raises every pixel by learning_rate: the image's mean grows by exactly that much."""
    return X + np.float32(learning_rate)


ZEROS = np.zeros((1, 224, 224, 3), np.float32)


# --- the top-1 iteration and the rank ------------------------------------------------------------------------

def test_step_loop_finds_the_top1_iteration_at_its_checks():
    # m = 0.05 t: top-1 from t = 11 on; the step loop checks at t = 0 and 20 -> 20
    result = create_class_visualization(7, MeanStandIn(), step=add_learning_rate, X0=ZEROS, num_iterations=25,
                                        learning_rate=0.05)
    d = result.diagnostics[0]
    assert (d.first_top1, d.rank, d.top1, d.iterations) == (20, 1, 7, 25)
    assert d.start_score == pytest.approx(0.0, abs=1e-6) and d.final_score == pytest.approx(1.25, rel=1e-5)
    assert d.line().startswith("7 cock: top-1 by iteration 20 (checks every 20), raw score 0.0 -> 1.2")


def test_compiled_loop_finds_the_top1_iteration_at_its_checks():
    # gradient ascent on s_7 = m with l2_reg 0: every pixel gains learning_rate / PIXELS = 0.05 per iteration,
    # top-1 from t = 11 on; with keep="last" the compiled loop checks at t = 0, 5, 10, 15 -> 15; keeping its
    # leading image (the default), it checks every iteration's image -> 11
    kwargs = dict(X0=ZEROS, num_iterations=25, l2_reg=0.0, learning_rate=0.05 * PIXELS)
    for keep, first, period in (("last", 15, 5), ("leading", 11, 1)):
        d = reference_run(7, MeanStandIn(), keep=keep, **kwargs).diagnostics[0]
        assert (d.first_top1, d.check_every, d.rank, d.top1, d.kept) == (first, period, 1, 7, None)
        assert d.final_score == pytest.approx(1.25, rel=1e-4)


def test_both_loops_say_the_period_of_their_checks():
    """Issue 19 item 8: the notebook's loop checks every 20 iterations, the command line's every 5, so the same run
    is first seen top-1 at different checks; each line says its period, and both are true of the run."""
    # the same trajectory in both loops: m = 0.05 t, so the target is top-1 from t = 11 on
    step_loop = create_class_visualization(7, MeanStandIn(), step=add_learning_rate, X0=ZEROS, num_iterations=25,
                                           learning_rate=0.05).diagnostics[0]
    compiled, leading = (reference_run(7, MeanStandIn(), X0=ZEROS, num_iterations=25, l2_reg=0.0,
                                       learning_rate=0.05 * PIXELS, keep=keep).diagnostics[0]
                         for keep in ("last", "leading"))
    assert step_loop.outcome == "top-1 by iteration 20 (checks every 20)"
    assert compiled.outcome == "top-1 by iteration 15 (checks every 5)"
    assert leading.outcome == "top-1 by iteration 11 (checked every iteration)"
    for d in (step_loop, compiled, leading):
        assert d.first_top1 - d.check_every < 11 <= d.first_top1  # it became top-1 between two checks


class UpThenDown:
    """A step that raises every pixel by learning_rate for its first ``up`` calls, then lowers it by as much."""

    def __init__(self, up):
        self.up, self.calls = up, 0

    def __call__(self, model, X, target_y, l2_reg, learning_rate):
        self.calls += 1
        return X + np.float32(learning_rate if self.calls <= self.up else -learning_rate)


def test_keep_leading_returns_the_image_of_the_last_check_where_the_target_led():
    # m rises by 0.05 for 25 iterations, then falls: top-1 (m > 0.52) at the check of t = 20 (m = 1.0), not at the
    # end (m = 0.5 after 40 iterations, ostrich ahead)
    last_images = []
    kept = create_class_visualization(7, MeanStandIn(), step=UpThenDown(25), X0=ZEROS, num_iterations=40,
                                      learning_rate=0.05, keep="leading",
                                      callback=lambda t, X: last_images.append(X.copy()))
    last = create_class_visualization(7, MeanStandIn(), step=UpThenDown(25), X0=ZEROS, num_iterations=40,
                                      learning_rate=0.05)
    np.testing.assert_allclose(kept.images, 1.0, atol=1e-5)  # the image after 20 iterations
    np.testing.assert_array_equal(last_images[-1], last.images)  # the run itself did not change
    np.testing.assert_allclose(last.images, 0.5, atol=1e-5)
    d = kept.diagnostics[0]
    assert (d.kept, d.rank, d.top1, d.last_top1, d.first_top1) == (20, 1, 7, 9, 20)
    assert d.final_score == pytest.approx(1.0, abs=1e-5) and kept.scores[0, 7] == pytest.approx(1.0, abs=1e-5)
    assert d.line() == ("7 cock: top-1 by iteration 20 (checks every 20), kept iteration 20 of 40 (the last image's "
                        "top-1 is ostrich), raw score 0.0 -> 1.0; warning: grey image: the pixel spread is 9 on the "
                        "0-255 scale (the starting noise has 74): the steps are too small (is the learning rate too "
                        "small?) or the L2 term too strong")
    assert d.title().startswith("top-1 by iteration 20\nkept iteration 20")
    assert last.diagnostics[0].outcome == "not top-1 (rank 2; top-1 is ostrich), though it led at iteration 20"


def test_keep_leading_keeps_the_last_image_when_it_leads_or_never_led():
    for up, iterations, rank in ((40, 40, 1), (5, 40, 2)):  # top-1 at the end; never above m = 0.25
        result = create_class_visualization(7, MeanStandIn(), step=UpThenDown(up), X0=ZEROS, learning_rate=0.05,
                                            num_iterations=iterations, keep="leading")
        last = create_class_visualization(7, MeanStandIn(), step=UpThenDown(up), X0=ZEROS, learning_rate=0.05,
                                          num_iterations=iterations)
        np.testing.assert_array_equal(result.images, last.images)
        assert result.diagnostics[0].kept is None and result.diagnostics[0].rank == rank
        assert "kept" not in result.diagnostics[0].line()


def test_the_compiled_loop_keeps_the_leading_image_by_default():
    # ascent on s_7 = m with 2 * learning_rate * l2_reg = 0.2, so that m_t = 0.25 + 1.75 * 0.8^t from m_0 = 2: top-1
    # (m > RIVAL) after 1 to 8 iterations (m_8 = 0.543), no longer after 9 (0.485) nor at the end. Every iteration's
    # image is checked: the widest margin m - RIVAL is after 1 iteration (m_1 = 1.65)
    lr, l2 = 0.05 * PIXELS, 0.1 / (0.05 * PIXELS)
    kwargs = dict(X0=np.full((1, 224, 224, 3), 2.0, np.float32), num_iterations=20, l2_reg=l2, learning_rate=lr)
    result = reference_run(7, MeanStandIn(), **kwargs)
    np.testing.assert_allclose(result.images, 0.25 + 1.75 * 0.8, atol=1e-4)
    d = result.diagnostics[0]
    assert (d.kept, d.rank, d.last_top1, d.first_top1, d.check_every) == (1, 1, 9, 0, 1)
    assert d.final_score == pytest.approx(0.25 + 1.75 * 0.8, abs=1e-4)
    last = reference_run(7, MeanStandIn(), keep="last", **kwargs)
    np.testing.assert_allclose(last.images, 0.25 + 1.75 * 0.8 ** 20, atol=1e-4)
    assert last.diagnostics[0].rank == 2 and last.diagnostics[0].kept is None
    with pytest.raises(ValueError, match=r"keep must be one of \('last', 'leading'\), but got 'best'"):
        reference_run(7, MeanStandIn(), X0=ZEROS, num_iterations=2, keep="best")


def _scores_ranking_7(rank):
    """(1000,) raw scores in which class 7 has the given rank (classes 0, 1, ... ahead of it)."""
    scores = np.zeros(1000, np.float32)
    scores[7] = 1.0
    scores[:rank - 1] = 2.0
    return scores


def test_the_image_kept_is_the_last_leader_the_network_still_ranks_first_without_jitter():
    monitor = Monitor([7], check_every=5, keep_leading=True)
    monitor.iterations = 20
    for t in (0, 5, 10, 15):  # the image after t iterations is the constant t; class 7 led at 5 and 10 (jittered)
        monitor.observe_scores(t, _scores_ranking_7(1 if t in (5, 10) else 2)[None], np.full((1, 2, 2, 3), t))
    assert [t for t, _ in monitor.led[0]] == [5, 10]
    unjittered = {5: 1, 10: 2}  # without jitter, the image of t = 10 is only second

    def rescore(X):
        return np.stack([_scores_ranking_7(unjittered[int(x[0, 0, 0])]) for x in X])

    last = np.full((1, 2, 2, 3), 20.0, np.float32)
    images, scores, kept = monitor.keep_leading_images(last, _scores_ranking_7(3)[None], rescore)
    assert kept == [5] and images[0, 0, 0, 0] == 5 and _rank(scores[0], 7) == 1
    unjittered = {5: 4, 10: 3}  # no leader ranks the target higher than the last image (3): the last is kept
    images, scores, kept = monitor.keep_leading_images(last, _scores_ranking_7(3)[None], rescore)
    assert kept == [None] and images[0, 0, 0, 0] == 20
    unjittered = {5: 4, 10: 2}  # none first: the highest-ranked
    assert monitor.keep_leading_images(last, _scores_ranking_7(3)[None], rescore)[2] == [10]


def test_checks_of_every_iteration_keep_the_leader_with_the_widest_margin():
    monitor = Monitor([7], check_every=5, keep_leading=True)
    monitor.observe_scores(0, _scores_ranking_7(2)[None], np.zeros((1, 2, 2, 3)))
    assert monitor.wants_scores(5)  # periodic checks until the loop reports every iteration
    for n, (rank, score) in enumerate([(2, 1.0), (1, 1.5), (1, 3.0), (1, 3.0), (1, 2.5), (3, 1.0)], start=1):
        scores = _scores_ranking_7(rank)
        scores[7] = score
        monitor.observe_result(n, scores[None], np.full((1, 2, 2, 3), n, np.float32))
    assert not monitor.wants_scores(5) and monitor.wants_scores(0)  # no periodic checks after t = 0 any more
    assert monitor.first_top1 == [2] and monitor.led == [[]]
    n, image, row, margin = monitor.leader[0]
    assert (n, image[0, 0, 0], margin) == (4, 4.0, 3.0)  # margins 1.5, 3.0, 3.0, 2.5: the latest of the widest
    monitor.iterations = 6
    last = np.full((1, 2, 2, 3), 6.0, np.float32)
    images, scores, kept = monitor.keep_leading_images(last, _scores_ranking_7(3)[None], rescore=None)
    assert kept == [4] and images[0, 0, 0, 0] == 4.0 and scores[0, 7] == 3.0
    d = monitor.diagnose(images, scores, kept, _scores_ranking_7(3)[None])[0]
    assert d.outcome == "top-1 by iteration 2 (checked every iteration), kept iteration 4 of 6 (the last image's top-1 is tench)"


def test_not_top1_gives_the_rank_and_the_top1_class():
    result = create_class_visualization(7, MeanStandIn(), step=add_learning_rate, X0=ZEROS, num_iterations=8,
                                        learning_rate=0.05)
    d = result.diagnostics[0]
    assert (d.first_top1, d.rank, d.top1) == (None, 2, 9)
    assert d.outcome == "not top-1 (rank 2; top-1 is ostrich)"


def test_top1_only_at_the_end_counts_the_final_image():
    # m = 0.05 t: top-1 from t = 11 on, a check at 0 only: the final image (after 12 iterations) decides
    result = create_class_visualization(7, MeanStandIn(), step=add_learning_rate, X0=ZEROS, num_iterations=12,
                                        learning_rate=0.05)
    assert result.diagnostics[0].outcome == "top-1 by iteration 12 (checks every 20)"


def test_a_target_that_led_and_lost_says_so():
    d = ImageDiagnosis(target_y=217, iterations=100, first_top1=60, rank=2, top1=164, start_score=5.6,
                       final_score=58.5, spread=45.0, saturated=0.02)
    assert d.line() == ("217 English springer: not top-1 (rank 2; top-1 is bluetick), though it led at iteration 60, "
                        "raw score 5.6 -> 58.5")
    assert "top-1 by iteration" not in d.line()  # the two outcomes never share their key words
    assert d.title() == "rank 2 (top-1: bluetick)"


def test_the_full_classifier_runs_only_until_every_image_has_been_top1():
    monitor = Monitor([7, 3], check_every=5)
    scores = np.zeros((2, 1000), np.float32)
    scores[0, 7] = scores[1, 0] = 1.0
    monitor.observe_scores(0, scores)
    assert monitor.wants_scores(5) and not monitor.wants_scores(6)  # image 1 (class 3) is not top-1 yet
    scores[1, 3] = 2.0
    monitor.observe_scores(5, scores)
    assert monitor.first_top1 == [0, 5]
    assert not monitor.wants_scores(10)  # both found: no more checks
    assert monitor.start_scores.tolist() == [1.0, 0.0]


# --- NaN and inf ---------------------------------------------------------------------------------------------

class NaNFromCall:
    """A step that adds learning_rate until its call number ``at`` (1-based), then returns ``value`` at
    ``pixels`` (all pixels when None)."""

    def __init__(self, at, value=np.nan, pixels=None):
        self.at, self.value, self.pixels, self.calls = at, value, pixels, 0

    def __call__(self, model, X, target_y, l2_reg, learning_rate):
        self.calls += 1
        X_new = X + np.float32(learning_rate)
        if self.calls >= self.at:
            if self.pixels is None:
                X_new[...] = self.value
            else:
                X_new[self.pixels] = self.value
        return X_new


def test_nan_stops_the_step_loop_at_that_iteration():
    step = NaNFromCall(at=7)
    result = create_class_visualization(7, MeanStandIn(), step=step, X0=ZEROS, num_iterations=30, learning_rate=0.05)
    d = result.diagnostics[0]
    assert step.calls == 7 and len(result.seconds) == 7 and d.iterations == 7 and d.nonfinite_at == 7
    assert np.isnan(result.images).all() and d.rank is None
    assert list(d.warnings) == ["NaN or inf"]
    assert d.line() == ("7 cock: no valid scores (the image holds NaN values); warning: NaN or inf values: the step "
                        "returned them at iteration 7 (look for a division by zero, a log of 0, or a learning rate "
                        "so large that values overflow)")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_partly_nan_or_inf_step_is_reported_and_the_loop_goes_on(value):
    """Only a wholly NaN image stops the loop: a few NaN pixels may be ignored by the network, and clipping turns
    inf into 255, so the run goes on exactly as without diagnostics."""
    step = NaNFromCall(at=4, value=value, pixels=(0, 5, 5, 0))
    result = create_class_visualization(7, MeanStandIn(), step=step, X0=ZEROS, num_iterations=12, learning_rate=0.05,
                                        max_jitter=0)
    d = result.diagnostics[0]
    assert step.calls == 12 and d.iterations == 12 and d.nonfinite_at == 4
    assert list(d.warnings) == ["NaN or inf"] and "at iteration 4" in d.warnings["NaN or inf"]
    assert np.isnan(result.images).any() == bool(np.isnan(value))


def test_nan_stops_the_compiled_loop():
    result = reference_run([1, 2], NaNStandIn(), num_iterations=20)
    assert len(result.history) == 1 and [d.nonfinite_at for d in result.diagnostics] == [1, 1]
    assert all(d.rank is None and d.iterations == 1 for d in result.diagnostics)


# --- the first step's slope, and descent -----------------------------------------------------------------------

def _ascent(model, X, target_y, l2_reg, learning_rate):
    _, dX = reference_loss_and_gradient(model, X, target_y, l2_reg)
    return X + learning_rate * dX.numpy()


def _descent(model, X, target_y, l2_reg, learning_rate):
    _, dX = reference_loss_and_gradient(model, X, target_y, l2_reg)
    return X - learning_rate * dX.numpy()


def test_first_step_slope_is_the_directional_derivative(linear_model):
    """On the linear stand-in the slope along the step's change u is exactly c_y P . u."""
    y, lam, lr = 76, 1e-2, 3.0
    rng_copy = np.random.default_rng(5)
    X0 = initial_image(rng_copy)
    dy, dx = classviz.random_jitter_offsets(rng_copy, 16)  # the first offsets the run will draw
    result = create_class_visualization(y, linear_model, step=_ascent, seed=5, num_iterations=1, l2_reg=lam,
                                        learning_rate=lr)
    Xj = classviz.jitter(X0, dy, dx).astype(np.float64)
    change = lr * (linear_model.score_gradient(y) - 2 * lam * Xj)
    expected = float(np.sum(linear_model.score_gradient(y) * change) / np.linalg.norm(change))
    assert result.diagnostics[0].step_slope == pytest.approx(expected, rel=1e-3)
    assert expected > 0


def test_descent_is_named(linear_model):
    y = 76 if linear_model.c[76] > 0 else 77
    result = create_class_visualization(y, linear_model, step=_descent, seed=0, num_iterations=6, learning_rate=2.0)
    d = result.diagnostics[0]
    assert d.step_slope < 0 and d.final_score < d.start_score
    assert list(d.warnings) == ["descent"] and "gradient descent instead of ascent" in d.warnings["descent"]


# --- warning thresholds on given values -------------------------------------------------------------------------

HEALTHY = dict(spread=50.0, saturated=0.03, start_score=2.0, final_score=140.0, step_slope=0.2, iterations=100)


@pytest.mark.parametrize("changes, symptoms", [
    ({}, []),
    (dict(spread=GREY_SPREAD - 0.1), ["grey"]),
    (dict(spread=GREY_SPREAD), []),
    (dict(saturated=SATURATED_SHARE), ["saturated"]),
    (dict(saturated=SATURATED_SHARE - 0.001), []),
    (dict(final_score=2.0 + MIN_RISE - 0.01), ["not rising"]),
    (dict(final_score=2.0 + MIN_RISE), []),
    (dict(final_score=0.3, step_slope=-0.2), ["descent"]),
    (dict(final_score=0.3, step_slope=-0.2, saturated=0.85), ["descent"]),  # its saturation is a consequence
    (dict(step_slope=-0.2), []),  # a downhill first step, but the score rose: nothing to report
    (dict(final_score=0.3, step_slope=None), ["not rising"]),  # not measured (compiled loop): no descent claim
    (dict(final_score=0.5, saturated=1.0, spread=127.0), ["saturated"]),  # the cause explains the flat score
    (dict(final_score=1.2, spread=14.5), ["grey"]),
    (dict(spread=float("nan"), saturated=float("nan"), nonfinite_at=3), ["NaN or inf"]),
])
def test_warning_thresholds(changes, symptoms):
    assert list(warnings_for(**{**HEALTHY, **changes})) == symptoms


def test_warning_messages_name_symptom_and_cause():
    grey = warnings_for(**{**HEALTHY, "spread": 14.5})["grey"]
    assert grey == ("grey image: the pixel spread is 14 on the 0-255 scale (the starting noise has 74): the steps "
                    "are too small (is the learning rate too small?) or the L2 term too strong")
    saturated = warnings_for(**{**HEALTHY, "saturated": 0.995})["saturated"]
    assert saturated == ("saturated image: 100% of the pixel values are at 0 or 255: the steps are too large (is the "
                         "learning rate too large?)")
    flat = warnings_for(**{**HEALTHY, "final_score": 2.4, "iterations": 20})["not rising"]
    assert flat.startswith("the raw target score does not rise (2.0 -> 2.4 in 20 iterations)")


def test_image_statistics():
    black = classviz.preprocess_image(np.zeros((224, 224, 3)))
    assert image_statistics(black) == (0.0, 1.0)
    half = np.zeros((224, 224, 3))
    half[:112] = 255.0
    assert image_statistics(classviz.preprocess_image(half)) == (pytest.approx(127.5), 1.0)
    spread, saturated = image_statistics(initial_image(np.random.default_rng(0))[0])
    # 0 and 255 are half-width bins of rint(255 U): 1/255 of the values
    assert spread == pytest.approx(255 / np.sqrt(12), rel=0.01) and saturated == pytest.approx(1 / 255, rel=0.1)
    grey = np.full((224, 224, 3), 128.0)
    grey[0, 0] = 138.0
    # 3 values of 150528 differ by 10: spread 10 sqrt(3 / 150528)
    assert image_statistics(classviz.preprocess_image(grey)) == (pytest.approx(10 * np.sqrt(3 / PIXELS), rel=0.01), 0.0)
    nan = np.full((224, 224, 3), np.nan, np.float32)
    assert all(np.isnan(image_statistics(nan)))


# --- the diagnostics only observe -------------------------------------------------------------------------------

@pytest.mark.parametrize("loop", [StepLoop(_ascent), CompiledLoop()], ids=["step loop", "compiled loop"])
def test_diagnostics_change_neither_the_images_nor_the_random_numbers(linear_model, loop):
    settings = Settings.from_kwargs(dict(num_iterations=23, blur_every=4, max_jitter=7))
    runs = []
    for monitor in (None, Monitor([76, 130], loop.check_every), Monitor([76, 130], loop.check_every, True)):
        rng = np.random.default_rng(11)
        X = initial_image(rng, 2)
        X, _ = loop.run(linear_model, X, [76, 130], rng, range(23), settings, None, [], monitor)
        runs.append((X, rng.random()))
    for X, after in runs[1:]:
        np.testing.assert_array_equal(runs[0][0], X)
        assert runs[0][1] == after  # the generator is where it was: no draw was added


def test_both_loops_agree_on_the_diagnostics(linear_model):
    kwargs = dict(num_iterations=30, seed=3, learning_rate=2.0)
    mine = create_class_visualization([76, 130], linear_model, step=_ascent, **kwargs).diagnostics
    ref = reference_run([76, 130], linear_model, **kwargs).diagnostics
    for a, b in zip(mine, ref):
        assert (a.rank, a.top1) == (b.rank, b.top1)
        assert a.start_score == pytest.approx(b.start_score, rel=1e-4, abs=1e-4)
        assert a.spread == pytest.approx(b.spread, abs=0.05) and list(a.warnings) == list(b.warnings)


# --- the command line ---------------------------------------------------------------------------------------------

def test_command_line_prints_one_diagnostic_line_per_class(monkeypatch, tmp_path, capsys):
    from PIL import Image

    from classviz_reference.__main__ import main

    monkeypatch.setattr(classviz, "load_squeezenet", lambda weights=None: MeanStandIn())
    # class 7's pixels gain 0.05 per iteration (a little less where clipped) from a mean of 0.23: above RIVAL
    # after 6 iterations (the command line keeps the leading image: every iteration is checked); class 3 has a zero
    # gradient and a score of -10 (rank 3 behind 9 and 7)
    assert main(["visualize", "--class", "7", "tiger shark", "--iterations", "30", "--l2-reg", "0",
                 "--learning-rate", str(0.05 * PIXELS), "--out", str(tmp_path / "o.png"), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    cock = next(line for line in out if line.startswith(f"{tmp_path / 'o_7_cock.png'}: "))
    shark = next(line for line in out if line.startswith(f"{tmp_path / 'o_3_tiger_shark.png'}: "))
    assert re.fullmatch(r".*: 7 cock: top-1 by iteration 6 \(checked every iteration\), raw score 0\.2 -> 1\.7",
                        cock), cock
    assert re.fullmatch(r".*: 3 tiger shark: not top-1 \(rank 3; top-1 is ostrich\), raw score -10\.0 -> -10\.0; "
                        r"warning: the raw target score does not rise \(-10\.0 -> -10\.0 in 30 iterations\): .*",
                        shark), shark
    assert Image.open(tmp_path / "o_grid.png").size[0] > Image.open(tmp_path / "o_grid.png").size[1]


# --- the real weights ---------------------------------------------------------------------------------------------

@pytest.mark.weights
@pytest.mark.parametrize("learning_rate, iterations, symptom", [(0.01, 100, "grey"), (1e4, 20, "saturated")])
def test_far_too_small_or_large_learning_rates_are_named(squeezenet, learning_rate, iterations, symptom):
    result = reference_run(76, squeezenet, seed=0, num_iterations=iterations, learning_rate=learning_rate)
    d = result.diagnostics[0]
    assert list(d.warnings) == [symptom] and d.rank > 100


@pytest.mark.weights
def test_descent_on_the_real_weights_is_named(squeezenet):
    from classviz.visualize import compile_loss_and_gradient

    gradient, reason = compile_loss_and_gradient(reference_loss_and_gradient, squeezenet)
    assert reason is None

    def descent(model, X, target_y, l2_reg, learning_rate):
        return X - learning_rate * gradient(model, X, target_y, l2_reg)[1].numpy()

    d = create_class_visualization(76, squeezenet, step=descent, seed=0, num_iterations=20).diagnostics[0]
    assert d.step_slope < 0 and list(d.warnings) == ["descent"] and d.rank > 100


@pytest.mark.weights
@pytest.mark.slow
def test_the_issue_check_command(tmp_path, weights_dir, capsys):
    """`visualize --class tarantula 217 --iterations 100 --seed 0`: tarantula top-1 before iteration 100; English
    springer either top-1 or not, with a real class name."""
    from classviz_reference.__main__ import main

    assert main(["visualize", "--class", "tarantula", "217", "--iterations", "100", "--seed", "0", "--out",
                 str(tmp_path / "o.png"), "--weights", str(weights_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    tarantula = re.search(r": 76 tarantula: top-1 by iteration (\d+) \(checked every iteration\)", out)
    assert tarantula and int(tarantula.group(1)) < 100, out
    springer = re.search(r": 217 English springer: (top-1 by iteration \d+|not top-1 \(rank (\d+); top-1 is "
                         r"([^)]+)\))", out)
    assert springer, out
    if springer.group(3):
        assert springer.group(3) in classviz.class_names() and int(springer.group(2)) > 1
