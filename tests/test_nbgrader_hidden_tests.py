"""autograder.nbgrader_autograde.OverwriteCellsKeepingHiddenTests on a tiny course (no TensorFlow): checksum
warnings only for real changes.

The cause it works around (jupyter/nbgrader#1961) is asserted first, so a future nbgrader that records the
released checksum makes this test say so. The release is generated from the repository root (its
nbgrader_config.py); the autograde runs in the tiny course with a config of its own that installs only that
preprocessor and keeps nbgrader's kernel execution (the tiny notebook has nothing to do with the hidden grader).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import build_assignment  # noqa: E402

pytestmark = pytest.mark.slow  # starts a Jupyter kernel per submission (a few seconds each)

NAME = "tiny"
ANSWER = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
TEST = ('"""Check double."""\n### BEGIN HIDDEN TESTS\nassert double(21) == 42, "hidden: double(21) is not 42"\n'
        '### END HIDDEN TESTS\nassert double(1) == 2, "public: double(1) is not 2"\nprint("double: OK")')


def cell(cell_id, source, **nbgrader):
    meta = {"grade": False, "grade_id": cell_id, "locked": False, "schema_version": 3, "solution": False,
            "task": False, **nbgrader}
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {"nbgrader": meta},
            "outputs": [], "source": source}


def notebook(answer_source: str, test_source: str) -> dict:
    return {"cells": [cell("answer", answer_source, solution=True),
                      cell("test_double", test_source, grade=True, locked=True, points=1)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


TINY_CONFIG = """
from nbgrader.converters import Autograde
from nbgrader.preprocessors import OverwriteCells
from autograder.nbgrader_autograde import OverwriteCellsKeepingHiddenTests
c = get_config()
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignment"
c.Autograde.sanitize_preprocessors = [OverwriteCellsKeepingHiddenTests if p is OverwriteCells else p
                                      for p in Autograde.class_traits()["sanitize_preprocessors"].default()]
"""


def nbgrader(*args, cwd=REPO) -> str:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_course")
    (root / "solutions" / NAME).mkdir(parents=True)
    (root / "solutions" / NAME / f"{NAME}.ipynb").write_text(json.dumps(notebook(ANSWER, TEST)), encoding="utf-8")
    release = build_assignment.generate(root, NAME)
    released = json.loads((release / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    answered = [dict(c, source="def double(x):\n    return x + x\n") if c["id"] == "answer" else c
                for c in released["cells"]]
    edited = [dict(c, source='"""Check double."""\nprint("double: OK")') if c["id"] == "test_double" else c
              for c in answered]
    for student, cells in {"untouched": answered, "edited": edited, "stub": released["cells"]}.items():
        folder = root / "submitted" / student / NAME
        folder.mkdir(parents=True)
        (folder / f"{NAME}.ipynb").write_text(json.dumps({**released, "cells": cells}), encoding="utf-8")
    (root / "nbgrader_config.py").write_text(TINY_CONFIG, encoding="utf-8")
    log = nbgrader("autograde", NAME, f"--CourseDirectory.root={root}", cwd=root)
    return root, released, log


def test_the_cause_nbgrader_records_the_checksum_before_removing_hidden_tests(course):
    import nbformat
    from nbgrader import utils
    from nbgrader.api import Gradebook

    root, _, _ = course
    released = nbformat.read(root / "assignment" / NAME / f"{NAME}.ipynb", as_version=4)
    (test_cell,) = [c for c in released.cells if c.id == "test_double"]
    assert "HIDDEN" not in test_cell.source
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        recorded = gb.find_source_cell("test_double", NAME, NAME)
        assert "### BEGIN HIDDEN TESTS" in recorded.source
        assert recorded.checksum != utils.compute_checksum(test_cell) == test_cell.metadata.nbgrader["checksum"]


def test_only_the_edited_cell_gets_a_checksum_warning(course):
    _, _, log = course
    parts = re.split(r"(?=\[AutogradeApp \| INFO\] Sanitizing \S*/submitted/)", log)[1:]
    warnings = {re.search(r"/submitted/([^/]+)/", part).group(1): re.findall(r"for cell (\w+) has changed", part)
                for part in parts}
    assert warnings == {"untouched": [], "stub": [], "edited": ["test_double"]}, log


def test_every_submission_is_graded_with_the_hidden_test(course):
    from nbgrader.api import Gradebook

    root, _, _ = course
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission_notebook(NAME, NAME, s).score for s in ("untouched", "edited", "stub")}
    assert scores == {"untouched": 1.0, "edited": 1.0, "stub": 0.0}
    for student in ("untouched", "edited"):
        nb = json.loads((root / "autograded" / student / NAME / f"{NAME}.ipynb").read_text(encoding="utf-8"))
        (test_cell,) = [c for c in nb["cells"] if c["id"] == "test_double"]
        assert "### BEGIN HIDDEN TESTS" in "".join(test_cell["source"])
        assert ["".join(o.get("text", "")) for o in test_cell["outputs"]] == ["double: OK\n"]

