"""The submission's two functions, run in its sandboxed student process and seen from the grader.

Rule of this module: (the statements selected from a notebook) => calls of the student's functions that return
:class:`Call` objects -- the raw outputs as plain arrays, their exact types, or why there are none -- and never
raise. One :class:`StudentSession` per submission: it spawns the student process
(:class:`autograder.isolation.StudentProcess`, started early so that TensorFlow imports there while the grader
builds its reference values), remembers every answer (two checks asking the same question get the same
answer, asked once), restarts the process at most once per check after a crash, never calls again a function
that timed out or crashed it, and stops everything at the submission's deadline. A process that reports (or
whose pipe shows) tampering is not trusted any more: every later call fails with the reason.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .child import LOSS, UPDATE
from .isolation import Limits, StudentProcess, StudentProcessError, prepare_sandbox

BOTH = (LOSS, UPDATE)
MAX_STARTS = 8
"""The first start of the student process and at most one restart per hidden check after a crash."""


@dataclass
class Call:
    """The outcome of one request to the student's process.

    Attributes:
        ok: the function returned (``header["ok"]``) and the process answered.
        header: the response header (``error`` when the function raised; type info of the outputs).
        arrays: the returned arrays.
        failure: set when the process did not answer: ``"timeout"``, ``"crashed"``, ``"protocol"``,
            ``"skipped"``, ``"startup"`` or ``"tampered"`` (no result of that process is trusted any more);
            ``failure_detail`` says more.
    """
    ok: bool
    header: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    failure: str | None = None
    failure_detail: str = ""


@runtime_checkable
class Student(Protocol):
    """What the hidden checks ask of a submission (the ``student`` fixture of :mod:`autograder.plugin`).

    Implemented by :class:`StudentSession` (the sandboxed student process), :class:`autograder.grading.Unavailable`
    (no functions to run: every question fails the check) and the tests' fakes. Each question returns the raw
    answer (a :class:`Call`, or the loop's dict); the checks judge it. The arguments are the cases of
    :mod:`autograder.references`.
    """

    def loss(self, case) -> Call:
        """The loss function at a ``LossCase``."""

    def update(self, u, injected: bool) -> Call:
        """The update step at an ``UpdateCase``, with the student's own gradient or the injected one."""

    def plain_steps(self, p) -> Call:
        """``p.steps`` update steps from ``p.X0`` (a ``PlainCase``) on SqueezeNet."""

    def compile(self, case) -> Call:
        """The loss function compiled the provided loop's way, called once at ``case``."""

    def run_provided_loop(self, model, loop) -> dict:
        """The provided loop with the student's step (a ``LoopCase``), scored by ``model`` (the grader's NumPy
        SqueezeNet)."""

    def pitfalls(self, name: str) -> list[str]:
        """The TensorFlow 2 pitfalls found in the definition of ``name``."""


class LoopFailure(Exception):
    """The provided loop could not go on with the student's step (the message says why, for the feedback)."""


class StudentSession:
    """The student process of one submission, with per-function failure memory, restarts and a deadline (a
    :class:`Student`).

    Args:
        extraction: the notebook's selected statements (:class:`autograder.notebook.Extraction`).
        sandbox_parent: a fresh temporary folder for the sandbox.
        limits: the time and memory limits.
        weights: the SqueezeNet weights folder.
        standin_seed: seed of the linear stand-in both sides build.
    """

    def __init__(self, extraction, sandbox_parent, limits: Limits, weights, standin_seed: int = 0):
        self.extraction, self.limits, self.weights, self.standin_seed = extraction, limits, weights, standin_seed
        self.deadline = time.monotonic() + limits.submission_seconds
        self.sandbox = prepare_sandbox(sandbox_parent, extraction.cell_sources)
        self.process = None
        self.broken = {}  # function name -> ("timeout" | "crashed", detail)
        self.startup_failure = None
        self.starts = 0
        self.setup = None
        self.log = []
        self.versions = {}
        self.startup_seconds = 0.0
        self.tampered = []  # what the student process reported (or the wire showed) as tampering
        self._answers = {}

    # ---- the process ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn a process now (without waiting), so that it imports TensorFlow while the grader works."""
        if self.process is None and self.startup_failure is None:
            self.process = StudentProcess(self.sandbox, self.limits, self.weights, self.standin_seed)
            self.process.start()
            self.starts += 1

    def close(self) -> None:
        if self.process is not None:
            self.process.close()

    def _note_tampering(self, what) -> None:
        for item in what:
            if isinstance(item, str) and item[:300] not in self.tampered:
                self.tampered.append(item[:300])

    def tampering_detail(self) -> str:
        return "tampering detected: " + "; ".join(self.tampered[:5])

    def _ensure_ready(self):
        if self.startup_failure:
            raise StudentProcessError("startup", self.startup_failure)
        if self.process is not None and self.process.hello is not None:
            if self.process.alive():
                return
            self.process.kill()  # died after a crash: restart
            self.process = None
        if self.starts >= MAX_STARTS or time.monotonic() >= self.deadline:
            raise StudentProcessError("startup", "no time left to restart the grading process")
        self.start()
        began = time.monotonic()
        try:
            self.process.wait_ready(min(self.deadline, time.monotonic() + self.limits.startup_seconds))
            statements = [{"file": f"cells/cell_{s.cell:03d}.py", "line": s.line, "source": s.source}
                          for s in self.extraction.statements]
            header, _ = self.process.request({"op": "setup", "statements": statements},
                                             None, min(self.deadline, time.monotonic() + self.limits.startup_seconds))
        except StudentProcessError as exc:
            detail = exc.detail
            if exc.kind == "timeout":
                detail = ("running the notebook's definitions (imports, the two functions and their helpers) "
                          f"took longer than {self.limits.startup_seconds:.0f} s")
            elif exc.kind == "crashed":
                detail = f"the notebook's definitions ended the grading process ({exc.detail})"
            elif exc.kind == "tampered":
                self._note_tampering([exc.detail])
                detail = self.tampering_detail()
            self.startup_failure = detail
            raise StudentProcessError("startup", detail) from None
        finally:
            self.startup_seconds += time.monotonic() - began
        self.versions = self.process.hello.get("versions", {})
        self._note_tampering(header.get("tampered") or [])
        header = scrub(header, self._hidden_prefixes())
        if self.setup is None:
            self.setup = header

    def call(self, header: dict, arrays: dict, functions: tuple, seconds: float | None = None) -> Call:
        """One request, as a :class:`Call` (never raises).

        Args:
            header, arrays: the request.
            functions: the graded functions the request runs, the called one last. It is skipped if one of them
                timed out or crashed the process before; if it times out or crashes now, the blame goes to the
                called function (the last one), which is not called again.
            seconds: time limit of this call (default: ``limits.call_seconds``), always cut at the submission's
                deadline.
        """
        if self.tampered:
            return Call(False, failure="tampered", failure_detail=self.tampering_detail())
        for name in functions:
            if name in self.broken:
                kind, detail = self.broken[name]
                what = "did not finish in time" if kind == "timeout" else "ended the grading process"
                return Call(False, failure="skipped", failure_detail=f"{name} {what} earlier ({detail})")
        if time.monotonic() >= self.deadline:
            used_up = f"the submission's time limit ({self.limits.submission_seconds:.0f} s) was used up"
            return Call(False, failure="skipped", failure_detail=used_up)
        try:
            self._ensure_ready()
        except StudentProcessError as exc:
            return Call(False, failure=exc.kind, failure_detail=exc.detail)
        if self.tampered:  # reported by the definitions (setup)
            return Call(False, failure="tampered", failure_detail=self.tampering_detail())
        limit = seconds if seconds is not None else self.limits.call_seconds
        deadline = min(self.deadline, time.monotonic() + limit)
        began = time.monotonic()
        try:
            response, out = self.process.request(header, arrays, deadline)
        except StudentProcessError as exc:
            detail = f"{deadline - began:.0f} s" if exc.kind == "timeout" else exc.detail
            if exc.kind == "tampered":
                self._note_tampering([exc.detail])
                return Call(False, failure="tampered", failure_detail=self.tampering_detail())
            self.broken[functions[-1]] = (exc.kind, detail)
            self.log.append({"op": header.get("op"), "failure": exc.kind, "detail": detail,
                             "stderr": self.process.stderr_tail(500)})
            return Call(False, failure=exc.kind, failure_detail=detail)
        finally:
            self.log.append({"op": header.get("op"), "seconds": round(time.monotonic() - began, 3)})
        if response.get("tampered"):
            self._note_tampering(response["tampered"])
            return Call(False, failure="tampered", failure_detail=self.tampering_detail())
        response = scrub(response, self._hidden_prefixes())
        error = response.get("error")
        if isinstance(error, dict) and isinstance(error.get("where"), dict):  # the cell as the student finds it
            error["where"]["label"] = self.extraction.label(error["where"].get("cell"))
        if isinstance(error, dict) and error.get("type") == "Missing":
            error["hint"] = missing_hint(self.extraction, error.get("message", ""),
                                         (self.setup or {}).get("errors", []))
        return Call(bool(response.get("ok")), response, out)

    def pitfalls(self, name: str) -> list[str]:
        """The TensorFlow 2 pitfalls (:func:`autograder.feedback.pitfalls`) in the winning definition of ``name``."""
        from .feedback import pitfalls

        sources = [s.source for s in self.extraction.statements if name in s.names]
        return pitfalls(sources[-1]) if sources else []

    def _remember(self, key, ask) -> Call:
        if key not in self._answers:
            self._answers[key] = ask()
        return self._answers[key]

    # ---- the questions the checks ask -------------------------------------------------------------------------

    def loss(self, case) -> Call:
        """The loss function at a :class:`autograder.references.LossCase` (asked once per case)."""
        header, arrays = case.request()
        return self._remember(("loss", case.name), lambda: self.call(header, arrays, (LOSS,)))

    def update(self, u, injected: bool) -> Call:
        """The update step at :class:`autograder.references.UpdateCase` ``u``: with the student's own loss
        function (learning rate ``u.lr``), or with the loss function replaced by one returning the known gradient
        ``u.G`` (learning rate ``u.lr_injected``)."""
        base = {"op": "update", "model": "linear", "target_y": u.target_y, "l2_reg": u.l2_reg}
        if injected:
            return self._remember(("update", True), lambda: self.call(
                dict(base, learning_rate=u.lr_injected, inject=True, inject_loss=u.injected_loss),
                {"X": u.X, "G": u.G}, (UPDATE,)))
        return self._remember(("update", False), lambda: self.call(
            dict(base, learning_rate=u.lr, inject=False), {"X": u.X}, BOTH))

    def plain_steps(self, p) -> Call:
        """``p.steps`` consecutive update steps from ``p.X0`` on SqueezeNet (arrays ``X1`` ... ``Xn``)."""
        return self._remember("plain", lambda: self.call(
            {"op": "plain_steps", "model": "squeezenet", "target_y": p.target_y, "l2_reg": p.l2_reg,
             "learning_rate": p.lr, "steps": p.steps}, {"X": p.X0}, BOTH, seconds=self.limits.call_seconds * p.steps))

    def compile(self, case) -> Call:
        """The loss function compiled the provided loop's way and called once at ``case`` (SqueezeNet)."""
        return self._remember("compile", lambda: self.call(
            {"op": "compile", "model": "squeezenet", "target_y": case.target_y, "l2_reg": case.l2_reg},
            {"X": case.X}, (LOSS,)))

    def run_provided_loop(self, model, loop) -> dict:
        """The notebook's loop (``classviz.visualize.create_class_visualization``), run in the grader with each
        step of the student's functions taken in the student process, as the notebook does it (the gradient
        compiled when possible). With the grader's NumPy model, the loop in this process needs no TensorFlow.

        Args:
            model: the grader's :class:`autograder.numpy_squeezenet.NumpySqueezeNet` (scores the images: the loop's
                top-1 checks and the final image).
            loop: :class:`autograder.references.LoopCase`.

        Returns:
            ``{"scores": float32 (1000,) raw scores of the final image, "eager_reason": str | None}`` or
            ``{"error": one sentence for the feedback}``.
        """
        return self._remember("loop", lambda: self._run_loop(model, loop))

    def _run_loop(self, model, lp) -> dict:
        from classviz.visualize import create_class_visualization

        from .feedback import describe_failure

        loop_deadline = time.monotonic() + self.limits.loop_seconds
        start = self.call({"op": "start_loop", "model": "squeezenet"}, {}, BOTH)
        if not start.ok:
            return {"error": describe_failure(start, UPDATE)}
        steps = []

        def remote_step(model_, X, target_y, l2_reg, learning_rate):
            remaining = loop_deadline - time.monotonic()
            if remaining <= 0:
                raise LoopFailure(f"the loop did not finish within {self.limits.loop_seconds:.0f} s")
            call = self.call({"op": "step", "model": "squeezenet", "target_y": int(target_y),
                              "l2_reg": float(l2_reg), "learning_rate": float(learning_rate)},
                             {"X": np.asarray(X, np.float32)}, BOTH, seconds=min(remaining, self.limits.call_seconds))
            if not call.ok:
                raise LoopFailure(describe_failure(call, UPDATE, f"at iteration {len(steps) + 1}"))
            steps.append(1)
            X_new = call.arrays.get("X_new")
            if X_new is None or X_new.shape != X.shape:
                raise LoopFailure(f"at iteration {len(steps)} your step returned an array of shape "
                                  f"{None if X_new is None else tuple(X_new.shape)} instead of {tuple(X.shape)}")
            return X_new

        try:
            run = create_class_visualization(lp.target_y, model, step=remote_step, seed=lp.seed,
                                             num_iterations=lp.iterations)
        except LoopFailure as exc:
            return {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - e.g. the loop's own checks on a bad X
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"scores": run.scores[0], "eager_reason": start.header.get("reason")}

    # ---- what the result file records -------------------------------------------------------------------------

    def timings(self) -> dict:
        """Seconds waited for the process, per operation, and its own start-up."""
        ops = {}
        for entry in self.log:
            if "seconds" in entry:
                ops[entry["op"]] = round(ops.get(entry["op"], 0.0) + entry["seconds"], 3)
        out = {"student_process_wait": round(self.startup_seconds, 3), "student_calls": ops}
        if self.process is not None and self.process.hello:
            out["student_process_startup"] = round(self.process.hello.get("seconds", 0.0), 3)
        return out

    def summary(self) -> dict:
        """Starts, failures, definition errors and tampering of the process (for the result file)."""
        return {"starts": self.starts, "failures": [e for e in self.log if "failure" in e],
                "setup_errors": (self.setup or {}).get("errors", []), "startup_failure": self.startup_failure,
                "tampering": list(self.tampered)}

    def _hidden_prefixes(self) -> tuple:
        """Paths that differ between runs or machines, as they appear in messages, and what replaces them."""
        sandbox = os.path.realpath(self.sandbox)
        return ((sandbox + os.sep, ""), (sandbox, "."), (os.path.realpath(sys.prefix), "<python>"),
                (os.path.dirname(sandbox), "<grading folder>"))


def scrub(value, prefixes):
    """``value`` (JSON-like) with every string's machine paths replaced (see ``_hidden_prefixes``): feedback names
    no path of the grading machine, and grading the same notebook twice gives the same bytes."""
    if isinstance(value, str):
        for path, token in prefixes:
            value = value.replace(path, token)
        return value
    if isinstance(value, list):
        return [scrub(v, prefixes) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, prefixes) for k, v in value.items()}
    return value


def missing_hint(extraction, message: str, setup_errors=()) -> str:
    """Why a graded function is not defined: its definition raised, its cell has a syntax error, ..."""
    name = next((n for n in BOTH if n in message), None)
    hints = []
    for item in setup_errors or ():
        try:
            statement = extraction.statements[int(item["statement"])]
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if name in statement.names:
            error = item.get("error") or {}
            text = f"{error.get('type', 'an error')}: {error.get('message', '')}".rstrip(": ")
            hints.append(f"its definition ({extraction.label(statement.cell)}, line {statement.line}) raised "
                         f"{text[:300]} "
                         "when the notebook's definitions ran (a default argument, decorator or class body that "
                         "fails?)")
    for error in extraction.syntax_errors:
        if name in error.get("defines", []):
            hints.append(f"{extraction.label(error['cell'])} has a syntax error at line {error['line']} "
                         f"({error['message']}), so nothing in that cell runs")
    hints += [n for n in extraction.notes if name and name in n]
    return "; ".join(hints)
