"""Every laptop installs (issue 19 item 1): the requirements' environment markers give each supported platform one
TensorFlow that has a wheel there, and pip resolves the whole file for each (``tools/check_requirements.py``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import build_assignment  # noqa: E402
import check_requirements  # noqa: E402

FILES = {"root": REPO / "requirements.txt", "release": REPO / "assignment" / "class_visualization" / "requirements.txt"}
# tensorflow-cpu has no macOS wheel (pip --platform macosx_12_0_arm64: "from versions: none"); on Linux x86_64 it
# is the same code without the CUDA libraries.
TENSORFLOW = {"Linux x86_64": "tensorflow-cpu==2.21.0", "macOS arm64": "tensorflow==2.21.0",
              "Windows x86_64": "tensorflow==2.21.0"}


@pytest.mark.parametrize("python", check_requirements.PYTHONS)
@pytest.mark.parametrize("platform", list(check_requirements.PLATFORMS))
@pytest.mark.parametrize("which", list(FILES))
def test_each_platform_gets_one_tensorflow_with_a_wheel_there_and_the_same_other_pins(which, platform, python):
    lines = check_requirements.lines_for(FILES[which], platform, python)
    tensorflows = [line for line in lines if line.startswith("tensorflow")]
    assert tensorflows == [TENSORFLOW[platform]]
    linux = check_requirements.lines_for(FILES[which], "Linux x86_64", python)
    assert [line for line in lines if line not in tensorflows] == [line for line in linux if
                                                                   not line.startswith("tensorflow")]
    assert len(lines) == len(check_requirements.requirements(FILES[which])) - 1  # every other line, on every platform


def test_the_release_readme_says_where_the_requirements_install_and_what_to_do_elsewhere():
    text = (REPO / "assignment" / "class_visualization" / "README.md").read_text(encoding="utf-8")
    section = text.split("## Jupyter on your computer", 1)[1].split("\n## ", 1)[0]
    for words in ("Linux (x86_64)", "macOS on Apple silicon (arm64)", "Windows (x86_64)", "Colab"):
        assert words in " ".join(section.split()), words


@pytest.mark.slow
@pytest.mark.parametrize("platform", list(check_requirements.PLATFORMS))
def test_pip_resolves_the_requirements_for_each_platform(platform):
    """pip's own resolution (wheels only, nothing installed); skipped where the package index cannot be reached."""
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "check_requirements.py"), "--platform", platform,
                           "--python", "3.11"], capture_output=True, text=True, timeout=600)
    if proc.returncode == 2:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0 and proc.stdout.strip() == f"{platform}, Python 3.11: ok", proc.stdout + proc.stderr
