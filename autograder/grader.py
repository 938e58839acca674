"""Grading one notebook: read it, run its answers in a student process, decide the seven checks.

Rule of this module: (notebook file) => (one result dict with the points and feedback of every check), never an
exception. The student's code runs only in :class:`autograder.sandbox.StudentProcess` (one fresh process per
submission, restarted at most once per graded function if that function crashes it); the reference values come
from one :class:`autograder.suite.Suite` per grader process; every comparison is made here, in
:mod:`autograder.checks`. A function that timed out or crashed the process is not called again (its checks
score 0, the others still run), and nothing takes longer than the submission's time limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import platform
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from . import checks as C
from . import notebook as nb
from .sandbox import Limits, SandboxDir, StudentProcess, StudentProcessError, prepare_sandbox
from .suite import GRADING_SEED, STANDIN_SEED, Suite

GRADER_VERSION = "1.0"
SCHEMA_VERSION = 1
LOSS, UPDATE = C.LOSS, C.UPDATE


class _LoopFailure(Exception):
    pass


class Session:
    """The student process of one submission, with per-function failure memory and restarts.

    Args:
        extraction: the notebook's selected statements.
        sandbox_parent: a fresh temporary folder for the sandbox.
        limits: the time and memory limits.
        weights: the SqueezeNet weights folder.
        deadline: ``time.monotonic()`` value at which the whole submission's time is up.
    """

    def __init__(self, extraction, sandbox_parent, limits: Limits, weights, deadline: float):
        self.extraction, self.limits, self.weights, self.deadline = extraction, limits, weights, deadline
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
        self.isolation = None

    def _note_tampering(self, what) -> None:
        for item in what:
            if isinstance(item, str) and item not in self.tampered:
                self.tampered.append(item[:300])

    def tampering_detail(self) -> str:
        return "tampering detected: " + "; ".join(self.tampered[:5])

    def start(self) -> None:
        """Spawn a process now (without waiting), so that it imports TensorFlow while the grader works."""
        if self.process is None and self.startup_failure is None:
            self.process = StudentProcess(self.sandbox, self.limits, self.weights, STANDIN_SEED)
            self.isolation = {"mode": self.process.isolation, "detail": self.process.isolation_detail}
            self.process.start()
            self.starts += 1

    def _ensure_ready(self):
        if self.startup_failure:
            raise StudentProcessError("startup", self.startup_failure)
        if self.process is not None and self.process.hello is not None and self.process.alive():
            return
        if self.process is not None and self.process.hello is not None:  # died after a crash: restart
            self.process.kill()
            self.process = None
        if self.starts >= 1 + len(C.CHECKS) or time.monotonic() >= self.deadline:
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
        if self.setup is None:
            self.setup = header

    def call(self, header: dict, arrays: dict, functions: tuple, seconds: float | None = None) -> C.Call:
        """One request, as a :class:`autograder.checks.Call` (never raises).

        Args:
            header, arrays: the request.
            functions: the graded functions the request runs, the called one last. It is skipped if one of them
                timed out or crashed the process before; if it times out or crashes now, the blame goes to the
                called function (the last one), which is not called again.
            seconds: time limit of this call (default: ``limits.call_seconds``), always cut at the submission's
                deadline.
        """
        if self.tampered:
            return C.Call(False, failure="tampered", failure_detail=self.tampering_detail())
        for name in functions:
            if name in self.broken:
                kind, detail = self.broken[name]
                what = "did not finish in time" if kind == "timeout" else "ended the grading process"
                return C.Call(False, failure="skipped", failure_detail=f"{name} {what} earlier ({detail})")
        now = time.monotonic()
        if now >= self.deadline:
            return C.Call(False, failure="skipped",
                          failure_detail=f"the submission's time limit ({self.limits.submission_seconds:.0f} s) "
                                         "was used up")
        try:
            self._ensure_ready()
        except StudentProcessError as exc:
            return C.Call(False, failure="startup" if exc.kind == "startup" else exc.kind,
                          failure_detail=exc.detail)
        if self.tampered:  # reported by the definitions (setup)
            return C.Call(False, failure="tampered", failure_detail=self.tampering_detail())
        limit = seconds if seconds is not None else self.limits.call_seconds
        deadline = min(self.deadline, time.monotonic() + limit)
        began = time.monotonic()
        try:
            response, out = self.process.request(header, arrays, deadline)
        except StudentProcessError as exc:
            detail = exc.detail
            if exc.kind == "timeout":
                detail = f"{deadline - began:.0f} s"
            if exc.kind == "tampered":
                self._note_tampering([exc.detail])
                return C.Call(False, failure="tampered", failure_detail=self.tampering_detail())
            self.broken[functions[-1]] = (exc.kind, detail)
            self.log.append({"op": header.get("op"), "failure": exc.kind, "detail": detail,
                             "stderr": self.process.stderr_tail(500) if self.process else ""})
            return C.Call(False, failure=exc.kind, failure_detail=detail)
        finally:
            self.log.append({"op": header.get("op"), "seconds": round(time.monotonic() - began, 3)})
        if response.get("tampered"):
            self._note_tampering(response["tampered"])
            return C.Call(False, failure="tampered", failure_detail=self.tampering_detail())
        error = response.get("error")
        if isinstance(error, dict) and error.get("type") == "Missing":
            error["hint"] = _missing_hint(self.extraction, error.get("message", ""),
                                          (self.setup or {}).get("errors", []))
        return C.Call(bool(response.get("ok")), response, out)

    def close(self):
        if self.process is not None:
            self.process.close()


class Grader:
    """Grades notebooks; holds the reference suite and the model (one per grader process, thread-safe).

    Args:
        weights: folder of the verified SqueezeNet weights (default: fetched with ``classviz.weights``, honouring
            ``CLASSVIZ_WEIGHTS_MIRROR`` and ``CLASSVIZ_WEIGHTS_DIR``).
        limits: :class:`autograder.sandbox.Limits`.
        tmp_root: where the per-submission sandboxes are created (default: the system's temporary folder).
    """

    def __init__(self, weights=None, limits: Limits | None = None, tmp_root=None):
        self.limits = limits or Limits()
        self.tmp_root = tmp_root
        self._weights = Path(weights) if weights else None
        self._suite = None
        self._lock = threading.Lock()

    @property
    def weights(self) -> Path:
        if self._weights is None:
            from classviz import weights as W

            self._weights = W.fetch(("weights",), quiet=True)
        return self._weights

    def suite(self) -> Suite:
        """The reference suite, built on first use (TensorFlow import, model, reference values: ~10 s)."""
        with self._lock:
            if self._suite is None:
                import os

                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
                with _quiet_native_stderr():
                    import tensorflow as tf
                tf.get_logger().setLevel("ERROR")  # Python-level TensorFlow warnings: not the grader's output

                from classviz import load_squeezenet

                try:
                    tf.config.threading.set_intra_op_parallelism_threads(self.limits.threads)
                    tf.config.threading.set_inter_op_parallelism_threads(self.limits.threads)
                except RuntimeError:  # TensorFlow already initialized in this process
                    pass
                with _quiet_native_stderr():
                    self._suite = Suite.build(load_squeezenet(self.weights))
            return self._suite

    # ---- one submission ---------------------------------------------------------------------------------------

    def grade(self, path, submission: str | None = None, student: str | None = None,
              assignment: str | None = None) -> dict:
        """Grade one notebook file.

        Args:
            path: the ``.ipynb`` file.
            submission: identifier for the outputs (default: the file's stem).
            student, assignment: recorded as given (nbgrader trees).

        Returns:
            The result dict (see :func:`autograder.batch.write_result`): ``score``, ``max_score``, ``status``
            (``"graded"``, ``"unreadable"`` or ``"error"``), ``checks`` (a list of
            :meth:`autograder.checks.CheckResult.to_dict`), ``extraction``, ``timings``, ``environment``, ...
        """
        path = Path(path)
        started = time.monotonic()
        record = {"schema": SCHEMA_VERSION, "grader_version": GRADER_VERSION,
                  "submission": submission or path.stem, "student": student, "assignment": assignment,
                  "notebook": str(path), "notebook_sha256": _sha256(path), "seed": GRADING_SEED,
                  "limits": self.limits.to_dict()}
        try:
            outcome = self._grade(path)
        except Exception as exc:  # noqa: BLE001 - a grader bug must not lose the row
            outcome = {"status": "error", "checks": _all_failed(f"the grader failed on this notebook "
                                                                f"({type(exc).__name__}: {exc}); "
                                                                "please report it"),
                       "error": traceback.format_exc()[-4000:]}
        record.update(outcome)
        from .sandbox import isolation

        mode, _, detail = isolation()
        record["isolation"], record["isolation_detail"] = mode, detail
        record["score"] = sum(c["points"] for c in record["checks"])
        record["max_score"] = C.MAX_SCORE
        record.setdefault("timings", {})["total"] = round(time.monotonic() - started, 3)
        record["environment"] = _environment(record.pop("versions", {}))
        return record

    def _grade(self, path: Path) -> dict:
        try:
            extraction, _ = nb.read_notebook(path)
        except nb.NotebookError as exc:
            return {"status": "unreadable", "reason": str(exc),
                    "checks": _all_failed(f"the notebook could not be read: {exc}")}
        timings = {}
        if not any(name in extraction.definitions for name in (LOSS, UPDATE)):
            missing = _missing_feedback(extraction)
            return {"status": "graded", "extraction": extraction.summary(), "checks": _all_failed(missing),
                    "timings": timings}
        with SandboxDir(self.tmp_root) as tmp:
            deadline = time.monotonic() + self.limits.submission_seconds
            session = Session(extraction, tmp, self.limits, self.weights, deadline)
            try:
                session.start()  # TensorFlow imports in the student process while the suite is built here
                t = time.monotonic()
                suite = self.suite()
                timings["reference_suite_wait"] = round(time.monotonic() - t, 3)
                results = self._run_checks(session, suite, extraction, timings)
            finally:
                session.close()
            timings["student_process_wait"] = round(session.startup_seconds, 3)
            isolation = session.isolation
            ops = {}
            for entry in session.log:
                if "seconds" in entry:
                    ops[entry["op"]] = round(ops.get(entry["op"], 0.0) + entry["seconds"], 3)
            timings["student_calls"] = ops
            if session.process is not None and session.process.hello:
                timings["student_process_startup"] = round(session.process.hello.get("seconds", 0.0), 3)
            process = {"starts": session.starts, "failures": [e for e in session.log if "failure" in e],
                       "setup_errors": (session.setup or {}).get("errors", []),
                       "startup_failure": session.startup_failure, "tampering": list(session.tampered)}
        outcome = {"status": "graded", "extraction": extraction.summary(), "process": process,
                   "checks": [r.to_dict() for r in results], "timings": timings, "versions": session.versions,
                   "reference": suite.describe()}
        if session.tampered:
            outcome["reason"] = session.tampering_detail()
        return outcome

    def _run_checks(self, session: Session, suite: Suite, extraction, timings) -> list:
        loss_fn, both = (LOSS,), (LOSS, UPDATE)
        results = {}

        def loss_call(case):
            header, arrays = case.request()
            return session.call(header, arrays, loss_fn)

        def timed(name, fn, *args):
            t = time.monotonic()
            res = fn(*args)
            res.seconds = time.monotonic() - t
            results[name] = res

        def real_calls():
            return [loss_call(c) for c in suite.real_cases]

        t = time.monotonic()
        real = real_calls()
        timed("loss_value", C.check_loss_value, suite, real)
        results["loss_value"].seconds += time.monotonic() - t
        timed("gradient_sign", C.check_gradient_sign, suite, real)

        t = time.monotonic()
        l2_zero, l2_reg = loss_call(suite.l2_case), loss_call(suite.l2_case_reg)
        timed("l2_regularizer", C.check_l2_regularizer, suite, l2_zero, l2_reg)
        results["l2_regularizer"].seconds += time.monotonic() - t

        t = time.monotonic()
        raw = [l2_zero] + [loss_call(c) for c in suite.raw_cases[1:]]
        timed("raw_score", C.check_raw_score, suite, raw)
        results["raw_score"].seconds += time.monotonic() - t

        u = suite.update
        t = time.monotonic()
        own_loss = session.call({"op": "loss", "model": "linear", "input": "numpy", "target_y": u.target_y,
                                 "l2_reg": u.l2_reg}, {"X": u.X}, loss_fn)
        base = {"op": "update", "model": "linear", "target_y": u.target_y, "l2_reg": u.l2_reg}
        own = session.call(dict(base, learning_rate=u.lr, inject=False), {"X": u.X}, both)
        injected = session.call(dict(base, learning_rate=u.lr_injected, inject=True, inject_loss=u.injected_loss),
                                {"X": u.X, "G": u.G}, (UPDATE,))
        timed("update_step", C.check_update_step, suite, own_loss, own, injected)
        results["update_step"].seconds += time.monotonic() - t

        timed("score_increase", self._score_increase, session, suite)
        timed("tf_function", self._tf_function, session, suite, real[0])
        return [results[name] for name in C.CHECKS]

    def _score_increase(self, session: Session, suite: Suite) -> C.CheckResult:
        import tensorflow as tf

        from classviz.visualize import create_class_visualization

        p, lp = suite.plain, suite.loop
        both = (LOSS, UPDATE)
        plain = session.call({"op": "plain_steps", "model": "squeezenet", "target_y": p.target_y,
                              "l2_reg": p.l2_reg, "learning_rate": p.lr, "steps": p.steps}, {"X": p.X0}, both,
                             seconds=self.limits.call_seconds * p.steps)
        if plain.ok:
            images = []
            for k in range(1, p.steps + 1):
                X = plain.arrays.get(f"X{k}")
                if X is None or X.shape != p.X0.shape:
                    shape = None if X is None else tuple(X.shape)
                    plain = C.Call(False, {"ok": False, "step": k - 1, "error": {
                        "type": "BadReturn", "where": None,
                        "message": f"returned an array of shape {shape} instead of X's shape {p.X0.shape}"}})
                    break
                images.append(X.astype(np.float32))
            else:
                scores = np.asarray(suite.model(tf.constant(np.concatenate(images))), np.float64)[:, p.target_y]
                plain.header["scores"] = [float(s) for s in scores]
        if not plain.ok:
            return C.check_score_increase(suite, plain, {})
        loop_deadline = time.monotonic() + self.limits.loop_seconds
        start = session.call({"op": "start_loop", "model": "squeezenet"}, {}, both)
        if not start.ok:
            return C.check_score_increase(suite, plain, {"error": C.describe_failure(start, UPDATE)})
        eager_reason = start.header.get("reason")

        def remote_step(model, X, target_y, l2_reg, learning_rate):
            remaining = loop_deadline - time.monotonic()
            if remaining <= 0:
                raise _LoopFailure(f"the loop did not finish within {self.limits.loop_seconds:.0f} s")
            call = session.call({"op": "step", "model": "squeezenet", "target_y": int(target_y),
                                 "l2_reg": float(l2_reg), "learning_rate": float(learning_rate)},
                                {"X": np.asarray(X, np.float32)}, both,
                                seconds=min(remaining, self.limits.call_seconds))
            if not call.ok:
                raise _LoopFailure(C.describe_failure(call, UPDATE, f"at iteration {len(steps) + 1}"))
            steps.append(1)
            X_new = call.arrays.get("X_new")
            if X_new is None or X_new.shape != X.shape:
                raise _LoopFailure(f"at iteration {len(steps)} your step returned an array of shape "
                                   f"{None if X_new is None else tuple(X_new.shape)} instead of {tuple(X.shape)}")
            return X_new

        steps = []
        try:
            run = create_class_visualization(lp.target_y, suite.model, step=remote_step, seed=lp.seed,
                                             num_iterations=lp.iterations)
        except _LoopFailure as exc:
            return C.check_score_increase(suite, plain, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - e.g. the loop's own checks on a bad X
            return C.check_score_increase(suite, plain, {"error": f"{type(exc).__name__}: {exc}"})
        return C.check_score_increase(suite, plain, {"scores": run.scores[0], "eager_reason": eager_reason})

    def _tf_function(self, session: Session, suite: Suite, eager) -> C.CheckResult:
        case = suite.compile_case
        compiled = session.call({"op": "compile", "model": "squeezenet", "target_y": case.target_y,
                                 "l2_reg": case.l2_reg}, {"X": case.X}, (LOSS,))
        return C.check_tf_function(suite, compiled, eager if eager is not None else C.Call(False))


@contextlib.contextmanager
def _quiet_native_stderr():
    """Point file descriptor 2 at /dev/null for a while: TensorFlow's C++ start-up lines (absl, oneDNN) ignore
    ``TF_CPP_MIN_LOG_LEVEL``. Only used while the grader itself imports TensorFlow and builds the suite."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _all_failed(feedback: str) -> list:
    return [C.CheckResult(name, 0, check.points, feedback).to_dict() for name, check in C.CHECKS.items()]


def _missing_feedback(extraction) -> str:
    parts = [f"neither {LOSS} nor {UPDATE} is defined by a code cell of the notebook that runs"]
    for error in extraction.syntax_errors:
        if error.get("defines"):
            parts.append(f"cell {error['cell']} has a syntax error at line {error['line']} ({error['message']}), "
                         f"so the definition of {', '.join(error['defines'])} in it never runs")
    parts += [n for n in extraction.notes if "definition of" in n]
    return "; ".join(parts) + "."


def _missing_hint(extraction, message: str, setup_errors=()) -> str:
    name = next((n for n in (LOSS, UPDATE) if n in message), None)
    hints = []
    for item in setup_errors or ():
        try:
            statement = extraction.statements[int(item["statement"])]
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if name in statement.names:
            error = item.get("error") or {}
            text = f"{error.get('type', 'an error')}: {error.get('message', '')}".rstrip(": ")
            hints.append(f"its definition (cell {statement.cell}, line {statement.line}) raised {text[:300]} "
                         "when the notebook's definitions ran (a default argument, decorator or class body that "
                         "fails?)")
    for error in extraction.syntax_errors:
        if name in error.get("defines", []):
            hints.append(f"cell {error['cell']} defines it but has a syntax error at line {error['line']} "
                         f"({error['message']}), so nothing in that cell runs")
    hints += [n for n in extraction.notes if name and name in n]
    return "; ".join(hints)


def _environment(versions: dict) -> dict:
    import numpy

    env = {"python": platform.python_version(), "numpy": numpy.__version__, "platform": platform.platform()}
    try:
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
    except ImportError:  # pragma: no cover
        pass
    if versions:
        env["student_process"] = versions
    return env
