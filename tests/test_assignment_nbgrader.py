"""The assignment through real nbgrader and Jupyter kernels: validate, headless execution, autograde end to end.

Every test here starts Jupyter kernels that import TensorFlow and load the pretrained SqueezeNet 1.1, so all are
``slow`` and ``weights``. nbgrader runs from the repository root (its ``nbgrader_config.py``) on temporary
copies, so nothing is written into ``solutions/`` or ``assignment/``.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import build_assignment  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.weights]

NAME = "class_visualization"
SOURCE_NB = REPO / "solutions" / NAME / f"{NAME}.ipynb"
RELEASE = REPO / "assignment" / NAME
CHECKS = {"loss_value": 2, "gradient_sign": 3, "l2_regularizer": 2, "raw_score": 1, "update_step": 3,
          "score_increase": 3, "tf_function": 1}
SOLUTION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)
SETUP_CELL = "setup"  # the only cell allowed to write to stderr (TensorFlow's C++ start-up lines)


def nbgrader(*args, timeout=1800) -> str:
    """Run ``python -m nbgrader ARGS`` from the repository root; return stdout + stderr; fail on exit != 0."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def read_nb(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def stderr_cells(nb) -> list[str]:
    """Ids of code cells with output on stderr (or an error), other than the setup cell."""
    return [cell["id"] for cell in nb["cells"] if cell["cell_type"] == "code" and cell["id"] != SETUP_CELL
            and any(o["output_type"] == "error" or (o["output_type"] == "stream" and o["name"] == "stderr")
                    for o in cell["outputs"])]


def answered(release_nb: Path, dest: Path, edit=lambda name, code: code) -> None:
    """Write the release notebook with both stubs replaced by the source's solution (through ``edit``), as a
    student would hand it in. ``edit`` also sees every other cell (its release source), and may change it."""
    source = {c["id"]: "".join(c["source"]) for c in read_nb(SOURCE_NB)["cells"]}
    nb = read_nb(release_nb)
    for cell in nb["cells"]:
        if cell["id"] in ("loss_and_gradient", "update_step"):
            code = SOLUTION.sub(lambda m: m.group(1), source[cell["id"]])
            cell["source"] = edit(cell["id"], code).splitlines(keepends=True)
        elif edit(cell["id"], "".join(cell["source"])) != "".join(cell["source"]):
            cell["source"] = edit(cell["id"], "".join(cell["source"])).splitlines(keepends=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def descent(cell_id, code):
    return code.replace("X + learning_rate", "X - learning_rate") if cell_id == "update_step" else code


EDITED_CELL = "test_update_step"


def edited_read_only_cell(cell_id, code):
    """A correct answer that also deleted the public checks of a read-only cell (its docstring stays)."""
    return code.splitlines()[0] + '\nprint("update step: OK")\n' if cell_id == EDITED_CELL else code


# --- validate -------------------------------------------------------------------------------------------------

def test_validate_passes_on_the_source(tmp_path, weights_dir):
    shutil.copytree(SOURCE_NB.parent, tmp_path / NAME)
    out = nbgrader("validate", str(tmp_path / NAME / f"{NAME}.ipynb"))
    assert "Success! Your notebook passes all the tests." in out, out


def test_validate_invert_fails_every_graded_cell_of_the_release(tmp_path, weights_dir):
    shutil.copytree(RELEASE, tmp_path / NAME)
    out = nbgrader("validate", "--invert", str(tmp_path / NAME / f"{NAME}.ipynb"))
    assert "Success! The notebook does not pass any tests." in out, out


# --- headless execution of the source -------------------------------------------------------------------------

def test_source_notebook_runs_headless_and_makes_a_tarantula(tmp_path, squeezenet, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from PIL import Image

    import classviz

    folder = tmp_path / NAME
    folder.mkdir()
    shutil.copy(SOURCE_NB, folder)
    shutil.copytree(REPO / "classviz", folder / "classviz")  # as in the release
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the hidden test cells import autograder
    monkeypatch.setenv("CLASSVIZ_WEIGHTS_DIR", str(REPO / "datasets" / "squeezenet1.1_nchw"))
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    nb = nbformat.read(folder / f"{NAME}.ipynb", as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()

    cells = {c["id"]: c for c in nb.cells}
    assert stderr_cells(nb) == []
    printed = "".join(o.get("text", "") for o in cells["demo_tarantula"]["outputs"] if o["output_type"] == "stream")
    assert printed.startswith("76 tarantula: top-1 by iteration "), printed  # the diagnostic line (issue 12)
    assert "\ntop-5 classes of the image kept: tarantula (" in printed, printed
    figures = [o for o in cells["demo_tarantula"]["outputs"] if "image/png" in o.get("data", {})]
    assert len(figures) == 5  # iterations 1, 25, 50, 75, 100: the seed's display rule
    assert base64.b64decode(figures[-1]["data"]["image/png"]).startswith(b"\x89PNG")

    image = np.asarray(Image.open(folder / "tarantula.png"))
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8 and image.std() > 20
    scores = np.asarray(squeezenet(classviz.preprocess_image(image)[None]))[0]
    assert int(np.argmax(scores)) == classviz.class_index("tarantula")
    grid = [o for o in cells["demo_grid"]["outputs"] if "image/png" in o.get("data", {})]
    assert len(grid) == 1


# --- nbgrader end to end -------------------------------------------------------------------------------------------

STUDENTS = {"reference": lambda cell_id, code: code, "descent": descent, "stub": None,
            "edited": edited_read_only_cell}
NOTEBOOK_ONLY = {"descent"}  # hands in the .ipynb alone (as downloaded from Colab), not the whole folder


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A temporary nbgrader course: generate, three submissions, autograde, export, standalone grader."""
    from classviz import weights

    weights.fetch(("weights",), quiet=True)
    root = tmp_path_factory.mktemp("course")
    release = build_assignment.build(NAME, root)
    for student, edit in STUDENTS.items():
        folder = root / "submitted" / student / NAME
        if student in NOTEBOOK_ONLY:
            folder.mkdir(parents=True)
        else:
            shutil.copytree(release, folder)  # the release folder as received, with the notebook answered
        if edit is not None:
            answered(release / f"{NAME}.ipynb", folder / f"{NAME}.ipynb", edit)
    log = nbgrader("autograde", NAME, f"--CourseDirectory.root={root}")
    nbgrader("export", f"--CourseDirectory.root={root}", f"--to={root / 'grades.csv'}")
    nbgrader("generate_feedback", NAME, f"--CourseDirectory.root={root}")
    standalone = subprocess.run([sys.executable, "-m", "autograder", "grade", str(root / "submitted"), "--out",
                                 str(root / "standalone"), "--quiet"], cwd=REPO, capture_output=True, text=True,
                                timeout=1800)
    assert standalone.returncode == 0, standalone.stderr
    return root, log


def nbgrader_points(root) -> dict:
    """{student: {check: points}} from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {student: {g.name.removeprefix("test_"): g.score
                          for g in gb.find_submission_notebook(NAME, NAME, student).grades}
                for student in STUDENTS}


EXPECTED = {
    "reference": dict(CHECKS),
    "stub": {check: 0 for check in CHECKS},
    # descent: the objective and its gradient are right; the step goes the wrong way, so the score falls.
    "descent": {**CHECKS, "update_step": 0, "score_increase": 0},
    # nbgrader puts the edited read-only cell back as released, with its hidden test: graded as usual.
    "edited": dict(CHECKS),
}


def test_autograde_gives_the_expected_points_per_check(graded_course):
    root, _ = graded_course
    assert nbgrader_points(root) == EXPECTED


def test_standalone_grader_agrees_with_nbgrader(graded_course):
    root, _ = graded_course
    standalone = {}
    for student in STUDENTS:
        record = json.loads((root / "standalone" / "results" / f"{student}.json").read_text(encoding="utf-8"))
        assert record["student"] == student
        standalone[student] = {c["name"]: c["points"] for c in record["checks"]}
    assert standalone == nbgrader_points(root) == EXPECTED


def test_export_csv_has_the_exact_totals(graded_course):
    root, _ = graded_course
    with open(root / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert {s: float(rows[s]["score"]) for s in STUDENTS} == {s: float(sum(EXPECTED[s].values())) for s in STUDENTS}
    assert {float(rows[s]["max_score"]) for s in STUDENTS} == {15.0}


def log_per_student(log: str) -> dict:
    """nbgrader's autograde log cut into one part per student (each starts at "Sanitizing .../<student>/...")."""
    parts = re.split(r"(?=\[AutogradeApp \| INFO\] Sanitizing \S*/submitted/)", log)
    out = {}
    for part in parts[1:]:
        student = re.match(r"\[AutogradeApp \| INFO\] Sanitizing \S*/submitted/([^/]+)/", part).group(1)
        out[student] = part
    return out


def test_checksum_warnings_only_for_a_changed_read_only_cell(graded_course):
    """nbgrader records a cell's checksum before it removes the hidden tests (jupyter/nbgrader#1961): without
    tools/nbgrader_hidden_tests.py every submission got 7 warnings. Now only a real change is reported."""
    _, log = graded_course
    parts = log_per_student(log)
    assert set(parts) == set(STUDENTS)
    warnings = {student: re.findall(r"Attribute '(\w+)' for cell (\w+) has changed!", part)
                for student, part in parts.items()}
    assert warnings == {**{s: [] for s in STUDENTS}, "edited": [("checksum", EDITED_CELL)]}
    assert "SAWarning" not in log and "Inconsistent checksums" not in log


def test_an_edited_read_only_cell_is_graded_as_the_source_cell(graded_course):
    root, _ = graded_course
    nb = read_nb(root / "autograded" / "edited" / NAME / f"{NAME}.ipynb")
    (cell,) = [c for c in nb["cells"] if c["id"] == EDITED_CELL]
    (source,) = [c for c in read_nb(SOURCE_NB)["cells"] if c["id"] == EDITED_CELL]
    assert "".join(cell["source"]) == "".join(source["source"])  # hidden test and public checks back
    printed = "".join("".join(o["text"]) for o in cell["outputs"] if o["output_type"] == "stream")
    assert printed.startswith("update_step: 3/3 points -- ") and printed.endswith("update step: OK\n"), printed


def standalone_check(student, check, root) -> dict:
    record = json.loads((root / "standalone" / "results" / f"{student}.json").read_text(encoding="utf-8"))
    (result,) = [c for c in record["checks"] if c["name"] == check]
    return result


def test_graded_cells_write_nothing_to_stderr(graded_course):
    root, _ = graded_course
    for student in ("reference", "descent", "edited"):
        nb = read_nb(root / "autograded" / student / NAME / f"{NAME}.ipynb")
        graded = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        assert len(graded) == len(CHECKS)
        for cell in graded:
            assert not [o for o in cell["outputs"] if o["output_type"] == "stream" and o["name"] == "stderr"], (
                student, grade_id(cell))
        if student == "reference":
            assert stderr_cells(nb) == []


# --- the setup cell on (simulated) Google Colab -------------------------------------------------------------------

FAKE_DRIVE = '''
from pathlib import Path
MOUNTED = []
def mount(path):
    MOUNTED.append(path)
    print("mounted", path)
'''


def test_setup_cell_on_colab_mounts_drive_and_runs_from_the_uploaded_folder(tmp_path, weights_dir):
    """The release folder uploaded to "My Drive": the setup cell mounts the Drive, moves into the folder, imports
    the folder's classviz and loads the model (Colab's /content is a temporary folder here)."""
    content = tmp_path / "content"
    shutil.copytree(RELEASE, content / "drive" / "MyDrive" / "courses" / NAME)
    fake = tmp_path / "fake_colab" / "google" / "colab"  # google/ without __init__: joins the google namespace
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "drive.py").write_text(FAKE_DRIVE)
    cells = {c["id"]: "".join(c["source"]) for c in read_nb(RELEASE / f"{NAME}.ipynb")["cells"]}
    folder_cell = cells["colab_folder"].replace('"class_visualization"', f'"courses/{NAME}"')
    script = "\n".join(["import google.colab  # as Colab's kernel does at start-up", folder_cell,
                        cells["setup"].replace('"/content', f'"{content}'),
                        "from google.colab import drive",
                        "print('RESULT', drive.MOUNTED, Path.cwd(), Path(classviz.__file__).parent)"])
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake_colab"),
           "CLASSVIZ_WEIGHTS_DIR": str(REPO / "datasets" / "squeezenet1.1_nchw")}
    proc = subprocess.run([sys.executable, "-c", script], cwd=content, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    uploaded = content / "drive" / "MyDrive" / "courses" / NAME
    assert f"RESULT ['{content / 'drive'}'] {uploaded} {uploaded / 'classviz'}" in proc.stdout, proc.stdout
    assert "SqueezeNet 1.1 loaded" in proc.stdout and "helper package: classviz/ of this folder" in proc.stdout


def test_feedback_shows_the_grader_diagnosis_of_every_check(graded_course):
    """The hidden test runs first in each graded cell, so every check's line from the grader (the same text as the
    standalone grader's JSON) is in the student's feedback, failed or passed."""
    root, _ = graded_course
    for student in STUDENTS:
        page = (root / "feedback" / student / NAME / f"{NAME}.html").read_text(encoding="utf-8")
        for check in CHECKS:
            result = standalone_check(student, check, root)
            line = f"{check}: {result['points']}/{result['max_points']} points -- {result['feedback']}"
            assert html.escape(line, quote=False) in page or html.escape(line) in page, (student, line)
    descent = standalone_check("descent", "update_step", root)["feedback"]
    assert "descent" in descent  # what the student reads for the failed update step


def test_feedback_shows_no_path_of_the_grading_machine(graded_course):
    root, _ = graded_course
    for student in STUDENTS:
        page = (root / "feedback" / student / NAME / f"{NAME}.html").read_text(encoding="utf-8")
        for path in (str(REPO), str(root), "site-packages", "nbgrader_bridge.py"):
            assert path not in page, (student, path)


# --- the release folder alone -----------------------------------------------------------------------------------------

def test_release_folder_alone_runs_top_to_bottom(tmp_path, monkeypatch):
    """A student's copy of the release (answers filled in), nothing of the repository on the path: the notebook
    imports the folder's classviz, fetches and verifies the weights into the folder's datasets/, and runs without
    an error (demos skipped with NBGRADER_EXECUTION, as in a student's own nbgrader Validate)."""
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / NAME
    shutil.copytree(RELEASE, folder, ignore=shutil.ignore_patterns("datasets", "__pycache__", "tarantula.png"))
    answered(RELEASE / f"{NAME}.ipynb", folder / f"{NAME}.ipynb")
    for name in ("PYTHONPATH", "CLASSVIZ_WEIGHTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    assert os.environ.get("CLASSVIZ_WEIGHTS_MIRROR"), "offline tests need CLASSVIZ_WEIGHTS_MIRROR"
    nb = nbformat.read(folder / f"{NAME}.ipynb", as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()

    assert stderr_cells(nb) == []
    setup_output = "".join(o.get("text", "") for o in nb.cells[[c.id for c in nb.cells].index("setup")].outputs)
    assert setup_output.endswith("helper package: classviz/ of this folder\n"), setup_output
    assert "untested versions" not in setup_output
    from classviz import weights

    assert weights.find_problems(folder / "datasets" / "squeezenet1.1_nchw") == []
    demo = "".join(o.get("text", "") for o in nb.cells[[c.id for c in nb.cells].index("demo_tarantula")].outputs)
    assert demo == "Demo skipped while nbgrader grades.\n"
    # Nothing heavy lands in the folder students hand in or upload: the weights, the demo image, caches (issue 11).
    top = {p.name for p in folder.iterdir()}
    assert top <= {f"{NAME}.ipynb", "README.md", "requirements.txt", "classviz", "datasets", "tarantula.png",
                   ".ipynb_checkpoints"}, top
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    weights_size = sum(p.stat().st_size for p in (folder / "datasets").rglob("*") if p.is_file())
    assert weights_size < 6e6 and size - weights_size < 2e6, (size, weights_size)
