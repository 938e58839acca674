"""classviz.notebook_setup: the setup cell's plumbing (packages, tested versions, the summary line)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from classviz import notebook_setup

REPO = Path(__file__).resolve().parent.parent

LOWEST_TESTED = {"tensorflow": "2.19.0", "keras": "3.10.0", "numpy": "2.1.3"}
"""The older set that gave identical results (issue 11)."""


@pytest.mark.parametrize("text, release", [("2.21.0", (2, 21)), ("3.10.0rc1", (3, 10)), ("2.1.3+cpu", (2, 1)),
                                           ("v2.4", (2, 4)), ("10.0.dev0", (10, 0))])
def test_release_of_reads_major_and_minor_as_numbers(text, release):
    assert notebook_setup.release_of(text) == release


def test_release_of_names_what_it_cannot_read():
    with pytest.raises(ValueError, match=r"cannot read a version number from 'unknown'"):
        notebook_setup.release_of("unknown")


def test_the_newest_tested_versions_are_the_pins_of_requirements():
    pins = dict(re.findall(r"^([\w-]+)==([^\s;]+)", (REPO / "requirements.txt").read_text(encoding="utf-8"), re.M))
    pinned = {"tensorflow": pins["tensorflow-cpu"], "keras": pins["keras"], "numpy": pins["numpy"]}
    assert {k: notebook_setup.release_of(v) for k, v in pinned.items()} == {
        k: newest for k, (_, newest) in notebook_setup.TESTED_VERSIONS.items()}
    assert notebook_setup.untested_versions(pinned) == []


def test_the_lowest_tested_versions_are_inside_the_range():
    assert notebook_setup.untested_versions(LOWEST_TESTED) == []
    assert notebook_setup.version_warning(LOWEST_TESTED) is None


@pytest.mark.parametrize("name, version, shown", [
    ("tensorflow", "2.18.1", "TensorFlow 2.18.1 (tested: 2.19 to 2.21)"),
    ("tensorflow", "2.22.0", "TensorFlow 2.22.0 (tested: 2.19 to 2.21)"),  # numbers, not strings: 2.22 > 2.3
    ("keras", "2.15.0", "Keras 2.15.0 (tested: 3.10 to 3.15)"),
    ("numpy", "2.0.2", "NumPy 2.0.2 (tested: 2.1 to 2.4)"),
    ("numpy", "1.26.4", "NumPy 1.26.4 (tested: 2.1 to 2.4)"),
    ("numpy", "not a version", "NumPy not a version (tested: 2.1 to 2.4)"),
])
def test_a_version_outside_the_range_is_named_with_the_range(name, version, shown):
    versions = {**LOWEST_TESTED, name: version}
    assert notebook_setup.untested_versions(versions) == [shown]
    line = notebook_setup.version_warning(versions)
    assert "\n" not in line and shown in line and "requirements.txt" in line


def test_two_untested_versions_make_one_line():
    line = notebook_setup.version_warning({"tensorflow": "2.17.0", "keras": "3.10.0", "numpy": "2.0.2"})
    assert "\n" not in line
    assert "TensorFlow 2.17.0 (tested: 2.19 to 2.21), NumPy 2.0.2 (tested: 2.1 to 2.4)" in line


def test_this_environment_is_tested():
    assert notebook_setup.version_warning() is None


@pytest.fixture
def restore_tf_logger():
    import tensorflow as tf

    level = tf.get_logger().level
    yield tf.get_logger()
    tf.get_logger().setLevel(level)


def test_prepare_quiets_tensorflow_warnings_and_prints_nothing_here(capsys, restore_tf_logger):
    restore_tf_logger.setLevel(logging.WARNING)
    notebook_setup.prepare()
    assert restore_tf_logger.level == logging.ERROR
    assert capsys.readouterr().out == ""


def test_prepare_prints_one_line_for_untested_versions(capsys, monkeypatch, restore_tf_logger):
    monkeypatch.setitem(notebook_setup.TESTED_VERSIONS, "numpy", ((1, 20), (1, 26)))
    notebook_setup.prepare()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Note: untested versions here: NumPy ")


def test_prepare_outside_colab_says_how_to_install_what_is_missing(monkeypatch):
    monkeypatch.setattr(notebook_setup, "PACKAGES", {**notebook_setup.PACKAGES, "no_such_module_cv": "no-such-pkg"})
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    installed = []
    monkeypatch.setattr(notebook_setup, "install", installed.append)
    with pytest.raises(ModuleNotFoundError, match=r"lacks no-such-pkg: .*pip install -r requirements.txt"):
        notebook_setup.prepare()
    assert installed == []


def test_prepare_on_colab_installs_what_is_missing(monkeypatch, capsys, restore_tf_logger):
    monkeypatch.setattr(notebook_setup, "PACKAGES", {**notebook_setup.PACKAGES, "no_such_module_cv": "no-such-pkg"})
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    installed = []
    monkeypatch.setattr(notebook_setup, "install", installed.append)
    notebook_setup.prepare()
    assert installed == [["no-such-pkg"]]
    assert capsys.readouterr().out == "Installing no-such-pkg ...\n"


def test_install_failure_says_what_pip_said(monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: No matching distribution for x\n")

    monkeypatch.setattr(notebook_setup.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError, match=r"could not install x with pip \(exit 1\): ERROR: No matching"):
        notebook_setup.install(["x"])
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", "x"]]


class FakeModel:
    def count_params(self):
        return 1235496


def test_summary_says_where_the_helper_package_comes_from(monkeypatch, tmp_path):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.chdir(REPO)
    line = notebook_setup.summary(FakeModel())
    assert re.fullmatch(r"TensorFlow \S+, Keras \S+, NumPy \S+; SqueezeNet 1\.1 loaded \(1,235,496 frozen "
                        r"parameters\); helper package: classviz/ of this folder", line), line
    monkeypatch.chdir(tmp_path)
    assert notebook_setup.summary(FakeModel()).endswith(f"helper package: classviz from {REPO / 'classviz'}")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # no path of the grading machine in the feedback
    assert notebook_setup.summary(FakeModel()).endswith("helper package: the course's classviz")
