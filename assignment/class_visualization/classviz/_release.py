"""Which files of ``classviz`` a student receives (the assignment's release folder, the grader's sandbox).

Rule: everything of the package except the reference solution of the objective (``reference.py``).
Both the assignment build and the autograder's student processes use :func:`copy_student_package`, so a
student's code can never import the reference.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
NOT_RELEASED = frozenset({"reference.py"})


def student_package_files() -> list[Path]:
    """The package files a student receives, relative to the package folder, sorted."""
    return sorted(p.relative_to(PACKAGE_DIR) for p in PACKAGE_DIR.rglob("*")
                  if p.is_file() and p.name not in NOT_RELEASED and "__pycache__" not in p.parts)


def copy_student_package(dest_parent) -> Path:
    """Copy the student subset of ``classviz`` to ``dest_parent/classviz`` (replacing it) and return that path."""
    dest = Path(dest_parent) / "classviz"
    if dest.exists():
        shutil.rmtree(dest)
    for rel in student_package_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE_DIR / rel, dest / rel)
    return dest
