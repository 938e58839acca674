"""Finding the submissions of a batch: one per notebook, folder of notebooks, or nbgrader student folder.

Rule of this module: (paths) => submissions with unique ids that are a function of their own paths, in a
deterministic order; which notebook of a folder is graded is decided here only (:func:`find_notebook`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ASSIGNMENT_NOTEBOOK = "class_visualization.ipynb"
"""The assignment's notebook (the source, the release and what a student hands in; ``tools/build_assignment.py``
builds the assignment of this name)."""


@dataclass
class Submission:
    """One submission to grade: an id for the outputs, the notebook (None: the student handed none in), and where
    it came from (``path``: the folder or file it stands for, used to make ids unique)."""
    id: str
    notebook: Path | None
    student: str | None = None
    assignment: str | None = None
    note: str = ""
    path: Path | None = None


def _safe(name: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission")[:120]


def _notebooks_under(folder: Path) -> list[Path]:
    """The notebook files under ``folder``, skipping hidden folders (``.ipynb_checkpoints``) and ``__pycache__``."""
    return [path for path in sorted(folder.rglob("*.ipynb")) if path.is_file() and not any(
        part.startswith(".") or part == "__pycache__" for part in path.relative_to(folder).parts)]


def _choose(notebooks: list[Path]) -> tuple[Path, str]:
    """Pick the notebook of a submission folder: the assignment's name, the only one, or the best by content."""
    if len(notebooks) == 1:
        return notebooks[0], ""
    named = [p for p in notebooks if p.name == ASSIGNMENT_NOTEBOOK]
    if named:
        return named[0], f"graded {ASSIGNMENT_NOTEBOOK} among {len(notebooks)} notebooks"
    from .notebook import NotebookError, read_notebook

    def defined(path):
        try:
            return len(read_notebook(path)[0].definitions)
        except NotebookError:
            return -1

    best = max(notebooks, key=lambda p: (defined(p), -notebooks.index(p)))
    return best, f"graded {best.name}, the notebook defining most graded functions among {len(notebooks)}"


def find_notebook(folder: Path) -> tuple[Path | None, str]:
    """The notebook to grade in a submission folder, and a note: the only one; else ``class_visualization.ipynb``;
    else the one defining the most graded functions (the note says which); or None and what the folder holds."""
    notebooks = _notebooks_under(folder) if folder.is_dir() else []
    if not notebooks:
        return None, "no .ipynb notebook in your submission (" + (
            _other_files(folder) if folder.is_dir() else "nothing was submitted") + ")"
    return _choose(notebooks)


def _other_files(folder: Path) -> str:
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if not names:
        return "the folder is empty"
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if all(".ipynb_checkpoints" in n for n in names):
        return f"only Jupyter checkpoint copies ({shown}), which are not graded"
    return f"found only {shown}"


def discover(paths) -> tuple[list[Submission], list[str]]:
    """Find the submissions in the given paths.

    A path may be a notebook; a folder of notebooks (one submission each); or a folder of submission folders,
    such as nbgrader's ``submitted/<student>/<assignment>/*.ipynb`` (one submission per student and assignment,
    its notebook chosen as :func:`find_notebook` does). In a folder with no notebook at its top level, *every*
    sub-folder is a submission: one without a notebook (empty, a zip file, only ``.ipynb_checkpoints``) still
    gets a submission, with ``notebook`` None and the reason in ``note``.

    Ids are the file's stem or the student's folder name; ids that would be equal (the same name in two
    folders) are made unique from the paths: ``dir1__a`` and ``dir2__a``, with a hash of the full path added if
    even that is not enough. The same file given twice is one submission.

    Returns:
        ``(submissions, problems)``: submissions with unique ids, in a deterministic order, and a message for
        each path that holds no notebook.
    """
    subs, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            subs.append(Submission(_safe(path.stem), path, path=path))
            continue
        if not path.is_dir():
            problems.append(f"{raw}: no such file or folder")
            continue
        groups = {}  # (student, assignment) folder parts, at most two, => its notebooks
        for nb_path in _notebooks_under(path):
            groups.setdefault(nb_path.relative_to(path).parts[:-1][:2], []).append(nb_path)
        if not groups.get(()):  # a tree of submission folders: every (student, assignment) folder is one
            for student_dir in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                                      and p.name != "__pycache__"):
                if any(k[:1] == (student_dir.name,) for k in groups):
                    continue  # has a notebook somewhere: graded below
                subdirs = [d for d in sorted(student_dir.iterdir()) if d.is_dir() and not d.name.startswith(".")]
                for key in [(student_dir.name, d.name) for d in subdirs] or [(student_dir.name,)]:
                    groups[key] = []
        if not groups:
            problems.append(f"{raw}: no .ipynb notebook in this folder")
            continue
        assignments = {key[1] for key, nbs in groups.items() if len(key) >= 2 and nbs}
        for key in sorted(groups):
            if not key:
                subs += [Submission(_safe(nb_path.stem), nb_path, path=nb_path) for nb_path in groups[key]]
                continue
            student = key[0]
            assignment = key[1] if len(key) >= 2 else None
            ident = student if len(assignments) <= 1 or assignment is None else f"{student}__{assignment}"
            folder = path.joinpath(*key)
            if not groups[key]:
                subs.append(Submission(_safe(ident), None, student, assignment,
                                       f"no notebook found in {folder}: {_other_files(folder)}", path=folder))
                continue
            chosen, note = _choose(groups[key])
            subs.append(Submission(_safe(ident), chosen, student, assignment, note, path=folder))
    return _unique(subs), problems


def _unique(subs: list[Submission]) -> list[Submission]:
    """Drop repeated files; make every id unique and a function of the submission's own path only."""
    first = {}
    for sub in subs:
        first.setdefault((sub.notebook or sub.path).resolve(), sub)
    kept = list(first.values())
    base = {id(sub): sub.id for sub in kept}
    for depth in range(1, 6):
        counts = Counter(sub.id for sub in kept)
        clashing = [sub for sub in kept if counts[sub.id] > 1]
        if not clashing:
            return kept
        for sub in clashing:
            parents = list(sub.path.resolve().parent.parts[1:])[-depth:]
            sub.id = _safe("__".join(parents + [base[id(sub)]]))
    counts = Counter(sub.id for sub in kept)
    for sub in kept:
        if counts[sub.id] > 1:
            where = str(sub.path.resolve())
            sub.id = f"{sub.id[:100]}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"
    return kept
