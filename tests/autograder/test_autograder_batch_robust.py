"""Batch grading without TensorFlow, against hostile inputs: unique ids (D6), a row for every student folder (D7),
forged cached results (D2), stale sandboxes of a killed grader (D8), TensorFlow's native stderr (D12)."""

import csv
import json
import os
import subprocess
import sys
import threading
import time

import nbformat

from autograder import results as R
from autograder.batch import grade_batch
from autograder.store import load_result, output_key
from autograder.submissions import discover
from autograder.results import GRADER_VERSION
from autograder.results import sha256 as _sha256
from autograder.isolation import OWNER_FILE, SANDBOX_PREFIX, SandboxDir, clean_stale_sandboxes


def write_nb(path, source="x = 1"):
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


class FakeGrader:
    """Grades instantly: full marks for notebooks whose name contains 'good', else 0."""


    def __init__(self):
        self.calls, self.lock = [], threading.Lock()

    def __call__(self, subs):
        """What ``grade_batch`` calls: ``(submission, record)`` for each submission, in order."""
        for sub in subs:
            yield sub, self.grade(sub.notebook, submission=sub.id)

    def grade(self, path, submission=None, student=None, assignment=None):
        with self.lock:
            self.calls.append(submission)
        good = "good" in path.name
        checks = [R.check_result(n, good, "fb") for n in R.checks()]
        return {"grader_version": GRADER_VERSION, "notebook_sha256": _sha256(path), "status": "graded",
                "checks": checks, "score": sum(c["points"] for c in checks), "max_score": R.max_score(),
                "submission": submission, "timings": {"total": 1.0}}


def test_same_names_in_different_folders_get_distinct_stable_ids(tmp_path):
    """D6: b2/dir1/a.ipynb, b2/dir1/a-2.ipynb and b2/dir2/a.ipynb used to become a, a-2 and a-2."""
    a1 = write_nb(tmp_path / "b2" / "dir1" / "a.ipynb")
    a2 = write_nb(tmp_path / "b2" / "dir1" / "a-2.ipynb")
    a3 = write_nb(tmp_path / "b2" / "dir2" / "a.ipynb")
    subs, problems = discover([a1, a2, a3, a1])  # the same file twice is one submission
    assert problems == []
    assert [(s.id, s.notebook) for s in subs] == [("dir1__a", a1), ("a-2", a2), ("dir2__a", a3)]
    assert [s.id for s in discover([a3, a2, a1])[0]] == ["dir2__a", "a-2", "dir1__a"]  # ids follow the paths
    same = write_nb(tmp_path / "x" / "dir1" / "a.ipynb")  # equal up to the parent folder: one more level
    ids = [s.id for s in discover([a1, same])[0]]
    assert len(set(ids)) == 2 and ids == ["b2__dir1__a", "x__dir1__a"]

    out = tmp_path / "out"
    grader = FakeGrader()
    rows, _ = grade_batch([a1, a2, a3], out, grade=grader)
    assert sorted(grader.calls) == ["a-2", "dir1__a", "dir2__a"]
    assert sorted(p.stem for p in (out / "results").glob("*.json")) == ["a-2", "dir1__a", "dir2__a"]
    with open(out / "grades.csv") as f:
        assert [(r["submission"], r["notebook"]) for r in csv.DictReader(f)] == [  # rows by id
            ("a-2", str(a2)), ("dir1__a", str(a1)), ("dir2__a", str(a3))]


def test_every_student_folder_gets_one_row(tmp_path):
    """D7: students without a notebook (only a checkpoint copy, a zip file, nothing) are recorded, not dropped."""
    sub = tmp_path / "submitted"
    write_nb(sub / "alice" / "class_visualization" / "class_visualization_good.ipynb")
    write_nb(sub / "bob" / "class_visualization" / ".ipynb_checkpoints" / "class_visualization-checkpoint.ipynb")
    (sub / "carol" / "class_visualization").mkdir(parents=True)
    (sub / "carol" / "class_visualization" / "submission.zip").write_bytes(b"PK\x03\x04")
    (sub / "dave" / "class_visualization").mkdir(parents=True)
    (sub / "erin").mkdir(parents=True)
    subs, problems = discover([sub])
    assert problems == []
    assert [(s.id, s.notebook is not None) for s in subs] == [
        ("alice", True), ("bob", False), ("carol", False), ("dave", False), ("erin", False)]
    assert "only Jupyter checkpoint copies" in subs[1].note
    assert "submission.zip" in subs[2].note and "empty" in subs[3].note

    out = tmp_path / "out"
    grader = FakeGrader()
    rows, problems = grade_batch([sub], out, grade=grader)
    assert grader.calls == ["alice"]
    assert [(s.id, r["status"], r["score"]) for s, r in rows] == [
        ("alice", "graded", 15), ("bob", "missing", 0), ("carol", "missing", 0), ("dave", "missing", 0),
        ("erin", "missing", 0)]
    record = json.loads((out / "results" / "bob.json").read_text())
    assert record["reason"].startswith("no notebook found") and record["checks"][0]["points"] == 0
    assert "no notebook found" in record["checks"][0]["feedback"]
    with open(out / "grades.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["submission"] for r in table] == ["alice", "bob", "carol", "dave", "erin"]
    assert all(r["note"].startswith("no notebook found") for r in table[1:])


def test_a_result_file_not_written_by_the_grader_is_graded_again(tmp_path):
    """D2: a result forged in the output folder (here: by hand) is not trusted on a re-run."""
    folder = tmp_path / "nbs"
    write_nb(folder / "victim.ipynb")
    write_nb(folder / "good.ipynb")
    out = tmp_path / "out"
    grade_batch([folder], out, grade=FakeGrader())
    key = out / ".autograder-key"
    assert oct(key.stat().st_mode & 0o777) == "0o600" and len(output_key(out)) == 32

    path = out / "results" / "victim.json"
    record = json.loads(path.read_text())
    assert record["score"] == 0 and record["signature"]
    for check in record["checks"]:
        check["points"], check["passed"] = check["max_points"], True
    record["score"] = 15
    path.write_text(json.dumps(record))  # forged: the signature no longer matches
    grader = FakeGrader()
    rows, _ = grade_batch([folder], out, grade=grader)
    assert grader.calls == ["victim"]
    assert {s.id: r["score"] for s, r in rows} == {"good": 15, "victim": 0}
    assert json.loads(path.read_text())["score"] == 0

    record.pop("signature")  # an unsigned result (or one signed with another key) is not trusted either
    path.write_text(json.dumps(record))
    sub = next(s for s in discover([folder])[0] if s.id == "victim")
    assert load_result(out, sub) is None
    key.write_text("00" * 32)  # the key changed (or was deleted): nothing is trusted, everything regraded
    grader = FakeGrader()
    grade_batch([folder], out, grade=grader)
    assert sorted(grader.calls) == ["good", "victim"]


def test_stale_sandboxes_of_a_dead_grader_are_removed(tmp_path):
    """D8: the folders a killed grader left behind go; those of a running grader stay."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{SANDBOX_PREFIX}dead"
    (stale / "sandbox").mkdir(parents=True)
    (stale / OWNER_FILE).write_text(f"{dead.pid} 12345\n")
    orphan = tmp_path / f"{SANDBOX_PREFIX}noowner"
    orphan.mkdir()
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / f"{SANDBOX_PREFIX}creating"
    fresh.mkdir()
    other = tmp_path / "unrelated"
    other.mkdir()
    with SandboxDir(tmp_path) as live:
        removed = clean_stale_sandboxes(tmp_path)
        assert sorted(p.name for p in removed) == sorted([stale.name, orphan.name])
        assert live.exists() and fresh.exists() and other.exists() and not stale.exists()
    assert not live.exists()


def test_native_stderr_goes_to_a_log_and_python_stderr_stays(tmp_path):
    """D12: TensorFlow's C++ lines (written on file descriptor 2) leave the terminal; the grader's own lines stay."""
    log = tmp_path / "native.log"
    code = ("import os, sys\n"
            "from autograder.batch import separate_native_stderr\n"
            f"assert separate_native_stderr({str(log)!r})\n"
            "os.write(2, b'I0000 00:00 port.cc:153] oneDNN custom operations are on\\n')\n"
            "print('[autograder] progress line', file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    assert proc.returncode == 0, proc.stderr
    assert "[autograder] progress line" in proc.stderr and "oneDNN" not in proc.stderr
    assert "oneDNN" in log.read_text()


def test_a_cell_stops_at_a_top_level_exit_or_raise_as_in_jupyter():
    """D11: statements after a top-level sys.exit()/exit()/raise/assert False in a cell never run in Jupyter
    (IPython stops the cell there, the next cells run): the grader does the same, and says so."""
    from autograder.notebook import Cell, extract

    loss = "def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):\n    return 0.0, X\n"
    update = "def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):\n    return X\n"
    for stop in ("import sys\nsys.exit()", "exit()", "raise SystemExit", "assert False, 'stop'",
                 "import os\nos._exit(0)", "quit()"):
        ex = extract([Cell(0, "code", f"{stop}\n{loss}"), Cell(1, "code", update)])
        assert set(ex.definitions) == {"class_visualization_update_step"}, stop
        assert any("as in Jupyter, the rest of that cell never runs" in n and "loss_and_gradient" in n
                   for n in ex.notes), ex.notes
    for harmless in ("if False:\n    raise SystemExit", "try:\n    pass\nexcept Exception:\n    raise",
                     "def helper():\n    sys.exit()", "assert True"):
        ex = extract([Cell(0, "code", f"import sys\n{harmless}\n{loss}"), Cell(1, "code", update)])
        assert set(ex.definitions) == {"class_visualization_loss_and_gradient", "class_visualization_update_step"}
    ex = extract([Cell(0, "code", f"{loss}raise ValueError('after the definition')\n"), Cell(1, "code", update)])
    assert "class_visualization_loss_and_gradient" in ex.definitions  # defined before the raise: it exists
