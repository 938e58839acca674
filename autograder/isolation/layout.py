"""The sandbox folder of one submission: what it holds, and the temporary folder around it.

Rule of this module: a sandbox holds only what a student may see -- the student copy of ``classviz`` (the whole
package, which holds no solution), the request loop :mod:`autograder.child` (as ``cvgrade_child``) and the
notebook's cells -- in a fresh temporary folder (:class:`SandboxDir`) that names its owner, so that
:func:`~.stale.clean_stale_sandboxes` can remove those of a grader that was killed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .stale import OWNER_FILE, SANDBOX_PREFIX, owner_line, rmtree

CHILD_PACKAGE = "cvgrade_child"
"""The name of :mod:`autograder.child` in the sandbox (``boot.py`` imports it)."""
FOLDERS = ("cells", "home", "tmp", "mpl", "keras")


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
    for sub in FOLDERS:
        (sandbox / sub).mkdir()
    for index, source in cell_sources.items():
        (sandbox / "cells" / f"cell_{int(index):03d}.py").write_text(source, encoding="utf-8")
    return sandbox


class SandboxDir:
    """A temporary folder for one submission's sandbox, removed on exit (even if the student made it read-only).

    It holds an ``owner`` file (the grader's PID and start time: the batch's own, given to its worker processes
    in ``CVGRADE_SANDBOX_OWNER``) so that :func:`~.stale.clean_stale_sandboxes` can tell the folders of a killed
    grader from those of a running one.

    Args:
        root: where to create it (default: the system's temporary folder).
    """

    def __init__(self, root=None):
        self.root = root

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix=SANDBOX_PREFIX, dir=self.root))
        (self.path / OWNER_FILE).write_text(owner_line(int(os.environ.get("CVGRADE_SANDBOX_OWNER") or os.getpid())))
        return self.path

    def __exit__(self, *exc):
        rmtree(self.path)
