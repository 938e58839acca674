"""The corpus of student answers graded by the real command line: every fixture gets exactly its expected grade.

``tests/submissions/*.py`` are answer snippets placed into the committed student release notebook
(:mod:`corpus`); ``tests/submissions/notebooks/*.ipynb`` are whole notebooks as other tools save them. Each
states its expected points per check and words its feedback must contain. One batch grades them (two jobs): the
core answers (``corpus.CORE``) on every run, all of them with the ``slow`` tests; a second run regrades a few to
show that results are identical and that a damaged or interrupted batch completes without duplicates.
"""

import csv
import json

import pytest

import corpus
from autograder.results import checks, max_score
from corpus import run_cli

CHECKS, MAX_SCORE = checks(), max_score()

FIXTURES = corpus.fixtures()
REGRADED = ("reference_solution", "bad_descent", "ok_variable_instead_of_watch")

pytestmark = pytest.mark.weights


def test_the_corpus_is_big_and_varied():
    assert len(FIXTURES) >= 20
    totals = [s.total for s in FIXTURES.values()]
    assert sum(t == MAX_SCORE for t in totals) >= 10 and sum(t < MAX_SCORE for t in totals) >= 15
    assert FIXTURES["reference_solution"].total == MAX_SCORE and FIXTURES["stub_unmodified"].total == 0


@pytest.mark.parametrize("name", [n if n in corpus.CORE else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(FIXTURES)])
def test_each_answer_gets_its_expected_grade(graded, name):
    snippet = FIXTURES[name]
    record = graded["records"][name]
    got = {c["name"]: c["points"] for c in record["checks"]}
    feedback = {c["name"]: c["feedback"] for c in record["checks"]}
    assert got == snippet.expected, f"{name}: {snippet.what}\n" + "\n".join(
        f"  {n}: {got[n]} (expected {snippet.expected[n]}): {feedback[n]}" for n in CHECKS
        if got[n] != snippet.expected[n])
    assert record["score"] == snippet.total and record["status"] == "graded"
    for check, words in snippet.feedback:
        assert words in feedback[check], f"{name}/{check}: {feedback[check]!r} lacks {words!r}"


def test_reference_scores_full_marks_and_the_stub_zero(graded):
    assert graded["records"]["reference_solution"]["score"] == MAX_SCORE
    assert graded["records"]["stub_unmodified"]["score"] == 0


def test_outputs_of_the_batch(graded):
    out, records = graded["out"], graded["records"]
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["submission"] for r in rows) == graded["names"] == sorted(records)
    for row in rows:
        record = records[row["submission"]]
        assert int(row["score"]) == record["score"]
        assert {n: int(row[n]) for n in CHECKS} == {c["name"]: c["points"] for c in record["checks"]}
    for name, record in records.items():
        assert record["max_score"] == MAX_SCORE and [c["name"] for c in record["checks"]] == list(CHECKS)
        assert record["seed"] == 0 and len(record["notebook_sha256"]) == 64
        assert {"python", "numpy", "tensorflow"} <= set(record["environment"])
        assert record["timings"]["total"] > 0
        gs = json.loads((out / "gradescope" / name / "results.json").read_text())
        assert gs["score"] == record["score"] and len(gs["tests"]) == len(CHECKS)
    for name in graded["names"]:
        assert name in graded["stdout"]
    assert "(max)" in graded["stdout"]


def strip_timings(record):
    """A result without what may differ between two runs: timings (and the signature that covers them)."""
    record = json.loads(json.dumps(record))
    record.pop("timings", None)
    record.pop("signature", None)  # an HMAC of the whole record, timings included
    for check in record["checks"]:
        check.pop("seconds", None)
    record.get("process", {}).pop("failures", None)
    record.get("reference", {}).pop("source", None)  # stored or built by this run: the values are the same
    return record


@pytest.mark.slow
def test_regrading_gives_identical_results_and_a_damaged_batch_completes(graded):
    out, folder = graded["out"], graded["folder"]
    before = {p.name: p.read_bytes() for p in (out / "results").glob("*.json")}
    (out / "results" / f"{REGRADED[0]}.json").unlink()  # never written: the run was killed before
    (out / "results" / f"{REGRADED[1]}.json").write_text('{"score": 15, "chec')  # killed while writing (old way)
    (out / "results" / f".{REGRADED[2]}.json.tmp.1.2").write_text("{")  # a temporary file left by a kill
    (out / "results" / f"{REGRADED[2]}.json").unlink()
    proc = run_cli(folder / "notebooks", "--out", out, "--jobs", "2", "--weights", graded["weights"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("already graded") == len(graded["names"]) - len(REGRADED)
    after = {p.name: p.read_bytes() for p in (out / "results").glob("*.json")}
    assert set(after) == set(before) and not list(out.rglob(".*.tmp.*"))
    for name in before:
        if name[:-5] in REGRADED:
            assert strip_timings(json.loads(after[name])) == strip_timings(json.loads(before[name]))
        else:
            assert after[name] == before[name]
    with open(out / "grades.csv") as f:
        assert sorted(r["submission"] for r in csv.DictReader(f)) == graded["names"]
