"""One student process per submission: a throw-away folder, OS isolation, limits, deadlines, a kill switch.

Rule of this module: (the statements selected from a notebook) => (a running student process answering
requests, or a precise reason why it did not). The process is a fresh Python (``-I -B``: no user site, no
``PYTHON*`` variables, no bytecode) in its own session and process group, with a minimal environment whose
HOME, TMPDIR and caches point into its sandbox, and its configuration and a per-process key (the wire's HMAC
key, :mod:`autograder.child.wire`) on stdin -- never on its command line.

Isolation (:func:`isolation`): the first of :data:`MODES` whose probe succeeds, decided once per grader process:

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
* ``"unprivileged user"`` (Linux, root, namespaces refused: the usual container): the process runs as a fresh
  user id of its own (:func:`student_uid`, ``setpriv``: no capabilities, ``no_new_privs``, the parent-death
  signal kept), in a copy of the sandbox that only it can enter, with a read-only copy of the weights
  (:func:`user_sandbox`). Before trusting this mode the grader closes the course folder, and whatever
  :func:`add_protected_paths` added (output and submission folders, the weights), to other users
  (:func:`protect`), and checks it with a probe run as such a user (:func:`_probe_user`). File permissions then
  hold whatever API reads the files; but the process sees the machine's other files, processes and network.
* ``"audit-hook only"`` (anything else): the process runs directly, constrained only by
  :mod:`autograder.child.harness`'s limits and audit hook, which do not see file access from C code
  (``tf.io.read_file``) or processes forked without an audit event.

Each result records which mode was used; :func:`isolation_summary` gives the batch a line saying it, and whether
this machine could do better. Its sandbox folder holds only what a student may see: the student copy of
``classviz`` (the whole ``classviz`` package, which holds no solution), the request loop :mod:`autograder.child`
(as ``cvgrade_child``) and the notebook's cells. On any timeout the whole process group (and with namespaces, the
whole PID namespace) is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import stat
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
NAMESPACES, USER, AUDIT_HOOK_ONLY = "namespaces", "unprivileged user", "audit-hook only"
MODES = (NAMESPACES, USER, AUDIT_HOOK_ONLY)  # strongest first
NOBODY = 65534
# user ids of the unprivileged-user mode: a block that systemd's table of UID ranges (docs/UIDS-GIDS.md) leaves
# unused -- no distribution, systemd-homed, dynamic-user, container or foreign-image id lies there
STUDENT_UIDS = range(0x70000000, 0x7FFE0000)
_SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys", "/dev", "/run",
           "/boot", "/var")
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
        processes: processes and threads the student's user may have (RLIMIT_NPROC; not applied under "audit-hook
            only", where the process runs as the grader's user).
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


# --------------------------------------------------------------------------------------------------------------
# Choosing the isolation mode
# --------------------------------------------------------------------------------------------------------------

_ISOLATION = {}  # interpreter -> (mode, prefix, reason)
_BEST = {}  # interpreter -> the strongest mode that works, whatever CLASSVIZ_GRADER_ISOLATION says
_ISOLATION_LOCK = threading.Lock()
_FORCED = {"namespaces": NAMESPACES, "user": USER, USER: USER, "audit-hook": AUDIT_HOOK_ONLY,
           AUDIT_HOOK_ONLY: AUDIT_HOOK_ONLY, "none": AUDIT_HOOK_ONLY}


def isolation(python=None) -> tuple:
    """How student processes are isolated on this machine: ``(mode, command prefix, reason)``.

    ``mode`` is the first of :data:`MODES` whose probe succeeds here (run once per interpreter, for real):
    :data:`NAMESPACES` (``prefix`` is the ``setpriv``/``unshare`` command to put before the init script),
    :data:`USER` (``prefix`` None: each process gets its own user id, see :func:`user_command`) or
    :data:`AUDIT_HOOK_ONLY` (``prefix`` None). ``reason`` says as whom the student code runs and why each
    stronger mode was not used. ``CLASSVIZ_GRADER_ISOLATION`` = ``namespaces``, ``user`` or ``audit-hook`` starts
    the choice at that mode (tests of the weaker modes).

    Raises:
        ValueError: ``CLASSVIZ_GRADER_ISOLATION`` holds something else.
    """
    python = _real_python(python or sys.executable)
    with _ISOLATION_LOCK:
        if python not in _ISOLATION:
            _ISOLATION[python] = _choose(python, _forced_mode())
        return _ISOLATION[python]


def isolation_status(python=None) -> dict:
    """What a batch's summary reports about isolation.

    Returns:
        ``{"mode", "reason"}`` as :func:`isolation`; ``"best"``: the strongest mode that works on this machine
        (probed again without ``CLASSVIZ_GRADER_ISOLATION`` when it is set); ``"weaker"``: whether ``mode`` is
        weaker than ``best``; ``"protected"``: ``[(path, mode before, mode after)]``, the permissions the
        unprivileged-user mode changed in this process (see :func:`protect`).
    """
    mode, _, reason = isolation(python)
    best = mode
    if _forced_mode() is not None:
        python = _real_python(python or sys.executable)
        with _ISOLATION_LOCK:
            if python not in _BEST:
                _BEST[python] = _choose(python, None)[0]
            best = _BEST[python]
    return {"mode": mode, "reason": reason, "best": best, "weaker": MODES.index(mode) > MODES.index(best),
            "protected": list(_PERMISSIONS_CHANGED)}


def isolation_summary(python=None) -> str:
    """One line for a batch's summary: the mode, why it is not the strongest, and a warning when this machine
    could do better (e.g. ``isolation: audit-hook only -- WEAKER than 'namespaces', which works here (...)``)."""
    status = isolation_status(python)
    line = f"isolation: {status['mode']}"
    if status["weaker"]:
        line += f" -- WEAKER than {status['best']!r}, which works here"
    return line if status["mode"] == NAMESPACES and not status["weaker"] else f"{line} ({status['reason']})"


def _forced_mode():
    value = os.environ.get("CLASSVIZ_GRADER_ISOLATION", "")
    if value and value not in _FORCED:
        raise ValueError(f"CLASSVIZ_GRADER_ISOLATION={value!r}: use 'namespaces', 'user' or 'audit-hook' "
                         "(or unset it to use the strongest mode that works)")
    return _FORCED.get(value)


def _choose(python, forced) -> tuple:
    """The first mode of :data:`MODES`, from ``forced`` on (None: from the strongest), whose probe succeeds."""
    refused = [f"CLASSVIZ_GRADER_ISOLATION={os.environ.get('CLASSVIZ_GRADER_ISOLATION')}"] if forced else []
    for mode in MODES[MODES.index(forced) if forced else 0:]:
        if mode == AUDIT_HOOK_ONLY:
            return AUDIT_HOOK_ONLY, None, "; ".join(refused)
        works, prefix, text = _probe_namespaces(python) if mode == NAMESPACES else _probe_user(python)
        if works:
            return mode, prefix, "; ".join([text, *refused])
        refused.append(f"no {mode}: {text}")


def _probe_namespaces(python) -> tuple:
    """``(True, prefix, how)`` when the init script runs a Python here, else ``(False, None, why not)``."""
    if not sys.platform.startswith("linux"):
        return False, None, f"no Linux namespaces on {sys.platform}"
    missing = [t for t in ("unshare", "setpriv", "mount", "pivot_root", "umount") if shutil.which(t) is None
               and not Path("/usr/sbin", t).exists() and not Path("/sbin", t).exists()]
    if missing:
        return False, None, f"{', '.join(missing)} not found (util-linux)"
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
            return True, prefix, how
        errors.append((proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:200])
    return False, None, f"unshare failed ({'; '.join(errors)})"


def _real_python(python) -> str:
    """``python`` with the symbolic links of its folder resolved, not of its own name.

    A virtual environment reached through a link (``/tmp/x/.venv -> /work/main/.venv``) does not exist inside
    the namespaces, and its real path must be the one bound there; but ``bin/python`` itself is a link to the
    base interpreter, and Python finds ``pyvenv.cfg`` next to the name it was started as.
    """
    path = os.path.abspath(python if os.sep in python else shutil.which(python) or python)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def _visible_paths(python) -> list:
    """Folders the student process must see (read-only): Python and the virtual environment."""
    python = _real_python(python)
    python_real = os.path.realpath(python)
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    paths.add(os.path.dirname(os.path.dirname(python_real)))
    venv = os.path.dirname(os.path.dirname(python))
    if Path(venv, "pyvenv.cfg").is_file():
        paths.add(venv)
    kept = []
    for path in sorted(paths, key=len):
        if path in ("/", "") or any(_within(path, s) for s in _SYSTEM):
            continue
        if any(_within(path, k) for k in kept):
            continue
        kept.append(path)
    return kept


def isolated_command(prefix, drop: bool, sandbox, new_root, command, python=None, weights=None) -> list:
    """The argv that runs ``command`` inside the namespaces (see :data:`_INIT`)."""
    binds = _visible_paths(python or command[0])
    return [*prefix, "sh", "-c", _INIT, "cvgrade-init", os.path.realpath(sandbox), os.path.realpath(new_root),
            "1" if drop else "0", os.path.realpath(weights) if weights else "-", *binds, "--", *command]


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


# --------------------------------------------------------------------------------------------------------------
# The unprivileged-user mode: protected paths, a fresh user id per process, its sandbox, the probe
# --------------------------------------------------------------------------------------------------------------

_EXTRA_PROTECTED = []  # added by add_protected_paths
_PERMISSIONS_CHANGED = []  # (path, mode before, mode after), by protect()


def protected_paths() -> list:
    """What the unprivileged-user mode closes to the student: the course folder (the folder that holds this
    ``autograder`` package: hidden tests, ``classviz_reference/``, ``solutions/``, the project's tests and
    submissions, the weights in ``datasets/``, ``.git``, ``gradebook.db``, ...) and the paths added with
    :func:`add_protected_paths` (a batch's output folder and submission folders, the weights folder)."""
    return [str(Path(__file__).resolve().parent.parent), *_EXTRA_PROTECTED]


def add_protected_paths(paths) -> None:
    """Close ``paths`` (existing files or folders) to the student too, in the unprivileged-user mode.

    Call it before grading; if that mode was already chosen, the next :func:`isolation` call protects them and
    probes again (and falls back to a weaker mode if they stay readable).
    """
    new = [os.path.realpath(p) for p in paths if os.path.realpath(p) not in _EXTRA_PROTECTED]
    if not new:
        return
    with _ISOLATION_LOCK:
        _EXTRA_PROTECTED.extend(dict.fromkeys(new))
        for python in [p for p, (mode, _, _) in _ISOLATION.items() if mode == USER]:
            del _ISOLATION[python]
        for python in [p for p, mode in _BEST.items() if mode == USER]:
            del _BEST[python]


def protect(paths, python=None) -> list:
    """Make ``paths`` unreadable to other users, except what the student's process needs.

    A path holding something the student's process must reach -- the Python installation and the virtual
    environment, the temporary folder where sandboxes are made, the student package ``classviz`` -- keeps its
    mode, and each of its entries is handled in turn (so a course folder holding ``.venv`` stays listable
    while every other entry of it is closed); any other path loses all permissions for "others" (``chmod
    o-rwx``: owner and group bits are kept, nothing below it is changed, it just cannot be entered any more).
    Symbolic links are followed; system folders are never changed. Paths that do not exist are skipped. Undo
    with ``chmod o+rX`` on the paths listed by :func:`isolation_status` (``"protected"``).

    Args:
        paths: files or folders.
        python: the student's interpreter (the grader's by default).

    Returns:
        ``[(path, is_dir)]``: every path now closed to others (the probe checks each of them).

    Raises:
        ValueError: one of ``paths`` lies inside something the student's process must read (then it cannot be
            closed: e.g. a grader installed into the virtual environment).
    """
    needed = _visible_paths(python or sys.executable) + [_classviz_folder()]
    passages = needed + [os.path.realpath(tempfile.gettempdir())]
    closed = []

    def visit(path, given):
        real = os.path.realpath(path)
        if not os.path.exists(real):
            return
        if any(_within(real, n) for n in needed + list(_SYSTEM)) or real in passages:
            if given:
                raise ValueError(f"{path} cannot be closed to the student: its process must read {real}")
            return
        if any(_within(p, real) for p in passages):
            for entry in sorted(os.listdir(real)):
                visit(os.path.join(real, entry), False)
            return
        mode = os.stat(real).st_mode
        if mode & 0o007:
            os.chmod(real, stat.S_IMODE(mode) & ~0o007)
            _PERMISSIONS_CHANGED.append((real, f"{stat.S_IMODE(mode):04o}", f"{stat.S_IMODE(mode) & ~0o007:04o}"))
        closed.append((real, stat.S_ISDIR(mode)))

    for path in paths:
        visit(path, True)
    return closed


def _classviz_folder() -> str:
    import classviz

    return os.path.dirname(os.path.realpath(classviz.__file__))


def student_uid() -> int:
    """A fresh user id for one student process: random in :data:`STUDENT_UIDS` and in no user or group entry.

    One id per process (not ``nobody`` for all): two submissions graded at once cannot read each other's
    sandbox or signal each other, and ``RLIMIT_NPROC`` counts one process's threads alone.
    """
    import grp
    import pwd

    for _ in range(100):
        uid = STUDENT_UIDS[secrets.randbelow(len(STUDENT_UIDS))]
        try:
            pwd.getpwuid(uid)
        except KeyError:
            try:
                grp.getgrgid(uid)
            except KeyError:
                return uid
    raise RuntimeError(f"no free user id found in {STUDENT_UIDS}")


def user_command(uid: int, command) -> list:
    """The argv that runs ``command`` as ``uid`` (group ``uid``, no other group), with no capabilities and
    ``no_new_privs``, killed (SIGKILL) when the grader dies. ``setpriv`` applies ``--pdeathsig`` after changing
    the user, which would otherwise clear it."""
    return ["setpriv", "--pdeathsig", "KILL", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *command]


def user_sandbox(sandbox, uid: int, weights=None) -> tuple:
    """Lay out the files of a process that runs as ``uid``: ``(its sandbox folder, its weights folder)``.

    Next to the grader's copy ``sandbox`` (closed to others): ``run-<uid>``, a fresh copy owned by ``uid`` with
    mode 0700 (no other student process can enter it; a restarted process never imports what the previous one
    wrote, e.g. a ``numpy.py`` or a changed harness), and ``weights/``, a copy of the verified weights that the
    process can read but not change. Their folder becomes 0711: others pass through it, cannot list it.

    Args:
        sandbox: the folder from :func:`prepare_sandbox`.
        uid: from :func:`student_uid`.
        weights: the verified weights folder, or None.
    """
    sandbox = Path(sandbox)
    parent = sandbox.parent
    os.chmod(parent, 0o711)
    os.chmod(sandbox, 0o700)
    run = parent / f"run-{uid}"
    shutil.copytree(sandbox, run, symlinks=True)
    for folder, _, files in os.walk(run):
        for path in [folder, *(os.path.join(folder, name) for name in files)]:
            os.lchown(path, uid, uid)
    os.chmod(run, 0o700)
    if not weights:
        return str(run), None
    copy = parent / "weights"
    if not copy.is_dir():
        partial = Path(tempfile.mkdtemp(prefix="weights-", dir=parent))
        shutil.copytree(weights, partial, dirs_exist_ok=True, copy_function=shutil.copyfile)
        for folder, _, files in os.walk(partial):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        os.rename(partial, copy)
    return str(run), str(copy)


# Run as the student user by the probe: every closed path must refuse to be listed, entered, read or written;
# the interpreter (the same installation as the grader's), NumPy and the sandbox must work.
_USER_PROBE = r"""
import json, os, sys
import numpy
leaks = []
def attempt(what, path, action):
    try:
        action(path)
    except OSError:
        return
    leaks.append(what + " " + path)
def create_in(folder):
    name = os.path.join(folder, ".cvgrade-probe")
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.unlink(name)
for path, is_dir in json.loads(sys.argv[1]):
    if is_dir:
        attempt("list", path, os.listdir)
        attempt("enter", path, lambda p: os.stat(os.path.join(p, ".")))
        attempt("write into", path, create_in)
    else:
        attempt("read", path, lambda p: open(p, "rb").close())
        attempt("write", path, lambda p: os.close(os.open(p, os.O_WRONLY | os.O_APPEND)))
sandbox = sys.argv[2]  # by its absolute path, as the harness does (its folders must be reachable from /)
open(os.path.join(sandbox, "written.txt"), "w").write(open(os.path.join(sandbox, "probe.txt")).read())
print(json.dumps({"uid": os.getuid(), "leaks": leaks, "base_prefix": os.path.realpath(sys.base_prefix)}))
"""


def _probe_user(python) -> tuple:
    """``(True, None, how)`` when a probe run as a fresh user can reach no protected path while the interpreter,
    NumPy and its sandbox work, else ``(False, None, why not)``. Protects :func:`protected_paths` first."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False, None, "only root can run the student's process as another user"
    if shutil.which("setpriv") is None:
        return False, None, "setpriv not found (util-linux)"
    try:
        closed = protect(protected_paths(), python)
    except (OSError, ValueError) as exc:
        return False, None, f"the course's files cannot be closed to other users ({exc})"
    uid = student_uid()
    with SandboxDir() as parent:
        (parent / "sandbox").mkdir()
        (parent / "sandbox" / "probe.txt").write_text("ok")
        try:
            run, _ = user_sandbox(parent / "sandbox", uid)
            proc = subprocess.run(user_command(uid, [python, "-I", "-c", _USER_PROBE, json.dumps(closed), run]),
                                  capture_output=True, text=True, timeout=120, cwd="/",
                                  env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": run, "TMPDIR": run})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, None, f"the probe as user {uid} failed ({exc})"
        blocked = [b for b in (_closed_ancestor(os.path.realpath(python)), _closed_ancestor(run)) if b]
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        error = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:200]
        return False, None, f"the probe as user {uid} failed ({error})" + \
            (f"; other users cannot pass through {', '.join(blocked)}" if blocked else "")
    if answer["uid"] != uid:
        return False, None, f"the probe ran as user {answer['uid']}, not {uid}"
    installation = os.path.dirname(os.path.dirname(os.path.realpath(python)))
    if answer["base_prefix"] != installation:  # setpriv starts the binary, which then finds another libpython
        return False, None, (f"the student user cannot read the Python installation {installation} (its process "
                             f"ran the one in {answer['base_prefix']})" +
                             (f"; other users cannot pass through {', '.join(blocked)}" if blocked else ""))
    if answer["leaks"]:
        return False, None, f"the student user could still {', '.join(answer['leaks'][:5])}"
    return True, None, (f"as a fresh unprivileged user per process (ids from {STUDENT_UIDS.start}), no "
                        f"capabilities; {len(closed)} protected paths checked closed to it")


def _closed_ancestor(path) -> str | None:
    """The first folder above ``path`` that other users cannot pass through, e.g. ``'/root (mode 0700)'``."""
    for folder in reversed(Path(path).parents):
        try:
            mode = os.stat(folder).st_mode
        except OSError:
            return None
        if not mode & 0o001:
            return f"{folder} (mode {stat.S_IMODE(mode):04o})"
    return None


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
        self.python = _real_python(python or sys.executable)
        self.proc = None
        self.end = None
        self.hello = None
        self.uid = None  # the process's own user id (unprivileged-user mode)
        if weights:
            add_protected_paths([weights])  # the student reads its copy only
        self.isolation, self._prefix, self.isolation_detail = isolation(self.python)

    def start(self) -> None:
        """Spawn the process (returns at once; :meth:`wait_ready` waits for its start-up)."""
        sb = os.path.realpath(self.sandbox)
        weights = os.path.realpath(self.weights) if self.weights else None
        if self.isolation == USER:
            self.uid = student_uid()
            sb, weights = user_sandbox(self.sandbox, self.uid, weights)
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        key = secrets.token_bytes(32)
        config = {"read_fd": req_r, "write_fd": resp_w, "sandbox": sb,
                  "memory_bytes": self.limits.memory_bytes, "cpu_seconds": self.limits.cpu_seconds,
                  "file_bytes": self.limits.file_bytes, "threads": self.limits.threads,
                  "processes": self.limits.processes if self.isolation != AUDIT_HOOK_ONLY else None,
                  "weights": weights, "standin_seed": self.standin_seed, "key": key.hex()}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": f"{sb}/home", "TMPDIR": f"{sb}/tmp",
               "MPLCONFIGDIR": f"{sb}/mpl", "MPLBACKEND": "Agg", "KERAS_HOME": f"{sb}/keras",
               "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "OMP_NUM_THREADS": "1",
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NBGRADER_EXECUTION": "autograde",
               "TF_NUM_INTEROP_THREADS": str(self.limits.threads),
               "TF_NUM_INTRAOP_THREADS": str(self.limits.threads)}
        command = [self.python, "-I", "-B", "-c", _BOOT, sb]
        cwd = sb
        if self.isolation == NAMESPACES:
            new_root = self.sandbox.parent / "root"
            new_root.mkdir(exist_ok=True)
            command = isolated_command(self._prefix, "nobody" in self.isolation_detail, self.sandbox, new_root,
                                       command, python=self.python, weights=weights)
            cwd = "/"
        elif self.isolation == USER:
            command = user_command(self.uid, command)
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
