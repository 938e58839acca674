"""Bad command-line input ends with one clear line on stderr and exit status 2 (or 1 for fetch), no traceback."""

import pytest

from classviz.__main__ import main


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
    from tests.conftest import LinearStandIn

    return LinearStandIn()


def test_missing_weights_folder(capsys, tmp_path):
    assert main(["visualize", "--class", "76", "--weights", str(tmp_path / "none")]) == 2
    assert "python -m classviz fetch-weights" in capsys.readouterr().err


def test_fetch_with_missing_mirror(capsys, tmp_path):
    assert main(["fetch-weights", "--mirror", str(tmp_path / "nowhere"), "--dest", str(tmp_path / "d")]) == 1
    assert "does not exist" in capsys.readouterr().err
