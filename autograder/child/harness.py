"""The request loop of one student's grading process: call the student's functions, send back raw outputs.

Rule of this module: (request with grader-chosen inputs) => (the student's outputs as plain arrays, their exact
Python types, or the exception they raised). It never compares anything with a reference and holds no expected
value; the grader's process decides the points.

The grader starts it (see :mod:`autograder.sandbox`; when the machine allows it, inside new Linux namespaces
where only the sandbox, Python, the virtual environment and the weights are visible, as an unprivileged user)
with its configuration and a per-process key on stdin, which it reads and closes before anything else. Before
any student code runs, :func:`main`

1. lowers its own resource limits (address space, CPU seconds, file size, processes, no core dumps) and marks
   itself non-dumpable (its ``/proc/self/mem`` and ``environ`` become unreadable to itself);
2. imports TensorFlow (one intra-op and one inter-op thread: deterministic values whatever ``--jobs`` is),
   builds the models, and *binds* everything the loop needs -- the wire's C primitives and the key, the
   functions of ``classviz.visualize`` the checks use, the exact types it classifies results by, and a private
   copy of the builtins -- so that replacing functions in shared modules later changes nothing here;
3. takes a snapshot of the identity of the functions and classes the checks rely on (NumPy, TensorFlow,
   builtins, ``classviz.visualize``), compared after every job: a change is reported as tampering;
4. installs an audit hook (PEP 578) that refuses, for the rest of the process's life: reading files outside the
   Python installation, the system folders and the sandbox; writing outside the sandbox; starting processes;
   sockets; ``ctypes``; signals to other processes; raising resource limits; scanning the heap (``gc``);
   tracing; new audit hooks; replacing a function's ``__code__``; and any frame access in the main thread or
   to the harness's own frames (these last ones are reported as tampering);
5. disables ``signal.signal`` (it installs nothing and returns the current handler: no handler can receive a
   frame of this loop) and ``_posixsubprocess.fork_exec`` (no child process forked behind the hook's back).

Student code then only ever runs in *jobs* (:mod:`autograder.child.worker`), each in a fresh thread whose
bottom frame is the worker's entry function, while this loop -- in the main thread, whose frames no job can
reach -- waits. It classifies what a job returned by identity of exact types (``type(x) is EagerTensor``; no
``isinstance``, no method of the student's objects) and converts tensors and arrays with C functions bound
before, so a student object cannot run code here, and every frame it sends carries an HMAC tag with the key.
"""

from __future__ import annotations

import builtins as _builtins

__builtins__ = dict(vars(_builtins))  # private copy: the student may rebind builtins.len & co.

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

try:  # as autograder.child.harness (grader side, tests) or as cvgrade_child.harness (sandbox)
    from . import wire, worker
    from .standin import LinearStandIn
except ImportError:  # pragma: no cover - only when run as a plain script
    import wire  # type: ignore
    import worker  # type: ignore
    from standin import LinearStandIn  # type: ignore

LOSS = "class_visualization_loss_and_gradient"
UPDATE = "class_visualization_update_step"
GRADED = (LOSS, UPDATE)
MAX_ELEMENTS = 10_000_000
_SELF_PACKAGE = __package__
_HERE = os.path.dirname(os.path.realpath(__file__))


# --------------------------------------------------------------------------------------------------------------
# Resource limits and the audit hook
# --------------------------------------------------------------------------------------------------------------

def limit_resources(memory_bytes: int | None, cpu_seconds: int | None, file_bytes: int | None,
                    processes: int | None = None) -> None:
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
    if processes is not None and os.getuid() != 0:  # counts every process and thread of the user
        lower(resource.RLIMIT_NPROC, processes)
    if cpu_seconds is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 5))


def make_non_dumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: ``/proc/self/mem``, ``environ``, ... become root-owned (unreadable to an
    unprivileged process, even its own). Returns whether it worked."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


# Refused, and reported as tampering: they reach into the grading machinery itself.
_TAMPER_EVENTS = frozenset({
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
    "ctypes.cdata/buffer", "ctypes.string_at", "ctypes.wstring_at", "ctypes.PyObj_FromPtr", "ctypes.addressof",
    "ctypes.get_errno", "ctypes.set_errno", "ctypes.seh_exception", "ctypes.create_string_buffer",
    "ctypes.create_unicode_buffer",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.settrace",
    "sys.setprofile", "sys.addaudithook", "resource.setrlimit", "resource.prlimit", "os.setns", "os.unshare",
})
# Refused (PermissionError), not tampering by itself: the call just fails, as it would on any locked-down machine.
_BLOCKED_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "pty.spawn", "os.startfile", "webbrowser.open", "os.killpg",
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "socket.sethostname", "urllib.Request",
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
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
_REFUSED_IMPORTS = frozenset({"_posixsubprocess", "_signal", "signal", "_ctypes", "ctypes", "gc", "_thread",
                              "faulthandler", "_xxsubinterpreters"})
_PROC_READABLE = ("/proc/self/status", "/proc/self/stat", "/proc/self/maps", "/proc/self/cgroup",
                  "/proc/self/mountinfo", "/proc/self/limits", "/proc/self/task")


def default_read_roots(sandbox: str) -> list[str]:
    """Folders a student process may read: Python and its packages, system folders, a few /proc files."""
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sandbox,
             os.path.dirname(os.path.realpath(sys.executable)),
             "/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc", "/dev/null", "/dev/urandom", "/dev/zero",
             "/sys/devices/system/cpu", "/sys/fs/cgroup", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat",
             "/proc/sys/vm", "/proc/filesystems", "/proc/mounts"}
    for path in _PROC_READABLE:
        roots.add(path)
        roots.add(path.replace("/proc/self/", f"/proc/{os.getpid()}/"))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    return sorted(roots)


def install_audit_hook(sandbox: str, read_roots, main_thread: int | None = None, harness_dir: str = _HERE,
                       log: list | None = None) -> list:
    """Install the PEP 578 audit hook described in the module docstring (irrevocable for this process).

    Args:
        sandbox: the only folder the process may write in.
        read_roots: the folders (and files) it may read.
        main_thread: ident of the request loop's thread (no frame access at all there), or None.
        harness_dir: the folder of this package (no job may get a frame of its code).
        log: list the hook appends ``(kind, what)`` to for every refusal (``kind`` ``"tamper"`` or ``"blocked"``).

    Returns:
        The log.
    """
    import _thread

    realpath, join, isdir = os.path.realpath, os.path.join, os.path.isdir
    getcwd, getpid, fsdecode, get_ident = os.getcwd, os.getpid, os.fsdecode, _thread.get_ident
    sep = os.sep
    sandbox_root = realpath(sandbox).rstrip(sep) + sep
    readable = tuple(sorted({realpath(r).rstrip(sep) + sep for r in read_roots} | {sandbox_root}))
    writable = (sandbox_root,)
    write_files = ("/dev/null",)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    tamper, blocked, write_events, read_events = _TAMPER_EVENTS, _BLOCKED_EVENTS, dict(_WRITE_EVENTS), \
        dict(_READ_EVENTS)
    frame_attributes, refused_imports = _FRAME_ATTRIBUTES, _REFUSED_IMPORTS
    harness_prefix = realpath(harness_dir).rstrip(sep) + sep
    log = [] if log is None else log
    record = log.append
    _str, _int, _isinstance, _tuple, _len, _bytes, _bytearray = str, int, isinstance, tuple, len, bytes, bytearray

    def resolve(path):
        if _isinstance(path, (_bytes, _bytearray)):
            path = fsdecode(_bytes(path))
        path = _str(path)
        return realpath(path if path.startswith(sep) else join(getcwd(), path))

    def inside(path, roots):
        return (path + sep).startswith(roots)

    def deny(event, detail="", kind="blocked"):
        if _len(log) < 1000:  # a loop of refused calls must not fill the memory
            record((kind, f"{event}{' ' + detail if detail else ''}"[:300]))
        raise PermissionError(f"not allowed while grading: {event}{' ' + detail if detail else ''}")

    def hook(event, args):
        if event == "open":
            path, mode, flags = (_tuple(args) + (None, None, None))[:3]
            if path is None or _isinstance(path, _int):
                return
            full = resolve(path)
            writing = (_isinstance(mode, _str) and any(ch in mode for ch in "wax+")) or \
                (_isinstance(flags, _int) and flags & write_flags)
            if writing:
                if not (inside(full, writable) or full in write_files):
                    deny("writing", repr(_str(path)))
            elif not inside(full, readable):
                deny("reading", repr(_str(path)))
            elif not inside(full, writable) and isdir(full) and mode is None:
                deny("opening a directory outside the sandbox", repr(_str(path)))  # dir_fd tricks
        elif event == "object.__getattr__":
            if main_thread is not None and get_ident() == main_thread and _len(args) > 1 \
                    and args[1] in frame_attributes:
                deny(f"reading {args[1]} in the grading loop", kind="tamper")
        elif event == "sys._getframe":
            if main_thread is not None and get_ident() == main_thread:
                deny("sys._getframe in the grading loop", kind="tamper")
            frame = args[0] if args else None
            if frame is not None:
                filename = frame.f_code.co_filename
                if _isinstance(filename, _str) and realpath(filename).startswith(harness_prefix):
                    deny("sys._getframe of the grading harness's own frames", kind="tamper")
        elif event == "object.__setattr__":
            if _len(args) > 1 and args[1] in ("__code__", "__class__"):
                deny(f"setting {args[1]}", kind="tamper")
        elif event == "import":
            if args and args[0] in refused_imports:
                deny("import", repr(args[0]), kind="tamper")
        elif event in tamper:
            deny(event, kind="tamper")
        elif event in blocked:
            deny(event)
        elif event == "os.kill":
            if args and args[0] != getpid():
                deny("signals to other processes")
        elif event in write_events:
            for i in write_events[event]:
                if i < _len(args) and args[i] is not None and not _isinstance(args[i], _int) \
                        and not inside(resolve(args[i]), writable):
                    deny(event, repr(_str(args[i])))
        elif event in read_events:
            for i in read_events[event]:
                if i < _len(args) and args[i] is not None and not _isinstance(args[i], _int) \
                        and not inside(resolve(args[i]), readable):
                    deny(event, repr(_str(args[i])))

    sys.addaudithook(hook)
    return log


def disable_escape_hatches() -> None:
    """``signal.signal`` (a handler receives the interrupted frame) and ``_posixsubprocess.fork_exec`` (forks
    without an audit event) refuse from now on; re-importing them is refused by the audit hook."""
    refuse = worker.refusing  # defined in the student realm: no frame or global of this module behind it
    for name in ("signal", "_signal"):
        module = sys.modules.get(name)
        if module is not None:
            if hasattr(module, "signal") and hasattr(module, "getsignal"):
                module.signal = worker.ignoring(module.getsignal)
            for attr in ("set_wakeup_fd", "siginterrupt"):
                if hasattr(module, attr):
                    setattr(module, attr, refuse(f"{name}.{attr}"))
    module = sys.modules.get("_posixsubprocess")
    if module is not None:
        module.fork_exec = refuse("_posixsubprocess.fork_exec")
    for name in ("subprocess", "multiprocessing.util"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "_fork_exec"):
            module._fork_exec = refuse("_posixsubprocess.fork_exec")


# --------------------------------------------------------------------------------------------------------------
# The protected side: bound primitives, classification by exact type, integrity snapshot
# --------------------------------------------------------------------------------------------------------------

class _Protected:
    """Everything the request loop uses after student code started, bound before it started."""

    def __init__(self, np, tf, visualize, models, cells_dir, send, receive):
        import _thread

        from tensorflow.python.eager import backprop
        from tensorflow.python.eager.polymorphic_function import eager_function_run, polymorphic_function
        from tensorflow.python.framework import ops
        from tensorflow.python.ops import resource_variable_ops, variables

        self.np, self.models, self.cells_dir, self.send, self.receive = np, models, cells_dir, send, receive
        self.visualize = visualize
        self.compile_loss_and_gradient = visualize.compile_loss_and_gradient
        self.assignment_step = visualize.assignment_step
        self.start_thread, self.allocate_lock = _thread.start_new_thread, _thread.allocate_lock
        self.entry = worker.entry
        self.jobs = {name: getattr(worker, name) for name in dir(worker) if name.startswith("job_")}
        self.perf = time.perf_counter
        self.eager_tensor = ops.EagerTensor
        self.tensor_classes = (ops._EagerTensorBase, tf.Tensor)  # noqa: SLF001
        self.variable_classes = (resource_variable_ops.BaseResourceVariable, variables.Variable)
        self.tf_function_class = polymorphic_function.Function
        self.numpy_internal = ops.EagerTensor.__dict__["_numpy_internal"]
        self.ndarray, self.generic = np.ndarray, np.generic
        self.ndarray_copy, self.ndarray_astype = np.ndarray.copy, np.ndarray.astype
        self.np_asarray = np.asarray
        self.scalar_types = tuple(np.dtype(c).type for c in "?bhilqBHILQefdg")
        self.dtype_names = tuple((np.dtype(n), n) for n in wire.ALLOWED_DTYPES)
        self.float64 = np.dtype("float64")
        self.qualname = type.__dict__["__qualname__"].__get__
        self.module_name = type.__dict__["__module__"].__get__
        self.mro = type.__dict__["__mro__"].__get__
        self.tuple_len, self.tuple_get = tuple.__len__, tuple.__getitem__
        self.list_len, self.list_get = list.__len__, list.__getitem__
        self.dict_items, self.mapping_copy = dict.items, type(type.__dict__).copy
        self.function_type = type(lambda: None)
        self.object_getattribute = object.__getattribute__
        self.watch = self._watch_list(np, tf, visualize, backprop, eager_function_run, polymorphic_function,
                                      ops, resource_variable_ops, variables)
        self.snapshot = [(label, self._entries(getter), getter) for label, getter in self.watch]
        self.tampered = []
        self.compile_cache, self.loop_step, self.namespace = [], None, None
        self.gc = sys.modules["gc"]
        self.gc_callbacks = self.gc.callbacks

    # ---- integrity ----------------------------------------------------------------------------------------

    def _watch_list(self, np, tf, visualize, backprop, eager_function_run, polymorphic_function, ops,
                    resource_variable_ops, variables):
        import classviz

        watch = []
        for label, module in (("builtins", _builtins), ("numpy", np), ("numpy.testing", getattr(np, "testing", None)),
                              ("tensorflow", tf), ("classviz", classviz), ("classviz.visualize", visualize),
                              ("eager_function_run", eager_function_run), ("sys.modules", None)):
            if label == "sys.modules":
                modules = sys.modules
                watch.append((label, lambda modules=modules: modules))
            elif module is not None:
                watch.append((label, lambda d=vars(module): d))
        proxy = type.__dict__["__dict__"].__get__
        for cls in (ops.EagerTensor, ops._EagerTensorBase, tf.Tensor, resource_variable_ops.ResourceVariable,  # noqa
                    resource_variable_ops.BaseResourceVariable, variables.Variable, backprop.GradientTape,
                    polymorphic_function.Function, LinearStandIn):
            watch.append((cls.__name__, lambda cls=cls, proxy=proxy: type(proxy(cls)).copy(proxy(cls))))
        return watch

    def _entries(self, getter):
        d = getter()
        if type(d) is not dict:
            return {}
        return {k: v for k, v in self.dict_items(d) if type(k) is str and not k.startswith("__pycache")}

    def check_integrity(self) -> list:
        """Names of watched functions/classes/modules that are no longer the objects of the snapshot."""
        changed = []
        missing = object()
        watched_modules = ("numpy", "tensorflow", "classviz", "classviz.visualize", "builtins", "sys", "os")
        for label, before, getter in self.snapshot:
            try:
                now = self._entries(getter)
            except BaseException:  # noqa: BLE001 - a watched object no longer readable is a change
                changed.append(f"{label} (unreadable)")
                continue
            keys = watched_modules if label == "sys.modules" else before
            for key in keys:
                if now.get(key, missing) is not before.get(key, missing):
                    changed.append(f"{label}.{key}" if label != "sys.modules" else f"sys.modules[{key!r}]")
        if self.list_len(self.gc_callbacks):
            changed.append("gc.callbacks")
            del self.gc_callbacks[:]
        return changed

    # ---- jobs ---------------------------------------------------------------------------------------------

    def run(self, name, *args):
        """Run worker job ``name`` in a fresh thread and wait; returns its result (untrusted) or raises."""
        results = []
        done = self.allocate_lock()
        done.acquire()
        self.start_thread(self.entry, (self.jobs[name], args, results.append, done))
        done.acquire()
        done.release()
        changed = self.check_integrity()
        for what in changed:
            if what not in self.tampered:
                self.tampered.append(what)
        for kind, what in _drain(self.refusals):
            if kind == "tamper" and what not in self.tampered:
                self.tampered.append(what)
        if self.list_len(results) == 0:  # the job could not even hand its result over (memory exhausted?)
            raise _JobFailed(_error("the call's result was lost (the process may be out of memory)", "Lost"))
        item = self.list_get(results, 0) if self.list_len(results) == 1 else None
        status = _status(_item(item, 0)) if type(item) is tuple and self.tuple_len(item) == 2 else None
        if status not in ("ok", "error"):
            self.tampered.append("the result of a call was altered by the student's code")
            raise _Tamper()
        if status == "error":
            raise _JobFailed(clean(self.tuple_get(item, 1)))
        return self.tuple_get(item, 1)

    # ---- classification -----------------------------------------------------------------------------------

    def type_name(self, tp) -> str:
        try:
            module, name = self.module_name(tp), self.qualname(tp)
        except BaseException:  # noqa: BLE001
            return "object"
        module = module if type(module) is str else "?"
        name = name if type(name) is str else "?"
        return name if module == "builtins" else f"{module}.{name}"

    def has_base(self, tp, bases) -> bool:
        try:
            mro = self.mro(tp)
        except BaseException:  # noqa: BLE001
            return False
        if type(mro) is not tuple:
            return False
        for cls in mro:
            for base in bases:
                if cls is base:
                    return True
        return False

    def kind(self, value) -> str:
        tp = type(value)
        if value is None:
            return "NoneType"
        if tp is self.eager_tensor:
            return "tf.Tensor"
        if tp is self.ndarray:
            return "numpy.ndarray"
        for scalar in self.scalar_types:
            if tp is scalar:
                return "numpy scalar"
        if tp is float or tp is int or tp is bool:
            return {float: "float", int: "int", bool: "bool"}[tp]
        if self.has_base(tp, self.variable_classes):
            return "tf.Variable"
        if self.has_base(tp, self.tensor_classes):
            return "tf." + self.qualname(tp) if type(self.qualname(tp)) is str else "tf.Tensor subclass"
        if self.has_base(tp, (self.ndarray,)):
            return "numpy.ndarray subclass " + self.type_name(tp)
        if self.has_base(tp, (self.generic,)):
            return "numpy scalar subclass " + self.type_name(tp)
        return self.type_name(tp)

    def trusted_array(self, value, kind):
        """``(array, None)`` for the exact types converted here by C functions, ``(None, why)`` for values that
        are not numbers, else ``(None, None)`` (to be converted in a job)."""
        if kind == "NoneType":
            return None, "None"
        if kind == "tf.Tensor":
            array = self.numpy_internal(value)
        elif kind == "numpy.ndarray":
            array = value
        elif kind in ("numpy scalar", "float", "int", "bool"):
            array = self.np_asarray(value)
        else:
            return None, None
        return self.finish(array)

    def finish(self, array):
        """Check and copy an exact ndarray: ``(array of an allowed dtype, None)`` or ``(None, why)``."""
        for scalar in self.scalar_types:  # a 0-d tensor's value comes back as a NumPy scalar
            if type(array) is scalar:
                array = self.np_asarray(array)
                break
        if type(array) is not self.ndarray:
            return None, "could not be converted to an array"
        if array.size > MAX_ELEMENTS:
            return None, f"has {array.size} elements (too many)"
        for dtype, _ in self.dtype_names:
            if array.dtype is dtype:
                return self.ndarray_copy(array, order="C"), None
        if array.dtype.kind in "fiub":
            return self.ndarray_astype(array, self.float64, order="C"), None
        return None, f"has dtype {array.dtype.str}, not a numeric dtype"

    def dtype_name(self, array) -> str:
        for dtype, name in self.dtype_names:
            if array.dtype is dtype:
                return name
        return array.dtype.str

    def describe(self, values):
        """``[(info, array or None)]`` for the student's returned objects (see the module docstring)."""
        kinds = [self.kind(v) for v in values]
        described, pending = [], []
        for i, (value, kind) in enumerate(zip(values, kinds)):
            array, why = self.trusted_array(value, kind)
            if array is None and why is None:
                pending.append(i)
            described.append([kind, array, why])
        if pending:
            try:
                converted = self.run("job_convert", [values[i] for i in pending])
            except _JobFailed:
                converted = None
            for n, i in enumerate(pending):
                pair = _item(converted, n)
                array, why = _item(pair, 0), _item(pair, 1)
                if array is not None:
                    array, why = self.finish(array)
                if array is None and type(why) is not str:
                    why = "could not be converted to an array"
                described[i][1], described[i][2] = array, why
        out = []
        for kind, array, why in described:
            info = {"type": kind}
            if kind in _NOT_NUMBERS:
                array, why = None, f"a {kind}, not a number or an array"
            if array is not None:
                info["dtype"], info["shape"] = self.dtype_name(array), list(array.shape)
            else:
                info["error"] = why[:300]
            out.append((info, array))
        return out

    def pair(self, value):
        """The two items of a returned pair (exact tuple or list of length 2, or their subclasses), or None."""
        tp = type(value)
        if tp is tuple or self.has_base(tp, (tuple,)):
            if self.tuple_len(value) == 2:
                return self.tuple_get(value, 0), self.tuple_get(value, 1)
        elif tp is list or self.has_base(tp, (list,)):
            if self.list_len(value) == 2:
                return self.list_get(value, 0), self.list_get(value, 1)
        return None

    def pair_length(self, value):
        tp = type(value)
        if tp is tuple or self.has_base(tp, (tuple,)):
            return self.tuple_len(value)
        if tp is list or self.has_base(tp, (list,)):
            return self.list_len(value)
        return None


_NOT_NUMBERS = frozenset({"str", "bytes", "bytearray", "dict", "set", "frozenset", "function",
                          "builtin_function_or_method", "method", "type"})


class _Tamper(Exception):
    pass


class _JobFailed(Exception):
    pass


def _drain(log):
    items = list(log)
    del log[:]
    return items


def _status(value):
    """``value`` if it is an exact str (safe to compare), else None."""
    return value if type(value) is str else None


def _fields(value) -> dict:
    """The exact-str keys of an exact dict, copied into a new dict (lookups in a student-made dict could call
    ``__eq__`` of a key the student planted)."""
    if type(value) is not dict:
        return {}
    return {k: v for k, v in dict.items(value) if type(k) is str}


def _item(value, i):
    """``value[i]`` for an exact tuple or list, else None (never runs student code)."""
    if type(value) is tuple and i < tuple.__len__(value):
        return tuple.__getitem__(value, i)
    if type(value) is list and i < list.__len__(value):
        return list.__getitem__(value, i)
    return None


def clean(value, depth: int = 0):
    """A copy of ``value`` made of exact JSON types only (str truncated, depth and size limited)."""
    tp = type(value)
    if value is None or tp is bool or tp is int:
        return value
    if tp is float:
        return value
    if tp is str:
        return value[:2000]
    if depth > 6:
        return None
    if tp is list or tp is tuple:
        n = list.__len__(value) if tp is list else tuple.__len__(value)
        return [clean(value[i], depth + 1) for i in range(min(n, 50))]
    if tp is dict:
        out = {}
        for k, v in dict.items(value):
            if type(k) is str and len(out) < 50:
                out[k[:100]] = clean(v, depth + 1)
        return out
    return None


# --------------------------------------------------------------------------------------------------------------
# The operations
# --------------------------------------------------------------------------------------------------------------

def _error(message, kind="BadReturn"):
    return {"type": kind, "message": message, "where": None}


def _returned(p: _Protected, result):
    """Split a job's ``(status, ...)`` tuple; returns ``(status, items)`` with ``status`` an exact str."""
    status = _item(result, 0)
    if type(status) is not str:
        raise _JobFailed({"type": "Error", "message": "a job returned no status", "where": None})
    return status, result


def _op_setup(p: _Protected, header, arrays):
    statements = header.get("statements")  # from the grader (tag checked), not from the student
    statements = statements if type(statements) is list else []
    p.namespace = {"__name__": "__main__", "__builtins__": _builtins}
    result = _fields(p.run("job_setup", p.namespace, statements, p.cells_dir))
    errors = clean(result.get("errors")) if type(result.get("errors")) is list else []
    defined = {}
    for name, key in ((LOSS, "loss"), (UPDATE, "update")):
        value = result.get(key)
        defined[name] = "missing" if value is None else ("function" if callable(value) else p.kind(value))
    return {"ok": True, "defined": defined, "errors": errors}, {}


def _raised_response(error, seconds=None, **extra):
    response = {"ok": False, "error": clean(error) if type(error) is dict else _error("failed", "Error")}
    if type(seconds) is float:
        response["seconds"] = seconds
    response.update(extra)
    return response


def _op_loss(p: _Protected, header, arrays):
    np = p.np
    X = p.ndarray_astype(arrays["X"], np.dtype("float32"))
    result = p.run("job_loss", p.namespace, p.models[header["model"]], X, int(header["target_y"]),
                   float(header["l2_reg"]), header.get("input") == "tensor", p.cells_dir)
    status, result = _returned(p, result)
    seconds = _item(result, 2)
    seconds = seconds if type(seconds) is float else 0.0
    if status == "missing":
        return _raised_response(_item(result, 1)), {}
    if status == "raised":
        return _raised_response(_item(result, 1), seconds), {}
    out = _item(result, 1)
    items = p.pair(out)
    if items is None:
        n = p.pair_length(out)
        kind = p.kind(out)
        length = f" of length {n}" if n is not None else ""
        return {"ok": False, "seconds": seconds, "error": _error(
            f"returned a {kind.rsplit('.', 1)[-1]}{length} instead of the pair (loss, dX)")}, {}
    (loss_info, loss), (dX_info, dX) = p.describe(list(items))
    out_arrays = {}
    if loss is not None:
        out_arrays["loss"] = loss
    if dX is not None:
        out_arrays["dX"] = dX
    return {"ok": True, "loss": loss_info, "dX": dX_info, "seconds": seconds}, out_arrays


def _op_update(p: _Protected, header, arrays):
    np = p.np
    X = p.ndarray_astype(arrays["X"], np.dtype("float32"))  # a fresh writable array owned by this call
    inject = None
    if header.get("inject"):
        inject = (float(header.get("inject_loss", 0.0)), p.ndarray_astype(arrays["G"], np.dtype("float32")))
    result = p.run("job_update", p.namespace, p.models[header["model"]], X, int(header["target_y"]),
                   float(header["l2_reg"]), float(header["learning_rate"]), inject, p.cells_dir)
    X_after = p.ndarray_copy(X)
    status, result = _returned(p, result)
    calls = _item(result, 3)
    calls = calls if type(calls) is int else 0
    seconds = _item(result, 2)
    seconds = seconds if type(seconds) is float else 0.0
    if status == "missing":
        return _raised_response(_item(result, 1)), {}
    if status == "raised":
        return _raised_response(_item(result, 1), seconds, injected_calls=calls), {"X_after": X_after}
    out = _item(result, 1)
    (info, X_new), = p.describe([out])
    info["is_input"] = out is X
    out_arrays = {"X_after": X_after}
    if X_new is not None:
        out_arrays["X_new"] = X_new
    return {"ok": True, "X_new": info, "injected_calls": calls, "seconds": seconds}, out_arrays


def _op_plain_steps(p: _Protected, header, arrays):
    np = p.np
    X = p.ndarray_astype(arrays["X"], np.dtype("float32"))
    result = p.run("job_plain_steps", p.namespace, p.models[header["model"]], X, int(header["target_y"]),
                   float(header["l2_reg"]), float(header["learning_rate"]), int(header["steps"]), p.cells_dir)
    status, result = _returned(p, result)
    if status == "missing":
        return _raised_response(_item(result, 1)), {}
    outputs = _item(result, 1) if status == "returned" else _item(result, 3)
    arrays_out = {}
    n = list.__len__(outputs) if type(outputs) is list else 0
    for k in range(n):
        array, why = p.finish(_item(outputs, k))
        if array is None:
            return {"ok": False, "step": k, "error": _error(f"returned {why}")}, arrays_out
        arrays_out[f"X{k + 1}"] = array
    step = _item(result, 2)
    step = step if type(step) is int else n
    if status == "raised":
        return {"ok": False, "error": clean(_item(result, 1)), "step": step}, arrays_out
    if status == "bad":
        why = _item(result, 1)
        return {"ok": False, "step": step, "error": _error(f"returned {why if type(why) is str else 'no array'}")}, \
            arrays_out
    return {"ok": True}, arrays_out


def _op_compile(p: _Protected, header, arrays):
    np = p.np
    X = p.ndarray_astype(arrays["X"], np.dtype("float32"))
    model = p.models[header["model"]]
    result = p.run("job_compile", p.namespace, model, X, int(header["target_y"]), float(header["l2_reg"]),
                   p.compile_loss_and_gradient, p.compile_cache, p.cells_dir)
    status, result = _returned(p, result)
    if status == "missing":
        return _raised_response(_item(result, 1)), {}
    fn, compiled, reason, seconds, call = (_item(result, i) for i in range(1, 6))
    seconds = seconds if type(seconds) is float else 0.0
    if reason is not None:
        return {"ok": True, "reason": clean(reason) if type(reason) is str else "not compiled",
                "seconds": seconds}, {}
    # compile_loss_and_gradient returns a plain function holding the tf.function as ``.graph``
    graph = None
    if type(compiled) is p.function_type and compiled is not fn:
        try:
            graph = p.object_getattribute(compiled, "graph")
        except BaseException:  # noqa: BLE001
            graph = None
    if type(graph) is not p.tf_function_class:
        p.tampered.append("the compiled gradient function is not a tf.function")
        raise _Tamper()
    if _status(_item(call, 0)) != "returned":
        error = clean(_item(call, 1)) if type(_item(call, 1)) is dict else {}
        return {"ok": True, "reason": f"{error.get('type', 'Error')}: {str(error.get('message', ''))[:200]}"}, {}
    items = p.pair(_item(call, 1))
    if items is None:
        return {"ok": True, "reason": "the compiled function does not return the pair (loss, dX)"}, {}
    (_, loss), (_, dX) = p.describe(list(items))
    arrays = {name: value for name, value in (("loss", loss), ("dX", dX)) if value is not None}
    return {"ok": True, "reason": None, "seconds": seconds}, arrays


def _op_start_loop(p: _Protected, header, arrays):
    model = p.models[header["model"]]
    result = p.run("job_start_loop", p.namespace, model, p.visualize, p.compile_loss_and_gradient,
                   p.assignment_step, p.compile_cache, p.cells_dir)
    status, result = _returned(p, result)
    if status != "started":
        return _raised_response(_item(result, 1)), {}
    p.loop_step = _item(result, 1)
    reason = _item(result, 2)
    return {"ok": True, "reason": reason if type(reason) is str or reason is None else "not compiled"}, {}


def _op_step(p: _Protected, header, arrays):
    np = p.np
    if p.loop_step is None:
        return {"ok": False, "error": _error("start_loop was not called", "NoLoop")}, {}
    X = p.ndarray_astype(arrays["X"], np.dtype("float32"))
    result = p.run("job_step", p.loop_step, p.models[header["model"]], X, int(header["target_y"]),
                   float(header["l2_reg"]), float(header["learning_rate"]), p.cells_dir)
    status, result = _returned(p, result)
    if status == "raised":
        return _raised_response(_item(result, 1)), {}
    if status == "bad":
        why = _item(result, 1)
        return {"ok": False, "error": _error(f"returned {why if type(why) is str else 'no array'}")}, {}
    array, why = p.finish(_item(result, 1))
    if array is None:
        return {"ok": False, "error": _error(f"returned {why}")}, {}
    seconds = _item(result, 2)
    return {"ok": True, "seconds": seconds if type(seconds) is float else 0.0}, {"X_new": array}


_OPS = {"setup": _op_setup, "loss": _op_loss, "update": _op_update, "plain_steps": _op_plain_steps,
        "compile": _op_compile, "start_loop": _op_start_loop, "step": _op_step}


def serve(p: _Protected) -> None:
    """Answer requests until the grader closes the pipe (this loop never runs student code itself)."""
    receive, send, perf, ops = p.receive, p.send, p.perf, dict(_OPS)
    while True:
        try:
            header, arrays = receive()
        except wire.PeerClosed:
            break
        op = header.get("op")
        started = perf()
        handler = ops.get(op) if type(op) is str else None
        before = len(p.tampered)
        if handler is None:
            response, out = {"ok": False, "error": _error(f"unknown op {op!r}", "BadRequest")}, {}
        else:
            try:
                response, out = handler(p, header, arrays)
            except _Tamper:
                response, out = {"ok": False, "error": _error("tampering detected", "Tampered")}, {}
            except _JobFailed as exc:
                error = exc.args[0] if exc.args and type(exc.args[0]) is dict else _error("failed", "Error")
                response, out = {"ok": False, "error": error}, {}
            except Exception as exc:  # noqa: BLE001 - a harness bug: answer it, do not die
                name = type(exc).__name__ if type(type(exc).__name__) is str else "Exception"
                response, out = {"ok": False, "error": _error(f"the grading harness failed ({name})",
                                                              "HarnessError")}, {}
        if p.tampered:  # the grader stops trusting this process; the loop goes on answering (tests use it)
            response["tampered"] = list(p.tampered[:20])
            response["tampered_now"] = list(p.tampered[before:before + 20])
        response["op"], response["wall"] = op, perf() - started
        send(response, out)


# --------------------------------------------------------------------------------------------------------------
# Start-up
# --------------------------------------------------------------------------------------------------------------

def read_config(stream_fd: int = 0) -> dict:
    """Read the JSON configuration the grader wrote on stdin, then point stdin at /dev/null."""
    chunks = []
    while True:
        chunk = os.read(stream_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, stream_fd)
    os.close(devnull)
    return json.loads(b"".join(chunks).decode("utf-8"))


def main(argv=None) -> None:
    """Run the student process (see the module docstring). The configuration comes from stdin (or, for tests,
    as the JSON string ``argv[0]``)."""
    config = json.loads(argv[0]) if argv else read_config()
    key = bytes.fromhex(config.pop("key")) if config.get("key") else None
    limit_resources(config.get("memory_bytes"), config.get("cpu_seconds"), config.get("file_bytes"),
                    config.get("processes"))
    non_dumpable = make_non_dumpable()
    end = wire.BlockingEnd(config["read_fd"], config["write_fd"], key)
    del key
    sandbox = os.path.realpath(config["sandbox"])
    os.chdir(sandbox)
    sys.path[:] = [sandbox] + [p for p in sys.path if p and os.path.realpath(p) != sandbox]
    start = time.perf_counter()
    try:
        import _thread

        import numpy as np
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(config.get("threads", 1)))
        tf.config.threading.set_inter_op_parallelism_threads(int(config.get("threads", 1)))
        try:  # TF/Keras rewrite tracebacks (reading tb_frame); plain tracebacks are enough here
            tf.debugging.disable_traceback_filtering()
            import keras

            keras.config.disable_traceback_filtering()
        except Exception:  # noqa: BLE001 - older versions: nothing to disable
            pass
        import importlib.util

        import classviz
        from classviz import visualize

        if not os.path.realpath(classviz.__file__).startswith(sandbox + os.sep) or \
                importlib.util.find_spec("classviz_reference") is not None:
            raise RuntimeError(f"the student process imported {classviz.__file__}, not the sandbox copy")
        models = {"linear": LinearStandIn(int(config.get("standin_seed", 0)))}
        if config.get("weights"):
            models["squeezenet"] = classviz.load_squeezenet(config["weights"])
            models["squeezenet"](np.zeros((1, 224, 224, 3), np.float32))  # warm up outside the student's time
        models["linear"](np.zeros((1, 224, 224, 3), np.float32))
        cells_dir = os.path.join(sandbox, "cells") + os.sep
        protected = _Protected(np, tf, visualize, models, cells_dir, end.send, end.receive)
        protected.refusals = install_audit_hook(sandbox, default_read_roots(sandbox), _thread.get_ident())
        disable_escape_hatches()
    except BaseException as exc:  # noqa: BLE001 - report any start-up failure to the grader
        end.send({"op": "hello", "ok": False, "error": f"{type(exc).__name__}: {exc}"[:1000]})
        raise
    end.send({"op": "hello", "ok": True, "seconds": time.perf_counter() - start, "non_dumpable": non_dumpable,
              "uid": os.getuid(), "versions": {"python": sys.version.split()[0], "tensorflow": tf.__version__,
                                               "numpy": np.__version__}})
    if _SELF_PACKAGE:  # nothing of this package stays importable by name (the worker module is student realm)
        for name in [m for m in sys.modules if m == _SELF_PACKAGE or m.startswith(_SELF_PACKAGE + ".")]:
            if not name.endswith(".worker"):
                del sys.modules[name]
    serve(protected)
    os._exit(0)  # noqa: SLF001 - skip interpreter teardown (and any atexit hook the student registered)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
