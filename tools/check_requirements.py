"""Check that a requirements file installs on every platform the course supports, without installing anything.

For each platform of :data:`PLATFORMS` and each Python of :data:`PYTHONS`, pip resolves the file with
``install --dry-run --only-binary=:all: --platform ... --python-version ...`` (wheels only, as a student's
``pip install`` would find them; nothing is downloaded beyond the index pages and wheel metadata). pip evaluates
environment markers for the machine it runs on, not for ``--platform``, so this tool evaluates them itself for
each platform (:func:`lines_for`) and hands pip the lines that apply there.

Usage (needs the package index, exit 0 when every platform resolves, 1 when one does not, 2 when the index
cannot be reached)::

    .venv/bin/python tools/check_requirements.py                       # requirements.txt
    .venv/bin/python tools/check_requirements.py assignment/class_visualization/requirements.txt
    .venv/bin/python tools/check_requirements.py --platform "macOS arm64" --python 3.11

``tests/test_requirements.py`` checks the markers offline and runs this tool (``slow``; skipped without an index).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

PLATFORMS = {
    # glibc 2.17 (manylinux2014) to 2.31 (Ubuntu 20.04): what a student's Linux offers
    "Linux x86_64": ([f"manylinux_2_{minor}_x86_64" for minor in range(31, 16, -1)] + ["manylinux2014_x86_64"],
                     {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                      "os_name": "posix"}),
    # Apple silicon, macOS 12 or newer (pip adds the older macOS tags)
    "macOS arm64": (["macosx_12_0_arm64"],
                    {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                     "os_name": "posix"}),
    "Windows x86_64": (["win_amd64"],
                       {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                        "os_name": "nt"}),
}
"""Platform name -> (pip's ``--platform`` tags, the environment markers' values there)."""

PYTHONS = ("3.11", "3.12")
"""The Pythons the pins support (setup.sh and the release README say the same)."""

UNREACHABLE = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
               "Network is unreachable", "ConnectionError", "ProxyError")


def requirements(path: Path) -> list[Requirement]:
    """The requirements of ``path`` (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line]


def lines_for(path: Path, platform: str, python: str) -> list[str]:
    """The requirements of ``path`` that apply on ``platform`` with Python ``python``, without their markers."""
    env = {**PLATFORMS[platform][1], "python_version": python, "python_full_version": f"{python}.0",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    return [f"{req.name}{req.specifier}" for req in requirements(path)
            if req.marker is None or req.marker.evaluate(env)]


def resolve(path: Path, platform: str, python: str) -> tuple[str, str]:
    """Resolve ``path`` for one platform and Python with pip; return ``(status, detail)``.

    ``status`` is ``"ok"`` (``detail``: what pip would install), ``"fails"`` (pip's error) or ``"unreachable"``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(lines_for(path, platform, python)) + "\n", encoding="utf-8")
        platform_args = [arg for tag in PLATFORMS[platform][0] for arg in ("--platform", tag)]
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--disable-pip-version-check",
             "--target", str(Path(tmp) / "target"), "--only-binary=:all:", *platform_args,
             "--python-version", python, "--implementation", "cp", "--retries", "1", "--timeout", "20",
             "-r", str(reqs)],
            capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    would = [line for line in out.splitlines() if line.startswith("Would install")]
    if proc.returncode == 0 and would:
        return "ok", would[-1]
    if any(marker in out for marker in UNREACHABLE):
        return "unreachable", "the package index cannot be reached"
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    return "fails", "\n".join(errors) or out.strip()[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requirements", nargs="?", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--platform", choices=list(PLATFORMS), action="append", help="default: all")
    parser.add_argument("--python", choices=PYTHONS, action="append", help="default: all")
    args = parser.parse_args(argv)
    worst = 0
    for platform in args.platform or PLATFORMS:
        for python in args.python or PYTHONS:
            status, detail = resolve(args.requirements, platform, python)
            print(f"{platform}, Python {python}: {status}" + ("" if status == "ok" else f"\n  {detail}"), flush=True)
            worst = max(worst, {"ok": 0, "fails": 1, "unreachable": 2}[status])
            if status == "unreachable":
                return 2
    return worst


if __name__ == "__main__":
    sys.exit(main())
