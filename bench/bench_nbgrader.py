"""nbgrader autograde against the standalone grader, per submission, on the same notebooks in one run.

Builds a temporary nbgrader course (``tools/build_assignment.py``) whose ``submitted/`` holds the first
``--count`` answers of the grader's corpus (``tests/submissions``), then times, ``--runs`` times each, alternating:

* ``standalone``: ``python -m autograder grade submitted/ --out DIR --jobs 1`` (a fresh output folder each run);
* ``nbgrader``: ``nbgrader autograde`` in a fresh copy of the course (nothing graded yet), with the hidden grader's
  batch at one job (``AUTOGRADER_NBGRADER_JOBS=1``), so both grade one notebook at a time;
* ``nbgrader, reused``: ``nbgrader autograde`` again after ``python -m autograder grade submitted/ --out grading/``
  graded the course first (the large-course path: only nbgrader's own work is left).

Usage (from the repository root; offline, set CLASSVIZ_WEIGHTS_MIRROR first)::

    .venv/bin/python bench/bench_nbgrader.py [--count 8] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests" / "autograder")]  # bench scripts run from a checkout

import build_assignment  # noqa: E402
import corpus  # noqa: E402

NAME = "class_visualization"


def make_course(folder: Path, count: int) -> Path:
    root = folder / "course"
    build_assignment.build(NAME, root)
    for snippet in corpus.all_snippets()[:count]:
        corpus.write_notebook(snippet, root / "submitted" / snippet.name / NAME, f"{NAME}.ipynb")
    return root


def timed(cmd, env=None) -> float:
    started = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=8, help="submissions in the course (default 8)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each way (default 2)")
    args = parser.parse_args()
    nbgrader = [sys.executable, "-m", "nbgrader"]
    grade = [sys.executable, "-m", "autograder", "grade"]
    times = {"standalone --jobs 1": [], "nbgrader autograde": [], "nbgrader autograde, reused": []}
    with tempfile.TemporaryDirectory(prefix="bench-nbgrader-") as tmp:
        course = make_course(Path(tmp), args.count)
        for run in range(args.runs):
            out = Path(tmp) / f"standalone-{run}"
            times["standalone --jobs 1"].append(timed([*grade, str(course / "submitted"), "--out", str(out),
                                                       "--jobs", "1", "--quiet"]))
            fresh = Path(tmp) / f"course-{run}"
            shutil.copytree(course, fresh)
            times["nbgrader autograde"].append(timed([*nbgrader, "autograde", NAME, f"--CourseDirectory.root={fresh}"],
                                                     {"AUTOGRADER_NBGRADER_JOBS": "1"}))
            shutil.rmtree(fresh / "autograded")
            times["nbgrader autograde, reused"].append(
                timed([*nbgrader, "autograde", NAME, f"--CourseDirectory.root={fresh}", "--force"]))
            shutil.rmtree(fresh)
    base = statistics.median(times["standalone --jobs 1"]) / args.count
    print(f"{args.count} submissions, {args.runs} runs each, load average {os.getloadavg()[0]:.1f}")
    print(f"| way | s per submission (median) | ratio to standalone |\n|---|---|---|")
    for way, values in times.items():
        per = statistics.median(values) / args.count
        print(f"| {way} | {per:.2f} | {per / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
