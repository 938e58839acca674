"""Fixtures of the autograder tests: the corpus graded once per session by the real command line."""

import json

import pytest

import corpus


def _corpus_needed(session) -> frozenset | None:
    """The corpus answers the selected tests read: the core ones (:data:`corpus.CORE`), or all (None) when a
    selected ``slow`` test uses the graded corpus."""
    for item in session.items:
        if "graded" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow"):
            return None
    return corpus.CORE


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory, weights_dir):
    folder = tmp_path_factory.mktemp("corpus")
    needed = _corpus_needed(request.session)
    materialized = corpus.materialize(folder / "notebooks", needed)
    assert set(materialized) == set(corpus.fixtures() if needed is None else needed)
    out = folder / "out"
    proc = corpus.run_cli(folder / "notebooks", "--out", out, "--jobs", "2", "--weights", weights_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"folder": folder, "out": out, "records": records, "stdout": proc.stdout, "weights": weights_dir,
            "names": sorted(materialized)}
