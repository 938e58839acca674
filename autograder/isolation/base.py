"""What every isolation mode is: a probe that says whether it works here, and a way to wrap a command; and the
weakest mode, :class:`AuditHookOnly`, which works everywhere.

Rule of this module: a mode is a class with three class-level answers -- :meth:`Mode.probe` (does it work on this
machine, for this interpreter? ``Probe(mode, detail)``: a ready instance, or None and why not), :meth:`Mode.place`
(where the student process finds its sandbox and weights) and :meth:`Mode.wrap` (the argv and working folder that
run a command that way). Probing never changes the disk beyond temporary folders it removes; closing the course
folder is :func:`autograder.isolation.close_to_students`, which callers call by name.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys", "/dev", "/run",
          "/boot", "/var")
"""System folders: bound read-only in the namespaces, never closed by the unprivileged-user mode."""


def helper(name: str) -> str:
    """The text of the helper script ``name`` of this package (``init.sh``, ``user_probe.py``) without its comment
    lines: it goes on a command line (the student's process cannot read the course folder that holds the file),
    which the student's code can read (``/proc/<pid>/cmdline``), and must name nothing of the grader."""
    lines = (Path(__file__).resolve().parent / name).read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if not line.lstrip().startswith("#"))


@dataclass(frozen=True)
class Placement:
    """Where one student process finds its files, as it sees them: its sandbox folder, its weights folder (or
    None), and the user id it runs as when it has one of its own (else None)."""
    sandbox: str
    weights: str | None = None
    uid: int | None = None


@dataclass(frozen=True)
class Probe:
    """The answer of a mode's probe: ``mode`` is a ready instance when it works here (else None), ``detail`` says
    as whom the student's code runs, or why the mode does not work."""
    mode: Mode | None
    detail: str

    @property
    def works(self) -> bool:
        return self.mode is not None


class Mode:
    """One way of containing a student process (subclasses: one per mode, strongest first in
    :data:`autograder.isolation.MODES`)."""

    name = ""
    limits_processes = True
    """Whether ``RLIMIT_NPROC`` is applied (not when the process runs as the grader's own user)."""

    @classmethod
    def probe(cls, python: str) -> Probe:
        """Whether this mode works here for ``python`` (run for real; changes nothing on disk)."""
        raise NotImplementedError

    def place(self, sandbox: Path, weights: str | None) -> Placement:
        """Lay out what the process needs beside ``sandbox`` (from :func:`~.layout.prepare_sandbox`)."""
        return Placement(os.path.realpath(sandbox), os.path.realpath(weights) if weights else None)

    def wrap(self, command: list, sandbox: Path, placement: Placement, python: str) -> tuple[list, str]:
        """``(argv, working folder)`` that run ``command`` (which starts ``python``) in this mode."""
        raise NotImplementedError

    def exit_code(self, code: int | None) -> int | None:
        """The student process's return code, from that of the process the grader started."""
        return code

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def real_python(python: str) -> str:
    """``python`` with the symbolic links of its folder resolved, not of its own name.

    A virtual environment reached through a link (``/tmp/x/.venv -> /work/main/.venv``) does not exist inside
    the namespaces, and its real path must be the one bound there; but ``bin/python`` itself is a link to the
    base interpreter, and Python finds ``pyvenv.cfg`` next to the name it was started as.
    """
    path = os.path.abspath(python if os.sep in python else shutil.which(python) or python)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def visible_paths(python: str) -> list:
    """Folders the student process must see (read-only): Python and the virtual environment."""
    python = real_python(python)
    python_real = os.path.realpath(python)
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    paths.add(os.path.dirname(os.path.dirname(python_real)))
    venv = os.path.dirname(os.path.dirname(python))
    if Path(venv, "pyvenv.cfg").is_file():
        paths.add(venv)
    kept = []
    for path in sorted(paths, key=len):  # without those inside a system folder or inside one already kept
        if path not in ("/", "") and not any(within(path, folder) for folder in (*SYSTEM, *kept)):
            kept.append(path)
    return kept


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def last_line(proc) -> str:
    """The last line a failed helper wrote on stderr (or its exit status), for a probe's reason."""
    return (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:200]


class AuditHookOnly(Mode):
    """The ``audit-hook only`` mode: the student process runs directly, as the grader's user.

    What works everywhere and contains least. The process is constrained only by :mod:`autograder.child.harness`'s
    resource limits and audit hook (:mod:`autograder.child.audit`), which refuse Python-level file access outside
    the sandbox and the Python installation, subprocesses, sockets and ``ctypes``, but do not see file access from
    C code (``tf.io.read_file``) or processes forked without an audit event. ``RLIMIT_NPROC`` is not applied (it
    would count the grader's own processes). Where ``setpriv`` exists the process still gets SIGKILL when the
    grader dies.
    """

    name = "audit-hook only"
    limits_processes = False

    @classmethod
    def probe(cls, python: str) -> Probe:
        """Always works (the weakest mode, the last resort)."""
        return Probe(cls(), "")

    def wrap(self, command: list, sandbox: Path, placement: Placement, python: str) -> tuple[list, str]:
        if shutil.which("setpriv"):  # at least: killed when the grader dies
            command = ["setpriv", "--pdeathsig", "KILL", *command]
        return command, placement.sandbox
