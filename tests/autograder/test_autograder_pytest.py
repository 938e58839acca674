"""The hidden grader is a pytest suite: one notebook by hand with ``python -m pytest autograder --submission NB``,
``-k``, ``--junitxml``, the result files; not collected without ``--submission``; a grader bug is a grader error."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import nbformat
import pytest

import corpus
from autograder.results import checks, max_score

CHECKS = checks()


def hidden_pytest(*args, cwd=corpus.REPO, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "pytest", *map(str, args), "-p", "no:cacheprovider"], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_without_a_submission_nothing_is_collected():
    proc = hidden_pytest("autograder", "--collect-only", "-q")
    assert proc.returncode == 5, proc.stdout + proc.stderr  # "no tests collected"
    assert "the hidden checks run only with --submission NOTEBOOK" in proc.stdout


def test_the_projects_own_test_run_never_collects_the_hidden_tests():
    proc = hidden_pytest("--collect-only", "-q", "tests/autograder/test_autograder_pytest.py", "autograder")
    assert "autograder/hidden_tests" not in proc.stdout and "::test_loss_value" not in proc.stdout
    assert "test_autograder_pytest.py::test_without_a_submission_nothing_is_collected" in proc.stdout


def test_a_grader_bug_is_a_grader_error_never_the_students_mistake(tmp_path):
    """The references break (a stand-in for any bug of the grader): every check is a grader error, the row and the
    feedback say so, and the student is told it is not their mistake."""
    (tmp_path / "broken_grader.py").write_text(
        "import autograder.reference_store as r\n"
        "def pytest_configure(config):\n"
        "    def broken(*args, **kwargs):\n"
        "        raise RuntimeError('the reference values could not be built')\n"
        "    r.references_for = broken\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "empty.ipynb"
    nbformat.write(nb, path)
    result = tmp_path / "result.json"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "HOME": str(tmp_path)}
    proc = hidden_pytest("autograder", "--submission", path, "--result-json", result, "-p", "broken_grader", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    record = json.loads(result.read_text())
    assert record["status"] == "error" and record["score"] == 0 and len(record["checks"]) == len(CHECKS)
    assert record["reason"].startswith("grader error in loss_value, gradient_sign")
    for check in record["checks"]:
        assert check["feedback"] == ("the grader itself failed on this check (RuntimeError); this is not a mistake "
                                     "in your notebook, and your instructor has the details")
        assert check["grader_error"] == "RuntimeError: the reference values could not be built"
        assert "RuntimeError: the reference values could not be built" in check["details"]["traceback"]
    assert "GRADER ERROR" in proc.stdout


@pytest.mark.weights
@pytest.mark.slow
def test_one_notebook_by_hand_reference_and_descent(tmp_path, weights_dir):
    folder = tmp_path / "nbs"
    reference = corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / "reference_solution.py"), folder)
    descent = corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / "bad_descent.py"), folder)

    out = tmp_path / "ref"
    proc = hidden_pytest("autograder", "--submission", reference, "--weights", weights_dir, "--result-json",
                         out / "result.json", "--gradescope-json", out / "results.json", "--junitxml",
                         out / "junit.xml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "7 passed" in proc.stdout and "score: 15/15 (graded)" in proc.stdout
    for name, check in CHECKS.items():
        assert f"{name:<15} {check.points}/{check.points}  passed" in proc.stdout
    record = json.loads((out / "result.json").read_text())
    assert record["score"] == max_score() == 15 and record["status"] == "graded"
    assert [c["name"] for c in record["checks"]] == list(CHECKS)
    gradescope = json.loads((out / "results.json").read_text())
    assert gradescope["score"] == 15 and [t["status"] for t in gradescope["tests"]] == ["passed"] * 7
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    assert [c.get("name") for c in cases] == [f"test_{name}" for name in CHECKS]

    out = tmp_path / "descent"
    proc = hidden_pytest("autograder", "--submission", descent, "--weights", weights_dir, "--result-json",
                         out / "result.json", "--junitxml", out / "junit.xml")
    assert proc.returncode == 1
    record = json.loads((out / "result.json").read_text())
    failed = {c["name"]: c["feedback"] for c in record["checks"] if not c["passed"]}
    assert set(failed) == {"update_step", "score_increase"} and record["score"] == 9
    assert "descent" in failed["update_step"] and "went down" in failed["score_increase"]
    assert "Traceback" not in proc.stdout  # the failure's message is the feedback, nothing else
    junit = ET.parse(out / "junit.xml").getroot()
    messages = {c.get("name"): c.find("failure").get("message") for c in junit.iter("testcase")
                if c.find("failure") is not None}
    assert set(messages) == {"test_update_step", "test_score_increase"} and "descent" in messages["test_update_step"]

    proc = hidden_pytest("autograder", "--submission", descent, "--weights", weights_dir, "-k", "gradient_sign",
                         "--result-json", out / "one.json")
    assert proc.returncode == 0 and "1 passed, 6 deselected" in proc.stdout
    one = json.loads((out / "one.json").read_text())
    assert [c["name"] for c in one["checks"]] == ["gradient_sign"] and one["score"] == one["max_score"] == 3


def test_the_readme_checks_table_is_the_hidden_tests_own():
    from autograder.__main__ import checks_text

    readme = (corpus.REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- checks:begin -->\n", 1)[1].split("<!-- checks:end -->", 1)[0]
    assert block == checks_text(markdown=True) + "\n", (
        "README's checks table is out of date: paste `python -m autograder checks --markdown` between the markers")
    for name, check in CHECKS.items():
        assert f"| `{name}` | {check.points} |" in block
