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
from autograder.results import checks, max_score
from autograder.isolation import NAMESPACES, SANDBOX_PREFIX, choose

CHECKS, MAX_SCORE = checks(), max_score()

# one batch of ~46 submissions: about 5 minutes on 2 idle cores; far more when the machine is shared
pytestmark = [pytest.mark.weights, pytest.mark.slow, pytest.mark.timeout(3600)]
CORRECT = ("reference_solution", "ok_l2_loss_half", "ok_variable_instead_of_watch")
CASES = hostile.cases()
# time limits scaled down (a hang costs 0.4 x 60 s per call, 0.4 x 180 s at the definitions), 4 GB per process
OPTIONS = ("--jobs", "2", "--timeout-scale", "0.4", "--memory-gb", "4")
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
    """The mixed batch, graded once: killed with SIGKILL after a third of it is done, then run again to the end."""
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
    args = (folder, tree, "--out", out, "--weights", weights_dir, *OPTIONS)
    started = time.monotonic()

    grader = _cli(tmp, *args, popen=True)
    kill = {"running": set(), "finished": set(), "left_sandboxes": set(), "killed": False}
    graded_needed = len(cases) // 3
    while grader.poll() is None and time.monotonic() - started < 2400:
        done = list((out / "results").glob("*.json")) if (out / "results").is_dir() else []
        graded = [p for p in done if json.loads(p.read_text()).get("status") == "graded"]
        if len(graded) >= graded_needed and _student_processes(tmp):
            kill["running"] = _student_processes(tmp)
            kill["finished"] = {p.stem for p in (out / "results").glob("*.json")  # (missing: never cached)
                                if json.loads(p.read_text()).get("status") in ("graded", "unreadable")}
            os.kill(grader.pid, signal.SIGKILL)
            grader.wait()
            kill["killed"] = True
            break
        time.sleep(0.5)
    for _ in range(100):  # the kernel delivers the parent-death signals at once; allow for the reaping
        if not _student_processes(tmp):
            break
        time.sleep(0.1)
    kill["survivors"] = _student_processes(tmp)
    kill["left_sandboxes"] = _sandboxes(tmp)

    proc = _cli(tmp, *args)  # the re-run completes the batch
    seconds = time.monotonic() - started
    time.sleep(1)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"cases": cases, "out": out, "proc": proc, "records": records, "seconds": seconds, "kill": kill,
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
    if record["status"] == "graded" and choose().name == NAMESPACES:
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
    assert "NOT isolated" not in err or choose().name != NAMESPACES
    assert f"{len(mixed['records'])} submission(s) in" in mixed["proc"].stdout


def test_killing_the_grader_midway_kills_its_students_and_the_rerun_completes(mixed):
    """Kill -9 the grader mid-batch: its student processes die with it; the re-run removes its sandboxes, keeps
    the finished results (no duplicate, nothing graded twice), grades the rest (no loss) -- the grades checked
    above are those of this re-run."""
    kill = mixed["kill"]
    assert kill["killed"], "the batch finished before it could be killed"
    assert kill["running"], "no student process was running when the grader was killed"
    assert kill["survivors"] == set(), "student processes outlived the killed grader"
    assert kill["left_sandboxes"], "the killed grader left no sandbox (nothing for the re-run to clean up)"
    assert mixed["proc"].stderr.count("already graded") == len(kill["finished"])
    assert set(kill["finished"]) < set(mixed["records"])
