"""The ``audit-hook only`` mode: the student process runs directly, as the grader's user.

Rule of this module: what works everywhere and contains least. The process is constrained only by
:mod:`autograder.child.harness`'s resource limits and audit hook (:mod:`autograder.child.audit`), which refuse
Python-level file access outside the sandbox and the Python installation, subprocesses, sockets and ``ctypes``,
but do not see file access from C code (``tf.io.read_file``) or processes forked without an audit event.
``RLIMIT_NPROC`` is not applied (it would count the grader's own processes). Where ``setpriv`` exists the process
still gets SIGKILL when the grader dies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .base import Mode, Placement, Probe


class AuditHookOnly(Mode):
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
