"""One student process per submission: a throw-away folder, resource limits, deadlines, and a kill switch.

Rule of this module: (the statements selected from a notebook) => (a running student process answering
requests, or a precise reason why it did not). The process is a fresh Python (``-I -B``: no user site, no
``PYTHON*`` variables, no bytecode) in its own session and process group, with a minimal environment whose
HOME, TMPDIR and caches point into its sandbox. Its sandbox folder holds only what a student may see: the
student copy of ``classviz`` (:func:`classviz._release.copy_student_package`, without ``reference.py``), the
request loop :mod:`autograder.child` (as ``cvgrade_child``) and the notebook's cells. What the process does once
running is constrained by :mod:`autograder.child.harness` (limits and audit hook). On any timeout the whole
process group is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .child import wire

CHILD_PACKAGE = "cvgrade_child"
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         f"from {CHILD_PACKAGE}.harness import main; main(sys.argv[2:])")


@dataclass(frozen=True)
class Limits:
    """Time and memory limits of a submission's grading (seconds, bytes).

    Attributes:
        startup_seconds: starting the process (import TensorFlow, build the models) and running the notebook's
            selected statements.
        call_seconds: one call of a student function (the first call on SqueezeNet includes TensorFlow's
            warm-up; tracing for tf.function takes a few seconds).
        loop_seconds: the whole run of the provided loop (check score_increase).
        submission_seconds: everything for one submission; what is left undone when it runs out scores 0.
        memory_bytes: address-space limit of the student process (RLIMIT_AS); TensorFlow with SqueezeNet
            needs about 2.5 GB of address space.
        cpu_seconds: CPU-time limit of the student process (RLIMIT_CPU), a backstop behind the wall-clock limits.
        file_bytes: largest file the student process may write (RLIMIT_FSIZE).
        threads: TensorFlow intra-op and inter-op threads in the student process (fixed, so grades and values do
            not depend on the number of parallel jobs).
    """
    startup_seconds: float = 180.0
    call_seconds: float = 60.0
    loop_seconds: float = 300.0
    submission_seconds: float = 900.0
    memory_bytes: int = 8 * 2 ** 30
    cpu_seconds: int = 1800
    file_bytes: int = 256 * 2 ** 20
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


class StudentProcessError(Exception):
    """The student process did not answer.

    Attributes:
        kind: ``"timeout"``, ``"crashed"``, ``"protocol"`` or ``"startup"``.
        detail: one line for the feedback (exit status, time limit, ...).
    """

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


class _Tail:
    """Drain a pipe in a thread, keeping only its last ``limit`` bytes (a flood never blocks the child)."""

    def __init__(self, stream, limit: int = 16384):
        self.limit, self.data, self.total = limit, bytearray(), 0
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        try:
            while True:
                chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not chunk:
                    break
                self.total += len(chunk)
                self.data += chunk
                if len(self.data) > 2 * self.limit:
                    del self.data[:-self.limit]
        except (OSError, ValueError):
            pass
        finally:
            try:
                stream.close()
            except OSError:
                pass

    def text(self) -> str:
        return bytes(self.data[-self.limit:]).decode("utf-8", errors="replace")


def describe_exit(returncode: int | None) -> str:
    """'exit code 3', 'killed by SIGKILL (memory, or a signal)', ... for a process's return code."""
    if returncode is None:
        return "still running"
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    extra = {"SIGKILL": " (killed: memory exhausted, or a time limit)", "SIGXCPU": " (CPU time limit)",
             "SIGABRT": " (aborted, e.g. an allocation failed under the memory limit)",
             "SIGSEGV": " (segmentation fault)"}.get(name, "")
    return f"killed by {name}{extra}"


def prepare_sandbox(parent, cell_sources: dict) -> Path:
    """Create a sandbox folder under ``parent``: the student classviz, the child package and the cells.

    Args:
        parent: an existing folder (a fresh temporary folder per submission).
        cell_sources: ``{cell index: Python source}`` of the cells whose statements will run.

    Returns:
        The sandbox folder (``parent/sandbox``).
    """
    from classviz._release import copy_student_package

    sandbox = Path(parent) / "sandbox"
    sandbox.mkdir()
    copy_student_package(sandbox)
    if (sandbox / "classviz" / "reference.py").exists():  # defensive: the release must never hold it
        raise RuntimeError("the student copy of classviz contains reference.py")
    child_src = Path(__file__).resolve().parent / "child"
    shutil.copytree(child_src, sandbox / CHILD_PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for sub in ("cells", "home", "tmp", "mpl", "keras"):
        (sandbox / sub).mkdir()
    for index, source in cell_sources.items():
        (sandbox / "cells" / f"cell_{int(index):03d}.py").write_text(source, encoding="utf-8")
    return sandbox


class StudentProcess:
    """A running student process and the grader's end of its pipes.

    Args:
        sandbox: the folder from :func:`prepare_sandbox` (becomes the process's working directory).
        limits: :class:`Limits`.
        weights: folder of the verified SqueezeNet weights, or None (then only the stand-in model exists).
        standin_seed: seed of :class:`autograder.child.standin.LinearStandIn`.
        python: the interpreter (the grader's own by default).
    """

    def __init__(self, sandbox: Path, limits: Limits, weights=None, standin_seed: int = 0, python=None):
        self.sandbox, self.limits = Path(sandbox), limits
        self.weights, self.standin_seed = weights, standin_seed
        self.python = python or sys.executable
        self.proc = None
        self.end = None
        self.hello = None

    def start(self) -> None:
        """Spawn the process (returns at once; :meth:`wait_ready` waits for its start-up)."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        config = {"read_fd": req_r, "write_fd": resp_w, "sandbox": str(self.sandbox),
                  "memory_bytes": self.limits.memory_bytes, "cpu_seconds": self.limits.cpu_seconds,
                  "file_bytes": self.limits.file_bytes, "threads": self.limits.threads,
                  "weights": str(self.weights) if self.weights else None, "standin_seed": self.standin_seed}
        sb = str(self.sandbox)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": f"{sb}/home", "TMPDIR": f"{sb}/tmp",
               "MPLCONFIGDIR": f"{sb}/mpl", "MPLBACKEND": "Agg", "KERAS_HOME": f"{sb}/keras",
               "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "OMP_NUM_THREADS": "1",
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NBGRADER_EXECUTION": "autograde",
               "TF_NUM_INTEROP_THREADS": str(self.limits.threads),
               "TF_NUM_INTRAOP_THREADS": str(self.limits.threads)}
        try:
            self.proc = subprocess.Popen(
                [self.python, "-I", "-B", "-c", _BOOT, sb, json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=sb, env=env,
                pass_fds=(req_r, resp_w), start_new_session=True, close_fds=True)
        finally:
            os.close(req_r)
            os.close(resp_w)
        self.end = wire.DeadlineEnd(resp_r, req_w)
        self.stdout = _Tail(self.proc.stdout)
        self.stderr = _Tail(self.proc.stderr)
        self.started = time.monotonic()

    def wait_ready(self, deadline: float) -> dict:
        """Wait for the process's hello (TensorFlow imported, models built, audit hook on).

        Raises:
            StudentProcessError: ``"startup"`` when it failed or did not start in time.
        """
        try:
            header, _ = self.end.receive(deadline)
        except wire.WireError as exc:
            self.kill()
            raise StudentProcessError("startup", f"the grading process did not start: {exc}; "
                                                 f"{describe_exit(self.proc.poll())}; {self.stderr_tail(300)}")
        if not header.get("ok"):
            self.kill()
            raise StudentProcessError("startup", f"the grading process failed to start: {header.get('error')}")
        self.hello = header
        return header

    def request(self, header: dict, arrays: dict | None, deadline: float):
        """Send a request and wait for its answer until ``deadline`` (``time.monotonic()``).

        Args:
            header: the request (``{"op": ..., ...}``).
            arrays: its arrays (``{name: np.ndarray}``).
            deadline: ``time.monotonic()`` value by which the answer must have arrived.

        Returns:
            ``(response header, response arrays)``.

        Raises:
            StudentProcessError: ``"timeout"`` (the process is killed), ``"crashed"`` (it ended) or
            ``"protocol"`` (it answered garbage; killed).
        """
        if self.proc is None or self.proc.poll() is not None:
            raise StudentProcessError("crashed", describe_exit(self.proc.poll() if self.proc else None))
        try:
            self.end.send(header, arrays, deadline)
            return self.end.receive(deadline)
        except wire.WireTimeout:
            self.kill()
            raise StudentProcessError("timeout", "the time limit was reached") from None
        except wire.PeerClosed:
            code = self._wait_exit(2.0)
            self.kill()
            raise StudentProcessError("crashed", describe_exit(code)) from None
        except wire.WireError as exc:
            self.kill()
            raise StudentProcessError("protocol", f"it wrote something unexpected on the grader's pipe ({exc})") \
                from None

    def _wait_exit(self, seconds: float):
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group, reap the process, close the pipes (idempotent)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - an unkillable process
            pass
        for fd in (self.end.read_fd, self.end.write_fd) if self.end else ():
            try:
                os.close(fd)
            except OSError:
                pass
        self.end = None
        for tail in (getattr(self, "stdout", None), getattr(self, "stderr", None)):
            if tail is not None:
                tail.thread.join(timeout=5)

    def close(self) -> None:
        """Ask the process to finish (close its request pipe), then kill whatever remains."""
        if self.end is not None:
            try:
                os.close(self.end.write_fd)
            except OSError:
                pass
            self.end.write_fd = -1
            self._wait_exit(5.0)
        self.kill()

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the process wrote to stderr (TensorFlow's log lines filtered out)."""
        if getattr(self, "stderr", None) is None:
            return ""
        lines = [line for line in self.stderr.text().splitlines()
                 if line.strip() and not line.startswith(("WARNING: All log messages", "I0000", "W0000"))]
        return "\n".join(lines)[-limit:]

    def returncode(self):
        return self.proc.poll() if self.proc else None


class SandboxDir:
    """A temporary folder for one submission's sandbox, removed on exit (even if the student made it read-only)."""

    def __init__(self, root=None):
        self.root = root

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="cvgrade-", dir=self.root))
        return self.path

    def __exit__(self, *exc):
        def onerror(func, path, _):
            try:
                os.chmod(path, 0o700)
                func(path)
            except OSError:
                pass
        shutil.rmtree(self.path, onerror=onerror)
