"""Sandbox folders left behind by a grader that was killed: how they are recognized and removed.

Rule of this module: every sandbox folder (``cvgrade-*`` in the temporary folder) holds an ``owner`` file, the PID
and start time of the grader that made it; a folder whose owner no longer runs (the same PID with another start
time is another process) is stale.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

SANDBOX_PREFIX = "cvgrade-"
OWNER_FILE = "owner"


def owner_line(pid: int) -> str:
    """The content of an owner file for process ``pid``: ``"<pid> <start time>\\n"`` (start time 0 off Linux)."""
    return f"{pid} {process_start_time(pid) or 0}\n"


def process_start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_alive(owner: str) -> bool:
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
