"""One student process per submission: a throw-away folder, OS isolation, limits, deadlines, a kill switch.

Rule of this module: (the statements selected from a notebook) => (a running student process answering
requests, or a precise reason why it did not). The process is a fresh Python (``-I -B``: no user site, no
``PYTHON*`` variables, no bytecode) in its own session and process group, with a minimal environment whose
HOME, TMPDIR and caches point into its sandbox, and its configuration and a per-process key (the wire's HMAC
key, :mod:`autograder.child.wire`) on stdin -- never on its command line.

Isolation (:func:`isolation`), decided once per grader process:

* ``"namespaces"`` (Linux, root, or unprivileged user namespaces): the process starts inside new mount, PID and
  network namespaces (util-linux ``unshare``). A small init script builds a new root on a tmpfs holding only
  read-only bind mounts of the system folders (``/usr``, ``/etc``, ...), the Python installation, the virtual
  environment and the verified weights, a fresh ``/tmp``, a fresh ``/proc`` of the new PID namespace and a
  tmpfs copy of the sandbox; it switches to it (``pivot_root``), detaches the old root, and runs Python as the
  unprivileged user ``nobody`` (no capabilities, ``no_new_privs``). So the repository, the reference solution,
  the hidden checks, the other submissions, the grader's output folder and the grader's own ``/proc`` entry do
  not exist for the student's code -- whatever API it uses to read files (Python, TensorFlow's C++ file system,
  a child process) -- and there is no network. The init script is PID 1 of the namespace, ``unshare
  --kill-child`` kills it when ``unshare`` dies, and ``unshare`` itself gets SIGKILL when the grader dies
  (``setpriv --pdeathsig``), so no process of a submission outlives its grading.
* ``"audit-hook only"`` (no ``unshare``, or it failed): the process runs directly, constrained only by
  :mod:`autograder.child.harness`'s limits and audit hook, which do not see file access from C code
  (``tf.io.read_file``) or processes forked without an audit event. Each result records which one was used,
  and the command line prints a warning.

Its sandbox folder holds only what a student may see: the student copy of ``classviz``
(the whole ``classviz`` package, which holds no solution), the request loop
:mod:`autograder.child` (as ``cvgrade_child``) and the notebook's cells. On any timeout the whole process group
(and with namespaces, the whole PID namespace) is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import secrets
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
# binds no name in __main__: nothing of the harness is reachable from the student's code through sys.modules
_BOOT = f"__import__('sys').path.insert(0, __import__('sys').argv[1]); __import__('{CHILD_PACKAGE}.harness')" \
        f".harness.main()"
NAMESPACES, AUDIT_HOOK_ONLY = "namespaces", "audit-hook only"
NOBODY = 65534
SANDBOX_PREFIX = "cvgrade-"
OWNER_FILE = "owner"

# The init script of the namespaces (PID 1 there, root in the new mount namespace; see the module docstring).
# Arguments: host sandbox, new-root mount point, "1" to become nobody, the weights folder (copied, readable by
# nobody whatever its modes; "-" for none), the folders to bind read-only, "--", then the command. It runs the command as its child (not exec) so the student process is not PID 1, whose
# signals are special; when it ends, PID 1 ends and the kernel kills whatever else is left in the namespace.
_INIT = r"""
set -eu
STUDENT_PATH="$PATH"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SB="$1"; NR="$2"; DROP="$3"; WEIGHTS="$4"; shift 4
BINDS=""
while [ "$1" != "--" ]; do BINDS="$BINDS $1"; shift; done
shift
mount --make-rprivate /
mount -t tmpfs -o mode=755,size=16m cvroot "$NR"
bind_ro() { mkdir -p "$NR$1"; mount --rbind "$1" "$NR$1"; mount -o remount,bind,ro "$NR$1" 2>/dev/null || true; }
for d in /usr /etc; do bind_ro "$d"; done
for d in /bin /sbin /lib /lib32 /lib64 /libx32; do
  if [ -L "$d" ]; then ln -s "$(readlink "$d")" "$NR$d"; elif [ -d "$d" ]; then bind_ro "$d"; fi
done
mkdir -p "$NR/tmp" "$NR/proc" "$NR/dev"
mount -t tmpfs -o mode=1777,size=64m cvtmp "$NR/tmp"
for p in $BINDS; do bind_ro "$p"; done
if [ "$WEIGHTS" != "-" ]; then
  mkdir -p "$NR$WEIGHTS"
  mount -t tmpfs -o mode=755,size=256m cvweights "$NR$WEIGHTS"
  cp -a "$WEIGHTS/." "$NR$WEIGHTS/"
  chmod -R a+rX "$NR$WEIGHTS"
  mount -o remount,ro "$NR$WEIGHTS"
fi
mkdir -p "$NR$SB"
mount -t tmpfs -o mode=755,size=512m cvsandbox "$NR$SB"
cp -a "$SB/." "$NR$SB/"
if [ "$DROP" = 1 ]; then chown -R 65534:65534 "$NR$SB"; fi
mount -t proc -o nosuid,nodev,noexec proc "$NR/proc"
for n in null zero urandom random; do touch "$NR/dev/$n"; mount --bind "/dev/$n" "$NR/dev/$n"; done
mkdir "$NR/.oldroot"
cd "$NR"
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
cd "$SB"
PATH="$STUDENT_PATH"
if [ "$DROP" = 1 ]; then
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
else
  setpriv --no-new-privs -- "$@"
fi
exit $?
"""


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
        processes: processes and threads the student's user may have (RLIMIT_NPROC; only applied when the
            process runs as ``nobody`` in namespaces, where it counts that user alone).
    """
    startup_seconds: float = 180.0
    call_seconds: float = 60.0
    loop_seconds: float = 300.0
    submission_seconds: float = 900.0
    memory_bytes: int = 8 * 2 ** 30
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


_ISOLATION = {}
_ISOLATION_LOCK = threading.Lock()


def isolation(python=None) -> tuple:
    """How student processes are isolated on this machine: ``(mode, command prefix, reason)``.

    ``mode`` is :data:`NAMESPACES` (``prefix`` is the ``setpriv``/``unshare`` command to put before the init
    script; ``reason`` says as whom the student code runs) or :data:`AUDIT_HOOK_ONLY` (``prefix`` None,
    ``reason`` why namespaces are unavailable). Probed once per interpreter by running the init script for
    real; ``CLASSVIZ_GRADER_ISOLATION=audit-hook`` forces the fallback (tests of it).
    """
    python = python or sys.executable
    with _ISOLATION_LOCK:
        if python not in _ISOLATION:
            _ISOLATION[python] = _probe_isolation(python)
        return _ISOLATION[python]


def _probe_isolation(python) -> tuple:
    if os.environ.get("CLASSVIZ_GRADER_ISOLATION", "") in ("audit-hook", "audit-hook only", "none"):
        return AUDIT_HOOK_ONLY, None, "namespaces turned off by CLASSVIZ_GRADER_ISOLATION"
    if not sys.platform.startswith("linux"):
        return AUDIT_HOOK_ONLY, None, f"no Linux namespaces on {sys.platform}"
    missing = [t for t in ("unshare", "setpriv", "mount", "pivot_root", "umount") if shutil.which(t) is None
               and not Path("/usr/sbin", t).exists() and not Path("/sbin", t).exists()]
    if missing:
        return AUDIT_HOOK_ONLY, None, f"{', '.join(missing)} not found (util-linux)"
    base = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child"]
    candidates = [(base, True, "as nobody in new mount, PID and network namespaces")] if os.geteuid() == 0 else []
    candidates.append((base[:1] + ["--user", "--map-root-user"] + base[1:], False,
                       "in new user, mount, PID and network namespaces"))
    errors = []
    for unshare, drop, how in candidates:
        prefix = ["setpriv", "--pdeathsig", "KILL", *unshare]
        with tempfile.TemporaryDirectory(prefix=SANDBOX_PREFIX + "probe-") as tmp:
            sandbox = Path(tmp) / "sandbox"
            sandbox.mkdir()
            (sandbox / "probe.txt").write_text("ok")
            (Path(tmp) / "root").mkdir()
            argv = isolated_command(prefix, drop, sandbox, Path(tmp) / "root",
                                    [python, "-I", "-c",
                                     "import os, numpy; print(open('probe.txt').read(), os.getuid())"],
                                    python=python)
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
            except (OSError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
                continue
        if proc.returncode == 0 and proc.stdout.split()[:1] == ["ok"]:
            return NAMESPACES, prefix, how if drop else how
        errors.append((proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:200])
    return AUDIT_HOOK_ONLY, None, f"unshare failed ({'; '.join(errors)})"


def _visible_paths(python) -> list:
    """Folders the student process must see (read-only): Python and the virtual environment."""
    python_real = os.path.realpath(python)
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    paths.add(os.path.dirname(os.path.dirname(python_real)))
    venv = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    if Path(venv, "pyvenv.cfg").is_file():
        paths.add(os.path.realpath(venv))
    system = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
    kept = []
    for path in sorted(paths, key=len):
        if path in ("/", "") or any(path == s or path.startswith(s + "/") for s in system):
            continue
        if any(path == k or path.startswith(k + "/") for k in kept):
            continue
        kept.append(path)
    return kept


def isolated_command(prefix, drop: bool, sandbox, new_root, command, python=None, weights=None) -> list:
    """The argv that runs ``command`` inside the namespaces (see :data:`_INIT`)."""
    binds = _visible_paths(python or command[0])
    return [*prefix, "sh", "-c", _INIT, "cvgrade-init", os.path.realpath(sandbox), os.path.realpath(new_root),
            "1" if drop else "0", os.path.realpath(weights) if weights else "-", *binds, "--", *command]


def _process_start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_alive(owner: str) -> bool:
    try:
        pid, start = owner.split()
        pid = int(pid)
    except ValueError:
        return False
    if sys.platform.startswith("linux") and start != "0":
        return _process_start_time(pid) == start
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def clean_stale_sandboxes(root=None, min_age_seconds: float = 60.0) -> list:
    """Remove the sandbox folders left by graders that were killed (their owner process no longer exists).

    Args:
        root: the folder sandboxes are created in (default: the system's temporary folder).
        min_age_seconds: folders without an owner file younger than this are left alone (being created).

    Returns:
        The folders removed.
    """
    root = Path(root or tempfile.gettempdir())
    removed = []
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(SANDBOX_PREFIX) and p.is_dir()
                      and not p.is_symlink()]
    except OSError:
        return removed
    for path in candidates:
        try:
            owner = (path / OWNER_FILE).read_text().strip()
        except OSError:
            try:
                if time.time() - path.stat().st_mtime < min_age_seconds:
                    continue
            except OSError:
                continue
            owner = ""
        if owner and _owner_alive(owner):
            continue
        _rmtree(path)
        removed.append(path)
    return removed


def _rmtree(path) -> None:
    def onerror(func, target, _):
        try:
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)


def prepare_sandbox(parent, cell_sources: dict) -> Path:
    """Create a sandbox folder under ``parent``: the student classviz, the child package and the cells.

    Args:
        parent: an existing folder (a fresh temporary folder per submission).
        cell_sources: ``{cell index: Python source}`` of the cells whose statements will run.

    Returns:
        The sandbox folder (``parent/sandbox``).
    """
    import classviz

    sandbox = Path(parent) / "sandbox"
    sandbox.mkdir()
    shutil.copytree(Path(classviz.__file__).parent, sandbox / "classviz",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
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
        self.isolation, self._prefix, self.isolation_detail = isolation(self.python)

    def start(self) -> None:
        """Spawn the process (returns at once; :meth:`wait_ready` waits for its start-up)."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        key = secrets.token_bytes(32)
        namespaced = self.isolation == NAMESPACES
        weights = os.path.realpath(self.weights) if self.weights else None
        config = {"read_fd": req_r, "write_fd": resp_w, "sandbox": os.path.realpath(self.sandbox),
                  "memory_bytes": self.limits.memory_bytes, "cpu_seconds": self.limits.cpu_seconds,
                  "file_bytes": self.limits.file_bytes, "threads": self.limits.threads,
                  "processes": self.limits.processes if namespaced else None,
                  "weights": weights, "standin_seed": self.standin_seed, "key": key.hex()}
        sb = os.path.realpath(self.sandbox)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": f"{sb}/home", "TMPDIR": f"{sb}/tmp",
               "MPLCONFIGDIR": f"{sb}/mpl", "MPLBACKEND": "Agg", "KERAS_HOME": f"{sb}/keras",
               "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "OMP_NUM_THREADS": "1",
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NBGRADER_EXECUTION": "autograde",
               "TF_NUM_INTEROP_THREADS": str(self.limits.threads),
               "TF_NUM_INTRAOP_THREADS": str(self.limits.threads)}
        command = [self.python, "-I", "-B", "-c", _BOOT, sb]
        cwd = sb
        if namespaced:
            new_root = self.sandbox.parent / "root"
            new_root.mkdir(exist_ok=True)
            command = isolated_command(self._prefix, "nobody" in self.isolation_detail, self.sandbox, new_root,
                                       command, python=self.python, weights=weights)
            cwd = "/"
        elif shutil.which("setpriv"):  # at least: killed when the grader dies
            command = ["setpriv", "--pdeathsig", "KILL", *command]
        try:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                pass_fds=(req_r, resp_w), start_new_session=True, close_fds=True)
        finally:
            os.close(req_r)
            os.close(resp_w)
        try:  # the configuration and the key, on stdin only (never visible in /proc/<pid>/cmdline or environ)
            self.proc.stdin.write(json.dumps(config).encode("utf-8"))
            self.proc.stdin.close()
        except OSError:
            pass
        self.end = wire.DeadlineEnd(resp_r, req_w, key)
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
            StudentProcessError: ``"timeout"`` (the process is killed), ``"crashed"`` (it ended) or
            ``"protocol"`` (it answered garbage; killed).
        """
        if self.proc is None or self.proc.poll() is not None:
            raise StudentProcessError("crashed", self.describe_exit())
        try:
            self.end.send(header, arrays, deadline)
            return self.end.receive(deadline)
        except wire.WireTimeout:
            self.kill()
            raise StudentProcessError("timeout", "the time limit was reached") from None
        except wire.PeerClosed:
            self._wait_exit(2.0)
            self.kill()
            raise StudentProcessError("crashed", self.describe_exit()) from None
        except wire.Tampered as exc:
            self.kill()
            raise StudentProcessError("tampered", f"something else than the grading harness wrote on its pipe "
                                                  f"({exc})") from None
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
        for _ in range(100):  # the rest of the group (the namespace's init, the student process) is gone too
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.05)
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

    def describe_exit(self) -> str:
        """:func:`describe_exit` of the process; in namespaces, the init script reports a student process killed
        by signal N as exit status 128 + N."""
        code = self.returncode()
        if code is not None and self.isolation == NAMESPACES and 128 < code < 128 + 65:
            code = -(code - 128)
        return describe_exit(code)


class SandboxDir:
    """A temporary folder for one submission's sandbox, removed on exit (even if the student made it read-only).

    It holds an ``owner`` file (the grader's PID and start time: the batch's own, given to its worker processes
    in ``CVGRADE_SANDBOX_OWNER``) so that :func:`clean_stale_sandboxes` can tell the folders of a killed grader
    from those of a running one.
    """

    def __init__(self, root=None):
        self.root = root

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix=SANDBOX_PREFIX, dir=self.root))
        pid = int(os.environ.get("CVGRADE_SANDBOX_OWNER") or os.getpid())
        (self.path / OWNER_FILE).write_text(f"{pid} {_process_start_time(pid) or 0}\n")
        return self.path

    def __exit__(self, *exc):
        _rmtree(self.path)
