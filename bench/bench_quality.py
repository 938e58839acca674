"""Image quality of class visualization (issues 12 and 18): how often the image is the target's top-1 / top-5 class.

Over seeded sets of ImageNet classes (one per ``--draws`` seed: ``numpy.random.default_rng(seed).choice(1000,
--classes, replace=False)``), each class is visualized on its own (batch 1, seed 0, as in the notebook) with the
compiled reference loop (``classviz_reference.create_class_visualization``) at the seed's defaults, once per
``--iterations`` value. Each run gives both behaviours of the loop: the image kept (``keep="leading"``, the
default: every iteration's image is checked without jitter and, where the last image lost the lead, the image where
the target led by the widest margin is kept) and the run's last image (``keep="last"``, the seed's; captured by the
display callback, which runs at the last iteration; the run and its images are the same either way). From the
diagnostics (``classviz.diagnostics``) it reports, per draw, iterations and behaviour:

* top-1 share: the image's top-1 class is the target; top-5 share: the target is among its 5 best;
* led share: the target was top-1 at some check during the run (every iteration, without jitter) or at the end
  (the ceiling of keeping);
* kept earlier: how many runs returned an earlier image than their last;
* median iteration at which the target first became top-1 (over the images that end top-1; checked every
  iteration);
* seconds per image (wall clock of the whole ``keep="leading"`` call, its checks included, graphs traced before
  timing; a ``keep="last"`` run skips the checks of every iteration: see BENCHMARKS.md for its cost);
* the images with a warning, and the range of the images' pixel spread and saturated share (what the
  diagnostics' thresholds must leave alone on healthy runs);
* the misses: target, rank, top-1 class.

``--pictures DIR`` also writes the pictures of BENCHMARKS.md and the README: ``DIR/quality_grid.jpg``, the images
kept of the first draw at the first iteration count, each titled with its outcome (red: not top-1), and
``DIR/tarantula.png``, what ``python -m classviz_reference visualize --class tarantula --iterations 100 --seed 0``
saves.

Usage (from the repository root; offline, set CLASSVIZ_WEIGHTS_MIRROR first; about 12 minutes on 2 cores)::

    .venv/bin/python bench/bench_quality.py --markdown --pictures docs/images   # 50 classes, draws 0 and 1
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

GRID_COLUMNS = 10
"""Panels per row of the picture grid."""


def seeded_classes(count: int, seed: int) -> list[int]:
    """``count`` distinct ImageNet class indices drawn with ``numpy.random.default_rng(seed)``."""
    import numpy as np

    return [int(k) for k in np.random.default_rng(seed).choice(1000, size=count, replace=False)]


def run_setting(model, classes, iterations):
    """Per class, one batch-1 run of ``iterations`` iterations, seed 0: ``{"kept": diagnosis of the image kept,
    "last": diagnosis of the last image, "image": the image kept, "seconds": wall clock}``."""
    import dataclasses

    import numpy as np
    import tensorflow as tf

    from classviz.diagnostics import _rank, image_statistics, warnings_for
    from classviz_reference import create_class_visualization

    rows = []
    for y in classes:
        shown = {}
        start = time.perf_counter()
        result = create_class_visualization(y, model, seed=0, num_iterations=iterations,
                                            callback=lambda t, X: shown.update(last=X))
        seconds = time.perf_counter() - start
        kept = result.diagnostics[0]
        last = kept
        if kept.kept is not None:  # the last image's own diagnosis, as keep="last" gives it
            scores = np.asarray(model(tf.constant(shown["last"])), np.float32)[0]
            spread, saturated = image_statistics(shown["last"][0])
            last = dataclasses.replace(
                kept, rank=_rank(scores, y), top1=int(np.argmax(scores)), final_score=float(scores[y]),
                spread=spread, saturated=saturated, kept=None, last_top1=None,
                warnings=warnings_for(spread=spread, saturated=saturated, start_score=kept.start_score,
                                      final_score=float(scores[y]), iterations=kept.iterations))
        rows.append({"kept": kept, "last": last, "image": result.images[0], "seconds": seconds})
    return rows


def summarize(rows, which) -> dict:
    """The figures of one setting and behaviour (``which``: "kept" or "last"; see the module docstring)."""
    diagnoses = [row[which] for row in rows]
    n = len(diagnoses)
    top1 = [d for d in diagnoses if d.rank == 1]
    return {
        "n": n,
        "top1": len(top1) / n,
        "top5": sum(d.rank is not None and d.rank <= 5 for d in diagnoses) / n,
        "led": sum(d.first_top1 is not None for d in diagnoses) / n,
        "kept_earlier": sum(d.kept is not None for d in diagnoses),
        "median_first_top1": statistics.median([d.first_top1 for d in top1]) if top1 else float("nan"),
        "seconds": statistics.median([row["seconds"] for row in rows]),
        "warned": [d for d in diagnoses if d.warnings],
        "spread": (min(d.spread for d in diagnoses), max(d.spread for d in diagnoses)),
        "saturated": (min(d.saturated for d in diagnoses), max(d.saturated for d in diagnoses)),
        "misses": [d for d in diagnoses if d.rank != 1],
    }


def save_grid(path: Path, rows) -> None:
    """The images kept, GRID_COLUMNS per row, each titled with its class and outcome, as a JPEG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from classviz import class_name, deprocess_image

    count = len(rows)
    lines = -(-count // GRID_COLUMNS)
    fig, axes = plt.subplots(lines, GRID_COLUMNS, figsize=(1.7 * GRID_COLUMNS, 2.2 * lines), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        d = row["kept"]
        ax.imshow(deprocess_image(row["image"]))
        ax.set_title(f"{d.target_y} {class_name(d.target_y)[:18]}\n{d.title()}", fontsize=6.5, linespacing=1.1,
                     color="black" if d.rank == 1 else "firebrick")
    fig.tight_layout(pad=0.5, h_pad=0.4, w_pad=0.2)
    fig.savefig(path, dpi=80, pil_kwargs={"quality": 80, "optimize": True})
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=50, help="how many classes per draw (default 50)")
    parser.add_argument("--draws", type=int, nargs="+", default=[0, 1], help="seeds of the class draws (0 1)")
    parser.add_argument("--iterations", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--pictures", type=Path, help="folder for quality_grid.jpg and tarantula.png")
    args = parser.parse_args(argv)

    import classviz
    import tensorflow as tf
    from PIL import Image

    from classviz import class_name
    from classviz_reference import create_class_visualization

    model = classviz.load_squeezenet()
    draws = {seed: seeded_classes(args.classes, seed) for seed in args.draws}
    create_class_visualization(draws[args.draws[0]][0], model, num_iterations=2)  # trace the graph before timing
    load_start, started = os.getloadavg()[0], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs = {(seed, n): run_setting(model, classes, n) for seed, classes in draws.items() for n in args.iterations}
    load_end = os.getloadavg()[0]

    print(f"{started}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
          f"{platform.python_version()}, TensorFlow {tf.__version__}; load average {load_start:.2f} at the start, "
          f"{load_end:.2f} at the end")
    for seed, classes in draws.items():
        print(f"draw {seed}: numpy.random.default_rng({seed}).choice(1000, {args.classes}, replace=False) = {classes}")
    header = ["draw", "iterations", "image", "top-1", "top-5", "top-1 at some check", "kept earlier",
              "median iteration of first top-1", "s per image", "with a warning", "pixel spread", "saturated share"]
    table, summaries = [], {}
    for (seed, n), rows in runs.items():
        for which, label in (("kept", "kept (leading)"), ("last", "last (seed's)")):
            s = summaries[seed, n, which] = summarize(rows, which)
            table.append([str(seed), str(n), label, f"{100 * s['top1']:.0f}%", f"{100 * s['top5']:.0f}%",
                          f"{100 * s['led']:.0f}%", str(s["kept_earlier"]), f"{s['median_first_top1']:g}",
                          f"{s['seconds']:.2f}", str(len(s["warned"])), f"{s['spread'][0]:.0f}-{s['spread'][1]:.0f}",
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
    for (seed, n, which), s in summaries.items():
        misses = "; ".join(f"{d.target_y} {class_name(d.target_y)} -> rank {d.rank}, top-1 {class_name(d.top1)}"
                           + (f" (led at iteration {d.first_top1})" if d.first_top1 is not None else "")
                           + (f" (kept iteration {d.kept})" if d.kept is not None else "")
                           for d in s["misses"])
        print(f"draw {seed}, {n} iterations, {which}: not top-1: {misses or 'none'}")
        for d in s["warned"]:
            print(f"draw {seed}, {n} iterations, {which}, warning: {d.line()}")
    if args.pictures:
        args.pictures.mkdir(parents=True, exist_ok=True)
        save_grid(args.pictures / "quality_grid.jpg", runs[args.draws[0], args.iterations[0]])
        tarantula = create_class_visualization("tarantula", model, seed=0, num_iterations=100)
        Image.fromarray(classviz.deprocess_image(tarantula.images[0]), mode="RGB").save(args.pictures / "tarantula.png")
        print(f"pictures: {args.pictures / 'quality_grid.jpg'}, {args.pictures / 'tarantula.png'} "
              f"({tarantula.diagnostics[0].line()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
