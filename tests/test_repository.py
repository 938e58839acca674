"""The repository a TA works in stays clean, and its README stays a guide (issue 19 item 6)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


WRITTEN_AT_THE_ROOT = [
    "grades.csv",            # nbgrader export --to grades.csv: every student's grade
    "autograder.zip",        # autograder gradescope --out autograder.zip: the hidden grader
    "out/grid.png",          # classviz_reference visualize ... --out out/grid.png
    "tarantula.png",
    "junit.xml", "result.json", "results.json",   # pytest autograder --submission ... result files
    "grading/summary.txt", "submitted/s1/class_visualization/class_visualization.ipynb", "autograded/x",
    "feedback/x", "gradebook.db", "downloaded/class_visualization/archive/x.zip", ".nbgrader.log",
]


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("written", WRITTEN_AT_THE_ROOT)
def test_what_the_readme_commands_write_at_the_root_is_ignored(written):
    """One `git add -A` after the README's commands must not commit student grades or the hidden grader."""
    done = subprocess.run(["git", "check-ignore", "--no-index", "-q", written], cwd=REPO)
    assert done.returncode == 0, f"{written} (written by a README command) is not in .gitignore"


def test_the_readme_commands_that_write_at_the_root_are_the_ones_ignored():
    """Every `--out FILE`/`--to FILE` of the README's commands is among the files the test above checks."""
    written = set(re.findall(r"--(?:out|to|junitxml|result-json|gradescope-json) (\S+)", README))
    checked = {p.split("/")[0] for p in WRITTEN_AT_THE_ROOT}
    unchecked = {w for w in written if w.split("/")[0] not in checked}
    assert not unchecked, f"README commands write {sorted(unchecked)}: add them to .gitignore and to this test"


def test_readme_links_resolve_and_isolation_internals_live_in_their_own_document():
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (REPO / target).exists(), f"README links to {target}, which does not exist"
    assert "(docs/isolation.md)" in README
    isolation = (REPO / "docs" / "isolation.md").read_text(encoding="utf-8")
    for heading in ("Isolation modes", "Hostile submissions"):
        assert f"## {heading}" in isolation and f"## {heading}" not in README, heading


def test_readme_names_no_path_of_the_course_machines():
    """"CI uses ../shared/..." means nothing to a newcomer: say what the folder is instead."""
    assert "../shared" not in README
