"""Stored reference values (autograder/reference_store.py): used only when their version key matches and their
SHA-256 holds; missing, stale (another key) or damaged (one byte) values are rebuilt, and the grade is unchanged."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import corpus
from autograder import reference_store as S
from autograder import references as R


def small_references():
    """A References with small hand-made values in every stored field (stand-ins for the real ones)."""
    rng = np.random.default_rng(7)
    refs = R.References()

    def case(name, lam, grad_softmax=False):
        c = R.LossCase(name, f"label {name}", "linear", rng.standard_normal((1, 4, 4, 3)).astype(np.float32),
                       "numpy", 76, lam, score=float(rng.standard_normal()), sq_norm=1.5, size=48,
                       scores=rng.standard_normal(1000), grad=rng.standard_normal((1, 4, 4, 3)))
        c.grad_softmax = rng.standard_normal((1, 4, 4, 3)) if grad_softmax else None
        return c

    refs.real_cases = [case("a", 1e-3), case("b", 0.0, True)]
    refs.raw_cases = [case("r", 0.0)]
    refs.l2_case, refs.compile_case = refs.raw_cases[0], refs.real_cases[0]
    refs.l2_case_reg, refs.update_loss_case = case("l2", 0.1), case("u", 1e-3)
    refs.update = R.UpdateCase(X=np.ones((1, 4, 4, 3), np.float32), target_y=76, l2_reg=1e-3, lr=25.0,
                               G=np.full((1, 4, 4, 3), 0.01, np.float32), lr_injected=3.0)
    refs.plain = R.PlainCase(X0=np.zeros((1, 4, 4, 3), np.float32), target_y=76, l2_reg=1e-3, lr=25.0, steps=5,
                             s0=1.25, reference_rise=40.5)
    refs.loop = R.LoopCase(target_y=130, target_name="flamingo", seed=0, iterations=20, s0=0.5,
                           reference_rise=70.25, reference_rises={"full": 80.5, "half": 70.25})
    refs.seconds = 1.0
    return refs


KEY = {"grader_version": "x", "numpy": "2.4.6", "threads": 1}


def test_stored_values_come_back_bit_for_bit(tmp_path):
    refs = small_references()
    S.save(refs, tmp_path, KEY)
    back, why = S.load(tmp_path, KEY)
    assert why is None and S.differences(refs, back) == []
    assert back.l2_case is back.raw_cases[0] and back.compile_case is back.real_cases[0]
    assert back.real_cases[1].grad_softmax.dtype == np.float64 and back.real_cases[0].grad_softmax is None
    assert back.loop.reference_rises == {"full": 80.5, "half": 70.25}
    S.save(refs, tmp_path / "new", KEY)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700  # a store the grader creates: its user's alone
    manifest = json.loads((tmp_path / S.MANIFEST).read_text())
    assert manifest["key"] == KEY and len(manifest["sha256"]) == 64


def test_differences_name_the_field_that_changed():
    a, b = small_references(), small_references()
    assert S.differences(a, b) == []
    b.real_cases[1].grad_full = None
    b.loop.reference_rise = 70.0
    b.update.G = b.update.G.copy()
    b.update.G[0, 1, 2, 0] += 1e-3
    assert S.differences(a, b) == ["update.G: max difference 0.001", "loop.reference_rise: 70.25 vs 70.0"]


@pytest.mark.parametrize("damage, why", [
    ("nothing", None),
    ("no manifest", "missing"),
    ("no data", "missing"),
    ("another key", "stale (changed: numpy)"),
    ("one byte of the data", "damaged (checksum mismatch)"),
    ("manifest not JSON", "damaged (manifest: JSONDecodeError)"),
])
def test_only_values_under_this_key_with_a_valid_checksum_are_used(tmp_path, damage, why):
    S.save(small_references(), tmp_path, KEY)
    data, manifest = tmp_path / S.DATA, tmp_path / S.MANIFEST
    if damage == "no manifest":
        manifest.unlink()
    elif damage == "no data":
        data.unlink()
    elif damage == "another key":
        S.save(small_references(), tmp_path, dict(KEY, numpy="2.3.0"))
    elif damage == "one byte of the data":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        data.write_bytes(bytes(raw))
    elif damage == "manifest not JSON":
        manifest.write_text("{", encoding="utf-8")
    refs, reason = S.load(tmp_path, KEY)
    assert reason == why and (refs is None) == (why is not None)


def test_invalid_values_are_rebuilt_and_stored_again_valid_ones_are_not(tmp_path, monkeypatch):
    built = []

    def build(model, weights):
        built.append(model)
        return small_references()

    monkeypatch.setattr(R.References, "build", staticmethod(build))
    monkeypatch.setattr(R, "model_for", lambda weights, threads: "the model")
    monkeypatch.setattr(S, "version_key", lambda weights, threads: dict(KEY, threads=threads))
    monkeypatch.setattr(S, "_LOADED", {})
    store = tmp_path / "store"
    first = S.references_for(tmp_path, 1, store)
    assert first.source == "built (missing)" and built == ["the model"]
    S._LOADED.clear()
    again = S.references_for(tmp_path, 1, store)
    assert again.source == "stored" and len(built) == 1 and S.differences(first, again) == []
    S._LOADED.clear()
    other = S.references_for(tmp_path, 2, store)  # another version key (threads)
    assert other.source == "built (stale (changed: threads))" and len(built) == 2
    assert json.loads((store / S.MANIFEST).read_text())["key"]["threads"] == 2


def test_the_version_key_needs_no_tensorflow_and_follows_the_weights(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.npy").write_bytes(b"abc")
    code = ("import sys, autograder.reference_store as s; k = s.version_key(sys.argv[1]); "
            "print(k['weights_sha256']); assert 'tensorflow' not in sys.modules")
    run = lambda: subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=corpus.REPO, capture_output=True,  # noqa: E731
                                 text=True, check=True).stdout
    before = run()
    (tmp_path / "weights" / "w.npy").write_bytes(b"abd")
    assert len(before.strip()) == 64 and run() != before


@pytest.mark.weights
@pytest.mark.slow
def test_values_under_another_key_or_edited_by_one_byte_are_rebuilt_and_the_grade_is_unchanged(tmp_path,
                                                                                                weights_dir):
    """Four grades of the same two notebooks (the reference answer and a wrong one, whose feedback quotes
    reference values): values built, then stored, then stored under another version key, then with one byte
    edited. Each record says which values it used; points and feedback are the same in all four."""
    folder = tmp_path / "nbs"
    for name in ("reference_solution", "bad_l2_missing"):
        corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / f"{name}.py"), folder)
    store = tmp_path / "store"
    env = dict(os.environ, CLASSVIZ_REFERENCES_DIR=str(store))

    def grade(label):
        out = tmp_path / label
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out),
                               "--weights", str(weights_dir)], cwd=corpus.REPO, env=env, capture_output=True,
                              text=True, timeout=1500)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
        sources = {r["reference"]["source"] for r in records.values()}
        grades = {k: [(c["name"], c["points"], c["feedback"]) for c in r["checks"]] for k, r in records.items()}
        return sources, grades

    sources, baseline = grade("built")
    assert sources == {"built (missing)"}
    assert sum(p for _, p, _ in baseline["reference_solution"]) == 15
    assert sum(p for _, p, _ in baseline["bad_l2_missing"]) < 15
    assert grade("stored") == ({"stored"}, baseline)

    manifest = json.loads((store / S.MANIFEST).read_text())
    manifest["key"]["tensorflow-cpu"] = "2.0.0"
    (store / S.MANIFEST).write_text(json.dumps(manifest))
    assert grade("other_key") == ({"built (stale (changed: tensorflow-cpu))"}, baseline)

    data = store / S.DATA
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    assert grade("one_byte") == ({"built (damaged (checksum mismatch))"}, baseline)


@pytest.mark.weights
@pytest.mark.slow
def test_with_stored_values_the_grader_process_never_imports_tensorflow(tmp_path, weights_dir):
    """``python -m autograder references`` stores the values; a grade of every check, score_increase included (it
    scores images and runs the provided loop in the grader, on the NumPy SqueezeNet), then gets the stored values
    and never imports TensorFlow (nor Keras) in the grader's process."""
    store = tmp_path / "store"
    env = dict(os.environ, CLASSVIZ_REFERENCES_DIR=str(store))
    proc = subprocess.run([sys.executable, "-m", "autograder", "references", "--weights", str(weights_dir)],
                          cwd=corpus.REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"stored values in {store}: missing" in proc.stdout and "stored the rebuilt values" in proc.stdout
    (tmp_path / "tf_probe.py").write_text(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        f"    found = sorted({{'tensorflow', 'keras'}} & set(sys.modules))\n"
        f"    open({str(tmp_path / 'tf.txt')!r}, 'w').write(repr(found))\n")
    notebook = corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / "reference_solution.py"), tmp_path)
    result = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "autograder", "--submission", str(notebook), "--weights",
                           str(weights_dir), "--result-json", str(result), "-p",
                           "tf_probe", "-p", "no:cacheprovider"], cwd=corpus.REPO, capture_output=True, text=True,
                          env=dict(env, PYTHONPATH=str(tmp_path)), timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record = json.loads(result.read_text())
    assert record["reference"]["source"] == "stored" and record["score"] == 15
    assert {c["name"]: c["points"] for c in record["checks"]}["score_increase"] > 0
    assert (tmp_path / "tf.txt").read_text() == "[]"
