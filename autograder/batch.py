"""Batch grading: find the submissions, run the hidden tests on each in parallel, write every result atomically.

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

* ``results/<submission>.json``: everything about one submission (the record of :mod:`autograder.plugin`);
* ``gradescope/<submission>/results.json``: the Gradescope format (:func:`autograder.results.gradescope`), and
  ``results.json`` in ``OUT`` itself when the batch holds one submission;
* ``grades.csv``: one row per submission of the batch;
* ``summary.txt``: the table also printed on stdout.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import hmac
import io
import json
import multiprocessing
import os
import re
import secrets
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from . import results as R
from .results import GRADER_VERSION

ASSIGNMENT_NOTEBOOK = "class_visualization.ipynb"


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


def find_notebook(folder: Path) -> tuple[Path | None, str]:
    """The notebook to grade in a submission folder, and a note: the only one; else ``class_visualization.ipynb``;
    else the one defining the most graded functions (the note says which); or None and what the folder holds."""
    notebooks = _notebooks_under(folder) if folder.is_dir() else []
    if not notebooks:
        return None, "no .ipynb notebook in your submission (" + (
            _other_files(folder) if folder.is_dir() else "nothing was submitted") + ")"
    return _choose(notebooks)


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
    atomic_write(out / "gradescope" / sub.id / "results.json", json.dumps(R.gradescope(record, visibility),
                                                                            indent=1) + "\n")
    atomic_write(out / "feedback" / f"{sub.id}.md", feedback_text(record))


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
    if not (isinstance(record, dict) and isinstance(record.get("signature"), str)
            and hmac.compare_digest(record["signature"], _signature(output_key(out), record))):
        return None
    if (record.get("grader_version") == GRADER_VERSION
            and record.get("notebook_sha256") == R.sha256(sub.notebook)
            and record.get("status") in ("graded", "unreadable") and isinstance(record.get("checks"), list)
            and [c.get("name") for c in record["checks"]] == list(R.checks())):
        return record
    return None


def missing_record(sub: Submission) -> dict:
    """The result of a submission folder without a notebook: status ``"missing"``, 0 points, the reason."""
    reason = sub.note or "no notebook found"
    return {"schema": R.SCHEMA_VERSION, "grader_version": GRADER_VERSION, "submission": sub.id,
            "student": sub.student, "assignment": sub.assignment, "notebook": None, "notebook_sha256": None,
            "status": "missing", "reason": reason, "checks": R.all_failed(f"nothing was graded: {reason}"),
            "score": 0, "max_score": R.max_score(), "timings": {"total": 0.0}}


def error_record(sub: Submission, reason: str) -> dict:
    """The result of a submission the grader itself could not grade: status ``"error"``, 0 points, the reason
    (the feedback says it is not the student's mistake)."""
    feedback = f"the grader itself failed on this notebook ({reason}); this is not a mistake in your notebook"
    return {"schema": R.SCHEMA_VERSION, "grader_version": GRADER_VERSION, "submission": sub.id,
            "student": sub.student, "assignment": sub.assignment, "notebook": str(sub.notebook),
            "notebook_sha256": R.sha256(sub.notebook), "status": "error", "reason": f"grader error: {reason}",
            "checks": R.all_failed(feedback), "score": 0, "max_score": R.max_score(), "timings": {"total": 0.0}}


def csv_text(records: list[dict]) -> str:
    """``grades.csv``: one row per record, by submission id, with a pointer to its feedback file (no timings: the
    same submissions give the same bytes, graded on one machine or in merged shards)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = list(R.checks())
    writer.writerow(["submission", "student", "assignment", "notebook", "status", "score", "max_score", *names,
                     "feedback", "note"])
    for rec in sorted(records, key=lambda r: r["submission"]):
        points = {c["name"]: c["points"] for c in rec["checks"]}
        writer.writerow([rec["submission"], rec.get("student") or "", rec.get("assignment") or "",
                         rec.get("notebook") or "", rec["status"], rec["score"], rec["max_score"],
                         *(points.get(n, 0) for n in names), f"feedback/{rec['submission']}.md",
                         "; ".join(x for x in (rec.get("note", ""), rec.get("reason", "")) if x)])
    return buf.getvalue()


def summary_table(records: list[dict], seconds: bool = False) -> str:
    """A fixed-width table: one line per submission (by id), points per check (headed by its first word), status,
    and with ``seconds`` the grading time of each."""
    checks = R.checks()
    heads = {n: n.split("_")[0] for n in checks}
    width = max([len("submission")] + [len(rec["submission"]) for rec in records])
    head = f"{'submission':<{width}}  score  " + " ".join(heads.values()) + ("    time" if seconds else "") + "  status"
    lines = [head, "-" * len(head)]

    def cells(values):
        return " ".join(f"{v:>{len(heads[n])}}" for n, v in zip(checks, values))

    for rec in sorted(records, key=lambda r: r["submission"]):
        points = {c["name"]: c["points"] for c in rec["checks"]}
        time_cell = f"  {rec.get('timings', {}).get('total', 0.0):5.1f}s" if seconds else ""
        status = rec["status"] + (" (tampering)" if str(rec.get("reason", "")).startswith("tampering") else "")
        lines.append(f"{rec['submission']:<{width}}  {rec['score']:>2}/{rec['max_score']:<2}  "
                     + cells(points.get(n, 0) for n in checks) + f"{time_cell}  {status}")
    lines.append(f"{'(max)':<{width}}  {R.max_score():>2}/{R.max_score():<2}  "
                 + cells(c.points for c in checks.values()))
    return "\n".join(lines)


def feedback_text(record: dict) -> str:
    """The Markdown feedback file of one submission: its score, then each check with its points and feedback."""
    titles = {name: check.title for name, check in R.checks().items()}
    lines = [f"# Class visualization: feedback for {record['submission']}", "",
             f"**Score: {record['score']} / {record['max_score']}** ({record['status']})"]
    texts = {check["feedback"] for check in record["checks"]}
    if record["status"] != "graded" and len(texts) == 1:  # unreadable, missing, grader error: say why once
        lines += ["", texts.pop() or record.get("reason") or "(no message)", "",
                  "Every check: 0 points (" + ", ".join(f"{c['name']} 0 / {c['max_points']}" for c in record["checks"])
                  + ")."]
        return "\n".join(lines) + "\n"
    if record.get("reason"):
        lines.append(f"\n{record['reason']}")
    for check in record["checks"]:
        mark = "passed" if check["passed"] else "not passed"
        lines += ["", f"## {check['name']}: {check['points']} / {check['max_points']} ({mark})", "",
                  f"*{titles.get(check['name'], check['name'])}.*", "", check["feedback"] or "(no message)"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Options:
    """How each submission is graded (the hidden tests' options, see :mod:`autograder.plugin`)."""
    weights: str | None = None
    timeout_scale: float = 1.0
    memory_gb: float = 8.0
    protected: tuple = ()
    """Paths closed to the student in the unprivileged-user mode (:func:`autograder.isolation.close_to_students`)."""
    extra: tuple = field(default_factory=tuple)

    def pytest_args(self, sub: Submission) -> list[str]:
        args = [str(R.HIDDEN_TESTS), "--submission", str(sub.notebook), "--submission-id", sub.id, "--timeout-scale", str(self.timeout_scale), "--memory-gb",
                str(self.memory_gb), "-p", "no:cacheprovider", "-q", "--strict-markers",
                # its gc.collect() at the end of each session takes ~0.5 s once TensorFlow is loaded
                "-p", "no:unraisableexception", *self.extra]
        for option, value in (("--weights", self.weights), ("--student", sub.student),
                              ("--assignment", sub.assignment)):
            if value:
                args += [option, str(value)]
        return args


def run_hidden_tests(sub: Submission, options: Options) -> dict:
    """Grade one notebook by running the hidden tests in this process (``pytest.main``); its record, or an
    error record when pytest made none (a usage or internal error)."""
    import pytest

    from .isolation import close_to_students

    close_to_students(options.protected)

    class Keep:
        """Takes the record from the grader's plugin when the session ends (after it, hence ``trylast``)."""
        record = None

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(self, session):
            from .plugin import record_of

            Keep.record = record_of(session.config)

    code = pytest.main(options.pytest_args(sub), plugins=[Keep()])
    return Keep.record or error_record(sub, f"pytest ended with exit status {int(code)} and no result")


def _start_worker(parent: int) -> None:
    """A grading worker process: it dies with the batch's process (SIGKILL when the parent dies, on Linux; its
    student processes then die with it), and its stdout (pytest's report of each notebook) is not the batch's."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a killed batch leaves its workers to finish their notebook
        pass
    if os.getppid() != parent:  # the batch died before the line above
        os._exit(1)
    os.environ["CVGRADE_SANDBOX_OWNER"] = str(parent)  # a sandbox lives as long as the batch
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def grade_in_workers(subs: list[Submission], options: Options, jobs: int):
    """Yield ``(submission, record)`` as each is graded by ``jobs`` worker processes (each runs the hidden tests
    one notebook after the other and keeps its reference values). A worker that dies takes only the submissions
    it was grading: they are tried once more in a fresh pool, then recorded as grader errors."""
    attempts = {sub.id: 0 for sub in subs}
    pending = list(subs)
    while pending:
        for sub in pending:
            attempts[sub.id] += 1
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(int(jobs), len(pending))), mp_context=context,
                                 initializer=_start_worker, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(run_hidden_tests, sub, options): sub for sub in pending}
            pending = []
            for future in as_completed(futures):
                sub = futures[future]
                try:
                    yield sub, future.result()
                except BrokenProcessPool:
                    if attempts[sub.id] < 2:
                        pending.append(sub)
                    else:
                        yield sub, error_record(sub, "the grader's process ended while grading it, twice")
                except Exception as exc:  # noqa: BLE001 - a grader bug must not lose the row
                    yield sub, error_record(sub, f"{type(exc).__name__}: {exc}")


def shard_of(submission_id: str, shards: int) -> int:
    """The shard (1 to ``shards``) of a submission: a function of its id alone, the same on every machine."""
    return int(hashlib.sha256(submission_id.encode("utf-8")).hexdigest(), 16) % shards + 1


def grade_batch(paths, out, jobs: int = 1, force: bool = False, options: Options | None = None,
                visibility: str = "visible", progress=None, grade=None, shard: tuple[int, int] | None = None,
                students: str | None = None, assignment: str | None = None):
    """Grade every submission in ``paths`` into the folder ``out``.

    Args:
        paths: notebooks and folders (see :func:`discover`).
        out: output folder (created).
        jobs: submissions graded at the same time (worker processes, each with its own student processes).
        force: regrade submissions that already have a result on disk.
        options: :class:`Options` of the hidden tests.
        visibility: Gradescope visibility of the tests.
        progress: optional ``progress(submission, record, cached)`` called as each submission finishes.
        grade: ``grade(submissions) -> iterable of (submission, record)`` in any order (default:
            :func:`grade_in_workers`; the tests pass a fake).
        shard: ``(i, n)``: grade only the submissions of shard i of n (:func:`shard_of`).
        students: grade only the submissions of students whose folder name matches this glob (nbgrader trees).
        assignment: grade only this assignment's submissions (nbgrader trees; ids stay those of the whole tree).

    Returns:
        ``(rows, problems)``: ``(submission, result)`` in discovery order, and the paths that held no notebook.
    """
    from .isolation import clean_stale_sandboxes

    out = Path(out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    for stale in list((out / "results").glob(".*.tmp.*")) + list((out / "gradescope").glob("*/.*.tmp.*")):
        stale.unlink(missing_ok=True)  # left by a killed run
    subs, problems = discover(paths)
    if shard is not None:
        subs = [sub for sub in subs if shard_of(sub.id, shard[1]) == shard[0]]
    if students is not None:
        subs = [sub for sub in subs if fnmatch.fnmatchcase(sub.student or "", students)]
    if assignment is not None:
        subs = [sub for sub in subs if sub.assignment in (assignment, None)]
    clean_stale_sandboxes()  # left by a killed grader (its process is gone)
    records, todo = {}, []
    for sub in subs:
        cached = None if force else load_result(out, sub)
        if cached is not None:
            records[sub.id] = cached
            atomic_write(out / "gradescope" / sub.id / "results.json",
                         json.dumps(R.gradescope(cached, visibility), indent=1) + "\n")
            if progress:
                progress(sub, cached, True)
        elif sub.notebook is None:
            records[sub.id] = missing_record(sub)
            write_result(out, sub, records[sub.id], visibility)
            if progress:
                progress(sub, records[sub.id], False)
        else:
            todo.append(sub)
    options = options or Options()
    grade = grade or (lambda pending: grade_in_workers(pending, options, jobs))
    for sub, record in grade(todo):
        record.update(submission=sub.id, student=sub.student, assignment=sub.assignment, notebook=str(sub.notebook))
        if sub.note:
            record["note"] = sub.note
        write_result(out, sub, record, visibility)
        records[sub.id] = record
        if progress:
            progress(sub, record, False)
    rows = [(sub, records[sub.id]) for sub in subs]
    write_tables(out, [rec for _, rec in rows])
    if len(rows) == 1:
        atomic_write(out / "results.json", json.dumps(R.gradescope(rows[0][1], visibility), indent=1) + "\n")
    return rows, problems


def write_tables(out: Path, records: list[dict]) -> None:
    """``grades.csv`` and ``summary.txt`` of these records (by submission id)."""
    atomic_write(Path(out) / "grades.csv", csv_text(records))
    atomic_write(Path(out) / "summary.txt", summary_table(records) + "\n")


def merge_outputs(outs, out, visibility: str = "visible") -> tuple[list[dict], list[str]]:
    """Combine the output folders of several shards (or machines) into ``out``: every result whose signature is
    valid for its own folder is signed again for ``out`` with its Gradescope and feedback files, then one
    ``grades.csv`` and ``summary.txt`` -- the same bytes as one run over the same submissions.

    Returns:
        ``(records, problems)``: the merged records and, for each result left out, why (bad signature, the same
        submission with two different results).
    """
    out = Path(out)
    merged, problems = {}, []
    for folder in map(Path, outs):
        if not (folder / "results").is_dir():
            problems.append(f"{folder}: no results/ folder (not an output of python -m autograder grade)")
            continue
        key = output_key(folder)
        for path in sorted((folder / "results").glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                signed = hmac.compare_digest(str(record.get("signature")), _signature(key, record))
            except (OSError, ValueError, AttributeError):
                signed = False
            if not signed:
                problems.append(f"{path}: not signed by its folder's grader; left out")
                continue
            known = merged.get(record["submission"])
            if known is not None and _signature(key, known) != _signature(key, record):
                problems.append(f"{path}: {record['submission']} has another result in an earlier folder; left out")
                continue
            merged[record["submission"]] = record
    for record in merged.values():
        write_result(out, Submission(record["submission"], None), record, visibility)
    write_tables(out, list(merged.values()))
    return sorted(merged.values(), key=lambda r: r["submission"]), problems


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
    shard = None
    if args.shard:
        try:
            i, n = (int(x) for x in args.shard.split("/"))
            if not 1 <= i <= n:
                raise ValueError
        except ValueError:
            print(f"--shard must be I/N with 1 <= I <= N (for example 2/3), not {args.shard!r}", file=sys.stderr)
            return 2
        shard = (i, n)
    separate_native_stderr(Path(args.out) / "native-stderr.log")
    protected = (args.out, *args.paths, *([args.weights] if args.weights else []))
    options = Options(weights=args.weights, timeout_scale=float(args.timeout_scale), memory_gb=float(args.memory_gb),
                      protected=protected)
    started = time.monotonic()

    def progress(sub, record, cached):
        if not args.quiet:
            how = "already graded" if cached else f"{record.get('timings', {}).get('total', 0):.1f} s"
            print(f"[autograder] {sub.id}: {record['score']}/{record['max_score']} ({how})", file=sys.stderr,
                  flush=True)

    from .isolation import AUDIT_HOOK_ONLY, close_to_students, summary

    isolation = close_to_students(protected)  # closed to the student in the unprivileged-user mode
    if isolation.name == AUDIT_HOOK_ONLY:
        print(f"[autograder] warning: student code is NOT isolated by the operating system ({isolation.detail}); "
              "only the audit hook restricts it (C-level file access, e.g. tf.io.read_file, is not contained)",
              file=sys.stderr, flush=True)
    rows, problems = grade_batch(args.paths, args.out, jobs=args.jobs, force=args.force, options=options,
                                 visibility=args.visibility, progress=progress, shard=shard,
                                 students=args.students, assignment=args.assignment)
    records = [rec for _, rec in rows]
    if not args.quiet:
        print(summary_table(records, seconds=True))
        where = f" (shard {shard[0]}/{shard[1]})" if shard else ""
        print(f"{len(rows)} submission(s){where} in {time.monotonic() - started:.1f} s; results in {args.out}; "
              f"{summary()}")
    return report(records, problems)


def report(records: list[dict], problems: list[str]) -> int:
    """Print the problems and the submissions that need a look (missing, unreadable, tampering, grader errors)
    on stderr; the exit status: 2 when nothing was graded because of problems, 1 with problems, else 0."""
    for problem in problems:
        print(f"[autograder] {problem}", file=sys.stderr)
    for what, chosen in (
            ("submission folder(s) without a notebook (recorded with 0 points)",
             [r for r in records if r.get("status") == "missing"]),
            ("unreadable notebook(s) (recorded with 0 points; see their reason, ask the student for the file again)",
             [r for r in records if r.get("status") == "unreadable"]),
            ("submission(s) caught tampering (see their reason)",
             [r for r in records if str(r.get("reason", "")).startswith("tampering detected")]),
            ("submission(s) hit a grader error (recorded, not the students' fault; see their reason and regrade "
             "after a fix)", [r for r in records if r.get("status") == "error"])):
        if chosen:
            print(f"[autograder] {len(chosen)} {what}: " + ", ".join(r["submission"] for r in chosen),
                  file=sys.stderr)
    return 2 if problems and not records else (1 if problems else 0)


def main_merge(args) -> int:
    """The ``merge`` command: shard outputs into one output folder."""
    records, problems = merge_outputs(args.outs, args.out, args.visibility)
    print(summary_table(records))
    print(f"{len(records)} submission(s) from {len(args.outs)} folder(s); results in {args.out}")
    return report(records, problems)
