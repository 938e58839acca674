"""The hostile and damaged submissions of issue 5 (``tests/submissions/hostile/``), as notebooks with expectations.

Two kinds of fixtures, each stating the result the grader must record for it:

* answer snippets ``hostile/*.py`` in the corpus's percent format (:mod:`corpus`), placed into the committed
  student release notebook;
* whole files ``hostile/files/*.ipynb`` (truncated, not JSON, not UTF-8, empty, other nbformat versions, ...),
  each with a ``.expected`` sidecar holding the same header.

The header, on top of the corpus's ``What``/``Expected``/``Feedback``/``Keep`` lines::

    # Status: graded | unreadable | missing      the record's status
    # Reason: tampering detected: numpy.         a substring of the record's "reason" (absent: no reason)
    # Template: yes                             {REPO}, {SUBMISSIONS} and {OUT} in the cells are replaced by the
                                                 repository, the batch's folder and its output folder
    # Make: huge_output_mb=40                    the first code cell gets a saved output of that many MB
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import corpus

HOSTILE = corpus.SUBMISSIONS / "hostile"


@dataclass
class Case:
    name: str
    what: str
    expected: dict
    status: str
    reason: str | None = None
    feedback: list = field(default_factory=list)
    template: bool = False
    make: dict = field(default_factory=dict)
    snippet: corpus.Snippet | None = None
    file: Path | None = None

    @property
    def total(self) -> int:
        return sum(self.expected.values())


def _case(path: Path, header: str, snippet: corpus.Snippet | None, file: Path | None) -> Case:
    parsed = snippet or corpus.parse_snippet(path, header)
    case = Case(path.stem if file is None else file.stem, parsed.what, parsed.expected, "graded",
                feedback=parsed.feedback, snippet=snippet, file=file)
    for line in header.splitlines():
        m = re.match(r"#\s*(Status|Reason|Template|Make):\s*(.*)", line)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip()
        if key == "Status":
            case.status = value
        elif key == "Reason":
            case.reason = value
        elif key == "Template":
            case.template = value.lower().startswith("y")
        elif key == "Make":
            case.make.update(dict(re.findall(r"(\w+)=(\S+)", value)))
    return case


def cases() -> dict:
    """Every hostile fixture by submission id."""
    found = {}
    for path in sorted(HOSTILE.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        found[path.stem] = _case(path, text.partition("# %%")[0], corpus.parse_snippet(path, text), None)
    for path in sorted((HOSTILE / "files").glob("*.ipynb")):
        sidecar = path.with_suffix(".expected")
        found[path.stem] = _case(sidecar, sidecar.read_text(encoding="utf-8"), None, path)
    return found


def materialize(folder: Path, out: Path, names=None, correct=()) -> dict:
    """Write the hostile fixtures (``names``: a subset) and the corpus's ``correct`` answers into ``folder``.

    Returns:
        ``{submission id: Case}`` (the correct ones as Cases with full marks expected).
    """
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {n: c for n, c in cases().items() if names is None or n in names}
    for case in chosen.values():
        if case.file is not None:
            shutil.copyfile(case.file, folder / case.file.name)
            continue
        snippet = case.snippet
        if case.template:
            subs = {"{REPO}": str(corpus.REPO), "{SUBMISSIONS}": str(folder), "{OUT}": str(out)}
            cells = []
            for kind, at, source in snippet.cells:
                for token, value in subs.items():
                    source = source.replace(token, value)
                cells.append((kind, at, source))
            snippet = corpus.Snippet(snippet.name, snippet.path, snippet.what, snippet.expected, snippet.feedback,
                                     snippet.keep_stubs, cells)
        nb = corpus.build_notebook(snippet)
        megabytes = int(case.make.get("huge_output_mb", 0))
        if megabytes:
            cell = next(c for c in nb.cells if c.cell_type == "code")
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="A" * (megabytes * 2 ** 20))]
            cell.execution_count = 1
        nbformat.write(nb, folder / f"{case.name}.ipynb")
    all_snippets = {s.name: s for s in corpus.all_snippets()}
    for name in correct:
        snippet = all_snippets[name]
        corpus.write_notebook(snippet, folder)
        chosen[name] = Case(name, snippet.what, snippet.expected, "graded", feedback=snippet.feedback,
                            snippet=snippet)
    return chosen
