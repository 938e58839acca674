"""The sandbox folder of one submission: what it holds, the temporary folder around it, and the folders of a killed
grader.

Rule of this module: a sandbox holds only what a student may see -- the student copy of ``classviz`` (the whole
package, which holds no solution), the request loop :mod:`autograder.child` (as ``cvgrade_child``) and the
notebook's cells -- in a fresh temporary folder (:class:`SandboxDir`) that names its owner, so that
:func:`clean_stale_sandboxes` can remove those of a grader that was killed: every sandbox folder (``cvgrade-*`` in
the temporary folder) holds an ``owner`` file, the PID and start time of the grader that made it; a folder whose
owner no longer runs (the same PID with another start time is another process) is stale.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

CHILD_PACKAGE = "cvgrade_child"
"""The name of :mod:`autograder.child` in the sandbox (:data:`~.process.BOOT` imports it)."""
SANDBOX_PREFIX = "cvgrade-"
OWNER_FILE = "owner"


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
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(Path(classviz.__file__).parent, sandbox / "classviz", ignore=ignore)
    shutil.copytree(Path(__file__).resolve().parent.parent / "child", sandbox / CHILD_PACKAGE, ignore=ignore)
    for sub in ("cells", "home", "tmp", "mpl", "keras"):
        (sandbox / sub).mkdir()
    for index, source in cell_sources.items():
        (sandbox / "cells" / f"cell_{int(index):03d}.py").write_text(source, encoding="utf-8")
    return sandbox


class SandboxDir:
    """A temporary folder for one submission's sandbox, removed on exit (even if the student made it read-only).

    It holds an ``owner`` file (``"<pid> <start time>\\n"``, start time 0 off Linux: the grader's PID and start
    time, the batch's own, given to its worker processes in ``CVGRADE_SANDBOX_OWNER``) so that
    :func:`clean_stale_sandboxes` can tell the folders of a killed grader from those of a running one.

    Args:
        root: where to create it (default: the system's temporary folder).
    """

    def __init__(self, root=None):
        self.root = root

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix=SANDBOX_PREFIX, dir=self.root))
        pid = int(os.environ.get("CVGRADE_SANDBOX_OWNER") or os.getpid())
        (self.path / OWNER_FILE).write_text(f"{pid} {process_start_time(pid) or 0}\n")
        return self.path

    def __exit__(self, *exc):
        rmtree(self.path)


def process_start_time(pid: int) -> str | None:
    """Process ``pid``'s start time (field 22 of ``/proc/<pid>/stat``, clock ticks since boot, as text), or None
    when it cannot be read (no such process, or not Linux)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_alive(owner: str) -> bool:
    """Whether the grader an owner file names (``"<pid> <start time>"``) still runs: on Linux, the same PID with the
    same start time; elsewhere (start time 0), any process with that PID. A malformed ``owner`` is not alive."""
    try:
        pid, start = owner.split()
        pid = int(pid)
    except ValueError:
        return False
    if sys.platform.startswith("linux") and start != "0":
        return process_start_time(pid) == start
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
        if owner and owner_alive(owner):
            continue
        rmtree(path)
        removed.append(path)
    return removed


def rmtree(path) -> None:
    """Remove ``path`` even if the student made parts of it read-only."""
    def onerror(func, target, _):
        try:
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)
