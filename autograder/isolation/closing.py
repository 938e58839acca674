"""Closing the course's private files to other users: what the unprivileged-user mode relies on.

Rule of this module: :func:`protect` is the only code of the isolation package that changes the permissions of
files it did not create, and only :func:`autograder.isolation.close_to_students` calls it -- an explicit step of
the graders (batch grading, Gradescope's ``run_autograder``, the pytest plugin), never a side effect of importing
or of asking which mode works. It removes the "others" permission bits (``chmod o-rwx``: owner and group bits are
kept, nothing is changed recursively -- a closed folder just cannot be entered) of the course folder's entries (the
folder that holds the ``autograder`` package: hidden tests, ``classviz_reference/``, ``solutions/``, the project's
tests, the weights in ``datasets/``, ``.git``, ``gradebook.db``, ...) and of the paths the grader adds (output and
submission folders, the weights folder), except the way to what the student's process needs.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .base import SYSTEM, visible_paths, within

CLOSED = []
"""``[(path, is_dir)]``: what :func:`protect` closed in this process (the probe checks each of them)."""
CHANGED = []
"""``[(path, mode before, mode after)]``: the permissions :func:`protect` changed in this process."""


def course_folder() -> str:
    """The folder that holds the ``autograder`` package."""
    return str(Path(__file__).resolve().parents[2])


def protect(paths, python: str) -> list:
    """Make ``paths`` unreadable to other users, except what the student's process needs.

    A path holding something the student's process must reach -- the Python installation and the virtual
    environment, the temporary folder where sandboxes are made, the student package ``classviz`` -- keeps its
    mode, and each of its entries is handled in turn (so a course folder holding ``.venv`` stays listable
    while every other entry of it is closed); any other path loses all permissions for "others". Symbolic links
    are followed; system folders are never changed. Paths that do not exist are skipped. Undo with ``chmod o+rX``
    on the paths of :data:`CHANGED`. Every path closed is added to :data:`CLOSED`.

    Args:
        paths: files or folders.
        python: the student's interpreter.

    Returns:
        ``[(path, is_dir)]``: every path now closed to others.

    Raises:
        ValueError: one of ``paths`` lies inside something the student's process must read (then it cannot be
            closed: e.g. a grader installed into the virtual environment).
    """
    import classviz

    needed = visible_paths(python) + [os.path.dirname(os.path.realpath(classviz.__file__))]
    passages = needed + [os.path.realpath(tempfile.gettempdir())]
    closed = []

    def visit(path, given):
        real = os.path.realpath(path)
        if not os.path.exists(real):
            return
        if any(within(real, n) for n in needed + list(SYSTEM)) or real in passages:
            if given:
                raise ValueError(f"{path} cannot be closed to the student: its process must read {real}")
            return
        if any(within(p, real) for p in passages):
            for entry in sorted(os.listdir(real)):
                visit(os.path.join(real, entry), False)
            return
        mode = os.stat(real).st_mode
        if mode & 0o007:
            os.chmod(real, stat.S_IMODE(mode) & ~0o007)
            CHANGED.append((real, f"{stat.S_IMODE(mode):04o}", f"{stat.S_IMODE(mode) & ~0o007:04o}"))
        closed.append((real, stat.S_ISDIR(mode)))

    for path in paths:
        visit(path, True)
    CLOSED.extend(entry for entry in dict.fromkeys(closed) if entry not in CLOSED)
    return closed
