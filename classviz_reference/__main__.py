"""The instructor's command line: ``python -m classviz_reference visualize --class tarantula --out tarantula.png``.

Images made with the compiled reference loop (:class:`classviz_reference.CompiledLoop`): one PNG per class, and a
grid for several whose panel titles give each outcome. For each class it prints the diagnostics' line
(:mod:`classviz.diagnostics`): ``top-1 by iteration N (checked every iteration)`` or ``not top-1 (rank R; top-1 is
NAME)``, ``kept iteration N of M`` when the image saved is not the last (``--keep leading``, the default: every
iteration's image is checked without jitter, and when the last image lost the lead, the one where the target led by
the widest margin is saved), the raw target score from start to end and any warning (grey, saturated, NaN or inf,
score not rising), then the top-5 classes. With ``--keep last`` the checks run every 5 iterations.
``python -m classviz_reference --help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


GRID_COLUMNS = 4
"""Images per row of the grid saved for several classes."""


def _save_grid(path: Path, images, titles, colors=None) -> None:
    """Save uint8 (N, 224, 224, 3) images as one PNG, up to GRID_COLUMNS per row, each titled (in its color)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(images), GRID_COLUMNS)
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title, color in zip(axes.flat, images, titles, colors or ["black"] * len(titles)):
        ax.imshow(img)
        ax.set_title(title, fontsize=10, color=color)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cmd_visualize(args) -> int:
    from PIL import Image

    from classviz import class_index, class_name, deprocess_image, load_squeezenet

    from . import create_class_visualization

    try:
        targets = [class_index(c) for c in args.classes]
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = load_squeezenet(args.weights)
    result = create_class_visualization(
        targets, model, seed=args.seed, progress=not args.quiet, num_iterations=args.iterations,
        l2_reg=args.l2_reg, learning_rate=args.learning_rate, blur_every=args.blur_every,
        max_jitter=args.max_jitter, keep=args.keep)
    images = deprocess_image(result.images)
    out = Path(args.out) if args.out else Path(f"{_slug(class_name(targets[0]))}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out] if len(targets) == 1 else _class_paths(out, targets)
    for path, img in zip(paths, images):
        Image.fromarray(img, mode="RGB").save(path)
    if len(targets) > 1:
        grid = out.with_name(f"{out.stem}_grid.png")
        _save_grid(grid, images, [f"{y} {class_name(y)}\n{d.title()}" for y, d in zip(targets, result.diagnostics)],
                   ["black" if d.rank == 1 and not d.warnings else "firebrick" for d in result.diagnostics])
        print(f"grid: {grid}")
    for i, (path, diagnosis, top) in enumerate(zip(paths, result.diagnostics, result.top_k(5))):
        ranked = ", ".join(f"{k} {class_name(k)} ({result.scores[i][k]:.1f})" for k in top)
        print(f"{path}: {diagnosis.line()}\n    top-5: {ranked}")
    if result.diagnostics and result.diagnostics[0].iterations < args.iterations:
        print(f"stopped after {result.diagnostics[0].iterations} of {args.iterations} iterations: every image is NaN")
    if args.iterations:
        print(f"gradient ascent: {args.iterations} iterations of {len(targets)} image(s) in "
              f"{result.seconds[-1]:.2f} s; {result.ms_per_iteration:.1f} ms/iteration after the first "
              f"(which traces the graph)")
    return 0


def _class_paths(out: Path, targets) -> list[Path]:
    """``<stem>_<index>_<name>.png`` per class; a class given again gets ``_2``, ``_3``, ... appended."""
    from classviz import class_name

    paths, seen = [], {}
    for y in targets:
        seen[y] = seen.get(y, 0) + 1
        again = f"_{seen[y]}" if seen[y] > 1 else ""
        paths.append(out.with_name(f"{out.stem}_{y}_{_slug(class_name(y))}{again}.png"))
    return paths


def build_parser() -> argparse.ArgumentParser:
    from classviz.visualize import DEFAULTS, KEEP

    parser = argparse.ArgumentParser(prog="python -m classviz_reference",
                                     description="Class visualizations made with the compiled reference loop "
                                                 "(the course repository's instructor side).")
    sub = parser.add_subparsers(dest="command", required=True)
    vis = sub.add_parser("visualize", help="generate class visualizations with the pretrained SqueezeNet 1.1",
                         description="Gradient ascent from seeded noise on the raw score of each class; saves a "
                                     "224x224 PNG per class (and a grid for several) and prints, per class, "
                                     "whether and when it became the network's top-1 class, any warning (grey, "
                                     "saturated, NaN, score not rising) and the top-5 classes.")
    vis.add_argument("--class", dest="classes", nargs="+", required=True, metavar="CLASS",
                     help="ImageNet class name (case-insensitive) or index in [0, 1000); several allowed")
    vis.add_argument("--iterations", type=int, default=DEFAULTS["num_iterations"])
    vis.add_argument("--seed", type=int, default=0)
    vis.add_argument("--out", help="PNG path (one class) or path stem (several classes); default <class>.png")
    vis.add_argument("--l2-reg", type=float, default=DEFAULTS["l2_reg"])
    vis.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    vis.add_argument("--blur-every", type=int, default=DEFAULTS["blur_every"])
    vis.add_argument("--max-jitter", type=int, default=DEFAULTS["max_jitter"])
    vis.add_argument("--keep", choices=KEEP[::-1], default="leading",
                     help="which image to save: 'leading' (default), when the last image lost the lead, the image "
                          "where the target led by the widest margin (every iteration checked, about 1.3x the "
                          "time); 'last', the last image (the seed's loop)")
    vis.add_argument("--weights", help="folder with weights/*.npy (default: fetched into datasets/)")
    vis.add_argument("--quiet", action="store_true", help="no progress bar")
    vis.set_defaults(func=cmd_visualize)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from classviz.weights import WeightsError

    try:
        return args.func(args)
    except (TypeError, ValueError, FileNotFoundError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
