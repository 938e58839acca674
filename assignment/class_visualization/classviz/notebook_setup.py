"""The assignment notebook's setup plumbing, out of the student's way: packages, tested versions, quiet warnings.

Rule of this module: the notebook's setup cell finds the assignment folder, imports this module and calls
:func:`prepare` *before* it imports TensorFlow, Keras, matplotlib or Pillow, so a missing package can still be
installed (on Google Colab only: everywhere else the student installs ``requirements.txt`` into their own
environment, and a missing package is an error that says so). Each finding is at most one printed line.

Importing this module imports only the standard library (and ``classviz``, i.e. NumPy and SciPy, which every
supported environment, Colab included, already has).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

TESTED_VERSIONS = {
    "tensorflow": ((2, 19), (2, 21)),
    "keras": ((3, 10), (3, 15)),
    "numpy": ((2, 1), (2, 4)),
}
"""(oldest, newest) ``(major, minor)`` release of each package this assignment was run with, inclusive.

The newest are the pins of ``requirements.txt`` (TensorFlow 2.21, Keras 3.15, NumPy 2.4); a run with TensorFlow
2.19, Keras 3.10 and NumPy 2.1 gave identical results (notebook, public and hidden checks). Other versions may
well work: outside this range the setup cell prints one line saying so (:func:`version_warning`)."""

DISPLAY_NAMES = {"tensorflow": "TensorFlow", "keras": "Keras", "numpy": "NumPy"}

PACKAGES = {"tensorflow": "tensorflow", "keras": "keras", "numpy": "numpy", "scipy": "scipy",
            "matplotlib": "matplotlib", "PIL": "pillow", "tqdm": "tqdm"}
"""What the notebook imports: ``{module name: pip package name}``."""


def in_colab() -> bool:
    """True inside Google Colab (its kernel imports ``google.colab`` at start-up)."""
    return "google.colab" in sys.modules


def missing_packages() -> list[str]:
    """The pip names of the packages of :data:`PACKAGES` that cannot be imported here, in that order."""
    return [package for module, package in PACKAGES.items() if importlib.util.find_spec(module) is None]


def release_of(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``"2.21.0"``, ``"3.10.0rc1"`` or ``"2.1.3+cpu"``.

    Raises:
        ValueError: the string does not start with ``<major>.<minor>``.
    """
    match = re.match(r"\s*v?(\d+)\.(\d+)", str(version))
    if match is None:
        raise ValueError(f"cannot read a version number from {version!r}; expected e.g. '2.21.0'")
    return int(match.group(1)), int(match.group(2))


def installed_versions() -> dict[str, str]:
    """``{package: __version__}`` of the packages of :data:`TESTED_VERSIONS` (imports them)."""
    return {name: str(getattr(importlib.import_module(name), "__version__", "?")) for name in TESTED_VERSIONS}


def untested_versions(versions: dict[str, str] | None = None) -> list[str]:
    """The installed versions outside :data:`TESTED_VERSIONS`, each as ``"NumPy 2.0.2 (tested: 2.1 to 2.4)"``.

    Args:
        versions: ``{package: version string}``; default :func:`installed_versions`. A version that cannot be read
            counts as untested.
    """
    versions = installed_versions() if versions is None else versions
    out = []
    for name, (oldest, newest) in TESTED_VERSIONS.items():
        if name not in versions:
            continue
        try:
            inside = oldest <= release_of(versions[name]) <= newest
        except ValueError:
            inside = False
        if not inside:
            out.append(f"{DISPLAY_NAMES[name]} {versions[name]} (tested: {'.'.join(map(str, oldest))} to "
                       f"{'.'.join(map(str, newest))})")
    return out


def version_warning(versions: dict[str, str] | None = None) -> str | None:
    """One line naming the untested versions and what to do, or None when every version is in the tested range."""
    untested = untested_versions(versions)
    if not untested:
        return None
    return ("Note: untested versions here: " + ", ".join(untested) + ". The notebook should still work; if a "
            "check fails and you cannot see why, run it with the versions of requirements.txt (see README.md).")


def install(packages: list[str]) -> None:
    """``pip install --quiet PACKAGES`` into this kernel's Python (what the setup cell does on Colab).

    Raises:
        RuntimeError: pip failed; the message has the last lines of its output.
    """
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *packages], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise RuntimeError(f"could not install {', '.join(packages)} with pip (exit {proc.returncode}): {tail}")


def prepare() -> None:
    """Everything the setup cell needs before its imports: packages present, versions checked, warnings quiet.

    1. Missing packages (:data:`PACKAGES`) are installed with pip on Google Colab; elsewhere they are an error.
    2. TensorFlow's Python warnings are kept off stderr (nbgrader gives 0 to a graded cell that writes anything to
       stderr, and TensorFlow logs e.g. "... triggered tf.function retracing" there); errors are still shown.
    3. One line is printed if TensorFlow, Keras or NumPy is outside :data:`TESTED_VERSIONS`.

    Raises:
        ModuleNotFoundError: packages missing outside Colab; the message says how to install them.
        RuntimeError: installing them on Colab failed.
    """
    missing = missing_packages()
    if missing and in_colab():
        print(f"Installing {', '.join(missing)} ...")
        install(missing)
        importlib.invalidate_caches()
    elif missing:
        raise ModuleNotFoundError(
            f"this environment lacks {', '.join(missing)}: install the assignment's packages with "
            "`python -m pip install -r requirements.txt` (in a notebook cell: `%pip install -r requirements.txt`), "
            "then restart the kernel")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer TensorFlow C++ start-up lines
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    line = version_warning()
    if line:
        print(line)


def summary(model) -> str:
    """The setup cell's last line: versions, the model, and where the helper package comes from."""
    versions = installed_versions()
    package = Path(__file__).resolve().parent
    here = Path.cwd().resolve()
    if package.parent == here:
        origin = "classviz/ of this folder"
    elif os.environ.get("NBGRADER_EXECUTION"):  # grading: no path of the grading machine in the feedback
        origin = "the course's classviz"
    else:
        origin = f"classviz from {package}"
    return (", ".join(f"{DISPLAY_NAMES[k]} {v}" for k, v in versions.items())
            + f"; SqueezeNet 1.1 loaded ({model.count_params():,} frozen parameters); helper package: {origin}")
