"""The start-up of one student's grading process: from a bare interpreter to the request loop.

Rule of this module: nothing of the student runs before :func:`main` has, in this order,

1. read its configuration and a per-process key from stdin (then closed), lowered its resource limits and
   marked itself non-dumpable (:mod:`.audit`);
2. imported TensorFlow (one intra-op and one inter-op thread: deterministic values whatever ``--jobs`` is),
   checked that ``classviz`` is the sandbox's copy and the reference is nowhere, built the models, and bound
   everything the request loop needs (:mod:`.bindings`: the wire's primitives and key, the exact types it
   classifies by, a snapshot of what the checks rely on; :mod:`.operations`: ``classviz.visualize``'s functions),
   all with the cyclic garbage collector off, then frozen (``gc.freeze``) before it is on again;
3. installed the audit hook and disabled the escape hatches (:mod:`.audit`), said hello to the grader, and
   removed this package's modules from ``sys.modules`` (the student's code cannot import them by name).

The grader starts it (:mod:`autograder.isolation`; when the machine allows it, inside new Linux namespaces where only
the sandbox, Python, the virtual environment and the weights are visible, as an unprivileged user). Student code
then only ever runs in *jobs* (:mod:`.worker`), each in a fresh thread, while the request loop -- in the main
thread, whose frames no job can reach -- waits, classifies what came back by exact type, and answers with
frames tagged with the key (:mod:`.wire`).
"""

from __future__ import annotations

import builtins as _builtins

__builtins__ = dict(vars(_builtins))  # private copy: the student may rebind builtins.len & co.

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from . import wire  # noqa: E402
from .audit import default_read_roots, disable_escape_hatches, install_audit_hook, limit_resources, make_non_dumpable  # noqa: E402,E501
from .bindings import Classifier, Integrity, Jobs  # noqa: E402
from .operations import RequestLoop  # noqa: E402
from .standin import IMAGE_SHAPE, LinearStandIn  # noqa: E402

_SELF_PACKAGE = __package__


class _NoPlotting:
    """A meta path finder refusing matplotlib while TensorFlow imports. Keras imports ``matplotlib.pyplot`` (about
    1.3 s, a fifth of the import) only for its optional plotting helpers, and sets them aside without it; grading
    never plots, and a student's own ``import matplotlib`` later works as usual (the finder is gone by then)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r} (while the grader imports TensorFlow)", name=name)
        return None


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
    # the sandbox, then only the Python installation's own folders: not the course folder that an editable install
    # of the project (a .pth file or finder in site-packages) adds, where classviz_reference would be importable
    python = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                           sys.base_exec_prefix})
    sys.path[:] = [sandbox] + [p for p in sys.path if p and (os.path.realpath(p) + os.sep).startswith(python)]
    sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")]
    start = time.perf_counter()
    gc.disable()  # TensorFlow's import and the models allocate millions of objects that live as long as the process
    try:
        import _thread

        import numpy as np

        sys.meta_path.insert(0, _NoPlotting)
        try:
            import tensorflow as tf
        finally:
            sys.meta_path.remove(_NoPlotting)
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
            models["squeezenet"](np.zeros((1, *IMAGE_SHAPE), np.float32))  # warm up outside the student's time
        models["linear"](np.zeros((1, *IMAGE_SHAPE), np.float32))
        cells_dir = os.path.join(sandbox, "cells") + os.sep
        jobs = Jobs(Integrity(np, tf, visualize))
        loop = RequestLoop(np, tf, visualize, models, cells_dir, jobs, Classifier(np, tf, jobs), end.send,
                           end.receive)
        gc.freeze()  # ... so no collection traverses them again (~0.3 s of CPU less per student process)
        gc.enable()
        jobs.refusals = install_audit_hook(sandbox, default_read_roots(sandbox), _thread.get_ident())
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
    loop.serve()
    os._exit(0)  # noqa: SLF001 - skip interpreter teardown (and any atexit hook the student registered)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
