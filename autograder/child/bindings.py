"""What the request loop trusts once student code runs, all bound before it ran.

Rule of this module: the request loop (:mod:`.operations`, in the main thread) never calls a method of a student's
object and never runs student code itself. :class:`Jobs` runs student code in fresh threads (:mod:`.worker`) and,
after each job, compares the functions and classes the checks rely on with a snapshot (:class:`Integrity`) and
collects the audit hook's refusals: a change is tampering. :class:`Classifier` tells what a job returned by the
identity of exact types (``type(x) is EagerTensor``; no ``isinstance``) and converts tensors and arrays with C
functions bound at start-up; anything else is converted in a job.
"""

from __future__ import annotations

import builtins as _builtins

__builtins__ = dict(vars(_builtins))  # private copy: the student may rebind builtins.len & co.

import sys  # noqa: E402

from . import MAX_ELEMENTS, wire, worker  # noqa: E402
from .standin import LinearStandIn  # noqa: E402


class Integrity:
    """A snapshot of the identity of what the checks rely on (builtins, NumPy, TensorFlow, ``classviz``,
    ``classviz.visualize`` and the modules its compiler and step call, the tensor, variable, tape and tf.function
    classes, the stand-in), and its changes."""

    def __init__(self, np, tf, visualize):
        from tensorflow.python.eager import backprop
        from tensorflow.python.eager.polymorphic_function import eager_function_run, polymorphic_function
        from tensorflow.python.framework import ops
        from tensorflow.python.ops import resource_variable_ops, variables

        self.dict_items, self.list_len = dict.items, list.__len__
        self.watch = self._watch_list(np, tf, visualize, backprop, eager_function_run, polymorphic_function,
                                      ops, resource_variable_ops, variables)
        self.snapshot = [(label, self._entries(getter), getter) for label, getter in self.watch]
        self.gc_callbacks = sys.modules["gc"].callbacks

    @staticmethod
    def _watch_list(np, tf, visualize, backprop, eager_function_run, polymorphic_function, ops,
                    resource_variable_ops, variables):
        import classviz

        watch = []
        for label, module in (("builtins", _builtins), ("numpy", np), ("numpy.testing", getattr(np, "testing", None)),
                              ("tensorflow", tf), ("classviz", classviz), ("classviz.visualize", visualize),
                              # what classviz.visualize's compile_loss_and_gradient and assignment_step call
                              ("classviz.settings", classviz.settings), ("classviz.tf_compile", classviz.tf_compile),
                              ("classviz.tf_variables", classviz.tf_variables),
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

    def changes(self) -> list:
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


class Jobs:
    """Runs the worker's jobs (student code) in fresh threads and keeps the list of tampering seen.

    Attributes:
        tampered: what was found (integrity changes, refused tampering, altered results); once not empty, the
            grader trusts nothing more from this process.
        refusals: the audit hook's log (set once the hook is installed).
    """

    def __init__(self, integrity: Integrity):
        import _thread

        self.integrity = integrity
        self.start_thread, self.allocate_lock = _thread.start_new_thread, _thread.allocate_lock
        self.entry = worker.entry
        self.jobs = {name: getattr(worker, name) for name in dir(worker) if name.startswith("job_")}
        self.list_len, self.list_get = list.__len__, list.__getitem__
        self.tuple_len, self.tuple_get = tuple.__len__, tuple.__getitem__
        self.tampered, self.refusals = [], []

    def run(self, name, *args):
        """Run worker job ``name`` in a fresh thread and wait; returns its result (untrusted) or raises."""
        results = []
        done = self.allocate_lock()
        done.acquire()
        self.start_thread(self.entry, (self.jobs[name], args, results.append, done))
        done.acquire()
        done.release()
        changed = self.integrity.changes()
        for what in changed:
            if what not in self.tampered:
                self.tampered.append(what)
        for kind, what in drain(self.refusals):
            if kind == "tamper" and what not in self.tampered:
                self.tampered.append(what)
        if self.list_len(results) == 0:  # the job could not even hand its result over (memory exhausted?)
            raise JobFailed(error_dict("the call's result was lost (the process may be out of memory)", "Lost"))
        item = self.list_get(results, 0) if self.list_len(results) == 1 else None
        status = exact_str(nth(item, 0)) if type(item) is tuple and self.tuple_len(item) == 2 else None
        if status not in ("ok", "error"):
            self.tampered.append("the result of a call was altered by the student's code")
            raise Tamper()
        if status == "error":
            raise JobFailed(clean(self.tuple_get(item, 1)))
        return self.tuple_get(item, 1)


class Classifier:
    """Classification and conversion of the student's returned objects by exact type (see the module docstring)."""

    def __init__(self, np, tf, jobs: Jobs):
        from tensorflow.python.framework import ops
        from tensorflow.python.ops import resource_variable_ops, variables

        self.jobs = jobs
        self.eager_tensor = ops.EagerTensor
        self.tensor_classes = (ops._EagerTensorBase, tf.Tensor)  # noqa: SLF001
        self.variable_classes = (resource_variable_ops.BaseResourceVariable, variables.Variable)
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
                converted = self.jobs.run("job_convert", [values[i] for i in pending])
            except JobFailed:
                converted = None
            for n, i in enumerate(pending):
                pair = nth(converted, n)
                array, why = nth(pair, 0), nth(pair, 1)
                if array is not None:
                    array, why = self.finish(array)
                if array is None and type(why) is not str:
                    why = "could not be converted to an array"
                described[i][1], described[i][2] = array, why
        out = []
        for kind, array, why in described:
            info = {"type": kind}
            if kind in NOT_NUMBERS:
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


def error_dict(message, kind="BadReturn"):
    """A clean error dict for the grader (no student object in it)."""
    return {"type": kind, "message": message, "where": None}


NOT_NUMBERS = frozenset({"str", "bytes", "bytearray", "dict", "set", "frozenset", "function",
                          "builtin_function_or_method", "method", "type"})


class Tamper(Exception):
    """The student's code tampered with the grading machinery (the reason is in the tamper list)."""


class JobFailed(Exception):
    """A job gave no result: ``args[0]`` is a clean error dict."""


def drain(log):
    items = list(log)
    del log[:]
    return items


def exact_str(value):
    """``value`` if it is an exact str (safe to compare), else None."""
    return value if type(value) is str else None


def str_fields(value) -> dict:
    """The exact-str keys of an exact dict, copied into a new dict (lookups in a student-made dict could call
    ``__eq__`` of a key the student planted)."""
    if type(value) is not dict:
        return {}
    return {k: v for k, v in dict.items(value) if type(k) is str}


def nth(value, i):
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
