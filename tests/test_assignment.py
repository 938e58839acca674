"""The assignment: the instructor source notebook, the generated student release, and their public checks.

The source (``solutions/``) must follow the contract with the hidden grader (graded cells, points, hidden
parts); the release (``assignment/``) must be exactly what ``tools/build_assignment.py`` generates from it and
hold nothing of the solution, the hidden tests or the reference; the public checks of the notebook must pass
for correct answers and catch the mistakes they are written for.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.child import LOSS, UPDATE
from autograder.results import checks

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import build_assignment  # noqa: E402

NAME = build_assignment.ASSIGNMENTS[0]
SOURCE = REPO / "solutions" / NAME / f"{NAME}.ipynb"
RELEASE = REPO / "assignment" / NAME
RELEASE_NB = RELEASE / f"{NAME}.ipynb"

# The contract with the hidden grader (issue 4): graded cell -> points, as the hidden tests declare them.
GRADED_CELLS = {f"test_{name}": check.points for name, check in checks().items()}
SOLUTION_CELLS = {"loss_and_gradient": LOSS, "update_step": UPDATE}
SIGNATURES = {LOSS: ["model", "X", "target_y", "l2_reg"], UPDATE: ["model", "X", "target_y", "l2_reg", "learning_rate"]}
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS\n?", re.S)
SOLUTION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)


def cells(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]


def source_of(cell) -> str:
    return "".join(cell["source"])


def by_id(path) -> dict:
    return {c["id"]: c for c in cells(path)}


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


# --- the source notebook -------------------------------------------------------------------------------------

def test_source_graded_cells_follow_the_grader_contract():
    graded = {nbgrader_meta(c)["grade_id"]: c for c in cells(SOURCE) if nbgrader_meta(c).get("grade")}
    assert {k: nbgrader_meta(c)["points"] for k, c in graded.items()} == GRADED_CELLS
    assert list(GRADED_CELLS) == list(graded)  # notebook order = the hidden tests' order
    for grade_id, cell in graded.items():
        meta = nbgrader_meta(cell)
        assert cell["cell_type"] == "code" and meta["locked"] and not meta["solution"], grade_id
        text = source_of(cell)
        first = text.splitlines()[0]
        assert re.fullmatch(r'"""Check .+\."""', first), f"{grade_id}: first line must say what it checks: {first}"
        check = grade_id.removeprefix("test_")
        assert HIDDEN.findall(text) == [
            f'from autograder.nbgrader_bridge import run_check\nrun_check("{check}")\n'], grade_id
        # The hidden check runs first, right after the docstring: in nbgrader its feedback is printed and its
        # AssertionError decides the cell; the public asserts after it are never stricter (tested below).
        assert text.splitlines()[1:5] == ["### BEGIN HIDDEN TESTS", "from autograder.nbgrader_bridge import run_check",
                                          f'run_check("{check}")', "### END HIDDEN TESTS"], grade_id
        visible = HIDDEN.sub("", text)
        assert "class_visualization_" in visible, f"{grade_id}: the visible part must call the student's code"


def test_the_notebook_and_the_readme_state_the_points_and_pitfalls_of_the_hidden_tests():
    """The points (total and per check, in order) and the TensorFlow 2 pitfalls the notebook and the README name are
    those of the hidden tests and of ``classviz.tf_compile.PITFALLS``."""
    from classviz.tf_compile import PITFALLS

    points = [check.points for check in checks().values()]
    intro = source_of(by_id(SOURCE)["intro"])
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    grading = next(p for p in readme.split("\n\n") if p.startswith("**Grading.**"))
    for text, pattern in ((intro, r"Grading \((\d+) points\)\.\*\*.*?\((\d+) checks: ([^)]*)\)"),
                          (grading, r"(\d+) points from (\d+) hidden checks of your two functions \(([^)]*)\)")):
        total, number, each = re.search(pattern, text, re.S).groups()
        assert (int(total), int(number), [int(n) for n in re.findall(r" (\d+)(?:,|$)", each)]) == (
            sum(points), len(points), points), text
    pitfalls_md = source_of(by_id(SOURCE)["objective_md"]).split("**TensorFlow 2 pitfalls.**")[1]
    for pitfall in PITFALLS:
        if pitfall.lost:
            assert f"`{pitfall.name}" in pitfalls_md and f"`{pitfall.name}" in grading, pitfall.name


def test_the_public_checks_use_the_hidden_checks_tolerances():
    """The tolerances of the notebook's public checks, where the hidden check's docstring says they are the same."""
    from autograder.hidden_tests import test_class_visualization as hidden
    from autograder.references import MIN_PLAIN_RISE

    expected = {
        "test_loss_value": {("rtol", hidden.TOL_LOSS_REL), ("atol", hidden.TOL_LOSS_ABS)},
        "test_gradient_sign": {("rtol", 0.02), ("atol", 2e-3)},  # finite differences: the notebook's own
        "test_l2_regularizer": {("rtol", hidden.TOL_L2_RATIO), ("rtol", hidden.TOL_L2_RESIDUAL_REL),
                                ("atol", hidden.TOL_L2_RESIDUAL_ABS)},
        "test_raw_score": {("rtol", hidden.TOL_RAW_REL), ("atol", hidden.TOL_RAW_ABS)},
        "test_update_step": {("rtol", hidden.TOL_STEP_REL), ("atol", hidden.TOL_STEP_ABS)},
    }
    for cell in cells(SOURCE):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in expected:
            found = {(k.arg, k.value.value) for node in ast.walk(ast.parse(source_of(cell))) if isinstance(node, ast.Call)
                     for k in node.keywords if k.arg in ("rtol", "atol")}
            assert found == expected[grade_id], grade_id
        if grade_id == "test_score_increase":
            assert f"scores[0] + {float(MIN_PLAIN_RISE)}" in source_of(cell)


def test_source_solution_cells_define_the_exact_signatures():
    ids = by_id(SOURCE)
    for cell_id, func in SOLUTION_CELLS.items():
        cell = ids[cell_id]
        assert nbgrader_meta(cell)["solution"] and not nbgrader_meta(cell).get("grade")
        (node,) = [n for n in ast.parse(source_of(cell)).body if isinstance(n, ast.FunctionDef)]
        assert node.name == func
        assert [a.arg for a in node.args.args] == SIGNATURES[func]
        assert len(SOLUTION.findall(source_of(cell))) == 1


def test_source_reference_answer_is_written_plainly():
    ids = by_id(SOURCE)
    loss_code = SOLUTION.findall(source_of(ids["loss_and_gradient"]))[0]
    for piece in ("tf.GradientTape()", "tape.watch(X)", "scores = model(X)", "scores[0, target_y]",
                  "l2_reg * tf.reduce_sum(tf.square(X))"):
        assert piece in loss_code
    step_code = SOLUTION.findall(source_of(ids["update_step"]))[0]
    assert "X + learning_rate * np.asarray(dX)" in step_code and "np.float32" in step_code


def test_source_is_committed_without_outputs():
    for cell in cells(SOURCE):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["id"]


def test_source_teaches_the_method():
    text = "\n".join(source_of(c) for c in cells(SOURCE) if c["cell_type"] == "markdown")
    for needed in ("raw score", "gradient ascent", "jitter", "blur", "clip", "Simonyan", "Yosinski",
                   "tf.GradientTape", "tf.function", "tf.nn.l2_loss", "half"):
        assert needed.lower() in text.lower(), needed
    wrapper = source_of(by_id(SOURCE)["create_class_visualization"])
    for kwarg in ("l2_reg", "learning_rate", "num_iterations", "blur_every", "max_jitter", "show_every", "seed"):
        assert kwarg in wrapper
    assert "visualize.assignment_step(" in wrapper and "callback=show" in wrapper


# --- the release -----------------------------------------------------------------------------------------------

def test_release_is_a_fresh_build(tmp_path):
    fresh = build_assignment.build(NAME, tmp_path)
    assert build_assignment.differences(fresh, RELEASE) == [], (
        "assignment/ is out of date: run `.venv/bin/python tools/build_assignment.py`")


def test_release_holds_the_notebook_and_the_whole_student_package_only():
    package = REPO / "classviz"
    whole = {f"classviz/{p.relative_to(package).as_posix()}" for p in package.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert set(build_assignment.release_files(RELEASE)) == {f"{NAME}.ipynb", "requirements.txt", "README.md"} | whole
    assert not any(name.startswith("classviz_reference") for name in build_assignment.release_files(RELEASE))


def test_imports_flow_one_way_from_the_instructor_side_to_the_student_package():
    """The student package imports nothing of the instructor side (classviz_reference, autograder, tools)."""
    import ast

    for path in (REPO / "classviz").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not [n for n in names if n.split(".")[0] in ("classviz_reference", "autograder", "tools")], \
                f"{path.relative_to(REPO)} imports {names}"


@pytest.mark.parametrize("forbidden", ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "run_check", "from autograder",
                                       "import autograder", "def reference_loss_and_gradient",
                                       "def compiled_ascent_step",
                                       # paths of the course's own machines (issue 11)
                                       "shared/models", "../shared", "/work/"])
def test_release_files_hold_no_solution_hidden_test_or_reference(forbidden):
    for rel in build_assignment.release_files(RELEASE):
        assert forbidden not in (RELEASE / rel).read_text(encoding="utf-8"), f"{forbidden!r} in assignment/{NAME}/{rel}"


def test_release_notebook_has_stubs_and_no_solution_code():
    release, source = by_id(RELEASE_NB), by_id(SOURCE)
    assert list(release) == list(source)  # same cells in the same order
    for cell_id, func in SOLUTION_CELLS.items():
        (node,) = [n for n in ast.parse(source_of(release[cell_id])).body if isinstance(n, ast.FunctionDef)]
        body = [type(n).__name__ for n in node.body]
        assert body == ["Expr", "Raise", "Return"], f"{func} in the release must be a stub, but has {body}"
        assert ast.unparse(node.body[1]) == "raise NotImplementedError()"
    solution_lines = {line.strip() for cell_id in SOLUTION_CELLS
                      for line in SOLUTION.findall(source_of(source[cell_id]))[0].splitlines() if line.strip()}
    for cell in release.values():
        if cell["cell_type"] != "code":
            continue
        text = source_of(cell)
        tree = ast.parse(text)
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & {"GradientTape", "gradient", "watch"}, cell["id"]
        assert not solution_lines & {line.strip() for line in text.splitlines()}, cell["id"]
    # the markdown and the other cells are the source's
    for cell_id, cell in source.items():
        if cell_id not in SOLUTION_CELLS:
            assert HIDDEN.sub("", source_of(cell)).rstrip() == source_of(release[cell_id]).rstrip(), cell_id


def test_release_readme_is_generated_from_the_source():
    assert (RELEASE / "README.md").read_text(encoding="utf-8") == build_assignment.release_readme(NAME)


def test_release_readme_says_how_to_run_hand_in_and_what_is_graded():
    text = (RELEASE / "README.md").read_text(encoding="utf-8")
    for needed in ("## Jupyter on your computer", "## JupyterHub", "## Google Colab", "## Hand in", "## What is graded",
                   "FOLDERNAME", "CLASSVIZ_WEIGHTS_MIRROR", "%pip install -r requirements.txt", "Validate", "Submit",
                   "File > Download > Download .ipynb"):
        assert needed in text, needed
    assert f"{sum(GRADED_CELLS.values())} points, from {len(GRADED_CELLS)} hidden checks" in text
    for grade_id, points in GRADED_CELLS.items():
        assert f"**{grade_id.removeprefix('test_')}** ({points} point" in text, grade_id
    from classviz.notebook_setup import TESTED_VERSIONS

    for (lo, hi) in TESTED_VERSIONS.values():
        assert f"{lo[0]}.{lo[1]} to {hi[0]}.{hi[1]}" in text


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, re.S)


@pytest.mark.parametrize("readme", ["release", "repository"])
def test_no_instruction_puts_an_environment_in_the_folder_students_upload(readme):
    """A virtual environment (2 GB, 40,000 files) must be made beside the assignment folder, and a zip of the
    folder leaves out the downloaded weights (issue 11)."""
    text = (RELEASE / "README.md" if readme == "release" else REPO / "README.md").read_text(encoding="utf-8")
    if readme == "repository":
        text = text.split("## For students", 1)[1].split("\n## ", 1)[0]
    venv_blocks = [b for b in shell_blocks(text) if " -m venv " in b]
    assert venv_blocks, "no instructions to make an environment"
    for block in venv_blocks:
        before_venv = block.split(" -m venv ", 1)[0]
        assert f"cd {NAME}" not in before_venv, block
        (target,) = re.findall(r" -m venv (\S+)", block)
        assert not target.startswith((NAME, "./", ".venv")), block
        assert f"-r {NAME}/requirements.txt" in block, block  # run from the folder that contains the assignment
    for block in shell_blocks(text):
        if "zip " in block and "unzip" not in block:
            assert f'-x "{NAME}/datasets/*"' in block, block


def test_release_requirements_are_the_course_pins():
    text = (RELEASE / "requirements.txt").read_text(encoding="utf-8")
    root = (REPO / "requirements.txt").read_text(encoding="utf-8")
    pins = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert [p.split("==")[0] for p in pins] == list(build_assignment.RELEASE_REQUIREMENTS)
    assert all(re.search(rf"^{re.escape(p)}$", root, re.M) for p in pins)


# --- nbgrader configuration -----------------------------------------------------------------------------------

def test_nbgrader_config_wires_the_course(tmp_path):
    script = (
        "import json, os; from traitlets.config.loader import PyFileConfigLoader\n"
        f"c = PyFileConfigLoader('nbgrader_config.py', path={str(REPO)!r}).load_config()\n"
        "print(json.dumps({'source': c.CourseDirectory.source_directory, 'release': c.CourseDirectory.release_directory,"
        " 'timeout': c.Execute.timeout, 'startup': c.Execute.startup_timeout, 'ignore': c.CourseDirectory.ignore,"
        " 'sanitize': [p.__name__ for p in c.Autograde.sanitize_preprocessors],"
        " 'autograde': [p.__name__ for p in c.Autograde.autograde_preprocessors],"
        " 'exporter': c.Autograde.exporter_class.__name__, 'hook': c.Autograde.pre_convert_hook.__name__,"
        " 'pythonpath': os.environ['PYTHONPATH'], 'path': os.environ['PATH'],"
        " 'weights': os.environ['CLASSVIZ_WEIGHTS_DIR']}))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/elsewhere"}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout)
    assert (got["source"], got["release"]) == ("solutions", "assignment")
    assert got["timeout"] >= 600 and got["startup"] >= 120
    assert got["pythonpath"].split(":") == [str(REPO), "/elsewhere"]
    assert got["path"].split(":")[0] == str(Path(sys.executable).parent)
    assert got["weights"] == str(REPO / "datasets" / "squeezenet1.1_nchw")
    assert "datasets" in got["ignore"]
    # nbgrader's own steps, with the outputs, cells and execution of the student's notebook replaced (issue 15)
    assert got["sanitize"] == ["SubmittedOutputs", "DeduplicateIds", "OverwriteKernelspec",
                               "OverwriteCellsKeepingHiddenTests", "CheckCellMetadata"]
    assert got["autograde"] == ["GradeWithHiddenTests", "IgnorePattern", "ClearMetadataPreprocessor",
                                "LimitOutput", "SaveAutoGrades", "AssignLatePenalties", "CheckCellMetadata"]
    assert (got["exporter"], got["hook"]) == ("SubmittedNotebookExporter", "pre_convert_hook")


# --- the public checks of the notebook, run in-process on answers right and wrong ----------------------------

REFERENCE = {cell_id: SOLUTION.sub(lambda m: m.group(1), source_of(by_id(SOURCE)[cell_id]))
             for cell_id in SOLUTION_CELLS}
LOSS, STEP = REFERENCE["loss_and_gradient"], REFERENCE["update_step"]
VARIANTS = {
    # name: (loss_and_gradient code, update_step code, visible checks expected to fail; None = not asserted)
    "reference": (LOSS, STEP, set()),
    "l2_loss_half": (LOSS.replace("tf.reduce_sum(tf.square(X))", "tf.nn.l2_loss(X)"), STEP, set()),
    "tensor_return": (LOSS, STEP.replace("np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)",
                                         "(tf.constant(X) + learning_rate * dX).numpy()"), set()),
    "stub": (None, None, set(GRADED_CELLS)),
    "descent": (LOSS, STEP.replace("X + learning_rate", "X - learning_rate"),
                {"test_update_step", "test_score_increase"}),
    "no_l2": (LOSS.replace(" - l2_reg * tf.reduce_sum(tf.square(X))", ""), STEP,
              {"test_loss_value", "test_l2_regularizer"}),
    "softmax": (LOSS.replace("scores = model(X)", "scores = tf.nn.softmax(model(X))"), STEP,
                {"test_loss_value", "test_raw_score", "test_score_increase"}),
    "in_place": (LOSS, STEP.replace("X_new = np.asarray(X + learning_rate * np.asarray(dX), dtype=np.float32)",
                                    "X += learning_rate * np.asarray(dX)\n    X_new = X"), {"test_update_step"}),
    # TensorFlow 2 pitfalls: the public tf.function check fails when compile_loss_and_gradient cannot compile the
    # function (as the hidden check does), with its reason, which names the usual mistake behind it and the fix.
    "tf_constant": (LOSS.replace("X = tf.convert_to_tensor(X, dtype=tf.float32)", "X = tf.constant(X)"), STEP,
                    {"test_tf_function"}),
    "numpy_inside": (LOSS.replace("dX = tape.gradient(loss, X)", "dX = tf.constant(tape.gradient(loss, X).numpy())"),
                     STEP, {"test_tf_function"}),
    "numpy_scores": (LOSS.replace("scores = model(X)", "scores = model(X).numpy()"), STEP,
                     {"test_gradient_sign", "test_score_increase", "test_tf_function"}),
    "model_predict": (LOSS.replace("scores = model(X)", "scores = model.predict(X, verbose=0)"), STEP,
                      {"test_gradient_sign", "test_score_increase", "test_tf_function"}),
    "float_score": (LOSS.replace("scores[0, target_y]", "float(scores[0, target_y])"), STEP,
                    {"test_gradient_sign", "test_score_increase", "test_tf_function"}),
    "no_watch": (LOSS.replace("        tape.watch(X)\n", ""), STEP,  # compiles (dX None stays None); the step is
                 {"test_gradient_sign", "test_l2_regularizer", "test_score_increase"}),  # right (issue 19)
    "no_watch_numpy_step": (LOSS.replace("        tape.watch(X)\n", ""),
                            STEP.replace("np.asarray(dX)", "dX.numpy()"),  # AttributeError on None: not shown
                            {"test_gradient_sign", "test_l2_regularizer", "test_score_increase"}),
    "keras_training_flag": (LOSS.replace("model(X)", "model(X, training=False)"), STEP, set()),
}


def run_cell(code: str, namespace: dict, name: str) -> None:
    """Run a cell's code as IPython does: compiled under a file name whose lines ``linecache`` knows (tracebacks,
    and the tracing-error hints of ``compile_loss_and_gradient``, read the student's lines from there)."""
    import linecache

    filename = f"<cell {name}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    exec(compile(code, filename, "exec"), namespace)


def run_public_checks(model, loss_code, step_code, out: io.StringIO | None = None, cells=()) -> dict:
    """Run the notebook's provided cells, the given answers and the visible part of each graded cell, then the
    cells ``cells`` (ids); return ``{graded cell: its error message}`` for the cells
    that fail. What they print goes to ``out``."""
    import keras
    import tensorflow as tf

    import classviz
    from classviz import visualize

    release, source = by_id(RELEASE_NB), by_id(SOURCE)
    namespace = {"np": np, "tf": tf, "keras": keras, "classviz": classviz, "visualize": visualize, "model": model,
                 "GRADING": False}
    with contextlib.redirect_stdout(out or io.StringIO()):
        run_cell(source_of(source["public_check_helpers"]), namespace, "public_check_helpers")
        run_cell(loss_code or source_of(release["loss_and_gradient"]), namespace, "loss_and_gradient")
        run_cell(step_code or source_of(release["update_step"]), namespace, "update_step")
        failed = {}
        for grade_id in GRADED_CELLS:
            try:
                exec(HIDDEN.sub("", source_of(source[grade_id])), namespace)
            except Exception as exc:  # noqa: BLE001 (as in Jupyter: the cell fails, the notebook goes on)
                failed[grade_id] = f"{type(exc).__name__}: {exc}"
        for cell in cells:
            try:
                exec(source_of(source[cell]), namespace)
            except Exception as exc:  # noqa: BLE001
                failed[cell] = f"{type(exc).__name__}: {exc}"
    return failed


@pytest.mark.weights
@pytest.mark.parametrize("variant", VARIANTS)
def test_public_checks_pass_right_answers_and_catch_mistakes(squeezenet, variant):
    loss_code, step_code, expected = VARIANTS[variant]
    assert set(run_public_checks(squeezenet, loss_code, step_code)) == expected


def test_every_variant_is_a_change_of_the_reference():
    """Each mistake's text replacement took effect (a replacement that matches nothing would test the reference)."""
    for name, (loss_code, step_code, _) in VARIANTS.items():
        if name not in ("reference", "stub"):
            assert (loss_code, step_code) != (LOSS, STEP), name


@pytest.mark.weights
@pytest.mark.parametrize("variant", ["no_watch", "no_watch_numpy_step"])
def test_a_missing_gradient_is_named_in_one_line_by_the_checks_and_the_demos(squeezenet, variant):
    """dX None (issue 19): no check prints a bare OK or an AttributeError, and the demos say they cannot run
    instead of drawing empty panels; each line names the gradient and where to look."""
    loss_code, step_code, expected = VARIANTS[variant]
    out = io.StringIO()
    failed = run_public_checks(squeezenet, loss_code, step_code, out,
                               cells=["create_class_visualization", "demo_tarantula", "demo_grid"])
    where = 'dX is None: fix class_visualization_loss_and_gradient first (the cell "Check the gradient" above says why)'
    assert failed["test_score_increase"] == f"AssertionError: the score cannot rise: {where}"
    assert set(failed) == expected
    lines = out.getvalue().splitlines()
    assert f"raw score: OK (the loss), but {where}" in lines
    assert f"update step: OK with a known gradient in place of yours, but {where}" in lines
    assert f"tf.function: OK (compiled, same values as eagerly), but {where}" in lines
    assert lines.count(f"The loop cannot run: {where}.") == 1 and f"Demo not run: {where}." in lines
    assert not [line for line in lines if "AttributeError" in line or "NoneType" in line]


PITFALL_MESSAGES = {
    # variant: {graded cell: what its message must name}
    "tf_constant": {"test_tf_function": ["tf.constant(X)", "tf.convert_to_tensor", "Expected any non-tensor type"]},
    "numpy_scores": {"test_tf_function": [".numpy()"], "test_gradient_sign": [".numpy()"]},
    "model_predict": {"test_tf_function": ["model.predict", "model(X)"], "test_gradient_sign": ["model.predict"]},
    "float_score": {"test_tf_function": ["float()"], "test_gradient_sign": ["float()"]},
    "no_watch": {"test_gradient_sign": ["dX is None", "tape.watch(X)"], "test_l2_regularizer": ["dX is None"]},
}


@pytest.mark.weights
@pytest.mark.parametrize("variant", PITFALL_MESSAGES)
def test_public_checks_name_the_tensorflow_pitfall_and_its_fix(squeezenet, variant):
    loss_code, step_code, _ = VARIANTS[variant]
    failed = run_public_checks(squeezenet, loss_code, step_code)
    for grade_id, needed in PITFALL_MESSAGES[variant].items():
        for text in needed:
            assert text in failed[grade_id], (grade_id, failed[grade_id])


# --- the public checks never fail a check the hidden grader passes (the grader's corpus of answers) -------------
#
# A graded cell scores its points only when its visible part *and* its hidden check pass, so a visible check
# stricter than the hidden grader would make nbgrader and the standalone grader disagree. The grader's corpus
# (tests/submissions/, with the expected points of every check) says which checks each answer must pass.

def _corpus():
    import importlib.util

    path = REPO / "tests" / "autograder" / "corpus.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("grader_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


CORPUS = _corpus()
SNIPPETS = {s.name: s for s in (CORPUS.all_snippets() + CORPUS.notebook_fixtures())} if CORPUS else {}


def test_the_grader_corpus_is_there():
    assert len(SNIPPETS) >= 20, "tests/autograder/corpus.py and tests/submissions/ (issue 4) are missing"


def answers_of(snippet, folder: Path) -> str:
    """The statements the hidden grader runs for this answer (definitions, imports, helpers), as one source."""
    from autograder.notebook import read_notebook

    if snippet.path.suffix == ".ipynb":
        path = snippet.path
    else:
        path = CORPUS.write_notebook(snippet, folder)
    extraction, _ = read_notebook(path)
    return extraction


@pytest.mark.weights
@pytest.mark.parametrize("name", [n if n in CORPUS.CORE else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(SNIPPETS)])
def test_public_checks_never_fail_a_check_the_grader_passes(squeezenet, name, tmp_path, capfd):
    import logging
    import warnings

    import keras
    import tensorflow as tf

    import classviz
    from classviz import visualize

    snippet = SNIPPETS[name]
    extraction = answers_of(snippet, tmp_path)
    source = by_id(SOURCE)
    namespace = {"__name__": "__main__", "np": np, "tf": tf, "keras": keras, "classviz": classviz,
                 "visualize": visualize, "model": squeezenet}
    from classviz import notebook_setup

    assert "notebook_setup.prepare()" in source_of(source["setup"])
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    tf.get_logger().addHandler(handler)
    level = tf.get_logger().level
    notebook_setup.prepare()  # as the notebook's setup cell does: TensorFlow's Python warnings off stderr
    failed, noisy = {}, []
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            exec(source_of(source["public_check_helpers"]), namespace)
            for statement in extraction.statements:  # in notebook order; a failing statement defines nothing
                try:
                    exec(statement.source, namespace)
                except Exception:  # noqa: BLE001 (as in Jupyter: the cell fails, the notebook goes on)
                    pass
            for grade_id in GRADED_CELLS:
                before = len(caught) + len(records)
                capfd.readouterr()
                try:
                    exec(HIDDEN.sub("", source_of(source[grade_id])), namespace)
                except Exception as exc:  # noqa: BLE001
                    failed[grade_id.removeprefix("test_")] = f"{type(exc).__name__}: {str(exc)[:300]}"
                err = capfd.readouterr().err.strip()
                if len(caught) + len(records) > before or err:
                    noisy.append((grade_id, [str(w.message)[:200] for w in caught[before - len(records):]],
                                  [r.getMessage()[:200] for r in records], err[:500]))
    finally:
        tf.get_logger().removeHandler(handler)
        tf.get_logger().setLevel(level)
    stricter = {check: why for check, why in failed.items() if snippet.expected[check] > 0}
    assert stricter == {}, f"{name}: the public checks fail checks the grader passes: {stricter}"
    noisy_passing = [n for n in noisy if snippet.expected[n[0].removeprefix("test_")] > 0]
    assert noisy_passing == [], f"{name}: these graded cells would write to stderr: {noisy_passing}"
    if snippet.total == 15:
        assert failed == {}
