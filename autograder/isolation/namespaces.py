"""The ``namespaces`` mode: the student process sees a private root holding only what it needs.

Rule of this module: (Linux, root or unprivileged user namespaces, util-linux) => the process starts inside new
mount, PID and network namespaces (``unshare``). The init script ``init.sh`` of this package builds a new root on a
tmpfs holding only read-only bind mounts of the system folders (``/usr``, ``/etc``, ...), the Python installation,
the virtual environment and the verified weights, a fresh ``/tmp``, a fresh ``/proc`` of the new PID namespace and
a tmpfs copy of the sandbox; it switches to it (``pivot_root``), detaches the old root, and runs Python as the
unprivileged user ``nobody`` (as root; otherwise as the grader's user mapped to root of a new user namespace), with
no capabilities and ``no_new_privs``. So the repository, the reference solution, the hidden tests, the other
submissions, the grader's output folder and the grader's own ``/proc`` entry do not exist for the student's code --
whatever API it uses to read files -- and there is no network. The init script is PID 1 of the namespace,
``unshare --kill-child`` kills it when ``unshare`` dies, and ``unshare`` itself gets SIGKILL when the grader dies
(``setpriv --pdeathsig``), so no process of a submission outlives its grading.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .base import Mode, Placement, Probe, helper, last_line, visible_paths
from .layout import SANDBOX_PREFIX

TOOLS = ("unshare", "setpriv", "mount", "pivot_root", "umount")
UNSHARE = ("unshare", "--mount", "--net", "--pid", "--fork", "--kill-child")
# NumPy found in the virtual environment and its first file readable, without the ~0.2 s of loading it: this
# probe runs before every cold grade's first student process
PROBE_CODE = ("import importlib.util, os; open(importlib.util.find_spec('numpy').origin, 'rb').close(); "
              "print(open('probe.txt').read(), os.getuid())")


class Namespaces(Mode):
    """Runs the student process in new namespaces.

    Args:
        drop: True as root (the init script becomes ``nobody``: new mount, PID and network namespaces); False for a
            grader that is not root (a new user namespace too, mapping its user to root there).
    """

    name = "namespaces"

    def __init__(self, drop: bool):
        self.drop = drop
        unshare = list(UNSHARE) if drop else [UNSHARE[0], "--user", "--map-root-user", *UNSHARE[1:]]
        self.prefix = ["setpriv", "--pdeathsig", "KILL", *unshare]

    @classmethod
    def probe(cls, python: str) -> Probe:
        """Works when the init script runs ``python``, which finds and reads NumPy and a file of its sandbox copy."""
        if not sys.platform.startswith("linux"):
            return Probe(None, f"no Linux namespaces on {sys.platform}")
        missing = [t for t in TOOLS if shutil.which(t) is None and not Path("/usr/sbin", t).exists()
                   and not Path("/sbin", t).exists()]
        if missing:
            return Probe(None, f"{', '.join(missing)} not found (util-linux)")
        errors = []
        for mode in ([cls(True)] if os.geteuid() == 0 else []) + [cls(False)]:
            with tempfile.TemporaryDirectory(prefix=SANDBOX_PREFIX + "probe-") as tmp:
                sandbox = Path(tmp) / "sandbox"
                sandbox.mkdir()
                (sandbox / "probe.txt").write_text("ok")
                argv, cwd = mode.wrap([python, "-I", "-c", PROBE_CODE], sandbox, mode.place(sandbox, None), python)
                try:
                    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    errors.append(str(exc))
                    continue
            if proc.returncode == 0 and proc.stdout.split()[:1] == ["ok"]:
                return Probe(mode, "as nobody in new mount, PID and network namespaces" if mode.drop
                             else "in new user, mount, PID and network namespaces")
            errors.append(last_line(proc))
        return Probe(None, f"unshare failed ({'; '.join(errors)})")

    def wrap(self, command: list, sandbox: Path, placement: Placement, python: str) -> tuple[list, str]:
        """The init script's argv (its new root is mounted on ``root`` beside the sandbox), run from ``/``."""
        new_root = Path(sandbox).parent / "root"
        new_root.mkdir(exist_ok=True)
        return [*self.prefix, "sh", "-c", helper("init.sh"), "cvgrade-init", os.path.realpath(sandbox),
                os.path.realpath(new_root), "1" if self.drop else "0", placement.weights or "-",
                *visible_paths(python), "--", *command], "/"

    def exit_code(self, code: int | None) -> int | None:
        """The init script reports a student process killed by signal N as exit status 128 + N."""
        return -(code - 128) if code is not None and 128 < code < 128 + 65 else code

    def __repr__(self) -> str:
        return f"Namespaces(drop={self.drop})"
