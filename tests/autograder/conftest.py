"""Fixtures of the autograder tests: the corpus graded once per session by the real command line."""

import json

import pytest

import corpus


@pytest.fixture(scope="session")
def graded(tmp_path_factory, weights_dir):
    folder = tmp_path_factory.mktemp("corpus")
    materialized = corpus.materialize(folder / "notebooks")
    assert set(materialized) == set(corpus.fixtures())
    out = folder / "out"
    proc = corpus.run_cli(folder / "notebooks", "--out", out, "--jobs", "2", "--weights", weights_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"folder": folder, "out": out, "records": records, "stdout": proc.stdout, "weights": weights_dir}
