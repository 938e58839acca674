"""Command lines: bad input ends with one clear line on stderr and exit status 2 (or 1 for fetch), no traceback;
the student package's command line is whole and says where `visualize` went."""

import os

import pytest

from classviz_reference.__main__ import main


@pytest.mark.parametrize("argv, words", [
    (["visualize", "--class", "no such class"], "unknown ImageNet class name 'no such class'"),
    (["visualize", "--class", "1000"], "[0, 1000), but got 1000"),
    (["visualize", "--class", "-1"], "but got -1"),
    (["visualize", "--class", "crane"], "ambiguous"),
])
def test_bad_class(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err


@pytest.mark.parametrize("option, value, words", [
    ("--iterations", "-5", "num_iterations must be >= 0, but got -5"),
    ("--learning-rate", "nan", "learning_rate must be finite"),
    ("--learning-rate", "-2", "learning_rate must be > 0, but got -2.0"),
    ("--max-jitter", "-1", "max_jitter must be >= 0"),
])
def test_bad_hyperparameters_are_reported_before_any_work(option, value, words, capsys, monkeypatch, tmp_path):
    import classviz

    monkeypatch.setattr(classviz, "load_squeezenet", lambda weights=None: _stand_in())
    assert main(["visualize", "--class", "tarantula", option, value, "--out", str(tmp_path / "x.png")]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def _stand_in():
    from autograder.child.standin import LinearStandIn

    return LinearStandIn()


def test_missing_weights_folder(capsys, tmp_path):
    assert main(["visualize", "--class", "76", "--weights", str(tmp_path / "none")]) == 2
    assert "python -m classviz fetch-weights" in capsys.readouterr().err


def test_fetch_with_missing_mirror(capsys, tmp_path):
    from classviz.__main__ import main as student_main

    assert student_main(["fetch-weights", "--mirror", str(tmp_path / "nowhere"), "--dest", str(tmp_path / "d")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_student_command_line_help_is_whole(capsys):
    from classviz.__main__ import main as student_main

    with pytest.raises(SystemExit) as info:
        student_main(["--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "download and verify the pretrained SqueezeNet 1.1 weights (each file checked by SHA-256)." in out
    assert "moved to `python -m classviz_reference visualize`" in out


def test_old_visualize_command_says_where_it_went_and_runs_it(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.run([sys.executable, "-m", "classviz", "visualize", "--class", "no such class"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == ("note: `python -m classviz visualize` is now `python -m classviz_reference visualize`; "
                        "running it.")
    assert lines[1].startswith("error: unknown ImageNet class name 'no such class'") and len(lines) == 2


def test_student_folder_visualize_explains_in_one_line(tmp_path):
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    shutil.copytree(REPO / "classviz", tmp_path / "classviz", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # as on a student's machine: without the editable install of this repository (pip install -e .)
    script = ("import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in "
              "getattr(f, '__module__', '') and '__editable__' not in getattr(f, '__name__', '')]; "
              "sys.argv = ['classviz', 'visualize', '--class', 'tarantula']; "
              "runpy.run_module('classviz', run_name='__main__', alter_sys=True)")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "not part of the assignment folder" in proc.stderr and "your own two functions" in proc.stderr
