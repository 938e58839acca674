"""autograder.nbgrader_autograde without TensorFlow or nbgrader runs: the pieces that decide what a graded cell shows
and which submissions a batch grades. The whole path through real nbgrader is tests/test_assignment_nbgrader.py."""

from __future__ import annotations

import nbformat
import pytest
from nbgrader.utils import determine_grade

from autograder import results as R
from autograder.batch import grade_batch
from autograder.nbgrader_autograde import SubmittedOutputs, check_outputs, wrapped


def graded_cell(points=2):
    cell = nbformat.v4.new_code_cell("run_check('loss_value')")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_loss_value", "points": points, "solution": False,
                                 "locked": True}
    return cell


@pytest.mark.parametrize("passed", [True, False])
def test_a_check_becomes_the_points_nbgrader_gives_the_cell(passed):
    check = R.check_result("loss_value", passed, "the loss is " + "far too large " * 20)
    cell = graded_cell()
    cell.outputs = [nbformat.from_dict(o) for o in check_outputs(check)]
    assert determine_grade(cell) == ((2.0 if passed else 0), 2.0)
    (output,) = cell.outputs
    lines = output["text"].splitlines() if passed else output["traceback"]
    assert lines[0].startswith(f"loss_value: {2 if passed else 0}/2 points -- the loss is far")
    assert max(map(len, lines)) <= 96 and len(lines) == 4  # wrapped to the page, the message once
    assert " ".join(" ".join(lines).split()) == " ".join(
        f"loss_value: {check['points']}/2 points -- {check['feedback']}".split())


def test_wrapped_keeps_paragraphs_and_long_words():
    assert wrapped("a\n\n" + "b" * 120) == ["a", "", "b" * 120]


def test_submitted_outputs_keep_text_and_images_only():
    ok_image = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>",
                                                        "text/html": "<script>steal()</script>"}, "metadata": {}}
    html_only = {"output_type": "execute_result", "execution_count": 3,
                 "data": {"text/html": "<img src=x onerror=alert(1)>", "application/javascript": "alert(1)"},
                 "metadata": {}}
    stream = {"output_type": "stream", "name": "stdout", "text": "loss 1.0\n"}
    plain = nbformat.v4.new_code_cell("x")
    plain.outputs = [nbformat.from_dict(o) for o in (ok_image, html_only, stream)]
    graded = graded_cell()
    graded.outputs = [nbformat.from_dict(stream)]
    nb = nbformat.v4.new_notebook(cells=[plain, graded])
    SubmittedOutputs().preprocess(nb, {})
    assert [dict(o) for o in nb.cells[0].outputs] == [
        {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "loss 1.0\n"}]
    assert nb.cells[1].outputs == []  # a graded cell's outputs are the grader's alone


def test_glob_escape_matches_only_the_name():  # how GradeWithHiddenTests names one student to the batch
    import fnmatch
    import glob

    for name in ("alice", "a*", "b[1]", "c?"):
        assert fnmatch.fnmatchcase(name, glob.escape(name))
    assert not fnmatch.fnmatchcase("ab", glob.escape("a*"))


def test_batch_grades_only_the_chosen_students_and_assignment(tmp_path):
    for student, assignment in (("alice", "class_visualization"), ("bob", "class_visualization"),
                                ("alice", "other"), ("carol", "class_visualization")):
        path = tmp_path / "submitted" / student / assignment / "class_visualization.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(), path)
    graded = []

    def grade(subs):
        for sub in subs:
            graded.append(sub.id)
            yield sub, {"status": "graded", "checks": R.all_failed("x"), "score": 0, "max_score": R.max_score(),
                        "notebook_sha256": R.sha256(sub.notebook)}

    rows, _ = grade_batch([tmp_path / "submitted"], tmp_path / "out", grade=grade, students="[ab]*",
                          assignment="class_visualization")
    assert graded == ["alice__class_visualization", "bob__class_visualization"]  # ids of the whole tree
    assert [sub.student for sub, _ in rows] == ["alice", "bob"]


def test_a_signed_result_is_reused_only_for_the_same_notebook_bytes(tmp_path):
    """The large-course path: results graded first (here written as the batch writes them) are what autograde
    records; a notebook changed since, or a result not signed by the folder's key, is not reused."""
    import json

    from nbgrader.coursedir import CourseDirectory

    from autograder.store import write_result
    from autograder.submissions import Submission
    from autograder.nbgrader_autograde import find_result

    course = CourseDirectory(root=str(tmp_path))
    path = tmp_path / "submitted" / "alice" / "class_visualization" / "class_visualization.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), path)
    record = {"submission": "alice", "grader_version": R.GRADER_VERSION, "notebook_sha256": R.sha256(path),
              "status": "graded",
              "checks": [R.check_result(n, True, "fine") for n in R.checks()], "score": R.max_score(),
              "max_score": R.max_score()}
    write_result(tmp_path / "grading", Submission("alice", path, "alice", "class_visualization"), record)
    assert find_result(course, "alice", "class_visualization", "class_visualization")["score"] == R.max_score()
    assert find_result(course, "bob", "class_visualization", "class_visualization") is None

    stored = tmp_path / "grading" / "results" / "alice.json"
    forged = json.loads(stored.read_text())
    forged["checks"][0]["feedback"] = "edited"
    stored.write_text(json.dumps(forged))
    assert find_result(course, "alice", "class_visualization", "class_visualization") is None
    write_result(tmp_path / "grading", Submission("alice", path, "alice", "class_visualization"), record)
    path.write_text(path.read_text() + " ")
    assert find_result(course, "alice", "class_visualization", "class_visualization") is None
