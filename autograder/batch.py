"""Batch grading: find the submissions, grade them in parallel, write every result atomically.

Rule of this module: (paths) => exactly one result per submission, written as soon as it is known, by writing a
temporary file and renaming it into place (a killed batch leaves either the old file or the new one, never half
a file). A re-run skips the submissions whose result is already on disk for the same notebook bytes and grader
version *and* carries this output folder's signature (an HMAC-SHA256 with the key in ``OUT/.autograder-key``,
created on first use, readable by the grader's user only): a result file written by anyone else -- e.g. by a
student process that found a way to write there -- is graded again, never trusted. So a re-run completes a
killed batch without duplicates; ``force=True`` regrades everything (grading is deterministic, so the points
come out the same).

Every submission found gets exactly one row, with a unique id derived from its path (:func:`discover`): in an
nbgrader ``submitted/`` tree, a student folder without a notebook gets a row with status ``"missing"``, 0 points
and the reason.

Outputs in ``OUT``:

* ``results/<submission>.json``: everything about one submission (see :meth:`autograder.grader.Grader.grade`);
* ``gradescope/<submission>/results.json``: the Gradescope format (``score``, ``tests[{name, score,
  max_score, output, visibility}]``), and ``results.json`` in ``OUT`` itself when the batch holds one submission;
* ``grades.csv``: one row per submission of the batch;
* ``summary.txt``: the table also printed on stdout.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
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
    """One submission to grade: an id for the outputs, the notebook (None: the student handed none in), and where
    it came from (``path``: the folder or file it stands for, used to make ids unique)."""
    id: str
    notebook: Path | None
    student: str | None = None
    assignment: str | None = None
    note: str = ""
    path: Path | None = None


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


def _other_files(folder: Path) -> str:
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if not names:
        return "the folder is empty"
    checkpoints = [n for n in names if ".ipynb_checkpoints" in n]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if checkpoints and len(checkpoints) == len(names):
        return f"only Jupyter checkpoint copies ({shown}), which are not graded"
    return f"found only {shown}"


def discover(paths) -> tuple[list[Submission], list[str]]:
    """Find the submissions in the given paths.

    A path may be a notebook; a folder of notebooks (one submission each); or a folder of submission folders,
    such as nbgrader's ``submitted/<student>/<assignment>/*.ipynb`` (one submission per student and
    assignment; its notebook is ``class_visualization.ipynb``, else the only notebook, else the one that
    defines the most graded functions). In a folder with no notebook at its top level, *every* sub-folder is a
    submission: one without a notebook (empty, a zip file, only ``.ipynb_checkpoints``) still gets a
    submission, with ``notebook`` None and the reason in ``note``.

    Ids are the file's stem or the student's folder name; ids that would be equal (the same name in two
    folders) are made unique from the paths: ``dir1__a`` and ``dir2__a``, with a hash of the full path added if
    even that is not enough. The same file given twice is one submission.

    Returns:
        ``(submissions, problems)``: submissions with unique ids, in a deterministic order, and a message for
        each path that holds no notebook.
    """
    subs, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            subs.append(Submission(_safe(path.stem), path, path=path))
            continue
        if not path.is_dir():
            problems.append(f"{raw}: no such file or folder")
            continue
        notebooks = _notebooks_under(path)
        groups = {}
        for nb_path in notebooks:
            rel = nb_path.relative_to(path).parts
            key = rel[:-1][:2]
            groups.setdefault(key, []).append(nb_path)
        if not groups.get(()):  # a tree of submission folders: every (student, assignment) folder is one
            for student_dir in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                                      and p.name != "__pycache__"):
                subdirs = [d for d in sorted(student_dir.iterdir()) if d.is_dir() and not d.name.startswith(".")]
                keys = [(student_dir.name,)] if not subdirs else [(student_dir.name, d.name) for d in subdirs]
                if any(k[:1] == (student_dir.name,) for k in groups):
                    continue  # has a notebook somewhere: graded below
                for key in keys:
                    groups.setdefault(key, [])
        if not groups:
            problems.append(f"{raw}: no .ipynb notebook in this folder")
            continue
        assignments = {key[1] for key, nbs in groups.items() if len(key) >= 2 and nbs}
        for key in sorted(groups):
            if not key:
                for nb_path in groups[key]:
                    subs.append(Submission(_safe(nb_path.stem), nb_path, path=nb_path))
                continue
            student = key[0]
            assignment = key[1] if len(key) >= 2 else None
            ident = student if len(assignments) <= 1 or assignment is None else f"{student}__{assignment}"
            folder = path.joinpath(*key)
            if not groups[key]:
                subs.append(Submission(_safe(ident), None, student, assignment,
                                       f"no notebook found in {folder}: {_other_files(folder)}", path=folder))
                continue
            chosen, note = _choose(groups[key])
            subs.append(Submission(_safe(ident), chosen, student, assignment, note, path=folder))
    return _unique(subs), problems


def _unique(subs: list[Submission]) -> list[Submission]:
    """Drop repeated files; make every id unique and a function of the submission's own path only."""
    seen, kept = set(), []
    for sub in subs:
        where = (sub.notebook or sub.path or Path(sub.id)).resolve()
        if where in seen:
            continue
        seen.add(where)
        kept.append(sub)
    base = {id(sub): sub.id for sub in kept}
    for depth in range(1, 6):
        counts = {}
        for sub in kept:
            counts[sub.id] = counts.get(sub.id, 0) + 1
        clashing = [sub for sub in kept if counts[sub.id] > 1]
        if not clashing:
            return kept
        for sub in clashing:
            parents = list((sub.path or sub.notebook).resolve().parent.parts[1:])[-depth:]
            sub.id = _safe("__".join(parents + [base[id(sub)]]))
    counts = {}
    for sub in kept:
        counts[sub.id] = counts.get(sub.id, 0) + 1
    for sub in kept:
        if counts[sub.id] > 1:
            where = str((sub.path or sub.notebook).resolve())
            sub.id = f"{sub.id[:100]}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"
    return kept


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


KEY_FILE = ".autograder-key"
_KEY_LOCK = threading.Lock()


def output_key(out: Path) -> bytes:
    """This output folder's signing key (``OUT/.autograder-key``, 32 random bytes, mode 0600; created once)."""
    path = Path(out) / KEY_FILE
    with _KEY_LOCK:
        try:
            return bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        tmp = path.parent / f".{KEY_FILE}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
        os.replace(tmp, path)  # a damaged key file is replaced: every result is then graded again
        return key


def _signature(key: bytes, record: dict) -> str:
    """HMAC-SHA256 of everything in the record but its timings (so a deterministic regrade signs the same)."""
    body = {k: v for k, v in record.items() if k not in ("signature", "timings")}
    if isinstance(body.get("checks"), list):
        body["checks"] = [{k: v for k, v in c.items() if k != "seconds"} if isinstance(c, dict) else c
                          for c in body["checks"]]
    if isinstance(body.get("process"), dict):
        body["process"] = {k: v for k, v in body["process"].items() if k != "failures"}
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def write_result(out: Path, sub: Submission, record: dict, visibility: str = "visible") -> None:
    """Write one submission's result file (signed with the folder's key) and its Gradescope file, atomically."""
    record = dict(record)
    record["signature"] = _signature(output_key(out), record)
    atomic_write(out / "results" / f"{sub.id}.json", json.dumps(record, indent=1, sort_keys=False) + "\n")
    atomic_write(out / "gradescope" / sub.id / "results.json", json.dumps(gradescope(record, visibility),
                                                                            indent=1) + "\n")


def load_result(out: Path, sub: Submission) -> dict | None:
    """A finished result on disk for this submission's current notebook bytes and grader version, signed with
    this folder's key (so written by this grader), else None."""
    if sub.notebook is None:
        return None  # a missing notebook is recorded again (instantly), never cached
    path = out / "results" / f"{sub.id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    from .grader import _sha256

    if not (isinstance(record, dict) and isinstance(record.get("signature"), str)
            and hmac.compare_digest(record["signature"], _signature(output_key(out), record))):
        return None
    if (record.get("grader_version") == GRADER_VERSION
            and record.get("notebook_sha256") == _sha256(sub.notebook)
            and record.get("status") in ("graded", "unreadable") and isinstance(record.get("checks"), list)
            and [c.get("name") for c in record["checks"]] == list(C.CHECKS)):
        return record
    return None


def missing_record(sub: Submission) -> dict:
    """The result of a submission folder without a notebook: status ``"missing"``, 0 points, the reason."""
    from .grader import SCHEMA_VERSION, _all_failed

    reason = sub.note or "no notebook found"
    checks = _all_failed(f"nothing was graded: {reason}")
    return {"schema": SCHEMA_VERSION, "grader_version": GRADER_VERSION, "submission": sub.id,
            "student": sub.student, "assignment": sub.assignment, "notebook": None, "notebook_sha256": None,
            "status": "missing", "reason": reason, "checks": checks, "score": 0, "max_score": C.MAX_SCORE,
            "timings": {"total": 0.0}}


def csv_text(rows: list[tuple[Submission, dict]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["submission", "student", "assignment", "notebook", "status", "score", "max_score",
                     *C.CHECKS, "seconds", "note"])
    for sub, rec in rows:
        points = {c["name"]: c["points"] for c in rec["checks"]}
        writer.writerow([sub.id, sub.student or "", sub.assignment or "", str(sub.notebook or ""), rec["status"],
                         rec["score"], rec["max_score"], *(points.get(n, 0) for n in C.CHECKS),
                         rec.get("timings", {}).get("total", ""),
                         "; ".join(x for x in (sub.note if sub.notebook else "", rec.get("reason", "")) if x)])
    return buf.getvalue()


def summary_table(rows: list[tuple[Submission, dict]]) -> str:
    """A fixed-width table: one line per submission, points per check, time and status."""
    width = max([len("submission")] + [len(sub.id) for sub, _ in rows])
    head = f"{'submission':<{width}}  score  " + " ".join(f"{_SHORT[n]:>4}" for n in C.CHECKS) + "    time  status"
    lines = [head, "-" * len(head)]
    for sub, rec in rows:
        points = {c["name"]: c["points"] for c in rec["checks"]}
        seconds = rec.get("timings", {}).get("total", 0.0)
        status = rec["status"] + (" (tampering)" if str(rec.get("reason", "")).startswith("tampering") else "")
        lines.append(f"{sub.id:<{width}}  {rec['score']:>2}/{rec['max_score']:<2}  "
                     + " ".join(f"{points.get(n, 0):>4}" for n in C.CHECKS)
                     + f"  {seconds:5.1f}s  {status}")
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
    from .sandbox import clean_stale_sandboxes

    out = Path(out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    for stale in list((out / "results").glob(".*.tmp.*")) + list((out / "gradescope").glob("*/.*.tmp.*")):
        stale.unlink(missing_ok=True)  # left by a killed run
    subs, problems = discover(paths)
    grader = grader or Grader()
    clean_stale_sandboxes(getattr(grader, "tmp_root", None))  # left by a killed grader (its process is gone)
    records = {}
    todo = []
    for sub in subs:
        cached = None if force else load_result(out, sub)
        if cached is not None:
            records[sub.id] = cached
            atomic_write(out / "gradescope" / sub.id / "results.json",
                         json.dumps(gradescope(cached, visibility), indent=1) + "\n")
            if progress:
                progress(sub, cached, True)
        else:
            todo.append(sub)

    def work(sub):
        if sub.notebook is None:
            record = missing_record(sub)
        else:
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


def separate_native_stderr(log_path) -> bool:
    """Keep Python's ``sys.stderr`` (progress, warnings, tracebacks) on the terminal, and send file descriptor 2
    -- where TensorFlow's C++ start-up and log lines go, ignoring ``TF_CPP_MIN_LOG_LEVEL`` -- to ``log_path``.

    Returns whether it did (False: no usable stderr, nothing changed).
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return False
    sys.stderr = io.TextIOWrapper(io.FileIO(saved, "w", closefd=True), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 2)
    os.close(log)
    return True


def main_grade(args) -> int:
    """The ``grade`` command (see ``python -m autograder grade --help``)."""
    from .sandbox import Limits

    separate_native_stderr(Path(args.out) / "native-stderr.log")
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

    from .sandbox import AUDIT_HOOK_ONLY, add_protected_paths, isolation, isolation_summary

    add_protected_paths([args.out, *args.paths, *([args.weights] if args.weights else [])])  # unprivileged-user mode
    mode, _, detail = isolation()
    if mode == AUDIT_HOOK_ONLY:
        print(f"[autograder] warning: student code is NOT isolated by the operating system ({detail}); only the "
              "audit hook restricts it (C-level file access, e.g. tf.io.read_file, is not contained)",
              file=sys.stderr, flush=True)
    rows, problems = grade_batch(args.paths, args.out, jobs=args.jobs, force=args.force, grader=grader,
                                 visibility=args.visibility, progress=progress)
    for problem in problems:
        print(f"[autograder] {problem}", file=sys.stderr)
    missing = [sub for sub, rec in rows if rec.get("status") == "missing"]
    tampered = [sub for sub, rec in rows if str(rec.get("reason", "")).startswith("tampering detected")]
    if not args.quiet:
        print(summary_table(rows))
        print(f"{len(rows)} submission(s) in {time.monotonic() - started:.1f} s; results in {args.out}; "
              f"{isolation_summary()}")
    if missing:
        print(f"[autograder] {len(missing)} submission folder(s) without a notebook (recorded with 0 points): "
              + ", ".join(sub.id for sub in missing), file=sys.stderr)
    if tampered:
        print(f"[autograder] {len(tampered)} submission(s) caught tampering (see their reason): "
              + ", ".join(sub.id for sub in tampered), file=sys.stderr)
    return 2 if problems and not rows else (1 if problems else 0)
