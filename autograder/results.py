"""The result of grading one submission: the checks (read from the hidden tests), the record, its Gradescope form.

Rule of this module: one place for what a result holds. The checks -- names, points, titles, criteria and
reasons -- are read from the hidden tests themselves (:mod:`autograder.hidden_tests`: a test per check, its
``points`` marker and its docstring), never written again; a record is a JSON-serializable dict with one entry
per check, whatever happened to the submission.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

GRADER_VERSION = "2.0"
SCHEMA_VERSION = 2
HIDDEN_TESTS = Path(__file__).resolve().parent / "hidden_tests"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
"""Gradescope's choices of when students see a test's result (the first is the default)."""


@dataclass(frozen=True)
class Check:
    """One hidden check, as its test declares it.

    Attributes:
        name: the test's name without ``test_`` (used by the nbgrader test cells, ``-k`` and every output).
        points: its ``@pytest.mark.points(n)`` (all or nothing).
        title: the docstring's first line.
        criterion: the docstring's "Passes when:" paragraph.
        why: the docstring's "Why:" paragraph.
    """
    name: str
    points: int
    title: str
    criterion: str
    why: str


def _paragraph(doc: str, label: str) -> str:
    match = re.search(rf"^\s*{label}:\s*(.*?)(?:\n\s*\n|\Z)", doc, re.MULTILINE | re.DOTALL)
    return " ".join(match.group(1).split()) if match else ""


@functools.cache
def checks() -> dict[str, Check]:
    """The checks in the order the hidden tests run them, by name."""
    from .hidden_tests import test_class_visualization as module

    found = {}
    for attr, fn in vars(module).items():
        if not (attr.startswith("test_") and callable(fn)):
            continue
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "points"]
        if len(marks) != 1:
            raise RuntimeError(f"hidden test {attr} must declare its points once with @pytest.mark.points(n)")
        doc = fn.__doc__ or ""
        name = attr[len("test_"):]
        found[name] = Check(name, int(marks[0].args[0]), doc.strip().splitlines()[0].rstrip("."),
                            _paragraph(doc, "Passes when"), _paragraph(doc, "Why"))
    return found


def max_score() -> int:
    return sum(c.points for c in checks().values())


def check_result(name: str, passed: bool, feedback: str, details: dict | None = None, seconds: float = 0.0,
                 grader_error: str | None = None) -> dict:
    """One check's entry of a record: full points or none."""
    points = checks()[name].points
    entry = {"name": name, "points": points if passed else 0, "max_points": points, "passed": bool(passed),
             "feedback": feedback, "details": jsonable(details or {}), "seconds": round(float(seconds), 3)}
    if grader_error:
        entry["grader_error"] = grader_error
    return entry


def grader_failed(where: str, then: str = "") -> str:
    """The feedback when the grader, not the notebook, failed: ``where`` says where and why ("on this check
    (KeyError)"), ``then`` what happens next (", please tell your instructor")."""
    return f"the grader itself failed {where}; this is not a mistake in your notebook{then}"


def check_line(name: str, points, max_points, text: str) -> str:
    """``name: points/max_points points -- text``, a check's verdict as nbgrader's graded cells show it."""
    return f"{name}: {points}/{max_points} points -- {text}"


def all_failed(feedback: str) -> list[dict]:
    """Every check failed with the same feedback (a submission that could not be graded at all)."""
    return [check_result(name, False, feedback) for name in checks()]


def jsonable(value):
    """``value`` with NumPy numbers and arrays turned into JSON numbers (6 significant digits) and lists."""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return float(f"{value:.6g}") if np.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


def sha256(path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def package_version(name: str) -> str | None:
    """The installed version of a distribution, None when it is not installed (read without importing it)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment(versions: dict | None = None) -> dict:
    """Python, NumPy, TensorFlow and platform of the grader (and the student process's own versions)."""
    env = {"python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform()}
    # read from the installation: the grader may not import TensorFlow (or be importing it in the background now)
    tensorflow = package_version("tensorflow") or package_version("tensorflow-cpu")
    if tensorflow:
        env["tensorflow"] = tensorflow
    if versions:
        env["student_process"] = versions
    return env


def gradescope(record: dict, visibility: str = VISIBILITIES[0]) -> dict:
    """The Gradescope ``results.json`` of one record (``score``, ``execution_time``, ``output``, ``tests``)."""
    titles = {name: check.title for name, check in checks().items()}
    tests = [{"name": f"{c['name']}: {titles.get(c['name'], c['name'])}", "score": c["points"],
              "max_score": c["max_points"], "status": "passed" if c["passed"] else "failed",
              "output": c["feedback"], "visibility": visibility} for c in record["checks"]]
    reason = f": {record['reason']}" if record.get("reason") else ""
    return {"score": record["score"], "execution_time": int(round(record.get("timings", {}).get("total", 0))),
            "output": f"{record['score']}/{record['max_score']} points ({record['status']}{reason})",
            "output_format": "text", "tests": tests}
