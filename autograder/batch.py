"""Batch grading: find the submissions, grade them in parallel, write every result atomically.

Rule of this module: (paths) => exactly one result per submission, written as soon as it is known, by writing a
temporary file and renaming it into place (a killed batch leaves either the old file or the new one, never half
a file). A re-run skips the submissions whose result is already on disk for the same notebook bytes and grader
version, so it completes a killed batch without duplicates; ``force=True`` regrades everything (grading is
deterministic, so the points come out the same).

Outputs in ``OUT``:

* ``results/<submission>.json``: everything about one submission (see :meth:`autograder.grader.Grader.grade`);
* ``gradescope/<submission>/results.json``: the Gradescope format (``score``, ``tests[{name, score,
  max_score, output, visibility}]``), and ``results.json`` in ``OUT`` itself when the batch holds one submission;
* ``grades.csv``: one row per submission of the batch;
* ``summary.txt``: the table also printed on stdout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from . import checks as C
from .grader import GRADER_VERSION, Grader

ASSIGNMENT_NOTEBOOK = "class_visualization.ipynb"
_SHORT = {"loss_value": "loss", "gradient_sign": "grad", "l2_regularizer": "l2", "raw_score": "raw",
          "update_step": "step", "score_increase": "rise", "tf_function": "tf"}


@dataclass
class Submission:
    """One submission to grade: an id for the outputs, the notebook, and where it came from."""
    id: str
    notebook: Path
    student: str | None = None
    assignment: str | None = None
    note: str = ""


def _safe(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission"
    return name[:120]


def _notebooks_under(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue  # .ipynb_checkpoints and hidden folders
        if path.is_file():
            found.append(path)
    return found


def _choose(notebooks: list[Path]) -> tuple[Path, str]:
    """Pick the notebook of a submission folder: the assignment's name, the only one, or the best by content."""
    if len(notebooks) == 1:
        return notebooks[0], ""
    named = [p for p in notebooks if p.name == ASSIGNMENT_NOTEBOOK]
    if named:
        return named[0], f"graded {ASSIGNMENT_NOTEBOOK} among {len(notebooks)} notebooks"
    from .notebook import NotebookError, read_notebook

    def defined(path):
        try:
            return len(read_notebook(path)[0].definitions)
        except NotebookError:
            return -1

    best = max(notebooks, key=lambda p: (defined(p), -notebooks.index(p)))
    return best, f"graded {best.name}, the notebook defining most graded functions among {len(notebooks)}"


def discover(paths) -> tuple[list[Submission], list[str]]:
    """Find the submissions in the given paths.

    A path may be a notebook; a folder of notebooks (one submission each); or a folder of submission folders,
    such as nbgrader's ``submitted/<student>/<assignment>/*.ipynb`` (one submission per student and
    assignment; its notebook is ``class_visualization.ipynb``, else the only notebook, else the one that
    defines the most graded functions).

    Returns:
        ``(submissions, problems)``: submissions with unique ids, in a deterministic order, and a message for
        each path that holds no notebook.
    """
    subs, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            subs.append(Submission(_safe(path.stem), path))
            continue
        if not path.is_dir():
            problems.append(f"{raw}: no such file or folder")
            continue
        notebooks = _notebooks_under(path)
        if not notebooks:
            problems.append(f"{raw}: no .ipynb notebook in this folder")
            continue
        groups = {}
        for nb_path in notebooks:
            rel = nb_path.relative_to(path).parts
            key = rel[:-1][:2]
            groups.setdefault(key, []).append(nb_path)
        assignments = {key[1] for key in groups if len(key) >= 2}
        for key in sorted(groups):
            if not key:
                for nb_path in groups[key]:
                    subs.append(Submission(_safe(nb_path.stem), nb_path))
                continue
            chosen, note = _choose(groups[key])
            student = key[0]
            assignment = key[1] if len(key) >= 2 else None
            ident = student if len(assignments) <= 1 or assignment is None else f"{student}__{assignment}"
            subs.append(Submission(_safe(ident), chosen, student, assignment, note))
    seen = {}
    for sub in subs:
        base = sub.id
        n = seen.get(base, 0)
        seen[base] = n + 1
        if n:
            sub.id = f"{base}-{n + 1}"
    return subs, problems


# ---- writing --------------------------------------------------------------------------------------------------

def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def gradescope(record: dict, visibility: str = "visible") -> dict:
    """The Gradescope ``results.json`` of one result."""
    tests = [{"name": f"{c['name']}: {C.CHECKS[c['name']].title}", "score": c["points"],
              "max_score": c["max_points"], "output": c["feedback"], "visibility": visibility}
             for c in record["checks"]]
    return {"score": record["score"], "output": f"{record['score']}/{record['max_score']} points "
            f"({record['status']})", "tests": tests,
            "execution_time": int(round(record.get("timings", {}).get("total", 0)))}


def write_result(out: Path, sub: Submission, record: dict, visibility: str = "visible") -> None:
    """Write one submission's result file and its Gradescope file (atomically)."""
    atomic_write(out / "results" / f"{sub.id}.json", json.dumps(record, indent=1, sort_keys=False) + "\n")
    atomic_write(out / "gradescope" / sub.id / "results.json", json.dumps(gradescope(record, visibility),
                                                                            indent=1) + "\n")


def load_result(out: Path, sub: Submission) -> dict | None:
    """A finished result on disk for this submission's current notebook bytes and grader version, else None."""
    path = out / "results" / f"{sub.id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    from .grader import _sha256

    if (isinstance(record, dict) and record.get("grader_version") == GRADER_VERSION
            and record.get("notebook_sha256") == _sha256(sub.notebook)
            and record.get("status") in ("graded", "unreadable") and isinstance(record.get("checks"), list)
            and [c.get("name") for c in record["checks"]] == list(C.CHECKS)):
        return record
    return None


def csv_text(rows: list[tuple[Submission, dict]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["submission", "student", "assignment", "notebook", "status", "score", "max_score",
                     *C.CHECKS, "seconds", "note"])
    for sub, rec in rows:
        points = {c["name"]: c["points"] for c in rec["checks"]}
        writer.writerow([sub.id, sub.student or "", sub.assignment or "", str(sub.notebook), rec["status"],
                         rec["score"], rec["max_score"], *(points.get(n, 0) for n in C.CHECKS),
                         rec.get("timings", {}).get("total", ""), sub.note or rec.get("reason", "")])
    return buf.getvalue()


def summary_table(rows: list[tuple[Submission, dict]]) -> str:
    """A fixed-width table: one line per submission, points per check, time and status."""
    width = max([len("submission")] + [len(sub.id) for sub, _ in rows])
    head = f"{'submission':<{width}}  score  " + " ".join(f"{_SHORT[n]:>4}" for n in C.CHECKS) + "    time  status"
    lines = [head, "-" * len(head)]
    for sub, rec in rows:
        points = {c["name"]: c["points"] for c in rec["checks"]}
        seconds = rec.get("timings", {}).get("total", 0.0)
        lines.append(f"{sub.id:<{width}}  {rec['score']:>2}/{rec['max_score']:<2}  "
                     + " ".join(f"{points.get(n, 0):>4}" for n in C.CHECKS)
                     + f"  {seconds:5.1f}s  {rec['status']}")
    maxes = " ".join(f"{c.points:>4}" for c in C.CHECKS.values())
    lines.append(f"{'(max)':<{width}}  {C.MAX_SCORE:>2}/{C.MAX_SCORE:<2}  {maxes}")
    return "\n".join(lines)


def grade_batch(paths, out, jobs: int = 1, force: bool = False, grader: Grader | None = None,
                visibility: str = "visible", progress=None) -> tuple[list[tuple[Submission, dict]], list[str]]:
    """Grade every submission in ``paths`` into the folder ``out``.

    Args:
        paths: notebooks and folders (see :func:`discover`).
        out: output folder (created).
        jobs: submissions graded at the same time (each in its own process).
        force: regrade submissions that already have a result on disk.
        grader: a :class:`autograder.grader.Grader` (default: a new one).
        visibility: Gradescope visibility of the tests.
        progress: optional ``progress(submission, record, cached)`` called as each submission finishes.

    Returns:
        ``(rows, problems)``: ``(submission, result)`` in discovery order, and the paths that held no notebook.
    """
    out = Path(out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    for stale in list((out / "results").glob(".*.tmp.*")) + list((out / "gradescope").glob("*/.*.tmp.*")):
        stale.unlink(missing_ok=True)  # left by a killed run
    subs, problems = discover(paths)
    grader = grader or Grader()
    records = {}
    todo = []
    for sub in subs:
        cached = None if force else load_result(out, sub)
        if cached is not None:
            records[sub.id] = cached
            if progress:
                progress(sub, cached, True)
        else:
            todo.append(sub)

    def work(sub):
        record = grader.grade(sub.notebook, submission=sub.id, student=sub.student, assignment=sub.assignment)
        if sub.note:
            record["note"] = sub.note
        write_result(out, sub, record, visibility)
        return sub, record

    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        futures = [pool.submit(work, sub) for sub in todo]
        for future in as_completed(futures):
            sub, record = future.result()
            records[sub.id] = record
            if progress:
                progress(sub, record, False)
    rows = [(sub, records[sub.id]) for sub in subs]
    atomic_write(out / "grades.csv", csv_text(rows))
    table = summary_table(rows)
    atomic_write(out / "summary.txt", table + "\n")
    if len(rows) == 1:
        atomic_write(out / "results.json", json.dumps(gradescope(rows[0][1], visibility), indent=1) + "\n")
    return rows, problems


def main_grade(args) -> int:
    """The ``grade`` command (see ``python -m autograder grade --help``)."""
    from .sandbox import Limits

    scale = float(args.timeout_scale)
    base = Limits()
    limits = Limits(startup_seconds=base.startup_seconds * scale, call_seconds=base.call_seconds * scale,
                    loop_seconds=base.loop_seconds * scale, submission_seconds=base.submission_seconds * scale,
                    memory_bytes=int(args.memory_gb * 2 ** 30), cpu_seconds=int(base.cpu_seconds * scale))
    grader = Grader(weights=args.weights, limits=limits)
    started = time.monotonic()

    def progress(sub, record, cached):
        if not args.quiet:
            how = "already graded" if cached else f"{record.get('timings', {}).get('total', 0):.1f} s"
            print(f"[autograder] {sub.id}: {record['score']}/{record['max_score']} ({how})", file=sys.stderr,
                  flush=True)

    rows, problems = grade_batch(args.paths, args.out, jobs=args.jobs, force=args.force, grader=grader,
                                 visibility=args.visibility, progress=progress)
    for problem in problems:
        print(f"[autograder] {problem}", file=sys.stderr)
    if not args.quiet:
        print(summary_table(rows))
        print(f"{len(rows)} submission(s) in {time.monotonic() - started:.1f} s; results in {args.out}")
    return 2 if problems and not rows else (1 if problems else 0)
