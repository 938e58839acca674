"""Batch grading: run the hidden tests on every submission in worker processes, and write every result as it comes.

Rule of this module: (paths) => exactly one result per submission (:mod:`autograder.submissions` finds them),
written as soon as it is known (:mod:`autograder.store`: atomic, signed; a re-run skips the submissions already
graded for the same notebook bytes with a valid signature, so it completes a killed batch without duplicates;
``force=True`` regrades everything, with the same points), then ``grades.csv`` and the summary
(:mod:`autograder.reports`). Outputs in ``OUT``: ``results/<submission>.json`` (the record of
:mod:`autograder.plugin`), ``feedback/<submission>.md``, ``gradescope/<submission>/results.json`` (and
``results.json`` in ``OUT`` itself for a single submission), ``grades.csv``, ``summary.txt``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import io
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from . import results as R
from .isolation import DEFAULT_MEMORY_GB
from .reports import report, summary_table
from .store import (_signature, error_record, load_result, missing_record, output_key, write_json, write_result,
                    write_tables)
from .submissions import Submission, discover


@dataclass(frozen=True)
class Options:
    """How each submission is graded (the hidden tests' options, see :mod:`autograder.plugin`)."""
    weights: str | None = None
    timeout_scale: float = 1.0
    memory_gb: float = float(DEFAULT_MEMORY_GB)
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
    error record when pytest made none (a usage or internal error). The student's process starts before pytest is
    imported, so its TensorFlow import overlaps the grader's own start-up."""
    from .grading import Grading
    from .isolation import close_to_students

    close_to_students(options.protected)
    grading = Grading.from_options(sub.notebook, options.timeout_scale, options.memory_gb, options.weights,
                                   {"submission": sub.id, "student": sub.student, "assignment": sub.assignment})
    grading.start_student()
    from .plugin import run_with  # imports pytest: only once the student's process is starting

    code, record = run_with(grading, options.pytest_args(sub))
    return record or error_record(sub, f"pytest ended with exit status {int(code)} and no result")


def _start_worker(parent: int, probes: dict) -> None:
    """A grading worker process: it dies with the batch's process (SIGKILL when the parent dies, on Linux; its
    student processes then die with it), its stdout (pytest's report of each notebook) is not the batch's, and it
    reuses the batch's isolation probes (:func:`autograder.isolation.adopt`)."""
    from .isolation import adopt

    adopt(probes)
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
    from .isolation import probes

    attempts = {sub.id: 0 for sub in subs}
    pending = list(subs)
    while pending:
        for sub in pending:
            attempts[sub.id] += 1
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(int(jobs), len(pending))), mp_context=context,
                                 initializer=_start_worker, initargs=(os.getpid(), probes())) as pool:
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
                visibility: str = R.VISIBILITIES[0], progress=None, grade=None, shard: tuple[int, int] | None = None,
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
            write_json(out / "gradescope" / sub.id / "results.json", R.gradescope(cached, visibility))
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
        write_json(out / "results.json", R.gradescope(rows[0][1], visibility))
    return rows, problems


def merge_outputs(outs, out, visibility: str = R.VISIBILITIES[0]) -> tuple[list[dict], list[str]]:
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


def main_merge(args) -> int:
    """The ``merge`` command: shard outputs into one output folder."""
    records, problems = merge_outputs(args.outs, args.out, args.visibility)
    print(summary_table(records))
    print(f"{len(records)} submission(s) from {len(args.outs)} folder(s); results in {args.out}")
    return report(records, problems)
