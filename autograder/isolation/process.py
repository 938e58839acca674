"""The lifecycle of one student process: start, hello, requests under deadlines, kill; and its time and memory limits.

Rule of this module: (a sandbox from :func:`~.layout.prepare_sandbox`, :class:`Limits`) => (a running student
process answering requests, or a precise reason why it did not). The process is a fresh Python (``-I -B``: no user
site, no ``PYTHON*`` variables, no bytecode; :data:`BOOT` is its first code) in its own session and process group,
with a minimal environment whose HOME, TMPDIR and caches point into its sandbox, and its configuration and a
per-process key (the wire's HMAC key, :mod:`autograder.child.wire`) on stdin -- never on its command line. It
starts in the mode :func:`~.choice.choose` picks (whose class lays out its files and wraps its command). On any
timeout the whole process group (and with namespaces, the whole PID namespace) is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from ..child import wire
from .base import real_python
from .choice import choose

DEFAULT_MEMORY_GB = 8
"""Address-space limit of a student process, in GiB, unless ``--memory-gb`` says otherwise."""
# The first code of a student process (passed to `python -I -B -c`, with the sandbox folder as argv[1]): put the
# sandbox first on sys.path and run the harness. It binds no name in __main__: nothing of the harness is reachable
# from the student's code through sys.modules. It goes on the command line, which the student's code can read, and
# names nothing of the grader.
BOOT = ("__import__('sys').path.insert(0, __import__('sys').argv[1]); "
        "__import__('cvgrade_child.harness').harness.main()\n")


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
        processes: processes and threads the student's user may have (RLIMIT_NPROC; not applied under "audit-hook
            only", where the process runs as the grader's user).
    """
    startup_seconds: float = 180.0
    call_seconds: float = 60.0
    loop_seconds: float = 300.0
    submission_seconds: float = 900.0
    memory_bytes: int = DEFAULT_MEMORY_GB * 2 ** 30
    cpu_seconds: int = 1800
    file_bytes: int = 256 * 2 ** 20
    threads: int = 1
    processes: int = 1024

    def to_dict(self) -> dict:
        return asdict(self)


class StudentProcessError(Exception):
    """The student process did not answer.

    Attributes:
        kind: ``"timeout"``, ``"crashed"``, ``"protocol"``, ``"tampered"`` (a frame on the pipe without the
            process's tag: written by the student's code) or ``"startup"``.
        detail: one line for the feedback (exit status, time limit, ...).
    """

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


class _Tail:
    """Drain a pipe in a thread, keeping only its last ``limit`` bytes (a flood never blocks the child)."""

    def __init__(self, stream, limit: int = 16384):
        self.limit, self.data = limit, bytearray()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        try:
            with suppress(OSError, ValueError):
                while chunk := stream.read1(65536):
                    self.data += chunk
                    if len(self.data) > 2 * self.limit:
                        del self.data[:-self.limit]
        finally:
            with suppress(OSError):
                stream.close()

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


class StudentProcess:
    """A running student process and the grader's end of its pipes, in the mode :func:`~.choice.choose` gives when
    it is created (so a grader calls :func:`~.choice.close_to_students` first: without it, the unprivileged-user mode
    is refused and the process runs under the audit hook only).

    Args:
        sandbox: the folder from :func:`~.layout.prepare_sandbox` (becomes the process's working directory).
        limits: :class:`Limits`.
        weights: folder of the verified SqueezeNet weights, or None (then only the stand-in model exists).
        standin_seed: seed of :class:`autograder.child.standin.LinearStandIn`.
        python: the interpreter (the grader's own by default).
    """

    def __init__(self, sandbox: Path, limits: Limits, weights=None, standin_seed: int = 0, python=None):
        self.sandbox, self.limits = Path(sandbox), limits
        self.weights, self.standin_seed = weights, standin_seed
        self.python = real_python(python or sys.executable)
        self.proc = self.end = self.hello = self.stdout = self.stderr = None
        self.uid = None  # the process's own user id (unprivileged-user mode)
        choice = choose(self.python)
        self.mode, self.isolation, self.isolation_detail = choice.mode, choice.name, choice.detail

    def start(self) -> None:
        """Spawn the process (returns at once; :meth:`wait_ready` waits for its start-up)."""
        placement = self.mode.place(self.sandbox, os.path.realpath(self.weights) if self.weights else None)
        sb, self.uid = placement.sandbox, placement.uid
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        key = secrets.token_bytes(32)
        config = {"read_fd": req_r, "write_fd": resp_w, "sandbox": sb,
                  "memory_bytes": self.limits.memory_bytes, "cpu_seconds": self.limits.cpu_seconds,
                  "file_bytes": self.limits.file_bytes, "threads": self.limits.threads,
                  "processes": self.limits.processes if self.mode.limits_processes else None,
                  "weights": placement.weights, "standin_seed": self.standin_seed, "key": key.hex()}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": f"{sb}/home", "TMPDIR": f"{sb}/tmp",
               "MPLCONFIGDIR": f"{sb}/mpl", "MPLBACKEND": "Agg", "KERAS_HOME": f"{sb}/keras",
               "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "OMP_NUM_THREADS": "1",
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NBGRADER_EXECUTION": "autograde",
               "TF_NUM_INTEROP_THREADS": str(self.limits.threads),
               "TF_NUM_INTRAOP_THREADS": str(self.limits.threads)}
        command, cwd = self.mode.wrap([self.python, "-I", "-B", "-c", BOOT, sb], self.sandbox, placement, self.python)
        try:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                pass_fds=(req_r, resp_w), start_new_session=True, close_fds=True)
        finally:
            os.close(req_r)
            os.close(resp_w)
        with suppress(OSError):  # the configuration and the key on stdin only (not in /proc/<pid>/cmdline, environ)
            self.proc.stdin.write(json.dumps(config).encode("utf-8"))
            self.proc.stdin.close()
        self.end = wire.DeadlineEnd(resp_r, req_w, key)
        self.stdout = _Tail(self.proc.stdout)
        self.stderr = _Tail(self.proc.stderr)

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
                                                 f"{self.describe_exit()}; {self.stderr_tail(300)}")
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
            StudentProcessError: ``"timeout"`` (the process is killed), ``"crashed"`` (it ended), ``"tampered"``
            (a frame without the process's tag; killed) or ``"protocol"`` (it answered garbage; killed).
        """
        if self.proc is None or self.proc.poll() is not None:
            raise StudentProcessError("crashed", self.describe_exit())
        try:
            self.end.send(header, arrays, deadline)
            return self.end.receive(deadline)
        except wire.WireTimeout:
            kind, detail = "timeout", "the time limit was reached"
        except wire.PeerClosed:
            self._wait_exit(2.0)
            kind, detail = "crashed", None  # its exit status, once killed
        except wire.Tampered as exc:
            kind, detail = "tampered", f"something else than the grading harness wrote on its pipe ({exc})"
        except wire.WireError as exc:
            kind, detail = "protocol", f"it wrote something unexpected on the grader's pipe ({exc})"
        self.kill()
        raise StudentProcessError(kind, detail or self.describe_exit())

    def _wait_exit(self, seconds: float) -> None:
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=seconds)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group, reap the process, close the pipes (idempotent)."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(ProcessLookupError):
            self.proc.kill()
        self._wait_exit(30)  # (an unkillable process is left behind)
        for _ in range(100):  # the rest of the group (the namespace's init, the student process) is gone too
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.05)
        for fd in (self.end.read_fd, self.end.write_fd) if self.end else ():
            with suppress(OSError):
                os.close(fd)
        self.end = None
        for tail in (self.stdout, self.stderr):
            if tail is not None:
                tail.thread.join(timeout=5)

    def close(self) -> None:
        """Ask the process to finish (close its request pipe), then kill whatever remains."""
        if self.end is not None:
            with suppress(OSError):
                os.close(self.end.write_fd)
            self.end.write_fd = -1
            self._wait_exit(5.0)
        self.kill()

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the process wrote to stderr (TensorFlow's log lines filtered out)."""
        if self.stderr is None:
            return ""
        lines = [line for line in self.stderr.text().splitlines()
                 if line.strip() and not line.startswith(("WARNING: All log messages", "I0000", "W0000"))]
        return "\n".join(lines)[-limit:]

    def describe_exit(self) -> str:
        """:func:`describe_exit` of the process (in namespaces, of the student process the init script ran)."""
        return describe_exit(self.mode.exit_code(self.proc.poll() if self.proc else None))
