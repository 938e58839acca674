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
run), so the first step's slope probe is counted.

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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args(argv)

    import numpy as np

    import classviz
    from classviz.diagnostics import Monitor
    from classviz.visualize import Settings, StepLoop, initial_image
    from classviz_reference import CompiledLoop
    from compare_loop import student_style_step

    class EveryCheck(Monitor):
        """The worst case: the top-1 check runs every check_every iterations to the end."""

        def wants_scores(self, t):
            return t % self.check_every == 0

    model = classviz.load_squeezenet()
    settings = Settings.from_kwargs(dict(num_iterations=args.iterations))
    target = [76]

    def ms(loop, monitor_class):
        rng = np.random.default_rng(0)
        X = initial_image(rng)
        seconds = []
        monitor = monitor_class(target, loop.check_every) if monitor_class else None
        loop.run(model, X, target, rng, range(args.iterations), settings, None, seconds, monitor)
        return 1e3 * seconds[-1] / len(seconds)

    loops = {"compiled loop": CompiledLoop(), "step loop": StepLoop(student_style_step(model))}
    blocks = {(name, kind): (loop, monitor_class) for name, loop in loops.items()
              for kind, monitor_class in (("off", None), ("on", Monitor), ("worst", EveryCheck))}
    for loop, monitor_class in blocks.values():  # trace every graph once
        ms(loop, monitor_class)
    times = {key: [] for key in blocks}
    load_start = os.getloadavg()[0]
    for _ in range(args.repeats):
        for key, (loop, monitor_class) in blocks.items():
            times[key].append(ms(loop, monitor_class))
    print(f"{args.repeats} repetitions of {args.iterations} iterations, batch 1, class 76; load average "
          f"{load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print("| loop | without diagnostics, ms/iteration | with (tarantula) | ratio | worst case (checks to the end) "
          "| ratio |")
    print("|---|---|---|---|---|---|")
    for name, loop in loops.items():
        off = np.array(times[(name, "off")])
        on, worst = np.array(times[(name, "on")]), np.array(times[(name, "worst")])
        print(f"| {name} (check every {loop.check_every}) | {statistics.median(off):.1f} | "
              f"{statistics.median(on):.1f} | {statistics.median(on / off):.3f} | {statistics.median(worst):.1f} | "
              f"{statistics.median(worst / off):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
