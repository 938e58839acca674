"""The nbgrader bridge run as a hidden test cell runs it: in a kernel-like process whose working folder is the
autograded submission. It grades once, prints each check's feedback, raises AssertionError exactly for the
checks the standalone grader does not give full points, and writes nothing to stderr."""

import json
import subprocess
import sys

import pytest

import corpus
from autograder.results import checks

CHECKS = checks()
pytestmark = [pytest.mark.weights, pytest.mark.slow]

KERNEL = r"""
import json
import autograder.nbgrader_bridge as bridge
from autograder.results import checks

CHECKS = checks()
calls = []
original = bridge.grade_isolated
bridge.grade_isolated = lambda *a, **k: calls.append(1) or original(*a, **k)
outcome = {}
for name in CHECKS:
    try:
        bridge.run_check(name)   # exactly what a hidden test cell does
        outcome[name] = "passed"
    except AssertionError:
        outcome[name] = "failed"
print("OUTCOME " + json.dumps({"outcome": outcome, "gradings": len(calls)}))
"""


def test_hidden_cells_agree_with_the_standalone_grader(tmp_path, weights_dir, graded):
    snippet = corpus.parse_snippet(corpus.SUBMISSIONS / "bad_descent.py")
    folder = tmp_path / "autograded" / "alice" / "class_visualization"
    nb = corpus.write_notebook(snippet, folder, "class_visualization.ipynb", hidden_tests=True)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(corpus.REPO), "HOME": str(tmp_path),
           "CLASSVIZ_WEIGHTS_DIR": str(weights_dir)}
    kernel = subprocess.run([sys.executable, "-c", KERNEL], cwd=folder, env=env, capture_output=True, text=True,
                            timeout=1500)
    assert kernel.returncode == 0, kernel.stderr
    assert kernel.stderr == ""  # nbgrader scores a cell 0 when anything reaches stderr
    result = json.loads(kernel.stdout.split("OUTCOME ", 1)[1])
    assert result["gradings"] == 1  # graded once, the other checks reuse the result
    for name in CHECKS:
        assert f"{name}: " in kernel.stdout

    from autograder.nbgrader_bridge import expected_nbgrader_points

    # the standalone grader on the submitted notebook (without the hidden cells): the corpus batch's result
    record = graded["records"]["bad_descent"]
    nbgrader_points = {name: CHECKS[name].points if result["outcome"][name] == "passed" else 0 for name in CHECKS}
    assert nbgrader_points == expected_nbgrader_points(record) == snippet.expected
