"""The bridge between nbgrader's hidden test cells and the standalone grader.

Rule of this module: a hidden test cell of the assignment contains exactly::

    from autograder.nbgrader_bridge import run_check
    run_check("loss_value")

and ``run_check`` passes (prints the feedback) or fails (prints it and raises ``AssertionError``) exactly when the
standalone grader gives that check its full points, so the points nbgrader gives a cell are the standalone
grader's for that check (:func:`expected_nbgrader_points`). Only ``nbgrader validate`` runs these cells (the
instructor's source notebook); ``nbgrader autograde`` never runs a notebook (:mod:`autograder.nbgrader_autograde`).

The notebook is graded once per kernel, in a subprocess (:func:`grade_isolated`): the student's code never runs
in this kernel. Nothing is written to stderr: nbgrader scores a test cell 0 when anything reaches stderr, so the
subprocess's stderr (TensorFlow's log lines) is captured and only reported, shortened, when grading fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .results import HIDDEN_TESTS, check_line, checks

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_ENV = "AUTOGRADER_NOTEBOOK"
GRADING_TIMEOUT = 1100.0
"""Seconds allowed for grading one notebook (under nbgrader's per-cell timeout of 1200 s)."""

_CACHE: dict = {}


class GradingFailed(RuntimeError):
    """The standalone grader produced no result for the notebook (the message says why)."""


def find_notebook(folder=None) -> Path:
    """The notebook being validated: ``$AUTOGRADER_NOTEBOOK``, else the one the standalone grader would pick in
    ``folder`` (default: the current folder; :func:`autograder.submissions.find_notebook`).

    Raises:
        FileNotFoundError: no such notebook.
    """
    from .submissions import find_notebook as choose

    override = os.environ.get(NOTEBOOK_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"{NOTEBOOK_ENV}={override} is not a file")
        return path.resolve()
    path, note = choose(Path(folder or os.getcwd()))
    if path is None:
        raise FileNotFoundError(note)
    return path.resolve()


def grade_isolated(notebook, timeout: float = GRADING_TIMEOUT, extra_args=()) -> dict:
    """Grade one notebook with the hidden tests in a subprocess; return its result record.

    The subprocess (``python -E -s -m pytest autograder/hidden_tests --submission NOTEBOOK``) starts from the
    repository root, so it uses the repository's grader and reference, and runs the student's code in the
    grader's own sandboxed processes.

    Args:
        notebook: the ``.ipynb`` file.
        timeout: seconds before the grading subprocess is killed.
        extra_args: more options of the hidden tests (e.g. ``["--timeout-scale", "0.5"]``).

    Raises:
        GradingFailed: the subprocess failed, timed out or wrote no result.
    """
    notebook = Path(notebook).resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with tempfile.TemporaryDirectory(prefix="cvgrade-bridge-") as out:
        result = Path(out) / "result.json"
        cmd = [sys.executable, "-E", "-s", "-m", "pytest", str(HIDDEN_TESTS), "--submission", str(notebook),
               "--result-json", str(result), "-q", "-p", "no:cacheprovider", *extra_args]
        try:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise GradingFailed(f"grading took longer than {timeout:.0f} s") from None
        if not result.is_file():  # pytest's exit status is 1 whenever a check fails: only a missing record counts
            tail = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()[-5:]
            raise GradingFailed(f"the hidden tests ended with status {proc.returncode} and no result: "
                                + " | ".join(tail)[-800:])
        return json.loads(result.read_text(encoding="utf-8"))


def grade_cached(notebook) -> dict:
    """:func:`grade_isolated`, once per notebook path and content in this process."""
    notebook = Path(notebook).resolve()
    key = (str(notebook), hashlib.sha256(notebook.read_bytes()).hexdigest())
    if key not in _CACHE:
        _CACHE[key] = grade_isolated(notebook)
    return _CACHE[key]


def check_feedback(record: dict, name: str) -> tuple[int, int, str]:
    """``(points, max_points, text)`` of check ``name`` in a result dict."""
    for check in record.get("checks", []):
        if check.get("name") == name:
            text = check_line(name, check["points"], check["max_points"], check["feedback"])
            return int(check["points"]), int(check["max_points"]), text
    points = checks()[name].points
    return 0, points, check_line(name, 0, points, "the grader has no result for it")


def expected_nbgrader_points(record: dict) -> dict:
    """The points nbgrader's hidden test cells give for a standalone result, ``{check name: points}``: a cell
    passes when its check earns its full points."""
    return {name: check.points if check_feedback(record, name)[:2] == (check.points, check.points) else 0
            for name, check in checks().items()}


def run_check(name: str) -> None:
    """The body of a hidden test cell: grade the notebook (once per kernel), print this check's feedback, and
    raise ``AssertionError`` with it unless the check earned its full points.

    Args:
        name: a check's name (:func:`autograder.results.checks`).

    Raises:
        ValueError: an unknown check name.
        AssertionError: the check did not earn its points (or the notebook could not be graded).
    """
    if name not in checks():
        raise ValueError(f"unknown check {name!r}; the checks are {list(checks())}")
    try:
        record = grade_cached(find_notebook())
    except (GradingFailed, FileNotFoundError, OSError, ValueError) as exc:
        text = check_line(name, 0, checks()[name].points, f"the notebook could not be graded: {exc}")
        print(text)
        raise AssertionError(text) from None
    points, max_points, text = check_feedback(record, name)
    print(text)
    if points != max_points:
        raise AssertionError(text)
