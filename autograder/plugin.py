"""The pytest plugin of the hidden grader: options, fixtures and the result record of one graded notebook.

Registered by ``autograder/conftest.py``; :mod:`autograder.batch` and the tests import it as a module.

Rule of this module: ``python -m pytest autograder --submission NOTEBOOK`` runs the hidden tests of
:mod:`autograder.hidden_tests` on one notebook and turns their outcomes into one record
(:mod:`autograder.results`): a passed test earns its check's points, a test failed with ``pytest.fail`` gives
its message to the student as feedback, and any other exception is a *grader error* -- recorded as such, never
blamed on the student, and the submission keeps its row. Without ``--submission`` the hidden tests are not
collected (the project's own ``python -m pytest`` never runs them).

Fixtures: ``student`` (a :class:`autograder.student.Student`: the submission's functions in their sandboxed
process, :class:`autograder.student.StudentSession`, one per run, started first so that its TensorFlow import
overlaps the grader's own start-up), ``references`` (the seeded inputs and reference values,
:mod:`autograder.references`, read from the verified store or built once; with stored values the grader's own
SqueezeNet, needed only to score images, loads in the background), ``feedback`` (a check's details and its
message when it passes).

Options (besides pytest's own, e.g. ``-k gradient_sign``, ``--junitxml``, ``--pdb``): ``--result-json PATH``
(the record), ``--gradescope-json PATH`` (Gradescope's ``results.json``), ``--visibility``, ``--weights``,
``--timeout-scale``, ``--memory-gb``, and ``--submission-id``/``--student``/``--assignment`` (recorded as given).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from . import results as R
from .isolation.limits import DEFAULT_MEMORY_GB
from .store import write_json

HIDDEN_TESTS = R.HIDDEN_TESTS
_GRADING = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("autograder", "the hidden grader (python -m pytest autograder --submission NOTEBOOK)")
    group.addoption("--submission", metavar="NOTEBOOK",
                    help="the notebook to grade (any name); without it the hidden checks are not collected")
    group.addoption("--result-json", metavar="PATH", help="write the result record (JSON) there")
    group.addoption("--gradescope-json", metavar="PATH", help="write Gradescope's results.json there")
    group.addoption("--visibility", default=R.VISIBILITIES[0], choices=R.VISIBILITIES,
                    help=f"Gradescope visibility of the tests (default {R.VISIBILITIES[0]})")
    group.addoption("--weights", metavar="DIR", help="SqueezeNet weights folder (default: classviz's, verified)")
    group.addoption("--timeout-scale", type=float, default=1.0, help="multiply every time limit (default 1)")
    group.addoption("--memory-gb", type=float, default=float(DEFAULT_MEMORY_GB),
                    help=f"address-space limit of the student process in GB (default {DEFAULT_MEMORY_GB})")
    group.addoption("--submission-id", help="the submission's id in the record (default: the file's stem)")
    group.addoption("--student", help="recorded as given (nbgrader trees)")
    group.addoption("--assignment", help="recorded as given (nbgrader trees)")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points a hidden check earns when it passes (all or nothing)")
    if config.getoption("submission", None):
        grading = config.stash[_GRADING] = Grading(config)
        if not config.option.collectonly:
            grading.start_student()  # first: its TensorFlow import overlaps the grader's own start-up


def pytest_ignore_collect(collection_path, config):
    if not config.getoption("submission", None) and HIDDEN_TESTS in (collection_path, *collection_path.parents):
        return True
    return None


@pytest.fixture(scope="session")
def grading(request) -> "Grading":
    return request.config.stash[_GRADING]


@pytest.fixture(scope="session")
def student(grading):
    """The submission's two functions, run in its sandboxed student process (fails every check when the
    notebook cannot be read or defines neither function)."""
    yield grading.open_student()
    grading.close_student()


@pytest.fixture(scope="session")
def references(grading):
    """The seeded inputs and the reference values (built once per process)."""
    return grading.references()


@pytest.fixture
def feedback(request, grading):
    """What a check records: ``feedback.details`` (a dict) and ``feedback.passed(text)``."""
    note = Feedback()
    grading.notes[request.node.nodeid] = note
    return note


class Feedback:
    """A check's details (JSON-able dict, kept whether it passes or fails) and its message when it passes."""

    def __init__(self):
        self.details, self.message = {}, ""

    def passed(self, text: str) -> None:
        self.message = text


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    grading = item.config.stash.get(_GRADING, None)
    if grading is not None and item.name.startswith("test_") and (
            call.when == "call" or (call.when == "setup" and call.excinfo)):  # a teardown never changes a verdict
        grading.verdict(item, call, report)
    return report


def pytest_sessionfinish(session, exitstatus):
    grading = session.config.stash.get(_GRADING, None)
    if grading is None:
        return
    grading.close_student()
    record = grading.record()
    grading.written = record
    config = session.config
    for option, data in (("result_json", record),
                         ("gradescope_json", R.gradescope(record, config.getoption("visibility")))):
        path = config.getoption(option)
        if path:
            write_json(Path(path), data)


def pytest_terminal_summary(terminalreporter, config):
    grading = config.stash.get(_GRADING, None)
    if grading is None:
        terminalreporter.write_line("autograder: the hidden checks run only with --submission NOTEBOOK")
        return
    record = grading.written
    if record is None:
        return
    terminalreporter.section("autograder")
    for check in record["checks"]:
        verdict = "passed" if check["passed"] else ("GRADER ERROR" if check.get("grader_error") else "failed")
        terminalreporter.write_line(f"{check['name']:<15} {check['points']}/{check['max_points']}  {verdict:<7} "
                                    f"{check['feedback']}")
    reason = f" -- {record['reason']}" if record.get("reason") else ""
    terminalreporter.write_line(f"score: {record['score']}/{record['max_score']} ({record['status']}{reason})")


def record_of(config) -> dict | None:
    """The record of the run of ``config`` once the session has finished (None before, or without --submission)."""
    grading = config.stash.get(_GRADING, None)
    return None if grading is None else grading.written


class Grading:
    """One notebook being graded: its student process, the references, the checks' verdicts, the record."""

    def __init__(self, config):
        from .isolation import Limits

        self.path = Path(config.getoption("submission"))
        scale, base = float(config.getoption("timeout_scale")), Limits()
        self.limits = Limits(startup_seconds=base.startup_seconds * scale, call_seconds=base.call_seconds * scale,
                             loop_seconds=base.loop_seconds * scale,
                             submission_seconds=base.submission_seconds * scale,
                             memory_bytes=int(float(config.getoption("memory_gb")) * 2 ** 30),
                             cpu_seconds=int(base.cpu_seconds * scale))
        self.weights_option = config.getoption("weights")
        self.ids = {"submission": config.getoption("submission_id") or self.path.stem,
                    "student": config.getoption("student"), "assignment": config.getoption("assignment")}
        self.started = time.monotonic()
        self.notes, self.verdicts = {}, {}
        self.extraction, self.session, self.sandbox_dir, self.opened = None, None, None, None
        self.status, self.reason = "graded", None
        self.reference_wait, self.refs = 0.0, None
        self.written = None

    @property
    def weights(self) -> Path:
        if self.weights_option is None:
            from classviz import weights as W

            self.weights_option = W.fetch(("weights",), quiet=True)
        return Path(self.weights_option)

    def start_student(self) -> None:
        """Open the student (:meth:`open_student`) now; an error is raised again by the ``student`` fixture, where
        it becomes a grader error of each check."""
        try:
            self.opened = self._open_student()
        except Exception as exc:  # noqa: BLE001 - re-raised in the fixture
            self.opened = exc

    def open_student(self):
        """The :class:`autograder.student.Student` of this notebook (opened once)."""
        if self.opened is None:
            self.start_student()
        if isinstance(self.opened, Exception):
            raise self.opened
        return self.opened

    def _open_student(self):
        from .notebook import NotebookError, read_notebook
        from .reference_store import protect_store
        from .references import STANDIN_SEED
        from .isolation import SandboxDir, close_to_students
        from .student import StudentSession

        protect_store()
        try:
            self.extraction, _ = read_notebook(self.path)
        except NotebookError as exc:
            self.status, self.reason = "unreadable", str(exc)
            return Unavailable(f"the notebook could not be read: {exc}")
        if not self.extraction.definitions:
            return Unavailable(missing_feedback(self.extraction))
        close_to_students([self.weights])  # where students run as other users (see autograder.isolation)
        self.sandbox_dir = SandboxDir()
        self.session = StudentSession(self.extraction, self.sandbox_dir.__enter__(), self.limits, self.weights,
                                      STANDIN_SEED)
        self.session.start()  # TensorFlow imports in the student process while the grader starts
        return self.session

    def close_student(self) -> None:
        if self.session is not None:
            self.session.close()
        if self.sandbox_dir is not None:
            self.sandbox_dir.__exit__(None, None, None)
            self.sandbox_dir = None

    def references(self):
        from .reference_store import references_for

        began = time.monotonic()
        try:
            self.refs = references_for(self.weights, self.limits.threads)
            return self.refs
        finally:
            self.reference_wait += time.monotonic() - began

    def verdict(self, item, call, report) -> None:
        """Turn a test's outcome into its check's entry (see the module docstring)."""
        name = item.name[len("test_"):]
        note = self.notes.get(item.nodeid) or Feedback()
        seconds = report.duration if call.when == "call" else 0.0
        if call.excinfo is None:
            self.verdicts[name] = R.check_result(name, True, note.message, note.details, seconds)
        elif call.excinfo.errisinstance(pytest.fail.Exception):
            message = str(call.excinfo.value.msg)
            self.verdicts[name] = R.check_result(name, False, message, note.details, seconds)
        elif call.excinfo.errisinstance(pytest.skip.Exception):
            return
        else:
            kind = call.excinfo.typename
            text = R.grader_failed(f"on this check ({kind})", ", and your instructor has the details")
            trace = str(call.excinfo.getrepr(style="short"))[-4000:]
            self.verdicts[name] = R.check_result(name, False, text, dict(note.details, traceback=trace), seconds,
                                                 grader_error=f"{kind}: {call.excinfo.value}"[:500])

    def record(self) -> dict:
        """The result record of this run (only the checks that ran, in their order)."""
        from .references import GRADING_SEED
        from .isolation import choose

        checks = [self.verdicts[name] for name in R.checks() if name in self.verdicts]
        errors = [c["name"] for c in checks if c.get("grader_error")]
        record = {"schema": R.SCHEMA_VERSION, "grader_version": R.GRADER_VERSION, **self.ids,
                  "notebook": str(self.path), "notebook_sha256": R.sha256(self.path), "seed": GRADING_SEED,
                  "limits": self.limits.to_dict(),
                  "status": self.status if self.status != "graded" else ("error" if errors else "graded")}
        if self.extraction is not None:
            record["extraction"] = self.extraction.summary()
        session = self.session
        timings = {"reference_wait": round(self.reference_wait, 3)}
        if session is not None:
            record["process"] = session.summary()
            timings.update(session.timings())
            if session.tampered:
                self.reason = session.tampering_detail()
        if errors:
            self.reason = f"grader error in {', '.join(errors)} (see the details); please report it"
        if self.reason:
            record["reason"] = self.reason
        isolation = choose()
        record.update(isolation=isolation.name, isolation_detail=isolation.detail, checks=checks,
                      score=sum(c["points"] for c in checks), max_score=sum(c["max_points"] for c in checks))
        if len(checks) == len(R.checks()):
            record["max_score"] = R.max_score()
        if self.refs is not None:
            record["reference"] = self.refs.describe()
        timings["total"] = round(time.monotonic() - self.started, 3)
        record["timings"] = timings
        record["environment"] = R.environment(session.versions if session is not None else None)
        return record


class Unavailable:
    """A :class:`autograder.student.Student` for when there are no functions to run: every question fails the
    check with the reason (the notebook cannot be read, or defines neither function)."""

    def __init__(self, reason: str):
        self.reason = reason

    def _fail(self, *args, **kwargs):
        pytest.fail(self.reason, pytrace=False)

    loss = update = plain_steps = compile = run_provided_loop = _fail

    def pitfalls(self, name):
        return []


def missing_feedback(extraction) -> str:
    """Why neither graded function exists in a notebook (syntax errors, definitions in markdown cells, ...)."""
    from .child import LOSS, UPDATE

    parts = [f"neither {LOSS} nor {UPDATE} is defined by a code cell of the notebook that runs"]
    for error in extraction.syntax_errors:
        if error.get("defines"):
            parts.append(f"{extraction.label(error['cell'])} has a syntax error at line {error['line']} "
                         f"({error['message']}), "
                         f"so the definition of {', '.join(error['defines'])} in it never runs")
    parts += [n for n in extraction.notes if "definition of" in n]
    return "; ".join(parts) + "."
