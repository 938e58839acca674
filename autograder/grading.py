"""One notebook being graded: its student process, the references, the checks' verdicts and the result record.

Rule of this module: it imports neither pytest nor TensorFlow when loaded, so a grader can build a
:class:`Grading` and start the student's process (:meth:`Grading.start_student`) before it imports pytest: the
student's TensorFlow import then overlaps the grader's own start-up (:func:`autograder.batch.run_hidden_tests`).
The pytest plugin (:mod:`autograder.plugin`) builds one from its options when nobody did.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import results as R
from .isolation import DEFAULT_MEMORY_GB


class Feedback:
    """A check's details (JSON-able dict, kept whether it passes or fails) and its message when it passes."""

    def __init__(self):
        self.details, self.message = {}, ""

    def passed(self, text: str) -> None:
        self.message = text


class Grading:
    """One notebook being graded: its student process, the references, the checks' verdicts, the record."""

    def __init__(self, path, limits, weights=None, ids=None):
        """Args: the notebook ``path``, the submission's :class:`~autograder.isolation.Limits`, the weights folder
        (default: classviz's, fetched and verified when first needed) and the ids recorded as given
        (``submission``, default the file's stem; ``student``; ``assignment``)."""
        self.path = Path(path)
        self.limits = limits
        self.weights_option = weights
        self.ids = {"submission": self.path.stem, "student": None, "assignment": None, **(ids or {})}
        self.started = time.monotonic()
        self.notes, self.verdicts = {}, {}
        self.extraction, self.session, self.sandbox_dir, self.opened = None, None, None, None
        self.status, self.reason = "graded", None
        self.reference_wait, self.refs = 0.0, None
        self.written = None

    @classmethod
    def from_options(cls, path, timeout_scale=1.0, memory_gb=DEFAULT_MEMORY_GB, weights=None, ids=None):
        """A grading with every time limit multiplied by ``timeout_scale`` and the student process's address space
        limited to ``memory_gb`` GiB (the hidden tests' ``--timeout-scale`` and ``--memory-gb``)."""
        from .isolation import Limits

        scale, base = float(timeout_scale), Limits()
        limits = Limits(startup_seconds=base.startup_seconds * scale, call_seconds=base.call_seconds * scale,
                        loop_seconds=base.loop_seconds * scale, submission_seconds=base.submission_seconds * scale,
                        memory_bytes=int(float(memory_gb) * 2 ** 30), cpu_seconds=int(base.cpu_seconds * scale))
        return cls(path, limits, weights, {k: v for k, v in (ids or {}).items() if v})

    @property
    def weights(self) -> Path:
        """The SqueezeNet weights folder: the one given, else classviz's default (fetched and each file verified by
        SHA-256 on first use; raises ``classviz.weights.WeightsError`` if that fails)."""
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
        """End the student process (if one started) and remove its sandbox folder; safe to call twice."""
        if self.session is not None:
            self.session.close()
        if self.sandbox_dir is not None:
            self.sandbox_dir.__exit__(None, None, None)
            self.sandbox_dir = None

    def references(self):
        """The reference values (:func:`autograder.reference_store.references_for`), their scorer warmed up."""
        from .reference_store import references_for

        began = time.monotonic()
        try:
            self.refs = references_for(self.weights, self.limits.threads)
            self.refs.warm_up()
            return self.refs
        finally:
            self.reference_wait += time.monotonic() - began

    def verdict(self, item, call, report) -> None:
        """Turn a test's outcome into its check's entry (the rule is in :mod:`autograder.plugin`'s docstring)."""
        import pytest

        name = item.name[len("test_"):]
        note = self.notes.get(item.nodeid) or Feedback()
        seconds = report.duration if call.when == "call" else 0.0
        if call.excinfo is None:
            self.verdicts[name] = R.check_result(name, True, note.message, note.details, seconds)
        elif call.excinfo.errisinstance(pytest.fail.Exception):
            self.verdicts[name] = R.check_result(name, False, str(call.excinfo.value.msg), note.details, seconds)
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
        import pytest

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
