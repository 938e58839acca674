"""Batch grading without TensorFlow: finding submissions, one row each, atomic results, re-running a killed batch."""

import csv
import json
import threading

import nbformat
import pytest

from autograder import results as R
from autograder.batch import grade_batch
from autograder.reports import feedback_text, report, summary_table
from autograder.submissions import discover
from autograder.results import GRADER_VERSION, gradescope
from autograder.results import sha256 as _sha256
from autograder.nbgrader_bridge import find_notebook

LOSS_DEF = "def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):\n    return 0, X\n"


def write_nb(path, source="x = 1"):
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


def test_discover_a_submitted_tree_a_folder_and_files(tmp_path):
    sub = tmp_path / "submitted"
    write_nb(sub / "alice" / "class_visualization" / "class_visualization.ipynb")
    write_nb(sub / "alice" / "class_visualization" / "scratch.ipynb")
    write_nb(sub / "bob" / "class_visualization" / "Copy of class_visualization.ipynb")
    write_nb(sub / "carol" / "class_visualization" / "a.ipynb")
    write_nb(sub / "carol" / "class_visualization" / "b.ipynb", LOSS_DEF)
    write_nb(sub / "carol" / "class_visualization" / ".ipynb_checkpoints" / "c-checkpoint.ipynb", LOSS_DEF)
    subs, problems = discover([sub])
    assert problems == []
    assert [(s.id, s.student, s.assignment, s.notebook.name) for s in subs] == [
        ("alice", "alice", "class_visualization", "class_visualization.ipynb"),
        ("bob", "bob", "class_visualization", "Copy of class_visualization.ipynb"),
        ("carol", "carol", "class_visualization", "b.ipynb")]
    assert "defining most graded functions" in subs[2].note

    folder = tmp_path / "loose"
    write_nb(folder / "one.ipynb")
    write_nb(folder / "two words.ipynb")
    single = write_nb(tmp_path / "elsewhere" / "one.ipynb")
    subs, problems = discover([folder, single, tmp_path / "missing", tmp_path / "submitted" / "nobody"])
    assert [s.id for s in subs] == ["loose__one", "two_words", "elsewhere__one"]  # same name: ids from the paths
    assert len(problems) == 2 and "no such file or folder" in problems[0]


def fake_record(sub_notebook, points):
    checks = [R.check_result(n, bool(points), "fb") for n in R.checks()]
    return {"grader_version": GRADER_VERSION, "notebook_sha256": _sha256(sub_notebook), "status": "graded",
            "checks": checks, "score": sum(c["points"] for c in checks), "max_score": R.max_score(),
            "timings": {"total": 1.0}}


class FakeGrader:
    """Grades instantly; ``die_after`` simulates the grader being killed after that many submissions."""

    def __init__(self, die_after=None):
        self.calls, self.die_after, self.lock = [], die_after, threading.Lock()

    def __call__(self, subs):
        """What ``grade_batch`` calls: ``(submission, record)`` for each submission, in order."""
        for sub in subs:
            yield sub, self.grade(sub.notebook, submission=sub.id)

    def grade(self, path, submission=None, student=None, assignment=None):
        with self.lock:
            if self.die_after is not None and len(self.calls) >= self.die_after:
                raise KeyboardInterrupt("killed")
            self.calls.append(submission)
        return fake_record(path, "good" in path.name)


def test_a_killed_batch_completes_on_rerun_without_duplicates(tmp_path):
    folder = tmp_path / "nbs"
    for i in range(6):
        write_nb(folder / f"{'good' if i % 2 else 'bad'}{i}.ipynb", f"x = {i}")
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        grade_batch([folder], out, jobs=1, grade=FakeGrader(die_after=3))
    assert len(list((out / "results").glob("*.json"))) == 3
    (out / "results" / ".bad0.json.tmp.123.456").write_text("{half")  # what a kill mid-write leaves
    (out / "results" / "bad2.json").write_text('{"truncated": ')  # a damaged result is regraded
    grader = FakeGrader()
    rows, problems = grade_batch([folder], out, jobs=2, grade=grader)
    assert sorted(grader.calls) == ["bad2", "good1", "good3", "good5"]
    assert [sub.id for sub, _ in rows] == ["bad0", "bad2", "bad4", "good1", "good3", "good5"]
    assert not list(out.rglob(".*.tmp.*"))
    with open(out / "grades.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["submission"] for r in table] == [sub.id for sub, _ in rows]
    assert [int(r["score"]) for r in table] == [0, 0, 0, 15, 15, 15]
    assert all(json.loads((out / "results" / f"{s.id}.json").read_text())["score"] == r["score"]
               for s, r in rows)
    # a changed notebook is regraded, the others are not
    write_nb(folder / "bad2.ipynb", "x = 'changed'")
    grader = FakeGrader()
    grade_batch([folder], out, grade=grader)
    assert grader.calls == ["bad2"]
    grader = FakeGrader()
    grade_batch([folder], out, grade=grader, force=True)
    assert len(grader.calls) == 6


def test_gradescope_and_summary_formats(tmp_path):
    nb = write_nb(tmp_path / "good.ipynb")
    rows, _ = grade_batch([nb], tmp_path / "out", grade=FakeGrader())
    single = json.loads((tmp_path / "out" / "results.json").read_text())
    assert single == json.loads((tmp_path / "out" / "gradescope" / "good" / "results.json").read_text())
    assert single["score"] == 15 and len(single["tests"]) == 7
    assert set(single["tests"][0]) == {"name", "score", "max_score", "status", "output", "visibility"}
    assert single["output_format"] == "text" and {"score", "execution_time", "output", "tests"} <= set(single)
    assert [t["max_score"] for t in single["tests"]] == [c.points for c in R.checks().values()]
    assert gradescope(rows[0][1], "hidden")["tests"][0]["visibility"] == "hidden"
    table = summary_table([rec for _, rec in rows])
    assert "good" in table and "15/15" in table and table.splitlines()[0].split()[:2] == ["submission", "score"]


def test_find_notebook_rules(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_NOTEBOOK", raising=False)
    write_nb(tmp_path / "renamed.ipynb")
    assert find_notebook(tmp_path).name == "renamed.ipynb"
    write_nb(tmp_path / "other.ipynb", LOSS_DEF)
    assert find_notebook(tmp_path).name == "other.ipynb"  # the one defining a graded function
    write_nb(tmp_path / "class_visualization.ipynb")
    assert find_notebook(tmp_path).name == "class_visualization.ipynb"
    with pytest.raises(FileNotFoundError, match="no .ipynb notebook"):
        find_notebook(tmp_path / "empty")
    monkeypatch.setenv("AUTOGRADER_NOTEBOOK", str(tmp_path / "other.ipynb"))
    assert find_notebook(tmp_path).name == "other.ipynb"


def test_run_check_refuses_unknown_names():
    from autograder.nbgrader_bridge import run_check

    with pytest.raises(ValueError, match="unknown check 'loss'"):
        run_check("loss")


def test_sharded_batches_merge_into_the_single_run(tmp_path):
    sub = tmp_path / "submitted"
    for i in range(7):
        write_nb(sub / f"student{i}" / "class_visualization" / f"{'good' if i % 3 else 'bad'}{i}.ipynb", f"x = {i}")
    (sub / "student9" / "class_visualization").mkdir(parents=True)  # handed in nothing
    grade_batch([sub], tmp_path / "single", grade=FakeGrader())
    from autograder.batch import merge_outputs, shard_of

    shards = []
    for i in (1, 2, 3):
        rows, _ = grade_batch([sub], tmp_path / f"shard{i}", grade=FakeGrader(), shard=(i, 3))
        assert all(shard_of(s.id, 3) == i for s, _ in rows)
        shards.append({s.id for s, _ in rows})
    assert set.union(*shards) == {f"student{i}" for i in (*range(7), 9)} and sum(map(len, shards)) == 8
    records, problems = merge_outputs([tmp_path / f"shard{i}" for i in (1, 2, 3)], tmp_path / "merged")
    assert problems == [] and len(records) == 8
    for name in ("grades.csv", "summary.txt"):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    for path in sorted((tmp_path / "single" / "feedback").glob("*.md")):
        assert (tmp_path / "merged" / "feedback" / path.name).read_bytes() == path.read_bytes()
    strip = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k not in ("signature", "timings")}  # noqa
    for path in sorted((tmp_path / "single" / "results").glob("*.json")):
        assert strip(tmp_path / "merged" / "results" / path.name) == strip(path)
    # a result file not written by its folder's grader is left out, and said so
    (tmp_path / "shard1" / "results" / "forged.json").write_text(json.dumps({"submission": "forged", "score": 15}))
    records, problems = merge_outputs([tmp_path / f"shard{i}" for i in (1, 2, 3)], tmp_path / "merged2")
    assert len(records) == 8 and len(problems) == 1 and "forged.json: not signed" in problems[0]


def test_feedback_file_and_csv_pointer(tmp_path):
    nb = write_nb(tmp_path / "bad1.ipynb")
    grade_batch([nb], tmp_path / "out", grade=FakeGrader())
    text = (tmp_path / "out" / "feedback" / "bad1.md").read_text()
    assert text.startswith("# Class visualization: feedback for bad1\n\n**Score: 0 / 15** (graded)")
    for name, check in R.checks().items():
        assert f"## {name}: 0 / {check.points} (not passed)\n\n*{check.title}.*\n\nfb" in text
    with open(tmp_path / "out" / "grades.csv") as f:
        assert next(csv.DictReader(f))["feedback"] == "feedback/bad1.md"


def unreadable_record(submission, reason):
    return {"submission": submission, "status": "unreadable", "reason": reason, "score": 0, "max_score": 15,
            "checks": R.all_failed(f"the notebook could not be read: {reason}")}


def test_every_unreadable_notebook_is_among_those_that_need_a_look(capsys):
    """Issue 19: the batch's last lines name every unreadable notebook, as they name missing ones."""
    records = [unreadable_record("empty", "the file is empty"), unreadable_record("cut", "invalid JSON"),
               {"submission": "ok", "status": "graded", "score": 15, "max_score": 15, "checks": []}]
    assert report(records, []) == 0
    assert capsys.readouterr().err == ("[autograder] 2 unreadable notebook(s) (recorded with 0 points; see their "
                                       "reason, ask the student for the file again): empty, cut\n")


def test_an_unreadable_notebooks_feedback_says_its_reason_once():
    text = feedback_text(unreadable_record("empty", "the file is empty"))
    assert text.count("the file is empty") == 1
    assert text == ("# Class visualization: feedback for empty\n\n**Score: 0 / 15** (unreadable)\n\n"
                    "the notebook could not be read: the file is empty\n\nEvery check: 0 points (loss_value 0 / 2, "
                    "gradient_sign 0 / 3, l2_regularizer 0 / 2, raw_score 0 / 1, update_step 0 / 3, score_increase "
                    "0 / 3, tf_function 0 / 1).\n")


def test_the_student_process_starts_before_pytest_is_imported(tmp_path):
    """``run_hidden_tests`` (every batch worker, Gradescope) starts the student's process first, so its TensorFlow
    import overlaps pytest's; pytest then runs on that same grading (here collecting only, with a stand-in student)."""
    import subprocess
    import sys

    notebook = write_nb(tmp_path / "alice.ipynb", LOSS_DEF)
    script = f"""
import json, sys
from autograder import grading
from autograder.batch import Options, run_hidden_tests
from autograder.submissions import Submission
seen = []
def start(self):
    seen.append("pytest" in sys.modules)
    self.opened = grading.Unavailable("stand-in")
grading.Grading.start_student = start
record = run_hidden_tests(Submission("alice", {str(notebook)!r}, student="alice"), Options(extra=("--co",)))
print(json.dumps([seen, record["submission"], record["student"], record["status"], "pytest" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=R.HIDDEN_TESTS.parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[False], "alice", "alice", "graded", True]


def test_a_worker_reuses_the_isolation_probes_of_its_batch(monkeypatch):
    """The probes handed to a worker (``adopt``) decide its choice: it runs none of its own, even where a stronger
    mode works."""
    from autograder.isolation import choice
    from autograder.isolation.base import Probe, real_python
    import sys

    python = real_python(sys.executable)
    monkeypatch.setattr(choice, "_PROBES", {})
    monkeypatch.delenv("CLASSVIZ_GRADER_ISOLATION", raising=False)
    for mode in choice.MODES:
        monkeypatch.setattr(mode, "probe", classmethod(lambda cls, *a: pytest.fail("probed again")))
    choice.adopt({(choice.Namespaces, python): Probe(None, "refused in the batch's probe"),
                  (choice.UnprivilegedUser, python, ()): Probe(None, "not root"),
                  (choice.AuditHookOnly, python): Probe(choice.AuditHookOnly(), "as the grader's user")})
    chosen = choice.choose()
    assert (chosen.name, chosen.detail) == (choice.AUDIT_HOOK_ONLY, "as the grader's user; no namespaces: refused in "
                                            "the batch's probe; no unprivileged user: not root")
    assert choice.probes() == choice._PROBES


def test_the_graders_numpy_computes_on_one_blas_thread():
    """Importing the grader before NumPy (as ``python -m autograder`` and pytest's conftest do) leaves OpenBLAS one
    thread, inherited by the batch's workers: a large matrix product then starts no thread (without it, it does
    on a machine of several cores). A value the instructor set is kept."""
    import os
    import subprocess
    import sys

    product = "import os, numpy as np; a = np.ones((400, 400)); a @ a; print(len(os.listdir('/proc/self/task')))"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}

    def run(code, **extra):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(env, **extra),
                              check=True).stdout.split()

    assert run("import autograder, os; print(os.environ['OPENBLAS_NUM_THREADS']); " + product) == ["1", "1"]
    assert run("import autograder, os; print(os.environ['OPENBLAS_NUM_THREADS'])", OPENBLAS_NUM_THREADS="2") == ["2"]
    if (os.cpu_count() or 1) > 1:
        assert int(run(product)[0]) > 1
