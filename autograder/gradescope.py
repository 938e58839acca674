"""Gradescope: the autograder zip an instructor uploads, and what its ``run_autograder`` does for one submission.

Rule of this module: ``python -m autograder gradescope --out autograder.zip`` packs only what grading needs
(:func:`build_zip`; no weights, no tests, no instructor notebook), following Gradescope's autograder specification
(``setup.sh`` runs once when the image is built, ``run_autograder`` for each submission; the README's *Gradescope*
says what each does). :func:`run` (``python -m autograder run-gradescope``) writes a valid ``results.json`` whatever
happens: a provisional one first (what Gradescope shows if grading is stopped), then the real one; a grader crash
gives a result that says so; and ``run_autograder`` itself writes a minimal one if Python cannot even start.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

from . import results as R
from .store import write_json

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("autograder", "classviz", "classviz_reference")
GRADING_REQUIREMENTS = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "ml-dtypes", "scipy", "pillow", "tqdm",
                        "ipython", "pytest")
"""The packages grading imports (pinned as in the repository's requirements.txt)."""
CONFIG = "gradescope.json"

SCRIPTS = Path(__file__).resolve().parent / "gradescope_files"
"""``setup.sh`` and ``run_autograder``, put at the zip's root (Gradescope runs them; their comments say when)."""


def pins(names, path: Path = ROOT / "requirements.txt", fix: str = "") -> list[str]:
    """The lines of a requirements file (the repository's) that pin ``names`` (``name==version``, environment
    markers kept), in the order of ``names``; the one reader of those pins (Gradescope's zip, the student release).

    Raises:
        ValueError: a name has no ``==`` pin there (the message ends with ``fix``).
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        requirement = Requirement(line) if line else None
        if requirement and any(spec.operator == "==" for spec in requirement.specifier):
            found[canonicalize_name(requirement.name)] = line
    missing = [name for name in names if canonicalize_name(name) not in found]
    if missing:
        raise ValueError(f"requirements.txt pins no version of {missing}{fix}")
    return [found[canonicalize_name(name)] for name in names]


def build_zip(out, visibility: str = R.VISIBILITIES[0]) -> list[str]:
    """Write the autograder zip (``setup.sh`` and ``run_autograder`` at the root, the grader, the student package,
    the reference, the pinned grading requirements and :data:`CONFIG`); returns the names it holds.

    Args:
        out: the zip file to write (its folder is created).
        visibility: Gradescope visibility of every test (one of :data:`autograder.results.VISIBILITIES`).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = {name: ((SCRIPTS / name).read_bytes(), 0o755) for name in ("setup.sh", "run_autograder")}
    files |= {"requirements.txt": ("".join(line + "\n" for line in pins(GRADING_REQUIREMENTS)), 0o644),
              CONFIG: (json.dumps({"visibility": visibility, "grader_version": R.GRADER_VERSION}, indent=1) + "\n",
                       0o644)}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[path.relative_to(ROOT).as_posix()] = (path.read_bytes(), 0o644)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # the same bytes for the same code
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return sorted(files)


def _failed(output: str, visibility: str, status: str = "failed") -> dict:
    """A results.json with every check failed for one reason (the submission or the grading could not go on)."""
    record = {"submission": "submission", "status": status, "reason": output, "checks": R.all_failed(output),
              "score": 0, "max_score": R.max_score(), "timings": {"total": 0.0}}
    return R.gradescope(record, visibility)


def run(root, weights=None) -> dict:
    """Grade ``root/submission`` into ``root/results/results.json`` (Gradescope's layout; ``root`` is
    ``/autograder`` there). Never raises: every outcome ends in a valid results.json, which is also returned."""
    root = Path(root)
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    target = results / "results.json"
    started = time.monotonic()
    try:
        config = json.loads((root / "source" / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    visibility = config.get("visibility", R.VISIBILITIES[0])
    write_json(target, _failed("grading did not finish (it was stopped or ran out of time); please tell your "
                           "instructor", visibility, "error"))
    try:
        from .batch import Options, run_hidden_tests
        from .submissions import Submission, find_notebook
        from .isolation import close_to_students

        notebook, note = find_notebook(root / "submission")
        if notebook is None:
            data = _failed(note, visibility, "missing")
        else:
            close_to_students([root])  # source, submission (and its metadata) and results: closed to students
            weights = weights or root / "source" / "datasets" / "squeezenet1.1_nchw"
            record = run_hidden_tests(Submission("submission", notebook, note=note), Options(weights=str(weights)))
            data = R.gradescope(record, visibility)
            data["extra_data"] = {k: record.get(k) for k in ("status", "reason", "isolation", "isolation_detail",
                                                            "grader_version", "notebook_sha256")}
            if note:
                data["output"] += f"\n{note}"
    except Exception as exc:  # noqa: BLE001 - a grader bug still ends in a valid result
        data = _failed(R.grader_failed(f"({type(exc).__name__})", ", please tell your instructor"), visibility,
                       "error")
    data["execution_time"] = int(round(time.monotonic() - started))
    write_json(target, data)
    return data


def main_build(args) -> int:
    names = build_zip(args.out, args.visibility)
    print(f"{args.out}: {len(names)} files (setup.sh, run_autograder, requirements.txt, {CONFIG}, "
          f"{', '.join(p + '/' for p in PACKAGES)}); upload it as the assignment's autograder")
    return 0


def main_run(args) -> int:
    data = run(args.root, args.weights)
    print(f"{data['score']}/{sum(t['max_score'] for t in data['tests']) or R.max_score()} points: {data['output']}")
    return 0
