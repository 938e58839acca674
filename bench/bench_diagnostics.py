"""What the diagnostics (classviz.diagnostics) cost each loop: the same loop with and without its monitor.

Both loops of the course -- the compiled reference loop (``classviz_reference.CompiledLoop``, the command line) and
the loop around a step function (``classviz.visualize.StepLoop``, the notebook and the grader, here with the
reference gradient compiled by ``assignment_step`` as a student's would be) -- run 100 iterations of one image,
batch 1, seed 0, three ways, interleaved block by block in one process (the machine is shared: ratios are taken
within each repetition, then their median):

* without a monitor (``monitor=None``: what the loop cost before the diagnostics);
* with the run's monitor, for tarantula (top-1 early: the top-1 checks stop once it is found);
* with a monitor that checks at every ``check_every``-th iteration to the end (the worst case: a target that never
  becomes top-1).

Each figure is ms per iteration over all 100 iterations (the first included: every graph is traced by a warm-up
run), so the first step's slope probe is counted. These end-to-end ratios move by several percent between
repetitions on a shared machine, so the script also measures the direct cost, in the same runs: the time spent
inside the monitor's methods (the step loop's forward passes and the host-side bookkeeping of both loops), plus,
for the compiled loop, the extra time of a graph call that also evaluates the rest of the classifier (50 calls
with and 50 without, interleaved) times the number of checks.

Usage (from the repository root; offline, set CLASSVIZ_WEIGHTS_MIRROR first; about 4 minutes)::

    .venv/bin/python bench/bench_diagnostics.py [--repeats 9] [--iterations 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args(argv)

    import time

    import numpy as np

    import classviz
    from classviz.monitor import Monitor
    from classviz.visualize import Settings, StepLoop, initial_image
    from classviz_reference import CompiledLoop, compiled_ascent_step
    from compare_loop import student_style_step

    class Timed(Monitor):
        """A monitor that adds up the seconds spent in the methods the loops call (outermost calls only)."""

        def __init__(self, *args):
            super().__init__(*args)
            self.spent, self.depth, self.checks = 0.0, 0, 0

        def _timed(self, method, *args):
            self.depth += 1
            start = time.perf_counter()
            try:
                return method(self, *args)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.spent += time.perf_counter() - start

        def wants_scores(self, t):
            return self._timed(Monitor.wants_scores, t)

        def observe_scores(self, t, scores, X=None):
            self.checks += 1
            return self._timed(Monitor.observe_scores, t, scores, X)

        def observe_step_result(self, t, finite):
            return self._timed(Monitor.observe_step_result, t, finite)

        def observe_step(self, *args):
            return self._timed(Monitor.observe_step, *args)

        def must_stop(self, X):
            return self._timed(Monitor.must_stop, X)

    class EveryCheck(Timed):
        """The worst case: the top-1 check runs every check_every iterations to the end."""

        def wants_scores(self, t):
            return t % self.check_every == 0

    model = classviz.load_squeezenet()
    settings = Settings.from_kwargs(dict(num_iterations=args.iterations))
    target = [76]

    direct = {}  # (loop name, monitor class) -> [share of the run's time spent in the monitor, ...]
    classifier = 0.0  # extra seconds of a compiled check iteration, measured below

    def ms(name, loop, monitor_class):
        rng = np.random.default_rng(0)
        X = initial_image(rng)
        seconds = []
        monitor = monitor_class(target, loop.check_every) if monitor_class else None
        loop.run(model, X, target, rng, range(args.iterations), settings, None, seconds, monitor)
        if monitor is not None:
            extra = monitor.spent
            if isinstance(loop, CompiledLoop):  # the checks' classifier runs inside the graph call
                extra += monitor.checks * classifier
            direct.setdefault((name, monitor_class), []).append(extra / seconds[-1])
        return 1e3 * seconds[-1] / len(seconds)

    def classifier_seconds(calls=50):
        """Extra seconds of a compiled iteration that also evaluates all 1000 scores (median of interleaved calls)."""
        import tensorflow as tf

        step = compiled_ascent_step(model, 1).get_concrete_function()
        args_ = (tf.constant(initial_image(np.random.default_rng(1))), tf.constant([76]), tf.constant(3),
                 tf.constant(-2), tf.constant(1e-3), tf.constant(25.0), tf.constant(False))
        with_all, without = [], []
        for _ in range(calls):
            for flag, into in ((True, with_all), (False, without)):
                start = time.perf_counter()
                step(*args_, tf.constant(flag))[0].numpy()
                into.append(time.perf_counter() - start)
        return max(statistics.median(with_all) - statistics.median(without), 0.0)

    loops = {"compiled loop": CompiledLoop(), "step loop": StepLoop(student_style_step(model))}
    blocks = {(name, kind): (loop, monitor_class) for name, loop in loops.items()
              for kind, monitor_class in (("off", None), ("on", Timed), ("worst", EveryCheck))}
    for (name, _), (loop, monitor_class) in blocks.items():  # trace every graph once
        ms(name, loop, monitor_class)
    direct.clear()
    classifier = classifier_seconds()
    times = {key: [] for key in blocks}
    load_start = os.getloadavg()[0]
    for _ in range(args.repeats):
        for (name, kind), (loop, monitor_class) in blocks.items():
            times[(name, kind)].append(ms(name, loop, monitor_class))
    print(f"{args.repeats} repetitions of {args.iterations} iterations, batch 1, class 76; load average "
          f"{load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"compiled loop: all 1000 scores add {1e3 * classifier:.2f} ms to a check iteration's graph call")
    print("| loop | without diagnostics, ms/iteration | with (tarantula) | ratio | direct cost | worst case (checks "
          "to the end) | ratio | direct cost |")
    print("|---|---|---|---|---|---|---|---|")
    for name, loop in loops.items():
        off = np.array(times[(name, "off")])
        on, worst = np.array(times[(name, "on")]), np.array(times[(name, "worst")])
        print(f"| {name} (check every {loop.check_every}) | {statistics.median(off):.1f} | "
              f"{statistics.median(on):.1f} | {statistics.median(on / off):.3f} | "
              f"{100 * statistics.median(direct[(name, Timed)]):.1f}% | {statistics.median(worst):.1f} | "
              f"{statistics.median(worst / off):.3f} | {100 * statistics.median(direct[(name, EveryCheck)]):.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
