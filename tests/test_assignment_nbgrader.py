"""The assignment through real nbgrader and Jupyter kernels: validate, headless execution, autograde end to end.

Every test here starts Jupyter kernels or the grader, which import TensorFlow and load the pretrained SqueezeNet
1.1 (``weights``). The nbgrader course end to end and the release run on every test run; validate, the headless
run of the source notebook and the Colab setup are ``slow``. nbgrader runs from the repository root (its
``nbgrader_config.py``) on temporary copies, so nothing is written into ``solutions/`` or ``assignment/``.
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

pytestmark = pytest.mark.weights

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

@pytest.mark.slow
def test_validate_passes_on_the_source(tmp_path, weights_dir):
    shutil.copytree(SOURCE_NB.parent, tmp_path / NAME)
    out = nbgrader("validate", str(tmp_path / NAME / f"{NAME}.ipynb"))
    assert "Success! Your notebook passes all the tests." in out, out


@pytest.mark.slow
def test_validate_invert_fails_every_graded_cell_of_the_release(tmp_path, weights_dir):
    shutil.copytree(RELEASE, tmp_path / NAME)
    out = nbgrader("validate", "--invert", str(tmp_path / NAME / f"{NAME}.ipynb"))
    assert "Success! The notebook does not pass any tests." in out, out


# --- headless execution of the source -------------------------------------------------------------------------

@pytest.mark.slow
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
# nbgrader autograde never runs a student's notebook (autograder/nbgrader_autograde.py): each graded cell gets the
# standalone grader's verdict on the submitted file. The hostile students below would each have forged their points
# or changed the course when nbgrader ran their notebook in a kernel with the instructor's rights.

def top_level(code: str, extra: str) -> str:
    """``code`` (an answer cell) with ``extra`` run at its top level after the function (as a student may add)."""
    return code + "\n" + extra + "\n"


def stub_plus(extra):
    """The unmodified stubs, plus top-level code in the first answer cell."""
    stubs = {c["id"]: "".join(c["source"]) for c in read_nb(RELEASE / f"{NAME}.ipynb")["cells"]}

    def edit(cell_id, code):
        if cell_id in ("loss_and_gradient", "update_step"):
            code = stubs[cell_id]
        return top_level(code, extra) if cell_id == "loss_and_gradient" else code
    return edit


def answer_plus(extra, inside=""):
    """The reference answer, plus top-level code in the first answer cell, and ``inside`` run at the start of the
    loss function (where the grader calls it, in its sandbox)."""
    def edit(cell_id, code):
        if cell_id != "loss_and_gradient":
            return code
        if inside:
            code = code.replace("    with tf.GradientTape", inside + "\n    with tf.GradientTape", 1)
        return top_level(code, extra)
    return edit


VANDAL = "VANDALIZED-BY-A-STUDENT"
TARGETS = "[{root!r} + '/submitted/reference/class_visualization/class_visualization.ipynb', " \
          "{root!r} + '/solutions/class_visualization/class_visualization.ipynb', {root!r} + '/gradebook.db']"
WRITE_ALL = ("for _p in {targets}:\n    try:\n        open(_p, 'a').write({mark!r})\n    except Exception:\n"
             "        pass")
READ_SOURCE = ("try:\n    print(open({root!r} + '/solutions/class_visualization/class_visualization.ipynb').read())\n"
               "except Exception:\n    pass")


def hostile_students(root: Path) -> dict:
    targets = TARGETS.format(root=str(root))
    write_all = WRITE_ALL.format(targets=targets, mark=VANDAL)
    read_source = READ_SOURCE.format(root=str(root))
    indent = lambda text: "\n".join("    " + line for line in text.splitlines())  # noqa: E731
    return {
        # forgery in the kernel, three ways: each made the hidden cells pass when nbgrader ran the notebook
        "forge_transformer": stub_plus("get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"),
        "forge_patch": stub_plus("import autograder.nbgrader_bridge as _b\n_b.run_check = lambda name: None"),
        "forge_exc": stub_plus("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"),
        # writes to a classmate's notebook, the source notebook and gradebook.db: at top level and when graded
        "vandal": answer_plus(write_all, inside=indent(write_all)),
        # reads the instructor's notebook and prints it
        "reader": answer_plus(read_source, inside=indent(read_source)),
        # a notebook whose kernel never finishes
        "endless": stub_plus("while True:\n    pass"),
    }


FORGED_OUTPUT = {"output_type": "stream", "name": "stdout", "text": "all checks: full points\n"}
STUDENTS = {"reference": lambda cell_id, code: code, "descent": descent, "stub": None,
            "edited": edited_read_only_cell, "copy_of": lambda cell_id, code: code,
            "deleted": lambda cell_id, code: code, "forged_outputs": None, "not_json": None}
NOTEBOOK_ONLY = {"descent"}  # hands in the .ipynb alone (as downloaded from Colab), not the whole folder


def hand_in(root, release, student, edit) -> None:
    folder = root / "submitted" / student / NAME
    if student in NOTEBOOK_ONLY or student in ("copy_of", "not_json"):
        folder.mkdir(parents=True)
    else:
        shutil.copytree(release, folder)  # the release folder as received, with the notebook answered
    path = folder / (f"Copy of {NAME}.ipynb" if student == "copy_of" else f"{NAME}.ipynb")
    if student == "not_json":
        path.write_bytes(b"PK\x03\x04 a zip file renamed to .ipynb")
    elif edit is not None:
        answered(release / f"{NAME}.ipynb", path, edit)
    if student == "deleted":  # a correct answer that deleted a graded cell
        nb = read_nb(path)
        nb["cells"] = [c for c in nb["cells"] if c["id"] != "test_update_step"]
        path.write_text(json.dumps(nb), encoding="utf-8")
    if student == "forged_outputs":  # the stub, with "passing" outputs written into every graded cell
        nb = read_nb(path)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("grade"):
                cell["outputs"] = [FORGED_OUTPUT]
        path.write_text(json.dumps(nb), encoding="utf-8")


def snapshot(root: Path) -> dict:
    """SHA-256 of every file of the course that autograde must leave alone."""
    import hashlib

    skip = ("autograded", "feedback", "grading")
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] not in skip
            and p.name != "gradebook.db"}


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A temporary nbgrader course: generate, the submissions, autograde, export, generate_feedback."""
    from classviz import weights

    weights.fetch(("weights",), quiet=True)
    root = tmp_path_factory.mktemp("course")
    release = build_assignment.build(NAME, root)
    everyone = {**STUDENTS, **hostile_students(root)}
    for student, edit in everyone.items():
        hand_in(root, release, student, edit)
    before = snapshot(root)
    log = nbgrader("autograde", NAME, f"--CourseDirectory.root={root}")
    after = snapshot(root)
    nbgrader("export", f"--CourseDirectory.root={root}", f"--to={root / 'grades.csv'}")
    nbgrader("generate_feedback", NAME, f"--CourseDirectory.root={root}")
    return root, log, before, after, list(everyone)


def nbgrader_points(root, students) -> dict:
    """{student: {check: points}} from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {student: {g.name.removeprefix("test_"): g.score
                          for g in gb.find_submission_notebook(NAME, NAME, student).grades}
                for student in students}


def standalone(root, student) -> dict:
    """The standalone grader's record of a student (``grading/``, where autograde keeps its signed results)."""
    return json.loads((root / "grading" / "results" / f"{student}.json").read_text(encoding="utf-8"))


NONE = {check: 0 for check in CHECKS}
EXPECTED = {
    "reference": dict(CHECKS),
    "stub": NONE,
    # descent: the objective and its gradient are right; the step goes the wrong way, so the score falls.
    "descent": {**CHECKS, "update_step": 0, "score_increase": 0},
    # graded from its content: an edited read-only cell, another name, a deleted graded cell change nothing
    "edited": dict(CHECKS), "copy_of": dict(CHECKS), "deleted": dict(CHECKS),
    # what a notebook prints or says in its outputs is not what it does: the stubs get nothing
    "forged_outputs": NONE, "forge_transformer": NONE, "forge_patch": NONE, "forge_exc": NONE, "endless": NONE,
    "not_json": NONE,
}


def test_autograde_records_exactly_the_standalone_points(graded_course):
    root, _, _, _, students = graded_course
    points = nbgrader_points(root, students)
    for student in students:
        record = standalone(root, student)
        assert record["student"] == student
        assert points[student] == {c["name"]: c["points"] for c in record["checks"]}, student
    assert {s: points[s] for s in EXPECTED} == EXPECTED


def test_export_csv_has_the_exact_totals(graded_course):
    root, _, _, _, students = graded_course
    with open(root / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert {s: float(rows[s]["score"]) for s in students} == {s: float(standalone(root, s)["score"])
                                                             for s in students}
    assert {float(rows[s]["max_score"]) for s in students} == {15.0}


def test_student_code_changes_nothing_outside_its_own_folder(graded_course):
    root, _, before, after, _ = graded_course
    copied = f"submitted/copy_of/{NAME}/{NAME}.ipynb"  # the Colab download, copied to the assignment's name
    assert after == {**before, copied: before[f"submitted/copy_of/{NAME}/Copy of {NAME}.ipynb"]}
    assert VANDAL.encode() not in (root / "gradebook.db").read_bytes()


def log_per_student(log: str) -> dict:
    """nbgrader's autograde log cut into one part per student (each starts at "Sanitizing .../<student>/...")."""
    parts = re.split(r"(?=\[AutogradeApp \| INFO\] Sanitizing \S*/submitted/)", log)
    out = {}
    for part in parts[1:]:
        student = re.match(r"\[AutogradeApp \| INFO\] Sanitizing \S*/submitted/([^/]+)/", part).group(1)
        out[student] = part
    return out


def test_autograde_log_is_quiet_and_names_what_it_did(graded_course):
    """nbgrader records a cell's checksum before it removes the hidden tests (jupyter/nbgrader#1961): without
    OverwriteCellsKeepingHiddenTests every submission got 7 warnings. Now only a real change is reported; the
    unreadable and renamed notebooks get one line each, no traceback."""
    _, log, _, _, students = graded_course
    parts = log_per_student(log)
    assert set(parts) == set(students)
    warnings = {student: re.findall(r"Attribute '(\w+)' for cell (\w+) has changed!", part)
                for student, part in parts.items()}
    assert warnings == {**{s: [] for s in students}, "edited": [("checksum", EDITED_CELL)]}
    assert "SAWarning" not in log and "Inconsistent checksums" not in log and "Traceback" not in log
    assert "Skipping unknown notebook" not in log and "No notebooks found" not in log
    assert f"graded 'Copy of {NAME}.ipynb' as {NAME}.ipynb" in log
    assert "graded cell test_update_step was deleted from the submission; put back" in parts["deleted"]
    assert "not a notebook file" in parts["not_json"]


def graded_cells(root, student) -> dict:
    nb = read_nb(root / "autograded" / student / NAME / f"{NAME}.ipynb")
    return {grade_id(c): c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


def test_each_graded_cell_shows_its_check_once(graded_course):
    """A cell that earned its points shows the feedback on stdout; one that did not, as an error (how nbgrader
    scores it 0); nothing else, nothing on stderr, every line wrapped."""
    root, _, _, _, students = graded_course
    for student in students:
        cells = graded_cells(root, student)
        assert set(cells) == {f"test_{c}" for c in CHECKS}, student
        for check in standalone(root, student)["checks"]:
            (output,) = cells[f"test_{check['name']}"]["outputs"]
            text = "".join(output["text"]) if output["output_type"] == "stream" else "\n".join(output["traceback"])
            assert " ".join(text.split()) == " ".join(
                f"{check['name']}: {check['points']}/{check['max_points']} points -- {check['feedback']}".split())
            assert output["output_type"] == ("stream" if check["passed"] else "error"), (student, check["name"])
            assert output.get("name", "stdout") == "stdout"
            assert max(len(line) for line in text.splitlines()) <= 96 or " " not in text


def test_submitted_outputs_are_kept_as_text_and_images_only(graded_course):
    root, _, _, _, _ = graded_course
    for cell in read_nb(root / "autograded" / "forged_outputs" / NAME / f"{NAME}.ipynb")["cells"]:
        for output in cell.get("outputs", []):
            assert output != FORGED_OUTPUT
            assert set(output.get("data", {})) <= {"text/plain", "image/png", "image/jpeg"}


def feedback_page(root, student) -> str:
    return (root / "feedback" / student / NAME / f"{NAME}.html").read_text(encoding="utf-8")


def test_feedback_shows_the_grader_diagnosis_of_every_check(graded_course):
    root, _, _, _, students = graded_course
    for student in students:
        page = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", feedback_page(root, student))).split())
        for check in standalone(root, student)["checks"]:
            line = f"{check['name']}: {check['points']}/{check['max_points']} points -- {check['feedback']}"
            assert page.count(" ".join(line.split())) == 1, (student, line)
    assert "descent" in standalone(root, "descent")["checks"][4]["feedback"]  # what the student reads


def test_feedback_shows_no_solution_and_no_path_of_the_grading_machine(graded_course):
    root, _, _, _, students = graded_course
    solution_lines = {line.strip() for match in SOLUTION.finditer("".join(
        "".join(c["source"]) + "\n" for c in read_nb(SOURCE_NB)["cells"])) for line in match.group(1).splitlines()
        if len(line.strip()) > 25}
    assert solution_lines
    for student in students:
        page = html.unescape(feedback_page(root, student))
        if student not in ("reference", "edited", "copy_of", "deleted", "vandal", "reader", "descent"):
            assert not [line for line in solution_lines if line in page], student  # stubs: nothing of the source
        for path in (str(REPO), str(root / "grading"), "site-packages", "nbgrader_bridge.py\"", "TensorFlow binary"):
            assert path not in page, (student, path)
    assert "BEGIN SOLUTION" not in html.unescape(feedback_page(root, "reader"))


def test_an_unreadable_notebook_gets_a_result_and_says_why(graded_course):
    root, _, _, _, _ = graded_course
    record = standalone(root, "not_json")
    assert record["status"] == "unreadable" and record["score"] == 0
    page = html.unescape(feedback_page(root, "not_json"))
    assert "This is not your notebook." in page and "not a notebook file" in page


# --- the setup cell on (simulated) Google Colab -------------------------------------------------------------------

FAKE_DRIVE = '''
from pathlib import Path
MOUNTED = []
def mount(path):
    MOUNTED.append(path)
    print("mounted", path)
'''


@pytest.mark.slow
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
