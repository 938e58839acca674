"""``nbgrader autograde`` with the points of the hidden grader, and no student code in nbgrader's kernel.

Rule of this module: during ``nbgrader autograde`` the student's notebook is never executed by nbgrader. Each
graded cell gets exactly the standalone grader's verdict on its check, computed from the *submitted file* by the
hidden pytest suite in the grader's sandbox (``python -m autograder grade``): nothing the notebook's code could do
in a kernel (IPython hooks, patched modules, printed text, outputs written into the file) reaches the points.
A verdict is plain output when the check earned its full points and an error output when it did not -- which is
how nbgrader scores a cell (``nbgrader.utils.determine_grade``), so ``export`` and formgrader show the grader's points.

:func:`configure` (called by ``nbgrader_config.py``) installs nbgrader's extension points: :func:`pre_convert_hook`,
:class:`SubmittedNotebookExporter`, and :class:`SubmittedOutputs`, :class:`OverwriteCellsKeepingHiddenTests`,
:class:`GradeWithHiddenTests` in place of nbgrader's ``ClearOutput``, ``OverwriteCells`` and ``Execute``. The
README's *What autograde does here* is the instructor's account of all this.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells
from traitlets import Float, Integer, Unicode

from . import results as R

RESULTS_DIR = "grading"
"""The standalone grader's output folder, relative to the course root (README: ``--out grading/``)."""
SAFE_MIME_TYPES = ("text/plain", "image/png", "image/jpeg")
"""Submitted outputs kept in the autograded notebook: no HTML, SVG or JavaScript reaches the instructor's browser."""
WRAP = 96
"""Feedback lines are wrapped to this many characters (a cell's output box shows ~110 at 1200 px)."""
NOTE = ("**Autograded by the hidden grader.** The code of this notebook was not run while grading: each graded "
        "cell below shows the result of its check, computed from the file you handed in. The other outputs are "
        "the ones saved in that file.")


def _submitted(course: CourseDirectory, student: str = "", assignment: str = "") -> Path:
    return Path(course.root, course.submitted_directory, student, assignment)


def _results_dir(course: CourseDirectory) -> Path:
    return Path(course.root) / RESULTS_DIR


def run_batch(course: CourseDirectory, assignment: str, students: str, jobs: int = 0, timeout: float = 0,
              log=None) -> None:
    """Grade the submissions of ``assignment`` by the students matching the glob ``students`` with the standalone
    grader (a subprocess: TensorFlow and the student processes stay out of nbgrader's process; its messages go to
    ``grading/nbgrader-batch.log``), into :data:`RESULTS_DIR`. Already graded notebooks are reused by the batch."""
    out = _results_dir(course)
    out.mkdir(parents=True, exist_ok=True)
    jobs = jobs or max(1, min(os.cpu_count() or 1, 4))
    cmd = [sys.executable, "-m", "autograder", "grade", str(_submitted(course)),
           "--out", str(out), "--jobs", str(jobs), "--assignment", assignment, "--students", students]
    with open(out / "nbgrader-batch.log", "ab") as logfile:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                              timeout=timeout or None, cwd=Path(__file__).resolve().parent.parent)
    if log is not None:
        log.info("hidden grader: graded %s's submissions of students %r (exit status %d; %s)", assignment,
                 students, proc.returncode, out / "nbgrader-batch.log")


_GRADED: set = set()


def pre_convert_hook(assignment: str, student: str, notebooks: list, **_) -> None:
    """nbgrader's pre-convert hook (``c.Autograde.pre_convert_hook``; per student folder: ``student`` is the
    ``--student`` glob, ``notebooks`` the student folder's ``.ipynb`` files, a list nbgrader reads right after).

    Before the first student, grades every submission nbgrader is about to autograde in one parallel batch
    (:func:`run_batch`; ``AUTOGRADER_NBGRADER_JOBS`` sets its jobs; results already there for the same notebook
    bytes, with a valid signature, are reused). A notebook with another name (Colab's ``Copy of
    class_visualization.ipynb``) is copied to the assignment's name so that nbgrader grades it (the original stays).
    """
    from traitlets.config import Application

    app = Application.instance() if Application.initialized() else None
    course = CourseDirectory(config=app.config if app else None)
    if (assignment, student) not in _GRADED:
        _GRADED.add((assignment, student))
        run_batch(course, assignment, student, int(os.environ.get("AUTOGRADER_NBGRADER_JOBS", "0")),
                  log=app.log if app else None)
    named = [Path(p) for p in notebooks if Path(p).name == f"{assignment}.ipynb"]
    if named:  # a copy made by an earlier run (same bytes) needs no "Skipping unknown notebook" warning
        same = [p for p in notebooks if Path(p) != named[0] and R.sha256(p) == R.sha256(named[0])]
        for path in same:
            notebooks.remove(path)
        return
    if not notebooks:
        return
    from .submissions import _choose

    chosen, _ = _choose([Path(p) for p in notebooks])
    target = chosen.parent / f"{assignment}.ipynb"
    shutil.copy2(chosen, target)
    notebooks.remove(str(chosen))
    notebooks.append(str(target))
    if app:
        app.log.warning("graded '%s' as %s (a copy; the student's file is kept)", chosen.name, target.name)


class SubmittedNotebookExporter(NotebookExporter):
    """nbgrader's notebook exporter, except that a submission it cannot read or sanitize becomes the released
    notebook with a note at the top (one warning line instead of a traceback, and the student still gets a result)."""

    def from_filename(self, filename, resources=None, **kw):
        try:
            return super().from_filename(filename, resources=resources, **kw)
        except Exception as exc:  # noqa: BLE001 - any failure on the student's file; ours would fail again below
            nbgrader = (resources or {}).get("nbgrader") or {}
            course = CourseDirectory(config=self.config)
            if not nbgrader or not Path(filename).resolve().is_relative_to(_submitted(course).resolve()):
                raise  # only the student's file is replaced; a failure of the autograde step itself is reported
            why = ("not a notebook file: " + type(exc).__name__ if isinstance(exc, (ValueError, UnicodeError))
                   else f"its cells could not be processed: {type(exc).__name__}")
            self.log.warning("%s: %s; graded as handed in, shown as the released notebook", filename, why)
            release = course.format_path(course.release_directory, ".", nbgrader["assignment"])
            nb = nbformat.read(Path(release) / f"{nbgrader['notebook']}.ipynb", as_version=4)
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(
                f"**This is not your notebook.** nbgrader could not use the file you handed in ({why}). Below is the "
                "assignment's notebook; each graded cell shows the hidden grader's result for the file you handed in."))
            resources = dict(resources)
            resources.setdefault("metadata", {})["path"] = str(Path(filename).parent)
            return self.from_notebook_node(nb, resources=resources, **kw)


class SubmittedOutputs(NbGraderPreprocessor):
    """In place of nbgrader's ``ClearOutput``: graded cells lose their outputs (the grader writes them); other
    cells keep the submitted outputs of the safe kinds (text, PNG, JPEG, errors as text), nothing else."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell.outputs, cell.execution_count = [], None
            return cell, resources
        kept = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream" and isinstance(out.get("text"), str):
                kept.append(nbformat.v4.new_output("stream", name="stdout" if out.get("name") == "stdout"
                                                   else "stderr", text=out["text"]))
            elif kind == "error":
                kept.append(nbformat.v4.new_output("error", ename=str(out.get("ename", "")),
                                                   evalue=str(out.get("evalue", "")),
                                                   traceback=[str(t) for t in out.get("traceback", [])][:50]))
            elif kind in ("display_data", "execute_result"):
                data = {k: v for k, v in (out.get("data") or {}).items() if k in SAFE_MIME_TYPES}
                if data:
                    kept.append(nbformat.v4.new_output("display_data", data=data))
        cell.outputs = kept
        return cell, resources


class OverwriteCellsKeepingHiddenTests(OverwriteCells):
    """nbgrader's ``OverwriteCells``, after giving an untouched locked cell back its hidden tests, and then putting
    back graded cells the student deleted.

    Why the first (nbgrader 0.9, jupyter/nbgrader#1961): ``generate_assignment`` records each locked cell's
    checksum with its hidden tests and only then removes them, so an untouched released cell never matches its
    record and nbgrader warns "Attribute 'checksum' ... has changed!" for every graded cell of every submission.
    A cell that is exactly the released form of its record gets the record's source first; a cell the student
    changed still gets nbgrader's warning (and is replaced by the record, as before).
    """

    def released_form(self, source: str) -> str:
        """``source`` with its hidden tests removed by nbgrader's ``ClearHiddenTests`` (same configuration)."""
        cell = NotebookNode(cell_type="code", source=source, metadata=NotebookNode())
        ClearHiddenTests(parent=self)._remove_hidden_test_region(cell)  # noqa: SLF001 (nbgrader's own rule)
        return cell.source

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                recorded = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                recorded = None
            if (recorded is not None and recorded.locked and cell.cell_type == recorded.cell_type
                    and cell.source != recorded.source and cell.source == self.released_form(recorded.source)):
                cell.source = recorded.source
        return super().preprocess_cell(cell, resources, cell_index)

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        # nbgrader's add_missing_cells needs the cell before a deleted one to be graded: ours are not always.
        with Gradebook(self.db_url) as gb:
            source = gb.find_notebook(self.notebook_id, self.assignment_id)
            order = [cell.name for cell in source.source_cells]
            ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
            for grade_cell in source.grade_cells:
                if grade_cell.name in ids or grade_cell.cell_type != "code":
                    continue
                self.log.warning("graded cell %s was deleted from the submission; put back", grade_cell.name)
                before = order[:order.index(grade_cell.name)] if grade_cell.name in order else []
                where = max((ids.index(g) + 1 for g in before if g in ids), default=len(nb.cells))
                added = self.missing_cell_transform(gb.find_source_cell(grade_cell.name, self.notebook_id,
                                                                        self.assignment_id), grade_cell.max_score)
                nb.cells.insert(where, added)
                ids.insert(where, grade_cell.name)
        return nb, resources


def wrapped(text: str) -> list[str]:
    """``text`` as lines of at most :data:`WRAP` characters (long words are not split)."""
    lines = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, WRAP, break_long_words=False, break_on_hyphens=False) or [""]
    return lines


def check_outputs(check: dict) -> list:
    """A graded cell's outputs for one check of a record: stdout when it earned its full points, else an error
    (nbgrader then scores the cell 0). The feedback appears once."""
    head = R.check_line(check["name"], check["points"], check["max_points"], check["feedback"])
    if check["passed"] and check["points"] == check["max_points"]:
        return [nbformat.v4.new_output("stream", name="stdout", text="\n".join(wrapped(head)) + "\n")]
    return [nbformat.v4.new_output("error", ename="CheckFailed", evalue=check["name"], traceback=wrapped(head))]


def find_result(course: CourseDirectory, student: str, assignment: str, notebook: str) -> dict | None:
    """The standalone grader's signed result for this student's submitted notebook, as it is now, else None.

    A result's id is the student's (or ``student__assignment`` in a tree of several assignments, see
    :func:`autograder.submissions.discover`); the tree is searched only when neither id has the result."""
    from .store import load_result
    from .submissions import Submission, _safe, discover

    file = _submitted(course, student, assignment) / f"{notebook}.ipynb"
    out = _results_dir(course)
    for ident in (_safe(student), _safe(f"{student}__{assignment}")):
        record = load_result(out, Submission(ident, file))
        if record is not None:
            return record
    for sub in discover([_submitted(course)])[0]:
        if sub.student == student and sub.assignment in (assignment, None) and sub.notebook is not None:
            record = load_result(out, Submission(sub.id, file))
            if record is not None:
                return record
    return None


class GradeWithHiddenTests(NbGraderPreprocessor):
    """In place of nbgrader's ``Execute``: each graded cell gets the standalone grader's verdict on its check
    (grade id ``test_<check>``), from the signed result of the submitted file -- graded now if the batch of
    :func:`pre_convert_hook` has none for these bytes."""

    timeout = Float(1800.0, help="seconds allowed to grade one submission that the batch did not").tag(config=True)
    jobs = Integer(1, help="parallel jobs when grading one submission now").tag(config=True)
    note = Unicode(NOTE, help="Markdown put at the top of every autograded notebook").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        course = CourseDirectory(config=self.config)
        record = find_result(course, info["student"], info["assignment"], info["notebook"])
        if record is None:
            run_batch(course, info["assignment"], glob.escape(info["student"]), self.jobs, self.timeout, self.log)
            record = find_result(course, info["student"], info["assignment"], info["notebook"])
        if record is None:
            why = R.grader_failed("on this notebook (no result)", "; your instructor will regrade it")
            record = {"checks": R.all_failed(why), "status": "error", "reason": why}
            self.log.error("%s: the hidden grader gave no result; see %s", info["student"],
                           _results_dir(course) / "nbgrader-batch.log")
        verdicts = {c["name"]: c for c in record["checks"]}
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            grade_id = str(meta.get("grade_id", ""))
            if cell.cell_type == "code" and meta.get("grade") and grade_id.startswith("test_"):
                name = grade_id.removeprefix("test_")
                check = verdicts.get(name) or R.check_result(name, False, "the grader has no result for this check")
                cell.outputs, cell.execution_count = check_outputs(check), None
        note = self.note + (f"\n\nGrader: {record['reason']}" if record.get("reason") else "")
        nb.cells.insert(0, from_dict(nbformat.v4.new_markdown_cell(note)))
        return nb, resources


def configure(c) -> None:
    """Set the autograde steps of this module on an nbgrader config ``c`` (called by ``nbgrader_config.py``)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import ClearOutput, Execute

    swap = {ClearOutput: SubmittedOutputs, OverwriteCells: OverwriteCellsKeepingHiddenTests,
            Execute: GradeWithHiddenTests}
    traits = Autograde.class_traits()
    c.Autograde.sanitize_preprocessors = [swap.get(p, p) for p in traits["sanitize_preprocessors"].default()]
    c.Autograde.autograde_preprocessors = [swap.get(p, p) for p in traits["autograde_preprocessors"].default()]
    c.Autograde.exporter_class = SubmittedNotebookExporter
    c.Autograde.pre_convert_hook = pre_convert_hook

