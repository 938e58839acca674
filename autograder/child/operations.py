"""The operations a student process answers (setup, loss, update, plain steps, compile, the loop's steps).

Rule of this module: (request with grader-chosen inputs) => (the student's outputs as plain arrays, their exact
Python types, or the exception they raised). Each operation runs the student's code only through
:class:`.bindings.Jobs` and describes what came back only through :class:`.bindings.Classifier`; it never
compares anything with a reference and holds no expected value: the grader decides the points.
"""

from __future__ import annotations

import builtins as _builtins

__builtins__ = dict(vars(_builtins))  # private copy: the student may rebind builtins.len & co.

import time  # noqa: E402

from . import LOSS, UPDATE  # noqa: E402
from . import wire  # noqa: E402
from .bindings import JobFailed, Tamper, clean, error_dict, exact_str, nth, str_fields  # noqa: E402


def _returned(result):
    """Split a job's ``(status, ...)`` tuple; returns ``(status, items)`` with ``status`` an exact str."""
    status = nth(result, 0)
    if type(status) is not str:
        raise JobFailed({"type": "Error", "message": "a job returned no status", "where": None})
    return status, result


def _seconds(value) -> float:
    """A job's measured seconds, if it is an exact float (else 0)."""
    return value if type(value) is float else 0.0


def raised_response(error, seconds=None, **extra):
    response = {"ok": False, "error": clean(error) if type(error) is dict else error_dict("failed", "Error")}
    if type(seconds) is float:
        response["seconds"] = seconds
    response.update(extra)
    return response


class RequestLoop:
    """The student process's answers to the grader's requests: the operations, and the loop that serves them.

    Args:
        np, tf: the modules (bound at start-up).
        visualize: ``classviz.visualize`` (its ``compile_loss_and_gradient`` and ``assignment_step`` bound now).
        models: ``{"linear": stand-in, "squeezenet": model}``.
        cells_dir: the sandbox's cells folder (for where an error happened).
        jobs: :class:`.bindings.Jobs`; classify: :class:`.bindings.Classifier`.
        send, receive: the wire's ends, bound before student code runs.
    """

    def __init__(self, np, tf, visualize, models, cells_dir, jobs, classify, send, receive):
        from tensorflow.python.eager.polymorphic_function import polymorphic_function

        self.models, self.cells_dir, self.jobs, self.classify = models, cells_dir, jobs, classify
        self.send, self.receive = send, receive
        self.visualize = visualize
        self.compile_loss_and_gradient = visualize.compile_loss_and_gradient
        self.assignment_step = visualize.assignment_step
        self.tf_function_class = polymorphic_function.Function
        self.function_type = type(lambda: None)
        self.object_getattribute = object.__getattribute__
        self.compile_cache, self.loop_step, self.namespace = [], None, None
        self.float32 = np.dtype("float32")

    def _case(self, header, arrays, *floats):
        """The request's model, ``X`` (a fresh float32 array owned by this call), target class, L2 strength and
        the header's fields ``floats`` as floats."""
        X = self.classify.ndarray_astype(arrays["X"], self.float32)
        return (self.models[header["model"]], X, int(header["target_y"]), float(header["l2_reg"]),
                *(float(header[name]) for name in floats))

    def setup(self, header, arrays):
        statements = header.get("statements")  # from the grader (tag checked), not from the student
        statements = statements if type(statements) is list else []
        self.namespace = {"__name__": "__main__", "__builtins__": _builtins}
        result = str_fields(self.jobs.run("job_setup", self.namespace, statements, self.cells_dir))
        errors = clean(result.get("errors")) if type(result.get("errors")) is list else []
        defined = {}
        for name, key in ((LOSS, "loss"), (UPDATE, "update")):
            value = result.get(key)
            defined[name] = "missing" if value is None else ("function" if callable(value) else self.classify.kind(value))
        return {"ok": True, "defined": defined, "errors": errors}, {}

    def loss(self, header, arrays):
        result = self.jobs.run("job_loss", self.namespace, *self._case(header, arrays),
                               header.get("input") == "tensor", self.cells_dir)
        status, result = _returned(result)
        seconds = _seconds(nth(result, 2))
        if status == "missing":
            return raised_response(nth(result, 1)), {}
        if status == "raised":
            return raised_response(nth(result, 1), seconds), {}
        out = nth(result, 1)
        items = self.classify.pair(out)
        if items is None:
            n = self.classify.pair_length(out)
            kind = self.classify.kind(out)
            length = f" of length {n}" if n is not None else ""
            return {"ok": False, "seconds": seconds, "error": error_dict(
                f"returned a {kind.rsplit('.', 1)[-1]}{length} instead of the pair (loss, dX)")}, {}
        (loss_info, loss), (dX_info, dX) = self.classify.describe(list(items))
        out_arrays = {}
        if loss is not None:
            out_arrays["loss"] = loss
        if dX is not None:
            out_arrays["dX"] = dX
        return {"ok": True, "loss": loss_info, "dX": dX_info, "seconds": seconds}, out_arrays

    def update(self, header, arrays):
        model, X, target_y, l2_reg, learning_rate = self._case(header, arrays, "learning_rate")
        inject = None
        if header.get("inject"):
            inject = (float(header.get("inject_loss", 0.0)), self.classify.ndarray_astype(arrays["G"], self.float32))
        result = self.jobs.run("job_update", self.namespace, model, X, target_y, l2_reg, learning_rate, inject,
                               self.cells_dir)
        X_after = self.classify.ndarray_copy(X)
        status, result = _returned(result)
        calls = nth(result, 3)
        calls = calls if type(calls) is int else 0
        seconds = _seconds(nth(result, 2))
        if status == "missing":
            return raised_response(nth(result, 1)), {}
        if status == "raised":
            return raised_response(nth(result, 1), seconds, injected_calls=calls), {"X_after": X_after}
        out = nth(result, 1)
        (info, X_new), = self.classify.describe([out])
        info["is_input"] = out is X
        out_arrays = {"X_after": X_after}
        if X_new is not None:
            out_arrays["X_new"] = X_new
        return {"ok": True, "X_new": info, "injected_calls": calls, "seconds": seconds}, out_arrays

    def plain_steps(self, header, arrays):
        result = self.jobs.run("job_plain_steps", self.namespace, *self._case(header, arrays, "learning_rate"),
                               int(header["steps"]), self.cells_dir)
        status, result = _returned(result)
        if status == "missing":
            return raised_response(nth(result, 1)), {}
        outputs = nth(result, 1) if status == "returned" else nth(result, 3)
        arrays_out = {}
        n = list.__len__(outputs) if type(outputs) is list else 0
        for k in range(n):
            array, why = self.classify.finish(nth(outputs, k))
            if array is None:
                return {"ok": False, "step": k, "error": error_dict(f"returned {why}")}, arrays_out
            arrays_out[f"X{k + 1}"] = array
        step = nth(result, 2)
        step = step if type(step) is int else n
        if status == "raised":
            return {"ok": False, "error": clean(nth(result, 1)), "step": step}, arrays_out
        if status == "bad":
            why = nth(result, 1)
            return {"ok": False, "step": step, "error": error_dict(f"returned {why if type(why) is str else 'no array'}")}, \
                arrays_out
        return {"ok": True}, arrays_out

    def compile(self, header, arrays):
        result = self.jobs.run("job_compile", self.namespace, *self._case(header, arrays),
                               self.compile_loss_and_gradient, self.compile_cache, self.cells_dir)
        status, result = _returned(result)
        if status == "missing":
            return raised_response(nth(result, 1)), {}
        fn, compiled, reason, seconds, call = (nth(result, i) for i in range(1, 6))
        seconds = _seconds(seconds)
        if reason is not None:
            return {"ok": True, "reason": clean(reason) if type(reason) is str else "not compiled",
                    "seconds": seconds}, {}
        # compile_loss_and_gradient returns a plain function holding the tf.function as ``.graph``
        graph = None
        if type(compiled) is self.function_type and compiled is not fn:
            try:
                graph = self.object_getattribute(compiled, "graph")
            except BaseException:  # noqa: BLE001
                graph = None
        if type(graph) is not self.tf_function_class:
            self.jobs.tampered.append("the compiled gradient function is not a tf.function")
            raise Tamper()
        if exact_str(nth(call, 0)) != "returned":
            error = clean(nth(call, 1)) if type(nth(call, 1)) is dict else {}
            return {"ok": True, "reason": f"{error.get('type', 'Error')}: {str(error.get('message', ''))[:200]}"}, {}
        items = self.classify.pair(nth(call, 1))
        if items is None:
            return {"ok": True, "reason": "the compiled function does not return the pair (loss, dX)"}, {}
        (_, loss), (_, dX) = self.classify.describe(list(items))
        arrays = {name: value for name, value in (("loss", loss), ("dX", dX)) if value is not None}
        return {"ok": True, "reason": None, "seconds": seconds}, arrays

    def start_loop(self, header, arrays):
        model = self.models[header["model"]]
        result = self.jobs.run("job_start_loop", self.namespace, model, self.visualize, self.compile_loss_and_gradient,
                       self.assignment_step, self.compile_cache, self.cells_dir)
        status, result = _returned(result)
        if status != "started":
            return raised_response(nth(result, 1)), {}
        self.loop_step = nth(result, 1)
        reason = nth(result, 2)
        return {"ok": True, "reason": reason if type(reason) is str or reason is None else "not compiled"}, {}

    def step(self, header, arrays):
        if self.loop_step is None:
            return {"ok": False, "error": error_dict("start_loop was not called", "NoLoop")}, {}
        result = self.jobs.run("job_step", self.loop_step, *self._case(header, arrays, "learning_rate"),
                               self.cells_dir)
        status, result = _returned(result)
        if status == "raised":
            return raised_response(nth(result, 1)), {}
        if status == "bad":
            why = nth(result, 1)
            return {"ok": False, "error": error_dict(f"returned {why if type(why) is str else 'no array'}")}, {}
        array, why = self.classify.finish(nth(result, 1))
        if array is None:
            return {"ok": False, "error": error_dict(f"returned {why}")}, {}
        return {"ok": True, "seconds": _seconds(nth(result, 2))}, {"X_new": array}

    def serve(self) -> None:
        """Answer requests until the grader closes the pipe (this loop never runs student code itself)."""
        receive, send, perf = self.receive, self.send, time.perf_counter
        ops = {"setup": self.setup, "loss": self.loss, "update": self.update, "plain_steps": self.plain_steps,
               "compile": self.compile, "start_loop": self.start_loop, "step": self.step}
        while True:
            try:
                header, arrays = receive()
            except wire.PeerClosed:
                break
            op = header.get("op")
            started = perf()
            handler = ops.get(op) if type(op) is str else None
            before = len(self.jobs.tampered)
            if handler is None:
                response, out = {"ok": False, "error": error_dict(f"unknown op {op!r}", "BadRequest")}, {}
            else:
                try:
                    response, out = handler(header, arrays)
                except Tamper:
                    response, out = {"ok": False, "error": error_dict("tampering detected", "Tampered")}, {}
                except JobFailed as exc:
                    failure = exc.args[0] if exc.args and type(exc.args[0]) is dict else error_dict("failed", "Error")
                    response, out = {"ok": False, "error": failure}, {}
                except Exception as exc:  # noqa: BLE001 - a harness bug: answer it, do not die
                    name = type(exc).__name__ if type(type(exc).__name__) is str else "Exception"
                    response, out = {"ok": False, "error": error_dict(f"the grading harness failed ({name})",
                                                                  "HarnessError")}, {}
            if self.jobs.tampered:  # the grader stops trusting this process; the loop goes on answering (tests use it)
                response["tampered"] = list(self.jobs.tampered[:20])
                response["tampered_now"] = list(self.jobs.tampered[before:before + 20])
            response["op"], response["wall"] = op, perf() - started
            send(response, out)
