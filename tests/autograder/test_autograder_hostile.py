"""Issue 5: every hostile and damaged submission of ``tests/submissions/hostile/`` graded in ONE mixed batch with
correct ones (the real command line, two jobs), then a batch killed midway and run again.

Each fixture states the result the grader must record (status, points per check, reason, words of the
feedback); the batch must finish with exactly one row per submission, full marks for the correct ones, nothing
forged (a student rewriting another's result, a fake frame, a patched comparison), no process or sandbox left
behind, and no TensorFlow start-up lines on the grader's stderr.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import corpus
import hostile
from autograder.checks import CHECKS, MAX_SCORE
from autograder.sandbox import NAMESPACES, SANDBOX_PREFIX, isolation

pytestmark = [pytest.mark.weights, pytest.mark.slow]
CORRECT = ("reference_solution", "ok_l2_loss_half", "ok_variable_instead_of_watch")
CASES = hostile.cases()
# time limits scaled down (a hang costs 0.3 x 60 s per call, 0.3 x 180 s at the definitions), 4 GB per process
OPTIONS = ("--jobs", "2", "--timeout-scale", "0.3", "--memory-gb", "4")
MISSING_STUDENTS = ("nobody_checkpoint_only", "nobody_zip_only")


def _student_processes(tmp: Path) -> set:
    """PIDs of the processes whose command line names a sandbox under ``tmp`` (harness, namespace init)."""
    found, marker = set(), str(tmp).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline and (b"cvgrade_child" in cmdline or b"cvgrade-init" in cmdline):
            found.add(int(entry.name))
    return found


def _sandboxes(tmp: Path) -> set:
    return {p.name for p in tmp.glob(f"{SANDBOX_PREFIX}*")}


def _cli(tmp: Path, *args, popen=False):
    """The command line with its sandboxes in ``tmp`` (TMPDIR), from the repository root."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp))
    argv = [sys.executable, "-m", "autograder", "grade", *map(str, args)]
    if popen:
        return subprocess.Popen(argv, cwd=corpus.REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    return subprocess.run(argv, cwd=corpus.REPO, env=env, capture_output=True, text=True, timeout=3000)


@pytest.fixture(scope="session")
def mixed(tmp_path_factory, weights_dir):
    root = tmp_path_factory.mktemp("hostile")
    folder, out = root / "submissions", root / "out"
    cases = hostile.materialize(folder, out, correct=CORRECT)
    tree = root / "submitted"  # an nbgrader tree whose students handed in no notebook
    (tree / MISSING_STUDENTS[0] / "class_visualization" / ".ipynb_checkpoints").mkdir(parents=True)
    (tree / MISSING_STUDENTS[0] / "class_visualization" / ".ipynb_checkpoints" / "cv-checkpoint.ipynb").write_text(
        "{}")
    (tree / MISSING_STUDENTS[1] / "class_visualization").mkdir(parents=True)
    (tree / MISSING_STUDENTS[1] / "class_visualization" / "submission.zip").write_bytes(b"PK\x03\x04")
    tmp = root / "tmp"
    started = time.monotonic()
    proc = _cli(tmp, folder, tree, "--out", out, "--weights", weights_dir, *OPTIONS)
    seconds = time.monotonic() - started
    time.sleep(1)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"cases": cases, "out": out, "proc": proc, "records": records, "seconds": seconds,
            "left_processes": _student_processes(tmp), "left_sandboxes": _sandboxes(tmp)}


def test_the_batch_finishes_with_exactly_one_row_per_submission(mixed):
    proc, out, cases = mixed["proc"], mixed["out"], mixed["cases"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected_ids = set(cases) | set(MISSING_STUDENTS)
    assert set(mixed["records"]) == expected_ids  # no forged extra file (t_writes_result_files tried one)
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["submission"] for r in rows) == sorted(expected_ids)
    assert len(rows) == len(expected_ids)
    for row in rows:
        record = mixed["records"][row["submission"]]
        assert int(row["score"]) == record["score"]
        gs = json.loads((out / "gradescope" / row["submission"] / "results.json").read_text())
        assert gs["score"] == record["score"] and len(gs["tests"]) == len(CHECKS)
    assert sorted(p.name for p in (out / "gradescope").iterdir()) == sorted(expected_ids)
    assert "submission folder(s) without a notebook" in proc.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_scenario_ends_recorded_as_specified(mixed, name):
    case, record = mixed["cases"][name], mixed["records"][name]
    got = {c["name"]: c["points"] for c in record["checks"]}
    feedback = {c["name"]: c["feedback"] for c in record["checks"]}
    assert record["status"] == case.status, (name, record.get("reason"), feedback)
    assert got == case.expected, f"{name}: {case.what}\n" + "\n".join(
        f"  {n}: {got[n]} (expected {case.expected[n]}): {feedback[n]}" for n in CHECKS
        if got[n] != case.expected[n])
    assert record["score"] == case.total and record["max_score"] == MAX_SCORE
    if case.reason:
        assert case.reason in (record.get("reason") or ""), record.get("reason")
    else:
        assert not str(record.get("reason", "")).startswith("tampering"), record.get("reason")
    for check, words in case.feedback:
        assert words in feedback[check], f"{name}/{check}: {feedback[check]!r} lacks {words!r}"
    if record["status"] == "graded" and isolation()[0] == NAMESPACES:
        assert record["isolation"] == NAMESPACES


def test_correct_submissions_get_full_marks(mixed):
    full = [n for n, c in mixed["cases"].items() if c.total == MAX_SCORE]
    assert set(CORRECT) <= set(full)
    assert {n: mixed["records"][n]["score"] for n in full} == {n: MAX_SCORE for n in full}


def test_students_without_a_notebook_are_recorded(mixed):
    for name in MISSING_STUDENTS:
        record = mixed["records"][name]
        assert record["status"] == "missing" and record["score"] == 0
        assert record["reason"].startswith("no notebook found")


def test_nothing_was_forged_and_nothing_leaked(mixed):
    out, records = mixed["out"], mixed["records"]
    victim = json.loads((out / "results" / "h_update_raises.json").read_text())
    assert victim["score"] == mixed["cases"]["h_update_raises"].total  # t_writes_result_files did not touch it
    text = "\n".join(json.dumps(r) for r in records.values())
    assert "LEAKED" not in text and "reference_loss_and_gradient" not in text
    assert not (out / "results" / "zz_forged.json").exists()


def test_no_process_or_sandbox_outlives_the_batch(mixed):
    assert mixed["left_processes"] == set()
    assert mixed["left_sandboxes"] == set()


def test_the_graders_stderr_holds_only_its_own_lines(mixed):
    err = mixed["proc"].stderr
    assert "[autograder]" in err
    for noise in ("I0000", "oneDNN", "absl::InitializeLog", "cpu_feature_guard", "WARNING:tensorflow"):
        assert noise not in err, err[-2000:]
    assert "NOT isolated" not in err or isolation()[0] != NAMESPACES


def test_a_batch_killed_midway_completes_on_rerun(tmp_path, weights_dir):
    """Kill -9 the grader while it grades: its student processes die with it; the re-run removes its sandboxes,
    keeps the finished results, grades the rest, and ends with exactly one row each and the same grades."""
    names = ("h_update_raises", "d_truncated", "t_forge_wire_frame", "h_update_loops_forever")
    folder, out = tmp_path / "submissions", tmp_path / "out"
    cases = hostile.materialize(folder, out, names=names, correct=("reference_solution", "ok_l2_loss_half"))
    tmp = tmp_path / "tmp"
    grader = _cli(tmp, folder, "--out", out, "--weights", weights_dir, *OPTIONS, popen=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and grader.poll() is None:
        done = list((out / "results").glob("*.json")) if (out / "results").is_dir() else []
        graded = [p for p in done if json.loads(p.read_text()).get("status") == "graded"]
        if graded and _student_processes(tmp):
            break
        time.sleep(0.5)
    assert grader.poll() is None, "the batch finished before it could be killed"
    assert _student_processes(tmp), "no student process was running"
    finished = {p.stem for p in (out / "results").glob("*.json")}
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    for _ in range(100):  # the kernel delivers the parent-death signals at once; allow for the reaping
        if not _student_processes(tmp):
            break
        time.sleep(0.1)
    assert _student_processes(tmp) == set(), "student processes outlived the killed grader"
    assert _sandboxes(tmp), "the killed grader left no sandbox (nothing to clean up?)"

    proc = _cli(tmp, folder, "--out", out, "--weights", weights_dir, *OPTIONS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("already graded") == len(finished)
    assert _sandboxes(tmp) == set()
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    assert set(records) == set(cases)
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["submission"] for r in rows) == sorted(cases)
    assert {n: r["score"] for n, r in records.items()} == {n: c.total for n, c in cases.items()}
