"""Before/after of the reference loop: this working tree's against a git revision's, in one process.

The other revision's ``classviz`` (and ``classviz_reference``, where the reference loop lives since it left the
student package) is extracted with ``git archive`` into a temporary folder as ``classviz_rev`` (and
``classviz_reference_rev``), and both loops run on the same pretrained weights, interleaved block by block with an
independent bare compiled step (forward + input gradient, batch 1), so every ratio compares numbers taken
seconds apart. Prints the median ms/iteration of each, the median of the per-repetition ratios to the bare step,
and the median of the per-repetition ratios now / before of each pair.

``--step`` also compares the loop around a step function (``classviz.visualize.create_class_visualization`` with
``step=``, what the notebook and the grader run), both revisions with the same student-style step: the reference
gradient compiled by this tree's ``assignment_step``. ``--whole`` counts every iteration, the first included (all
graphs are traced by a warm-up run first), so one-off work of the first iteration is in the figure.

Usage (from the repository root; offline, set CLASSVIZ_WEIGHTS_MIRROR first)::

    .venv/bin/python bench/compare_loop.py --against HEAD~3 [--repeats 11] [--batch 8]
    .venv/bin/python bench/compare_loop.py --against HEAD~1 --step --whole --iterations 100 --target 217 --batch 0
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def extract(rev: str, dest: Path):
    """Write ``rev``'s packages as ``dest/<name>_rev`` (imports renamed) and return its reference loop function."""
    import importlib

    listed = subprocess.run(["git", "ls-tree", "--name-only", rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    packages = [name for name in ("classviz", "classviz_reference") if name in listed]
    tar = subprocess.run(["git", "archive", rev, *packages], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(dest, filter="data")
    for name in packages:
        (dest / name).rename(dest / f"{name}_rev")
        for path in (dest / f"{name}_rev").rglob("*.py"):  # bench-only: point absolute imports at the copies
            text = path.read_text().replace("from classviz_reference", "from classviz_reference_rev")
            path.write_text(text.replace("from classviz.", "from classviz_rev.").replace("from classviz import",
                                                                                          "from classviz_rev import"))
    sys.path.insert(0, str(dest))
    if "classviz_reference" in packages:
        return importlib.import_module("classviz_reference_rev").create_class_visualization
    return importlib.import_module("classviz_rev.visualize").create_class_visualization  # step=None: reference


def loop_ms(create, model, targets, iterations, seed):
    """ms per iteration after the first (wall time of two runs differenced when ``seconds`` is missing)."""
    result = create(targets, model, seed=seed, num_iterations=iterations)
    if getattr(result, "seconds", None):
        if WHOLE:
            return 1e3 * result.seconds[-1] / len(result.seconds)
        return 1e3 * (result.seconds[-1] - result.seconds[0]) / (len(result.seconds) - 1)
    start = time.perf_counter()
    create(targets, model, seed=seed, num_iterations=1)
    one = time.perf_counter() - start
    start = time.perf_counter()
    create(targets, model, seed=seed, num_iterations=iterations)
    return 1e3 * (time.perf_counter() - start - one) / (iterations - 1)


WHOLE = False


def student_style_step(model):
    """A step with the assignment's signature: the reference gradient, compiled by ``assignment_step``."""
    import numpy as np

    from classviz.visualize import assignment_step
    from classviz_reference import reference_loss_and_gradient

    namespace = {"np": np, "reference_loss_and_gradient": reference_loss_and_gradient}
    exec("def update(model, X, target_y, l2_reg, learning_rate):\n"
         "    loss, dX = reference_loss_and_gradient(model, X, target_y, l2_reg)\n"
         "    return np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)\n", namespace)
    step, reason = assignment_step(namespace["update"], reference_loss_and_gradient, model)
    assert reason is None, reason
    return step


def main(argv=None) -> int:
    global WHOLE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="git revision of the 'before' loop, e.g. HEAD~3")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--batch", type=int, default=8, help="also compare a batch of this many classes (0: no)")
    parser.add_argument("--iterations", type=int, default=21, help="iterations of the batch-1 runs")
    parser.add_argument("--target", type=int, default=76, help="class of the batch-1 runs")
    parser.add_argument("--step", action="store_true", help="also compare the loop around a step function")
    parser.add_argument("--whole", action="store_true", help="count every iteration, the first included")
    args = parser.parse_args(argv)
    WHOLE = args.whole

    import numpy as np
    import tensorflow as tf

    from bench_visualize import make_bare_step, time_bare

    with tempfile.TemporaryDirectory() as tmp:
        before = extract(args.against, Path(tmp))
        import classviz
        from classviz.visualize import initial_image
        from classviz_reference import create_class_visualization as now

        model = classviz.load_squeezenet()
        bare = make_bare_step(model)
        X, y = tf.constant(initial_image(np.random.default_rng(0))), tf.constant(76)
        classes = [76, 130, 963, 1, 9, 107, 340, 945, 22, 33, 44, 55, 66, 77, 88, 99][:max(args.batch, 1)]
        n_it, target = args.iterations, [args.target]
        blocks = {"bare step (a)": lambda r: time_bare(bare, X, y),
                  f"loop {args.against}": lambda r: loop_ms(before, model, target, n_it, r),
                  "loop now": lambda r: loop_ms(now, model, target, n_it, r)}
        if args.step:
            import functools

            import classviz_rev.visualize as before_visualize

            from classviz.visualize import create_class_visualization as now_visualize

            step = student_style_step(model)
            before_step = functools.partial(before_visualize.create_class_visualization, step=step)
            now_step = functools.partial(now_visualize, step=step)
            blocks[f"step loop {args.against}"] = lambda r: loop_ms(before_step, model, target, n_it, r)
            blocks["step loop now"] = lambda r: loop_ms(now_step, model, target, n_it, r)
        if args.batch > 1:
            n = len(classes)
            blocks[f"loop {args.against}, batch {n}, per image"] = lambda r: loop_ms(before, model, classes, 6, r) / n
            blocks[f"loop now, batch {n}, per image"] = lambda r: loop_ms(now, model, classes, 6, r) / n
        for block in blocks.values():  # trace everything once
            block(0)
        times = {name: [] for name in blocks}
        for r in range(args.repeats):
            for name, block in blocks.items():
                times[name].append(block(r))
        a = np.array(times["bare step (a)"])
        print(f"{args.repeats} repetitions; load average {os.getloadavg()[0]:.2f}; median ms and median ratio to (a)")
        for name, values in times.items():
            ratio = statistics.median(np.array(values) / a)
            print(f"  {name:40s} {statistics.median(values):7.2f} ms   ratio to (a) {ratio:.3f}")
        for name in times:
            if name.endswith(" now") or " now," in name:
                old = name.replace(" now", f" {args.against}")
                ratios = np.array(times[name]) / np.array(times[old])
                print(f"  {name} / {old}: median {statistics.median(ratios):.3f} (min {ratios.min():.3f}, "
                      f"max {ratios.max():.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
