"""Image quality of class visualization (issue 12): how often the final image is the target's top-1 / top-5 class.

Over a seeded set of ImageNet classes (``numpy.random.default_rng(--seed).choice(1000, --classes,
replace=False)``), each class is visualized on its own (batch 1, seed 0, as in the notebook) with the compiled
reference loop (``classviz_reference.create_class_visualization``) at the seed's defaults, once per
``--iterations`` value. From each run's diagnostics (``classviz.diagnostics``) it reports:

* top-1 share: the final image's top-1 class is the target; top-5 share: the target is among its 5 best;
* led share: the target was top-1 at some check during the run or at the end (what a loop that kept its last
  image with the target on top would reach: a change of the loop, not of what students write);
* median iteration at which the target first became top-1 (over the images that end top-1; checked every 5
  iterations);
* seconds per image (wall clock of the whole call, graphs traced before timing);
* the images with a warning, and the range of the final images' pixel spread and saturated share (what the
  diagnostics' thresholds must leave alone on healthy runs);
* the misses: target, final rank, top-1 class.

Usage (from the repository root; offline, set CLASSVIZ_WEIGHTS_MIRROR first; about 5 minutes on 2 cores)::

    .venv/bin/python bench/bench_quality.py [--classes 50] [--seed 0] [--iterations 100 200] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def seeded_classes(count: int, seed: int) -> list[int]:
    """``count`` distinct ImageNet class indices drawn with ``numpy.random.default_rng(seed)``."""
    import numpy as np

    return [int(k) for k in np.random.default_rng(seed).choice(1000, size=count, replace=False)]


def run_setting(model, classes, iterations):
    """Per class: (diagnosis, seconds) of one batch-1 run of ``iterations`` iterations, seed 0."""
    from classviz_reference import create_class_visualization

    rows = []
    for y in classes:
        start = time.perf_counter()
        result = create_class_visualization(y, model, seed=0, num_iterations=iterations)
        rows.append((result.diagnostics[0], time.perf_counter() - start))
    return rows


def summarize(rows) -> dict:
    """The figures of one setting (see the module docstring)."""
    diagnoses = [d for d, _ in rows]
    n = len(diagnoses)
    top1 = [d for d in diagnoses if d.rank == 1]
    return {
        "n": n,
        "top1": len(top1) / n,
        "top5": sum(d.rank is not None and d.rank <= 5 for d in diagnoses) / n,
        "led": sum(d.first_top1 is not None for d in diagnoses) / n,
        "median_first_top1": statistics.median([d.first_top1 for d in top1]) if top1 else float("nan"),
        "seconds": statistics.median([s for _, s in rows]),
        "warned": [d for d in diagnoses if d.warnings],
        "spread": (min(d.spread for d in diagnoses), max(d.spread for d in diagnoses)),
        "saturated": (min(d.saturated for d in diagnoses), max(d.saturated for d in diagnoses)),
        "misses": [d for d in diagnoses if d.rank != 1],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=50, help="how many classes (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the class draw (default 0)")
    parser.add_argument("--iterations", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    args = parser.parse_args(argv)

    import classviz
    import tensorflow as tf
    from classviz import class_name
    from classviz_reference import create_class_visualization

    model = classviz.load_squeezenet()
    classes = seeded_classes(args.classes, args.seed)
    create_class_visualization(classes[0], model, num_iterations=2)  # trace the batch-1 graph before timing
    load_start, started = os.getloadavg()[0], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    summaries = {n: summarize(run_setting(model, classes, n)) for n in args.iterations}
    load_end = os.getloadavg()[0]

    print(f"{started}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
          f"{platform.python_version()}, TensorFlow {tf.__version__}; load average {load_start:.2f} at the start, "
          f"{load_end:.2f} at the end")
    print(f"{args.classes} classes drawn with numpy.random.default_rng({args.seed}).choice(1000, {args.classes}, "
          f"replace=False): {classes}")
    header = ["iterations", "top-1", "top-5", "top-1 at some check", "median iteration of first top-1",
              "s per image", "with a warning", "pixel spread", "saturated share"]
    table = []
    for n, s in summaries.items():
        table.append([str(n), f"{100 * s['top1']:.0f}%", f"{100 * s['top5']:.0f}%", f"{100 * s['led']:.0f}%",
                      f"{s['median_first_top1']:g}", f"{s['seconds']:.2f}", str(len(s["warned"])),
                      f"{s['spread'][0]:.0f}-{s['spread'][1]:.0f}",
                      f"{s['saturated'][0]:.3f}-{s['saturated'][1]:.3f}"])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in table:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
        print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        for row in table:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    for n, s in summaries.items():
        misses = "; ".join(f"{d.target_y} {class_name(d.target_y)} -> rank {d.rank}, top-1 {class_name(d.top1)}"
                           + (f" (led at iteration {d.first_top1})" if d.first_top1 is not None else "")
                           for d in s["misses"])
        print(f"{n} iterations, not top-1: {misses or 'none'}")
        for d in s["warned"]:
            print(f"{n} iterations, warning: {d.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
