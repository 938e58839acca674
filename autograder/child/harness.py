"""The request loop of one student's grading process: call the student's functions, send back raw outputs.

Rule of this module: (request with grader-chosen inputs) => (the student's outputs as plain arrays, their
Python types, or the exception they raised). It never compares anything with a reference and holds no
expected value; the grader's process decides the points.

The grader starts it, in a fresh temporary folder (the *sandbox*) holding only the student copy of
``classviz`` (``classviz._release.copy_student_package``: no ``reference.py``), this package and the notebook's
cells, as::

    python -I -c "import sys; sys.path.insert(0, SANDBOX); from cvgrade_child.harness import main; main()" CONFIG

Before any student code runs, :func:`main`

1. lowers its own resource limits (address space, CPU seconds, file size, no core dumps), which the student
   code cannot raise again;
2. imports TensorFlow (one intra-op and one inter-op thread: deterministic values whatever ``--jobs`` is) and
   builds the models (the real SqueezeNet 1.1 when weights are given, and the linear stand-in);
3. installs an audit hook (PEP 578) that refuses, for the rest of the process's life: reading files outside the
   Python installation, the system folders and the sandbox (so not the repository, the reference, the hidden
   tests or other students' submissions); writing, renaming or deleting outside the sandbox; starting
   processes; sockets; ``ctypes``; signals to other processes; raising resource limits; scanning the heap
   (``gc.get_objects``).

It then executes the notebook statements the grader selected (imports, the two functions and the helpers they
use; never the notebook's demo loops) and answers requests until the grader closes the pipe.
"""

from __future__ import annotations

import json
import os
import sys
import time

try:  # as autograder.child.harness (grader side, tests) or as cvgrade_child.harness (sandbox)
    from . import wire
    from .standin import LinearStandIn
except ImportError:  # pragma: no cover - only when run as a plain script
    import wire  # type: ignore
    from standin import LinearStandIn  # type: ignore

LOSS = "class_visualization_loss_and_gradient"
UPDATE = "class_visualization_update_step"
GRADED = (LOSS, UPDATE)
MAX_ELEMENTS = 10_000_000
_SELF_PACKAGE = __package__


# --------------------------------------------------------------------------------------------------------------
# Resource limits and the audit hook
# --------------------------------------------------------------------------------------------------------------

def limit_resources(memory_bytes: int | None, cpu_seconds: int | None, file_bytes: int | None) -> None:
    """Lower this process's limits (soft = hard, so they cannot be raised again without privileges)."""
    import resource

    def lower(which, value):
        if value is None:
            return
        soft, hard = resource.getrlimit(which)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(which, (value, value))

    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_AS, memory_bytes)
    lower(resource.RLIMIT_FSIZE, file_bytes)
    if cpu_seconds is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 5))


_BLOCKED_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "pty.spawn", "os.startfile", "webbrowser.open",
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "socket.sethostname", "urllib.Request",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
    "ctypes.cdata/buffer", "ctypes.string_at", "ctypes.wstring_at", "ctypes.PyObj_FromPtr", "ctypes.addressof",
    "ctypes.get_errno", "ctypes.set_errno", "ctypes.seh_exception",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
    "resource.setrlimit", "resource.prlimit", "os.killpg", "os.setns", "os.unshare",
})
# path arguments that must lie inside the sandbox (writes, renames, deletions, links)
_WRITE_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.rename": (0, 1), "os.link": (0, 1), "os.symlink": (1,), "os.truncate": (0,), "os.utime": (0,),
    "os.chflags": (0,), "os.lchflags": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "os.mkfifo": (0,),
    "os.mknod": (0,), "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copymode": (1,),
    "shutil.copystat": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1), "shutil.chown": (0,),
}
# path arguments that must lie inside the readable roots (directory listings)
_READ_EVENTS = {"os.listdir": (0,), "os.scandir": (0,), "glob.glob": (0,), "os.listxattr": (0,),
                "os.getxattr": (0,), "glob.glob/2": (0,)}


def default_read_roots(sandbox: str) -> list[str]:
    """Folders a student process may read: Python and its packages, system folders, its own /proc entry."""
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sandbox,
             os.path.dirname(os.path.realpath(sys.executable)),
             "/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc", "/dev", "/sys/devices/system/cpu",
             "/sys/fs/cgroup", f"/proc/{os.getpid()}", "/proc/self", "/proc/thread-self", "/proc/cpuinfo",
             "/proc/meminfo", "/proc/stat", "/proc/sys/vm", "/proc/filesystems", "/proc/mounts"}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    return sorted(roots)


def install_audit_hook(sandbox: str, read_roots) -> None:
    """Install the PEP 578 audit hook described in the module docstring (irrevocable for this process)."""
    realpath, join, isdir = os.path.realpath, os.path.join, os.path.isdir
    getcwd, getpid, fsdecode = os.getcwd, os.getpid, os.fsdecode
    sep = os.sep
    sandbox_root = realpath(sandbox).rstrip(sep) + sep
    readable = tuple(sorted({realpath(r).rstrip(sep) + sep for r in read_roots} | {sandbox_root}))
    writable = (sandbox_root,)
    write_files = ("/dev/null",)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    blocked, write_events, read_events = _BLOCKED_EVENTS, dict(_WRITE_EVENTS), dict(_READ_EVENTS)

    def resolve(path):
        if isinstance(path, (bytes, bytearray)):
            path = fsdecode(bytes(path))
        path = str(path)
        return realpath(path if path.startswith(sep) else join(getcwd(), path))

    def inside(path, roots):
        return (path + sep).startswith(roots)

    def deny(event, detail=""):
        raise PermissionError(f"not allowed while grading: {event}{' ' + detail if detail else ''}")

    def hook(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if path is None or isinstance(path, int):
                return
            full = resolve(path)
            writing = (isinstance(mode, str) and any(ch in mode for ch in "wax+")) or \
                (isinstance(flags, int) and flags & write_flags)
            if writing:
                if not (inside(full, writable) or full in write_files):
                    deny("writing", repr(str(path)))
            elif not inside(full, readable):
                deny("reading", repr(str(path)))
            elif not inside(full, writable) and isdir(full) and mode is None:
                deny("opening a directory outside the sandbox", repr(str(path)))  # dir_fd tricks
        elif event in blocked:
            deny(event)
        elif event == "os.kill":
            if args and args[0] != getpid():
                deny("signals to other processes")
        elif event in write_events:
            for i in write_events[event]:
                if i < len(args) and args[i] is not None and not isinstance(args[i], int) \
                        and not inside(resolve(args[i]), writable):
                    deny(event, repr(str(args[i])))
        elif event in read_events:
            for i in read_events[event]:
                if i < len(args) and args[i] is not None and not isinstance(args[i], int) \
                        and not inside(resolve(args[i]), readable):
                    deny(event, repr(str(args[i])))

    sys.addaudithook(hook)


# --------------------------------------------------------------------------------------------------------------
# Describing what the student returned or raised
# --------------------------------------------------------------------------------------------------------------

def _cell_of(filename: str, cells_dir: str):
    """'cells/cell_007.py' -> 7 (the notebook's cell index), else None."""
    if not filename.startswith(cells_dir):
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
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        cell = _cell_of(frame.f_code.co_filename, cells_dir)
        if cell is not None:
            code = linecache.getline(frame.f_code.co_filename, lineno).strip()
            where = {"cell": cell, "line": lineno, "code": code[:200], "function": frame.f_code.co_name}
            frames.append(where)
    message = ""
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a student's exception may fail to print
        message = "<the exception could not be printed>"
    return {"type": type(exc).__name__, "message": message.strip()[:600], "where": where,
            "frames": frames[-5:]}


def convert_output(value, tf, np):
    """Describe a returned value and turn it into a NumPy array for the wire.

    Returns:
        ``(info, array)``: ``info`` has ``type`` (``"tf.Tensor"``, ``"tf.Variable"``, ``"numpy.ndarray"``,
        ``"numpy scalar"``, ``"float"``, ``"int"``, ``"NoneType"``, or the type's name), ``dtype`` and ``shape``
        as returned, and ``error`` when it is not a finite-size numeric value; ``array`` is None then.
    """
    if value is None:
        return {"type": "NoneType", "error": "None"}, None
    if isinstance(value, tf.Variable):
        kind = "tf.Variable"
    elif isinstance(value, tf.Tensor):
        kind = "tf.Tensor"
    elif tf.is_tensor(value):
        kind = f"tf.{type(value).__name__}"
    elif isinstance(value, np.ndarray):
        kind = "numpy.ndarray"
    elif isinstance(value, np.generic):
        kind = "numpy scalar"
    elif isinstance(value, (bool, int, float)):
        kind = type(value).__name__
    else:
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
    info = {"type": kind}
    try:
        if kind in ("tf.Tensor", "tf.Variable"):
            info["dtype"], info["shape"] = value.dtype.name, list(value.shape)
            if not hasattr(value, "numpy"):
                info["error"] = "a symbolic tensor"
                return info, None
            array = np.asarray(value.numpy())
        elif isinstance(value, (np.ndarray, np.generic, bool, int, float)):
            array = np.asarray(value)
        elif isinstance(value, (str, bytes, dict, set)) or callable(value):
            info["error"] = f"a {kind}, not a number or an array"
            return info, None
        else:
            array = np.asarray(value)
        if not isinstance(array, np.ndarray):
            info["error"] = "could not be converted to an array"
            return info, None
        info.setdefault("dtype", array.dtype.name)
        info.setdefault("shape", list(array.shape))
        if array.size > MAX_ELEMENTS:
            info["error"] = f"has {array.size} elements (too many)"
            return info, None
        if array.dtype.name not in wire.ALLOWED_DTYPES:
            if array.dtype.kind in "fiub":
                array = array.astype(np.float64)
            else:
                info["error"] = f"has dtype {array.dtype.name}, not a numeric dtype"
                return info, None
        return info, array
    except BaseException as exc:  # noqa: BLE001 - student objects may raise anything on conversion
        info["error"] = f"could not be converted to an array ({type(exc).__name__}: {str(exc)[:200]})"
        return info, None


# --------------------------------------------------------------------------------------------------------------
# The request loop
# --------------------------------------------------------------------------------------------------------------

class _State:
    def __init__(self, tf, np, visualize, models, cells_dir):
        self.tf, self.np, self.visualize, self.models, self.cells_dir = tf, np, visualize, models, cells_dir
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        self.compiled = None  # (loss function, model, compiled, reason)
        self.step = None


def _student(state, name):
    fn = state.namespace.get(name)
    if fn is None:
        return None, {"type": "Missing", "message": f"{name} is not defined", "where": None}
    if not callable(fn):
        return None, {"type": "NotCallable", "message": f"{name} is a {type(fn).__name__}, not a function",
                      "where": None}
    return fn, None


def _call(state, fn, *args):
    start = time.perf_counter()
    try:
        out = fn(*args)
        return True, out, time.perf_counter() - start
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt and all the rest
        return False, describe_exception(exc, state.cells_dir), time.perf_counter() - start


def _op_setup(state, header, arrays):
    errors = []
    for i, statement in enumerate(header.get("statements", [])):
        path = os.path.join(os.getcwd(), statement["file"])
        code = "\n" * (int(statement["line"]) - 1) + statement["source"]
        try:
            exec(compile(code, path, "exec", dont_inherit=True), state.namespace)  # noqa: S102 - sandboxed
        except BaseException as exc:  # noqa: BLE001
            errors.append({"statement": i, "error": describe_exception(exc, state.cells_dir)})
    defined = {}
    for name in GRADED:
        value = state.namespace.get(name)
        defined[name] = "missing" if value is None else ("function" if callable(value) else type(value).__name__)
    return {"ok": True, "defined": defined, "errors": errors}, {}


def _op_loss(state, header, arrays):
    tf, np = state.tf, state.np
    fn, err = _student(state, LOSS)
    if err:
        return {"ok": False, "error": err}, {}
    X = arrays["X"].astype(np.float32)
    X_in = tf.constant(X) if header.get("input") == "tensor" else X
    ok, out, seconds = _call(state, fn, state.models[header["model"]], X_in, int(header["target_y"]),
                             float(header["l2_reg"]))
    if not ok:
        return {"ok": False, "error": out, "seconds": seconds}, {}
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        kind = type(out).__name__
        length = f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""
        return {"ok": False, "seconds": seconds, "error": {
            "type": "BadReturn", "where": None,
            "message": f"returned a {kind}{length} instead of the pair (loss, dX)"}}, {}
    loss_info, loss = convert_output(out[0], tf, np)
    dX_info, dX = convert_output(out[1], tf, np)
    result = {}
    if loss is not None:
        result["loss"] = loss
    if dX is not None:
        result["dX"] = dX
    return {"ok": True, "loss": loss_info, "dX": dX_info, "seconds": seconds}, result


def _op_update(state, header, arrays):
    tf, np = state.tf, state.np
    fn, err = _student(state, UPDATE)
    if err:
        return {"ok": False, "error": err}, {}
    X = arrays["X"].astype(np.float32)  # a fresh writable array owned by this call
    calls = []
    original = state.namespace.get(LOSS)
    if header.get("inject"):
        G = tf.constant(arrays["G"].astype(np.float32))
        loss_value = tf.constant(float(header.get("inject_loss", 0.0)), tf.float32)

        def injected(model, X, target_y, l2_reg, *args, **kwargs):
            calls.append(1)
            return loss_value, G

        injected.__name__ = LOSS
        state.namespace[LOSS] = injected
    try:
        ok, out, seconds = _call(state, fn, state.models[header["model"]], X, int(header["target_y"]),
                                 float(header["l2_reg"]), float(header["learning_rate"]))
    finally:
        if header.get("inject"):
            if original is None:
                state.namespace.pop(LOSS, None)
            else:
                state.namespace[LOSS] = original
    if not ok:
        return {"ok": False, "error": out, "seconds": seconds, "injected_calls": len(calls)}, {"X_after": X}
    info, X_new = convert_output(out, tf, np)
    info["is_input"] = out is X
    result = {"X_after": X}
    if X_new is not None:
        result["X_new"] = X_new
    return {"ok": True, "X_new": info, "injected_calls": len(calls), "seconds": seconds}, result


def _op_plain_steps(state, header, arrays):
    """``steps`` consecutive update steps, each fed the previous output as returned (the public check's way)."""
    tf, np = state.tf, state.np
    fn, err = _student(state, UPDATE)
    if err:
        return {"ok": False, "error": err}, {}
    X = arrays["X"].astype(np.float32)
    model = state.models[header["model"]]
    outputs = {}
    for k in range(int(header["steps"])):
        ok, out, _ = _call(state, fn, model, X, int(header["target_y"]), float(header["l2_reg"]),
                           float(header["learning_rate"]))
        if not ok:
            return {"ok": False, "error": out, "step": k}, outputs
        info, array = convert_output(out, tf, np)
        if array is None:
            return {"ok": False, "step": k, "error": {"type": "BadReturn", "where": None,
                                                       "message": f"returned {info.get('error')}"}}, outputs
        outputs[f"X{k + 1}"] = array
        X = out
    return {"ok": True}, outputs


def variables_as_watched_tensors(fn, tf):
    """Wrap a gradient function so that, while it is traced by ``tf.function``, ``tf.Variable(x)`` is a tensor.

    A legitimate answer may create ``tf.Variable(X)`` instead of calling ``tape.watch(X)``; ``tf.function``
    refuses to create a variable on every call ("only supports singleton tf.Variables"). While the wrapper runs
    in graph mode, ``tf.Variable(x)`` returns ``tf.identity(x)`` watched by every ``tf.GradientTape`` that is or
    becomes active during the call, which computes the same loss and gradient; in eager mode nothing changes.
    ``tf.Variable`` and ``tf.GradientTape`` are restored after each call.
    """
    import functools

    real_variable, real_tape = tf.Variable, tf.GradientTape

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if tf.executing_eagerly():
            return fn(*args, **kwargs)
        created, active = [], []

        class _Meta(type):
            def __instancecheck__(cls, obj):
                return isinstance(obj, real_variable)

            def __subclasscheck__(cls, sub):
                return issubclass(sub, real_variable)

        class Variable(metaclass=_Meta):
            def __new__(cls, initial_value=None, *vargs, **vkwargs):
                if callable(initial_value) or tf.executing_eagerly():
                    return real_variable(initial_value, *vargs, **vkwargs)
                value = tf.identity(tf.convert_to_tensor(initial_value, dtype=vkwargs.get("dtype")))
                for tape in active:
                    tape.watch(value)
                created.append(value)
                return value

        class GradientTape(real_tape):
            def __enter__(self):
                tape = super().__enter__()
                for value in created:
                    tape.watch(value)
                active.append(tape)
                return tape

            def __exit__(self, *exc):
                if self in active:
                    active.remove(self)
                return super().__exit__(*exc)

        tf.Variable, tf.GradientTape = Variable, GradientTape
        try:
            return fn(*args, **kwargs)
        finally:
            tf.Variable, tf.GradientTape = real_variable, real_tape

    return wrapper


def _compile(state, fn, model):
    cached = state.compiled
    if cached is not None and cached[0] is fn and cached[1] is model:
        return cached[2], cached[3]
    start = time.perf_counter()
    try:
        compiled, reason = state.visualize.compile_loss_and_gradient(fn, model)
        if reason is not None and "tf.Variable" in reason:
            compiled, reason2 = state.visualize.compile_loss_and_gradient(
                variables_as_watched_tensors(fn, state.tf), model)
            reason = None if reason2 is None else reason
            if reason is not None:
                compiled = fn
    except BaseException as exc:  # noqa: BLE001 - compile_loss_and_gradient catches Exception, not the rest
        info = describe_exception(exc, state.cells_dir)
        compiled, reason = fn, f"{info['type']}: {info['message'][:200]}"
    state.compile_seconds = time.perf_counter() - start
    state.compiled = (fn, model, compiled, reason)
    return compiled, reason


def _op_compile(state, header, arrays):
    tf, np = state.tf, state.np
    fn, err = _student(state, LOSS)
    if err:
        return {"ok": False, "error": err}, {}
    model = state.models[header["model"]]
    compiled, reason = _compile(state, fn, model)
    if reason is not None:
        return {"ok": True, "reason": reason, "seconds": state.compile_seconds}, {}
    ok, out, _ = _call(state, compiled, model, tf.constant(arrays["X"].astype(np.float32)),
                       int(header["target_y"]), float(header["l2_reg"]))
    if not ok:
        return {"ok": True, "reason": f"{out['type']}: {out['message'][:200]}"}, {}
    loss_info, loss = convert_output(out[0], tf, np)
    dX_info, dX = convert_output(out[1], tf, np)
    if loss is None or dX is None:
        return {"ok": True, "reason": "the compiled function returned no value"}, {}
    return {"ok": True, "reason": None, "seconds": state.compile_seconds}, {"loss": loss, "dX": dX}


def _op_start_loop(state, header, arrays):
    update, err = _student(state, UPDATE)
    loss_fn, err2 = _student(state, LOSS)
    if err or err2:
        return {"ok": False, "error": err or err2}, {}
    model = state.models[header["model"]]
    visualize = state.visualize
    original = visualize.compile_loss_and_gradient
    _compile(state, loss_fn, model)  # traced once, reused by assignment_step below

    def memo(lg, model_, *args, **kwargs):
        cached = state.compiled
        if cached is not None and cached[0] is lg and cached[1] is model_:
            return cached[2], cached[3]
        return original(lg, model_, *args, **kwargs)

    visualize.compile_loss_and_gradient = memo
    try:
        ok, out, _ = _call(state, visualize.assignment_step, update, loss_fn, model)
    finally:
        visualize.compile_loss_and_gradient = original
    if not ok:
        return {"ok": False, "error": out}, {}
    state.step, reason = out
    return {"ok": True, "reason": reason}, {}


def _op_step(state, header, arrays):
    np = state.np
    if state.step is None:
        return {"ok": False, "error": {"type": "NoLoop", "message": "start_loop was not called", "where": None}}, {}
    X = arrays["X"].astype(np.float32)
    ok, out, seconds = _call(state, state.step, state.models[header["model"]], X, int(header["target_y"]),
                             float(header["l2_reg"]), float(header["learning_rate"]))
    if not ok:
        return {"ok": False, "error": out}, {}
    try:  # what the provided loop does with the step's result
        X_new = np.asarray(out, dtype=np.float32)
    except BaseException as exc:  # noqa: BLE001
        return {"ok": False, "error": describe_exception(exc, state.cells_dir)}, {}
    if X_new.size > MAX_ELEMENTS:
        return {"ok": False, "error": {"type": "BadReturn", "message": "returned a huge array", "where": None}}, {}
    return {"ok": True, "seconds": seconds}, {"X_new": X_new}


_OPS = {"setup": _op_setup, "loss": _op_loss, "update": _op_update, "plain_steps": _op_plain_steps,
        "compile": _op_compile, "start_loop": _op_start_loop, "step": _op_step}


def main(argv=None) -> None:
    """Run the student process (see the module docstring); ``argv[0]`` is the JSON configuration."""
    config = json.loads((argv or sys.argv[1:])[0])
    limit_resources(config.get("memory_bytes"), config.get("cpu_seconds"), config.get("file_bytes"))
    end = wire.BlockingEnd(config["read_fd"], config["write_fd"])
    sandbox = os.path.realpath(config["sandbox"])
    os.chdir(sandbox)
    sys.path[:] = [sandbox] + [p for p in sys.path if p and os.path.realpath(p) != sandbox]
    start = time.perf_counter()
    try:
        import numpy as np
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(config.get("threads", 1)))
        tf.config.threading.set_inter_op_parallelism_threads(int(config.get("threads", 1)))
        import importlib.util

        import classviz
        from classviz import visualize

        if not os.path.realpath(classviz.__file__).startswith(sandbox + os.sep) or \
                importlib.util.find_spec("classviz.reference") is not None:
            raise RuntimeError(f"the student process imported {classviz.__file__}, not the sandbox copy")
        models = {"linear": LinearStandIn(int(config.get("standin_seed", 0)))}
        if config.get("weights"):
            models["squeezenet"] = classviz.load_squeezenet(config["weights"])
            models["squeezenet"](np.zeros((1, 224, 224, 3), np.float32))  # warm up outside the student's time
        models["linear"](np.zeros((1, 224, 224, 3), np.float32))
        cells_dir = os.path.join(sandbox, "cells") + os.sep
        state = _State(tf, np, visualize, models, cells_dir)
        install_audit_hook(sandbox, default_read_roots(sandbox))
    except BaseException as exc:  # noqa: BLE001 - report any start-up failure to the grader
        end.send({"op": "hello", "ok": False, "error": f"{type(exc).__name__}: {exc}"[:1000]})
        raise
    end.send({"op": "hello", "ok": True, "seconds": time.perf_counter() - start,
              "versions": {"python": sys.version.split()[0], "tensorflow": tf.__version__,
                           "numpy": np.__version__}})
    # From here on, student code runs. Keep what the loop needs in locals: rebinding this module's globals
    # (or numpy's) cannot change how requests are dispatched.
    ops, receive, send, perf = dict(_OPS), end.receive, end.send, time.perf_counter
    if _SELF_PACKAGE:
        for name in [m for m in sys.modules if m == _SELF_PACKAGE or m.startswith(_SELF_PACKAGE + ".")]:
            del sys.modules[name]
    while True:
        try:
            header, arrays = receive()
        except wire.PeerClosed:
            break
        op = header.get("op")
        started = perf()
        handler = ops.get(op)
        if handler is None:
            response, out = {"ok": False, "error": {"type": "BadRequest", "message": f"unknown op {op!r}"}}, {}
        else:
            response, out = handler(state, header, arrays)
        response["op"], response["wall"] = op, perf() - started
        send(response, out)
    os._exit(0)  # noqa: SLF001 - skip interpreter teardown (and any atexit hook the student registered)


if __name__ == "__main__":  # pragma: no cover
    main()
