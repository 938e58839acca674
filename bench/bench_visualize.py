"""Benchmark of class visualization with SqueezeNet 1.1 (issue 6): prints one table.

Rows (all measured in the same run, on this machine; medians over ``--repeats`` repetitions whose blocks are
interleaved, and ratios taken within each repetition, then their median -- the machines are shared and noisy):

a.  bare compiled step: forward + gradient with respect to the input, batch 1, ``tf.function`` written here
    independently of ``classviz``; ms/step and GFLOP/s against the step's multiply-adds (counted from the
    model's convolutions: 2 FLOP per multiply-add, backward-data = forward).
a0. practical peak for scale: float32 GEMM 2048^3 with NumPy's OpenBLAS on all cores, the best of 3 child processes
    (each with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, see /work/.library/env/README.md).
a1. the same bare step with oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``), child processes alternated with oneDNN-on
    children: the cost of silencing TensorFlow's oneDNN start-up line that way.
b.  the provided loop, ``classviz_reference.create_class_visualization``, batch 1 (jitter, step, un-jitter, clip,
    blur every 10): ms/iteration after the first (``VisualizationResult.seconds``), ratio to (a); goal <= 1.3.
b1. the same loop with the full 1000-class head (``class_head=False``): what the target-column head saves.
b2. ``python -m classviz_reference visualize --class tarantula --iterations 100`` in a child process: the ms/iteration it
    prints, against (a) measured in this process just before and just after each run (back to back, 50 steps
    each, averaged); goal <= 1.3.
c.  the naive eager loop (GradientTape, no tf.function, NumPy jitter/clip/blur): ratio (b)/(c); goal <= 0.2.
d.  batch of 8 images, one class each, through the loop: ms per image-iteration, relative to (b); goal <= 0.6.
e.  grading: ``python -m autograder grade`` of K copies of the reference-solution fixture
    (``tests/submissions/reference_solution.py``) with --jobs 1 and 2: wall seconds per submission; and the
    ``import tensorflow`` time for scale.

Usage (from the repository root; offline, set CLASSVIZ_WEIGHTS_MIRROR first)::

    .venv/bin/python bench/bench_visualize.py                 # the full table, about 5 minutes
    .venv/bin/python bench/bench_visualize.py --quick         # fewer repetitions, no child processes
    .venv/bin/python bench/bench_visualize.py --markdown      # the table in Markdown (for BENCHMARKS.md)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent

GOALS = {"b": 1.3, "b2": 1.3, "c": 0.2, "d": 0.6}
L2_REG, LEARNING_RATE, MAX_JITTER, BLUR_EVERY = 1e-3, 25.0, 16, 10


def median(xs):
    return statistics.median(xs)


def spread(xs):
    """'min-max' of a list of numbers, for the table."""
    return f"{min(xs):.3g}-{max(xs):.3g}"


# --------------------------------------------------------------------------------------------- work counts
def conv_macs(model, skip=()):
    """Multiply-adds of the forward pass of a Keras model's Conv2D layers, for one image."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name not in skip:
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            total += h * w * c_out * c_in * kh * kw
    return total


# ---------------------------------------------------------------------------------------------- the steps
def make_bare_step(model):
    """Forward + input gradient of the raw score of class y, batch 1, as one tf.function (independent of
    classviz_reference)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 224, 224, 3], tf.float32), tf.TensorSpec([], tf.int32)])
    def bare_step(X, y):
        with tf.GradientTape() as tape:
            tape.watch(X)
            score = model(X)[0, y]
        return tape.gradient(score, X)

    return bare_step


def time_bare(bare_step, X, y, calls=20):
    """ms per call of the bare step over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        out = bare_step(X, y)
    out.numpy()
    return 1e3 * (time.perf_counter() - start) / calls


def time_loop(model, targets, iterations, seed):
    """ms per iteration (after the first) of the provided loop, over ``iterations`` iterations."""
    from classviz_reference import create_class_visualization

    result = create_class_visualization(targets, model, seed=seed, num_iterations=iterations)
    return result.ms_per_iteration


def time_naive_eager(model, target, iterations, seed):
    """ms per iteration (after the first) of the loop written the naive eager way."""
    import numpy as np
    import tensorflow as tf

    from classviz import blur_image, clip_to_valid_range, jitter, random_jitter_offsets, unjitter
    from classviz.visualize import initial_image

    rng = np.random.default_rng(seed)
    X = initial_image(rng)
    stamps = []
    for t in range(iterations):
        dy, dx = random_jitter_offsets(rng, MAX_JITTER)
        Xj = tf.convert_to_tensor(jitter(X, dy, dx))
        with tf.GradientTape() as tape:
            tape.watch(Xj)
            loss = model(Xj)[0, target] - L2_REG * tf.reduce_sum(tf.square(Xj))
        dX = tape.gradient(loss, Xj)
        X = clip_to_valid_range(unjitter(Xj.numpy() + LEARNING_RATE * dX.numpy(), dy, dx))
        if t % BLUR_EVERY == 0:
            X = blur_image(X, sigma=0.5)
        stamps.append(time.perf_counter())
    return 1e3 * (stamps[-1] - stamps[0]) / (len(stamps) - 1)


class FullHead:
    """The model behind a plain callable: the reference step then runs the full 1000-class head."""

    def __init__(self, model):
        self.model = model

    def __call__(self, X):
        return self.model(X)


# --------------------------------------------------------------------------------------- child processes
def child_env(**changes):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_child(kind, env=None, timeout=900):
    out = subprocess.run([sys.executable, __file__, "--child", kind], capture_output=True, text=True, env=env,
                         timeout=timeout, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"child {kind} failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def child_main(kind):
    if kind == "import-tf":
        start = time.perf_counter()
        import tensorflow  # noqa: F401
        print(json.dumps({"seconds": time.perf_counter() - start}))
    elif kind == "gemm":
        import numpy as np

        n = 2048
        a = np.random.default_rng(0).random((n, n), dtype=np.float32)
        b = np.random.default_rng(1).random((n, n), dtype=np.float32)
        a @ b
        rates = []
        for _ in range(7):
            start = time.perf_counter()
            a @ b
            rates.append(2 * n ** 3 / (time.perf_counter() - start) / 1e9)
        info = ""
        try:
            from threadpoolctl import threadpool_info
            info = ", ".join(f"{p.get('internal_api')} {p.get('architecture')} x{p.get('num_threads')}"
                             for p in threadpool_info())
        except ImportError:
            pass
        print(json.dumps({"gflops": median(rates), "blas": info}))
    elif kind == "bare-step":
        import numpy as np
        import tensorflow as tf

        import classviz
        from classviz.visualize import initial_image

        model = classviz.load_squeezenet()
        bare = make_bare_step(model)
        X, y = tf.constant(initial_image(np.random.default_rng(0))), tf.constant(76)
        time_bare(bare, X, y, 5)
        print(json.dumps({"ms": median([time_bare(bare, X, y) for _ in range(9)])}))
    else:
        raise SystemExit(f"unknown child {kind}")


def cli_ms_per_iteration(iterations=100):
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-m", "classviz_reference", "visualize", "--class", "tarantula", "--iterations",
                              str(iterations), "--seed", "0", "--quiet", "--out", f"{tmp}/t.png"],
                             capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=900)
    m = re.search(r"([0-9.]+) ms/iteration", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"classviz_reference visualize failed ({out.returncode}): {out.stderr[-2000:]}")
    return float(m.group(1))


def grading_seconds(copies, jobs):
    """Wall seconds per submission of ``python -m autograder grade`` over ``copies`` reference notebooks."""
    sys.path.insert(0, str(ROOT / "tests" / "autograder"))
    import corpus  # noqa: PLC0415 (the test corpus that writes fixture notebooks)

    snippet = next(s for s in corpus.all_snippets() if s.name == "reference_solution")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(copies):
            corpus.write_notebook(snippet, Path(tmp) / "in", name=f"reference_{i}.ipynb")
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "autograder", "grade", f"{tmp}/in", "--out", f"{tmp}/out",
                              "--jobs", str(jobs), "--quiet"], capture_output=True, text=True, cwd=ROOT,
                             env=child_env(), timeout=3600)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            raise RuntimeError(f"autograder failed ({out.returncode}): {out.stderr[-2000:]}")
        scores = [json.loads(p.read_text()).get("score") for p in Path(tmp, "out", "results").glob("*.json")]
    return seconds / copies, scores


# ------------------------------------------------------------------------------------------------- table
def machine():
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import tensorflow as tf

    return (f"{model}, {os.cpu_count()} logical CPUs; {platform.system()} {platform.release()}; Python "
            f"{platform.python_version()}, TensorFlow {tf.__version__}; TF threads inter/intra "
            f"{tf.config.threading.get_inter_op_parallelism_threads()}/"
            f"{tf.config.threading.get_intra_op_parallelism_threads()} (0 = default: one per core); "
            f"load average at start {os.getloadavg()[0]:.2f}")


def format_table(rows, markdown):
    head = ("row", "what", "measured", "ratio", "goal")
    body = [(r["row"], r["what"], r["measured"], r.get("ratio", ""), r.get("goal", "")) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(str(c[i])) for c in [head] + body) for i in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*["-" * w for w in widths])] + [fmt.format(*c) for c in body])


def goal_text(key, ratio):
    goal = GOALS[key]
    return f"<= {goal} ({'met' if ratio <= goal else 'NOT met'})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11, help="repetitions of the in-process blocks")
    parser.add_argument("--quick", action="store_true", help="3 repetitions, no child processes (rows a-d only)")
    parser.add_argument("--grade-copies", type=int, default=4, help="reference notebooks graded for row e")
    parser.add_argument("--skip-grading", action="store_true", help="row e prints 'not measured'")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child)
    repeats = 3 if args.quick else args.repeats

    import numpy as np
    import tensorflow as tf

    import classviz
    from classviz.visualize import initial_image

    print(f"machine: {machine()}", flush=True)
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    model = classviz.load_squeezenet()
    full = FullHead(model)
    bare = make_bare_step(model)
    X1, y1 = tf.constant(initial_image(np.random.default_rng(0))), tf.constant(76)
    batch = [76, 130, 963, 1, 9, 107, 340, 945]
    macs = conv_macs(model)
    macs_head = conv_macs(model, skip=("conv25",)) + 13 * 13 * 512
    gflop, gflop_head = 4 * macs / 1e9, 4 * macs_head / 1e9

    # warm-up: trace every graph once
    time_bare(bare, X1, y1, 3)
    for m, targets in ((model, [76]), (full, [76]), (model, batch)):
        time_loop(m, targets, 3, seed=0)
    time_naive_eager(model, 76, 2, seed=0)

    runs = {k: [] for k in ("a", "b", "b1", "c", "d")}
    for r in range(repeats):
        runs["a"].append(time_bare(bare, X1, y1))
        runs["b"].append(time_loop(model, [76], 21, seed=r))
        runs["d"].append(time_loop(model, batch, 6, seed=r) / len(batch))
        runs["b1"].append(time_loop(full, [76], 21, seed=r))
        runs["c"].append(time_naive_eager(model, 76, 4, seed=r))
        print(f"  repetition {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in runs.items()),
              file=sys.stderr, flush=True)
    a, b, b1, c, d = (np.array(runs[k]) for k in ("a", "b", "b1", "c", "d"))
    ms_a, ms_b = median(a), median(b)
    rows = [
        dict(row="a", what="bare compiled step: forward + input gradient, batch 1, tf.function",
             measured=f"{ms_a:.1f} ms/step ({spread(a)}); {gflop:.2f} GFLOP -> {gflop / ms_a * 1e3:.0f} GFLOP/s"),
    ]
    if not args.quick:
        gemm = max((run_child("gemm", child_env(OPENBLAS_CORETYPE=None, OPENBLAS_L2_SIZE=None)) for _ in range(3)),
                   key=lambda g: g["gflops"])
        share = gflop / ms_a * 1e3 / gemm["gflops"]
        rows.append(dict(row="a0", what="float32 GEMM 2048^3, NumPy/OpenBLAS, all cores, best of 3 (peak)",
                         measured=f"{gemm['gflops']:.0f} GFLOP/s", ratio=f"(a) at {share:.0%} of it"))
        on, off = [], []
        for _ in range(2):
            on.append(run_child("bare-step", child_env(TF_ENABLE_ONEDNN_OPTS="1"))["ms"])
            off.append(run_child("bare-step", child_env(TF_ENABLE_ONEDNN_OPTS="0"))["ms"])
        rows.append(dict(row="a1", what="(a) with oneDNN off (TF_ENABLE_ONEDNN_OPTS=0), child processes",
                         measured=f"{median(off):.1f} ms/step vs {median(on):.1f} with oneDNN on",
                         ratio=f"{median(off) / median(on):.2f}x slower"))
    rows += [
        dict(row="b", what="provided loop create_class_visualization, batch 1",
             measured=f"{ms_b:.1f} ms/iteration ({spread(b)}); {gflop_head:.2f} GFLOP -> "
                      f"{gflop_head / ms_b * 1e3:.0f} GFLOP/s",
             ratio=f"(b)/(a) = {median(b / a):.3f}", goal=goal_text("b", median(b / a))),
        dict(row="b1", what="(b) with the full 1000-class head (class_head=False)",
             measured=f"{median(b1):.1f} ms/iteration ({spread(b1)})", ratio=f"(b1)/(a) = {median(b1 / a):.3f}"),
    ]
    if not args.quick:
        cli, cli_ratio = [], []
        for _ in range(3):  # (a) for about as long as the CLI's loop, just before and just after it
            before = time_bare(bare, X1, y1, 50)
            cli.append(cli_ms_per_iteration())
            cli_ratio.append(cli[-1] / ((before + time_bare(bare, X1, y1, 50)) / 2))
        rows.append(dict(row="b2", what="python -m classviz_reference visualize --iterations 100 (child), vs (a) back to back",
                         measured=f"{median(cli):.1f} ms/iteration ({spread(cli)})",
                         ratio=f"(b2)/(a) = {median(cli_ratio):.3f}", goal=goal_text("b2", median(cli_ratio))))
    rows += [
        dict(row="c", what="naive eager loop (GradientTape, no tf.function)",
             measured=f"{median(c):.1f} ms/iteration ({spread(c)})",
             ratio=f"(b)/(c) = {median(b / c):.3f}", goal=goal_text("c", median(b / c))),
        dict(row="d", what=f"loop, batch of {len(batch)} images (one class each)",
             measured=f"{median(d):.1f} ms per image-iteration ({spread(d)})",
             ratio=f"(d)/(b) = {median(d / b):.3f}", goal=goal_text("d", median(d / b))),
    ]
    if args.quick or args.skip_grading:
        rows.append(dict(row="e", what="grading (python -m autograder grade)", measured="not measured"))
    elif not (ROOT / "autograder" / "__main__.py").is_file():
        rows.append(dict(row="e", what="grading (python -m autograder grade)", measured="not available"))
    else:
        grade = {}
        for jobs in (1, 2):
            grade[jobs], scores = grading_seconds(args.grade_copies, jobs)
            print(f"  grading --jobs {jobs}: {grade[jobs]:.1f} s/submission, scores {scores}", file=sys.stderr)
        rows.append(dict(row="e", what=f"grading {args.grade_copies} reference-solution notebooks, --jobs 1 / 2",
                         measured=f"{grade[1]:.1f} / {grade[2]:.1f} s per submission (wall)",
                         ratio=f"jobs 2 / jobs 1 = {grade[2] / grade[1]:.2f}"))
    if not args.quick:
        imports = [run_child("import-tf")["seconds"] for _ in range(3)]
        rows.append(dict(row="e0", what="import tensorflow (child process), for scale",
                         measured=f"{median(imports):.2f} s ({spread(imports)})"))
    load = os.getloadavg()[0]
    print(f"load average at end: {load:.2f}; {repeats} repetitions, medians (min-max)"
          + ("; the machine was busy (load > 1.5 on 2 cores): rerun when it is quiet" if load > 1.5 else ""))
    print(format_table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
