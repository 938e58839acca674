"""The pytest plugin of the hidden grader: options, fixtures and the result record of one graded notebook.

Registered by ``autograder/conftest.py``; :mod:`autograder.batch` and the tests import it as a module. The state
of the notebook being graded is a :class:`autograder.grading.Grading`, built from the options here or given by
:func:`run_with` (a grader that started the student's process before importing pytest).

Rule of this module: ``python -m pytest autograder --submission NOTEBOOK`` runs the hidden tests of
:mod:`autograder.hidden_tests` on one notebook and turns their outcomes into one record
(:mod:`autograder.results`): a passed test earns its check's points, a test failed with ``pytest.fail`` gives
its message to the student as feedback, and any other exception is a *grader error* -- recorded as such, never
blamed on the student, and the submission keeps its row. Without ``--submission`` the hidden tests are not
collected (the project's own ``python -m pytest`` never runs them).

Fixtures: ``student`` (a :class:`autograder.student.Student`: the submission's functions in their sandboxed
process, :class:`autograder.student.StudentSession`, one per run, started first so that its TensorFlow import
overlaps the grader's own start-up), ``references`` (the seeded inputs and reference values,
:mod:`autograder.references`, read from the verified store or built once; with stored values the grader's process
imports no TensorFlow), ``feedback`` (a check's details and its
message when it passes).

Options (besides pytest's own, e.g. ``-k gradient_sign``, ``--junitxml``, ``--pdb``): ``--result-json PATH``
(the record), ``--gradescope-json PATH`` (Gradescope's ``results.json``), ``--visibility``, ``--weights``,
``--timeout-scale``, ``--memory-gb``, and ``--submission-id``/``--student``/``--assignment`` (recorded as given).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import results as R
from .grading import Feedback, Grading
from .isolation import DEFAULT_MEMORY_GB
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
    if config.getoption("submission", None) and _GRADING not in config.stash:  # else: given by run_with
        grading = config.stash[_GRADING] = Grading.from_options(
            config.getoption("submission"), config.getoption("timeout_scale"), config.getoption("memory_gb"),
            config.getoption("weights"), {"submission": config.getoption("submission_id"),
                                          "student": config.getoption("student"),
                                          "assignment": config.getoption("assignment")})
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


def run_with(grading: Grading, args: list[str]) -> tuple[int, dict | None]:
    """Run the hidden tests (``pytest.main(args)``, ``args`` naming the same notebook) on a :class:`Grading`
    built, and its student process started, before pytest was imported: pytest's exit status and the record
    (None when pytest made none: a usage or internal error)."""

    class Given:
        """Hands ``grading`` to this pytest run before the grader's own ``pytest_configure`` would build one."""

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(self, config):
            config.stash[_GRADING] = grading

    try:
        code = pytest.main(args, plugins=[Given()])
    finally:  # pytest may stop before its session ends (a usage error): the student process never outlives it
        grading.close_student()
    return int(code), grading.written
