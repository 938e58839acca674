"""The jobs that run student code inside a student process, each in a fresh thread (the *student realm*).

Rule of this module: everything here may be seen and changed by the student's code (it runs in the same
threads, and a Python frame reaches its callers' locals), so nothing here decides anything: a job returns the
student's raw return values, the exceptions they raised (described as text) and values converted by the
student's own objects (``np.asarray`` may call their ``__array__``). The request loop of
:mod:`autograder.child.harness` (the main thread, whose frames the student's code cannot reach) classifies the
returned objects itself, by identity of their exact types, and converts the ones it knows with C functions.

Each job is started by :func:`entry` through ``_thread.start_new_thread``, so the bottom Python frame of the
thread is :func:`entry`: a frame walk from the student's code (``f_back``) ends there, never in the request
loop. The objects a job needs from the harness (the models, ``compile_loss_and_gradient`` and
``assignment_step`` bound before any student code ran) arrive as arguments.
"""

from __future__ import annotations

import os
import time

from . import LOSS, MAX_ELEMENTS, UPDATE


def entry(job, args, deliver, done):
    """Thread body: ``deliver(("ok", job(*args)))`` or ``deliver(("error", description))``, then release."""
    try:
        try:
            result = ("ok", job(*args))
        except BaseException as exc:  # noqa: BLE001 - a job never raises on purpose: describe, never lose it
            result = ("error", _safe_describe(exc, args))
        deliver(result)
    finally:
        done.release()


def _safe_describe(exc, args):
    try:
        return describe_exception(exc, "")
    except BaseException:  # noqa: BLE001
        return {"type": "Error", "message": "an exception that could not be described", "where": None}


def _cell_of(filename: str, cells_dir: str):
    """'.../cells/cell_007.py' -> 7 (the notebook's cell index), else None."""
    if not isinstance(filename, str) or not filename.startswith(cells_dir) or not cells_dir:
        return None
    name = os.path.basename(filename)
    try:
        return int(name[len("cell_"):-len(".py")])
    except ValueError:
        return None


def describe_exception(exc: BaseException, cells_dir: str) -> dict:
    """Type, message and the innermost notebook line of an exception raised by student code."""
    import linecache
    import traceback

    where = None
    frames = []
    try:
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            cell = _cell_of(frame.f_code.co_filename, cells_dir)
            if cell is not None:
                code = linecache.getline(frame.f_code.co_filename, lineno).strip()
                where = {"cell": cell, "line": lineno, "code": code[:200], "function": frame.f_code.co_name}
                frames.append(where)
    except BaseException:  # noqa: BLE001 - a frame walk refused or broken: the message is still useful
        pass
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a student's exception may fail to print
        message = "<the exception could not be printed>"
    try:
        kind = type(exc).__name__
    except BaseException:  # noqa: BLE001
        kind = "Exception"
    return {"type": kind, "message": message.strip()[:600], "where": where, "frames": frames[-5:]}


def _student(namespace, name):
    fn = namespace.get(name)
    if fn is None:
        return None, {"type": "Missing", "message": f"{name} is not defined", "where": None}
    if not callable(fn):
        return None, {"type": "NotCallable", "message": f"{name} is a {type(fn).__name__}, not a function",
                      "where": None}
    return fn, None


def _call(fn, args, cells_dir):
    start = time.perf_counter()
    try:
        out = fn(*args)
        return True, out, time.perf_counter() - start
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt and all the rest
        return False, describe_exception(exc, cells_dir), time.perf_counter() - start


# ---- jobs (each returns plain Python values and the student's raw objects) ------------------------------------

def job_setup(namespace, statements, cells_dir):
    """Run the selected notebook statements in ``namespace``; return the errors and the two graded objects."""
    errors = []
    for i, statement in enumerate(statements):
        path = os.path.join(os.getcwd(), statement["file"])
        code = "\n" * (int(statement["line"]) - 1) + statement["source"]
        try:
            exec(compile(code, path, "exec", dont_inherit=True), namespace)  # noqa: S102 - sandboxed
        except BaseException as exc:  # noqa: BLE001
            errors.append({"statement": i, "error": describe_exception(exc, cells_dir)})
    return {"errors": errors, "loss": namespace.get(LOSS), "update": namespace.get(UPDATE)}


def job_loss(namespace, model, X, target_y, l2_reg, as_tensor, cells_dir):
    """Call the loss function once; ``("missing", error)``, ``("raised", error, s)`` or ``("returned", out, s)``."""
    fn, err = _student(namespace, LOSS)
    if err:
        return ("missing", err)
    if as_tensor:
        import tensorflow as tf

        X = tf.constant(X)
    ok, out, seconds = _call(fn, (model, X, target_y, l2_reg), cells_dir)
    return ("returned", out, seconds) if ok else ("raised", out, seconds)


def job_update(namespace, model, X, target_y, l2_reg, learning_rate, inject, cells_dir):
    """Call the update step once, with the loss function replaced by one returning ``inject = (loss, G)``."""
    fn, err = _student(namespace, UPDATE)
    if err:
        return ("missing", err, 0)
    calls = []
    original = namespace.get(LOSS)
    if inject is not None:
        import tensorflow as tf

        G = tf.constant(inject[1])
        loss_value = tf.constant(float(inject[0]), tf.float32)

        def injected(model, X, target_y, l2_reg, *args, **kwargs):
            calls.append(1)
            return loss_value, G

        injected.__name__ = LOSS
        namespace[LOSS] = injected
    try:
        ok, out, seconds = _call(fn, (model, X, target_y, l2_reg, learning_rate), cells_dir)
    finally:
        if inject is not None:
            if original is None:
                namespace.pop(LOSS, None)
            else:
                namespace[LOSS] = original
    return ("returned", out, seconds, len(calls)) if ok else ("raised", out, seconds, len(calls))


def to_array(value, dtype=None):
    """``np.asarray`` of a student's object (it may run their code): ``(array, None)`` or ``(None, reason)``."""
    import numpy as np

    try:
        if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
            value = value.numpy()
        array = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
        if not isinstance(array, np.ndarray):
            return None, "could not be converted to an array"
        array = np.array(array, copy=True, subok=False)
        if array.size > MAX_ELEMENTS:
            return None, f"has {array.size} elements (too many)"
        if array.dtype.kind not in "fiub":
            return None, f"has dtype {array.dtype.name}, not a numeric dtype"
        return array, None
    except BaseException as exc:  # noqa: BLE001 - student objects may raise anything on conversion
        return None, f"could not be converted to an array ({type(exc).__name__}: {str(exc)[:200]})"


def job_convert(values):
    """Convert each value with :func:`to_array` (values the request loop cannot convert by itself)."""
    return [to_array(v) for v in values]


def job_plain_steps(namespace, model, X, target_y, l2_reg, learning_rate, steps, cells_dir):
    """``steps`` consecutive update steps, each fed the previous output as returned (the public check's way)."""
    fn, err = _student(namespace, UPDATE)
    if err:
        return ("missing", err)
    outputs = []
    for k in range(int(steps)):
        ok, out, _ = _call(fn, (model, X, target_y, l2_reg, learning_rate), cells_dir)
        if not ok:
            return ("raised", out, k, outputs)
        array, why = to_array(out)
        if array is None:
            return ("bad", why, k, outputs)
        outputs.append(array)
        X = out
    return ("returned", outputs)


def _compile(fn, model, compile_loss_and_gradient, cells_dir):
    start = time.perf_counter()
    try:
        compiled, reason = compile_loss_and_gradient(fn, model)
    except BaseException as exc:  # noqa: BLE001 - compile_loss_and_gradient catches Exception, not the rest
        info = describe_exception(exc, cells_dir)
        compiled, reason = fn, f"{info['type']}: {info['message'][:200]}"
    return compiled, reason, time.perf_counter() - start


def job_compile(namespace, model, X, target_y, l2_reg, compile_loss_and_gradient, cache, cells_dir):
    """Compile the loss function (``compile_loss_and_gradient`` bound before student code) and call it once.

    Returns ``("missing", error)`` or ``("compiled", fn, compiled, reason, seconds, call)`` where ``call`` is
    ``("returned", out)`` / ``("raised", error)`` / None (not compiled).
    """
    import tensorflow as tf

    fn, err = _student(namespace, LOSS)
    if err:
        return ("missing", err)
    if cache and cache[0] is fn and cache[1] is model:
        compiled, reason, seconds = cache[2], cache[3], 0.0
    else:
        compiled, reason, seconds = _compile(fn, model, compile_loss_and_gradient, cells_dir)
        cache[:] = [fn, model, compiled, reason]
    if reason is not None:
        return ("compiled", fn, compiled, reason, seconds, None)
    ok, out, _ = _call(compiled, (model, tf.constant(X), target_y, l2_reg), cells_dir)
    return ("compiled", fn, compiled, reason, seconds, ("returned", out) if ok else ("raised", out))


def job_start_loop(namespace, model, visualize, compile_loss_and_gradient, assignment_step, cache, cells_dir):
    """Build the loop's step with ``assignment_step`` (bound before student code), compiling once."""
    update, err = _student(namespace, UPDATE)
    loss_fn, err2 = _student(namespace, LOSS)
    if err or err2:
        return ("missing", err or err2)
    if not (cache and cache[0] is loss_fn and cache[1] is model):
        compiled, reason, _ = _compile(loss_fn, model, compile_loss_and_gradient, cells_dir)
        cache[:] = [loss_fn, model, compiled, reason]

    def memo(lg, model_, *args, **kwargs):
        if cache and cache[0] is lg and cache[1] is model_:
            return cache[2], cache[3]
        return compile_loss_and_gradient(lg, model_, *args, **kwargs)

    previous = visualize.compile_loss_and_gradient
    visualize.compile_loss_and_gradient = memo
    try:
        ok, out, _ = _call(assignment_step, (update, loss_fn, model), cells_dir)
    finally:
        visualize.compile_loss_and_gradient = previous
    if not ok:
        return ("raised", out)
    try:
        step, reason = out
    except BaseException:  # noqa: BLE001
        return ("raised", {"type": "BadReturn", "message": "the loop's step could not be built", "where": None})
    return ("started", step, reason)


def job_step(step, model, X, target_y, l2_reg, learning_rate, cells_dir):
    """One step of the provided loop; the result converted as the loop does (``np.asarray(..., float32)``)."""
    import numpy as np

    ok, out, seconds = _call(step, (model, X, target_y, l2_reg, learning_rate), cells_dir)
    if not ok:
        return ("raised", out)
    array, why = to_array(out, np.float32)
    if array is None:
        return ("bad", why)
    return ("returned", array, seconds)


def ignoring(getsignal):
    """A stand-in for ``signal.signal``: installs nothing (a Python handler would be handed the frame the main
    thread is running, the grading loop's) and returns the current handler, so student code that sets one
    (``SIG_IGN`` for SIGTERM, a timer's handler, ...) keeps running."""
    def signal(signalnum, handler):
        return getsignal(signalnum)

    return signal


def refusing(what: str):
    """A stand-in for a function the grading process disables (``signal.signal``, ``fork_exec``, ...)."""
    def refuse(*args, **kwargs):
        raise PermissionError(f"not allowed while grading: {what}")

    refuse.__name__ = what.rsplit(".", 1)[-1]
    return refuse
