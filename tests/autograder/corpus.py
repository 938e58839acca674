"""Turn the answer snippets of ``tests/submissions/*.py`` into notebooks, and read their expected grades.

A snippet is what a student wrote in the assignment's two answer cells (and any cell they added), in the
"percent" format: ``# %%`` starts a code cell, ``# %% [markdown]`` / ``# %% [raw]`` a markdown or raw cell.
``# %% [at=start|loss|update|end]`` places a cell; by default a cell defining the loss function takes the
place of the release's loss stub, one defining the update step the update stub's, and any other cell goes
just before the loss cell. The release's stub cells are removed, unless the header says ``# Keep: stubs`` (then they stay, just
before the snippet's cells of the same slot).

The header (comment lines before the first ``# %%``) states the expected grade::

    # What: one line saying what the answer does
    # Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
    # Feedback: update_step ~ against the gradient
    # Keep: stubs

``Feedback`` lines (any number) give a substring the check's feedback must contain.
The notebook around the answers is the committed student release ``assignment/class_visualization/``
(the real thing a student submits), or a minimal stand-in if it is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
SUBMISSIONS = TESTS / "submissions"
RELEASE = REPO / "assignment" / "class_visualization" / "class_visualization.ipynb"
LOSS, UPDATE = "class_visualization_loss_and_gradient", "class_visualization_update_step"
# Graded on every run of the project's tests (the README's test command): one answer for each way each check is
# lost (a sign, the L2 term, softmax, the class, the learning rate, a NumPy detour, a None gradient, a syntax
# error), both ends (reference, stub) and two accepted variants. The other answers run with the ``slow`` tests.
CORE = frozenset({"reference_solution", "stub_unmodified", "bad_descent", "bad_l2_missing", "bad_softmax_probability",
                  "bad_wrong_class", "bad_learning_rate_ignored", "bad_model_predict", "bad_missing_tape_watch",
                  "bad_syntax_error", "ok_variable_instead_of_watch", "ok_l2_loss_half"})
CHECK_NAMES = ("loss_value", "gradient_sign", "l2_regularizer", "raw_score", "update_step", "score_increase",
               "tf_function")


@dataclass
class Snippet:
    name: str
    path: Path
    what: str
    expected: dict
    feedback: list = field(default_factory=list)  # (check, substring)
    keep_stubs: bool = False
    cells: list = field(default_factory=list)  # (cell_type, placement or None, source)

    @property
    def total(self) -> int:
        return sum(self.expected.values())


def parse_snippet(path: Path, text: str | None = None) -> Snippet:
    text = path.read_text(encoding="utf-8") if text is None else text
    header, _, body = text.partition("# %%")
    snippet = Snippet(path.stem, path, "", {})
    for line in header.splitlines():
        m = re.match(r"#\s*(What|Expected|Feedback|Keep):\s*(.*)", line)
        if not m:
            continue
        key, value = m.groups()
        if key == "What":
            snippet.what = (snippet.what + " " + value.strip()).strip()
        elif key == "Expected":
            snippet.expected = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", value)}
        elif key == "Feedback":
            check, _, sub = value.partition("~")
            snippet.feedback.append((check.strip(), sub.strip()))
        elif key == "Keep":
            snippet.keep_stubs = "stubs" in value
    if sorted(snippet.expected) != sorted(CHECK_NAMES):
        raise ValueError(f"{path.name}: the Expected line must give the points of all of {CHECK_NAMES}")
    for chunk in ("# %%" + body).split("# %%")[1:]:
        first, _, source = chunk.partition("\n")
        kind = "markdown" if "[markdown]" in first else "raw" if "[raw]" in first else "code"
        m = re.search(r"\[at=(\w+)\]", first)
        source = source.strip("\n")
        if kind == "markdown":
            source = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in source.split("\n"))
        snippet.cells.append((kind, m.group(1) if m else None, source))
    return snippet


def all_snippets() -> list[Snippet]:
    """The answer snippets (``tests/submissions/*.py``), by name."""
    return [parse_snippet(p) for p in sorted(SUBMISSIONS.glob("*.py"))]


def notebook_fixtures() -> list[Snippet]:
    """The real notebook files (``tests/submissions/notebooks/*.ipynb``), each with its ``.expected`` sidecar."""
    out = []
    for nb_path in sorted((SUBMISSIONS / "notebooks").glob("*.ipynb")):
        snippet = parse_snippet(nb_path, nb_path.with_suffix(".expected").read_text(encoding="utf-8"))
        snippet.name = re.sub(r"[^A-Za-z0-9._-]+", "_", nb_path.stem)
        out.append(snippet)
    return out


def fixtures() -> dict:
    """Every fixture (snippets and notebooks) by submission id."""
    return {s.name: s for s in all_snippets() + notebook_fixtures()}


def run_cli(*args, timeout=1500):
    """``python -m autograder grade ARGS`` from the repository root; returns the CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "autograder", "grade", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def materialize(folder: Path, names=None) -> dict:
    """Write the fixtures named in ``names`` (default: all) as notebooks into ``folder``; returns
    ``{submission id: Snippet}``."""
    import shutil

    fixtures = {}
    for snippet in all_snippets():
        if names is None or snippet.name in names:
            write_notebook(snippet, folder)
            fixtures[snippet.name] = snippet
    for snippet in notebook_fixtures():
        if names is None or snippet.name in names:
            shutil.copyfile(snippet.path, folder / f"{snippet.name}.ipynb")
            fixtures[snippet.name] = snippet
    return fixtures


def _template():
    if RELEASE.is_file():
        return nbformat.read(RELEASE, as_version=4)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Class visualization"),
                nbformat.v4.new_code_cell("import numpy as np\nimport tensorflow as tf\nimport classviz\n"
                                          "model = classviz.load_squeezenet()"),
                nbformat.v4.new_code_cell(f"def {LOSS}(model, X, target_y, l2_reg):\n"
                                          "    raise NotImplementedError()"),
                nbformat.v4.new_code_cell(f"def {UPDATE}(model, X, target_y, l2_reg, learning_rate):\n"
                                          "    raise NotImplementedError()"),
                nbformat.v4.new_code_cell("X = create_class_visualization(76, model)")]
    return nb


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*def\s+{name}\b", source, re.MULTILINE) is not None


def build_notebook(snippet: Snippet, hidden_tests: bool = False):
    """The release notebook with the snippet's cells in place of the stubs (an nbformat v4 node)."""
    nb = _template()
    cells = list(nb.cells)
    loss_at = next(i for i, c in enumerate(cells) if c.cell_type == "code" and _defines(c.source, LOSS))
    update_at = next(i for i, c in enumerate(cells) if c.cell_type == "code" and _defines(c.source, UPDATE))
    slots = {"start": [], "loss": [], "update": [], "end": [], "before_loss": []}
    for kind, at, source in snippet.cells:
        make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                "raw": nbformat.v4.new_raw_cell}[kind]
        cell = make(source)
        if at is None:
            at = "loss" if kind == "code" and _defines(source, LOSS) else \
                "update" if kind == "code" and _defines(source, UPDATE) else "before_loss"
        slots[at].append(cell)
    out = slots["start"][:]
    for i, cell in enumerate(cells):
        if i == loss_at:
            out += slots["before_loss"] + ([cell] if snippet.keep_stubs else []) + slots["loss"]
            continue
        if i == update_at:
            out += ([cell] if snippet.keep_stubs else []) + slots["update"]
            continue
        out.append(cell)
        if hidden_tests and cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_"):
            name = cell.metadata["nbgrader"]["grade_id"][len("test_"):]
            out.append(nbformat.v4.new_code_cell(
                f'from autograder.nbgrader_bridge import run_check\nrun_check("{name}")'))
    nb.cells = out + slots["end"]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def write_notebook(snippet: Snippet, folder: Path, name: str | None = None, hidden_tests: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{snippet.name}.ipynb")
    nbformat.write(build_notebook(snippet, hidden_tests), path)
    return path
