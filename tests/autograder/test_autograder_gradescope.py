"""The Gradescope autograder: the zip holds what grading needs and nothing more, and, unpacked into a folder that
stands in for /autograder, its setup.sh and run_autograder grade a correct, a descent, a hostile and an empty
submission into valid results.json files (namespaces here, and the unprivileged-user mode of a container)."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

import corpus
from autograder import gradescope
from autograder.results import checks
from autograder.isolation import choose

ZIP_TOP = {"setup.sh", "run_autograder", "requirements.txt", "gradescope.json"}


def test_the_zip_holds_what_grading_needs_and_nothing_more(tmp_path):
    out = tmp_path / "autograder.zip"
    assert subprocess.run([sys.executable, "-m", "autograder", "gradescope", "--out", out, "--visibility",
                           "after_published"], cwd=corpus.REPO, capture_output=True).returncode == 0
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        config = json.loads(archive.read("gradescope.json"))
        pins = archive.read("requirements.txt").decode().splitlines()
    assert ZIP_TOP <= names and modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert {n.split("/")[0] for n in names} == ZIP_TOP | {"autograder", "classviz", "classviz_reference"}
    assert "autograder/hidden_tests/test_class_visualization.py" in names and "autograder/conftest.py" in names
    assert not [n for n in names if n.endswith((".npy", ".ipynb", ".pyc")) or "datasets/" in n or "tests/" in n
                and not n.startswith("autograder/hidden_tests")]
    assert config["visibility"] == "after_published"
    assert pins[:2] == ['tensorflow-cpu==2.21.0; sys_platform == "linux" and platform_machine == "x86_64"',
                        'tensorflow==2.21.0; sys_platform != "linux" or platform_machine != "x86_64"']
    assert "pytest==9.2.0" in pins and "ml-dtypes==0.6.0" in pins and len(pins) == 10
    gradescope.build_zip(tmp_path / "again.zip", "after_published")
    assert (tmp_path / "again.zip").read_bytes() == out.read_bytes()  # the same code gives the same zip


HOSTILE = '''
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    import glob
    leaks = []
    reads = (lambda p: open(p, "rb").read(), lambda p: tf.io.read_file(p).numpy())
    for read in reads if tf.executing_eagerly() else ():  # the attempts are eager only (not graph ops)
        for path in ("{root}/source/autograder/hidden_tests/test_class_visualization.py",
                     "{root}/source/classviz_reference/solution.py", "{root}/source/gradescope.json",
                     "{root}/source/datasets/grader-references/references.npz"):
            try:
                read(path)
                leaks.append(path)
            except Exception:
                pass
        for pattern in ("{root}/source/*", "{root}/results/*", "{root}/submission/*"):
            try:
                if glob.glob(pattern):
                    leaks.append(pattern)
            except Exception:
                pass
        for write in (lambda p, d: open(p, "w").write(d), lambda p, d: tf.io.write_file(p, d)):
            try:
                write("{root}/results/results.json", '{{"score": 100, "tests": []}}')
                leaks.append("results.json")
            except Exception:
                pass
            try:  # the stored reference values (a damaged file would be rebuilt, but must not be writable)
                write("{root}/source/datasets/grader-references/manifest.json", "{{}}")
                leaks.append("manifest.json")
            except Exception:
                pass
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    dX = tape.gradient(loss, X)
    return loss, (-dX if leaks else dX)
'''


def grade(root: Path, env: dict, notebook: Path | None, wrap=list):
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    (root / "results" / "results.json").unlink(missing_ok=True)
    if notebook is not None:
        shutil.copy(notebook, submission / notebook.name)
    proc = subprocess.run(wrap(["bash", str(root / "source" / "run_autograder")]), cwd=root, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((root / "results" / "results.json").read_text())
    assert {"score", "execution_time", "output", "output_format", "tests"} <= set(data)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
    return data


@pytest.mark.weights
def test_uploaded_autograder_grades_four_submissions(tmp_path, weights_dir):
    root = tmp_path / "autograder"
    gradescope.build_zip(tmp_path / "autograder.zip", "visible")
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    (root / "results").mkdir()
    venv = Path(sys.prefix)  # the project's environment stands in for the one setup.sh would create
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "AUTOGRADER_ROOT": str(root),
           "CLASSVIZ_VENV": str(venv), "CLASSVIZ_WEIGHTS_MIRROR": os.environ.get("CLASSVIZ_WEIGHTS_MIRROR",
                                                                                    str(weights_dir.parent / "squeezenet1.1_nchw"))}
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                           timeout=1200)
    assert setup.returncode == 0, setup.stderr[-3000:]
    assert (root / "source" / "datasets" / "squeezenet1.1_nchw" / "weights").is_dir()
    assert (root / "source" / "datasets" / "grader-references" / "references.npz").is_file()  # built in the image

    nbs = tmp_path / "nbs"
    correct = corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / "reference_solution.py"), nbs,
                                    "Copy of class_visualization.ipynb")
    descent = corpus.write_notebook(corpus.parse_snippet(corpus.SUBMISSIONS / "bad_descent.py"), nbs / "d")
    hostile = corpus.Snippet("hostile", nbs, "", {}, cells=[("code", None, HOSTILE.format(root=root)),
                                                             ("code", None, corpus.parse_snippet(
                                                                 corpus.SUBMISSIONS / "reference_solution.py")
                                                              .cells[1][2])])
    hostile = corpus.write_notebook(hostile, nbs / "h", "class_visualization.ipynb")

    data = grade(root, env, correct)
    assert data["score"] == 15 and [t["status"] for t in data["tests"]] == ["passed"] * len(checks())
    data = grade(root, env, descent)
    assert data["score"] == 9 and "descent" in next(t["output"] for t in data["tests"] if t["name"].startswith("update"))
    data = grade(root, env, hostile)
    assert data["score"] == 15, data  # contained: it read, listed and wrote nothing there
    assert data["extra_data"]["isolation"] == choose().name
    # the usual container: namespaces refused, run_autograder as root; the student runs as an unprivileged user
    from test_autograder_isolation import in_container

    open_tmp = Path(tempfile.mkdtemp(prefix="cvtest-gs-", dir="/tmp"))
    try:
        os.chmod(open_tmp, 0o711)
        (open_tmp / "tmp").mkdir(mode=0o755)
        os.chmod(open_tmp / "tmp", 0o755)
        user_env = dict(env, CLASSVIZ_GRADER_ISOLATION="user", TMPDIR=str(open_tmp / "tmp"))
        data = grade(root, user_env, hostile, wrap=in_container)
    finally:
        shutil.rmtree(open_tmp, ignore_errors=True)
    assert data["score"] == 15 and data["extra_data"]["isolation"] == "unprivileged user", data
    for closed in ("results", "submission", "source/autograder", "source/classviz_reference", "source/datasets"):
        assert stat.S_IMODE((root / closed).stat().st_mode) & 0o007 == 0, closed  # closed to other users
    data = grade(root, env, None)
    assert data["score"] == 0 and "no .ipynb notebook in your submission" in data["output"]


def test_the_readme_names_gradescopes_visibility_choices():
    from autograder.results import VISIBILITIES

    readme = (corpus.REPO / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if "-m autograder gradescope --out" in line)
    assert all(choice in line for choice in VISIBILITIES), line
