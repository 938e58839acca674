"""Reading a student's answers out of a notebook by content, never by nbgrader metadata.

Rule of this module: (notebook file) => (the top-level statements to run before grading, in notebook order).
Only three kinds of statements are ever selected, by parsing each code cell with :mod:`ast`:

* the definitions (``def``, ``class``, or an assignment) of the two graded functions;
* every definition, import, or *cheap* assignment of a name those definitions use, transitively (helpers,
  constants, ``import tensorflow as tf``); an assignment is cheap when its value calls nothing but NumPy,
  TensorFlow, ``math``/``functools``/``operator``, a few builtins, or a class of the notebook; a ``try``/``if``
  block is taken whole when everything in it is an import, a cheap assignment or ``pass``;
* nothing else: demo loops, ``model = load_squeezenet()``, plots, public checks, hidden-test cells and shell
  or magic lines never run.

As in Jupyter after *Restart & Run All*, statements run in notebook order, so the last definition of a name
wins, a cell with a syntax error contributes nothing, and nothing after a top-level ``raise``, ``sys.exit()``,
``exit()``, ``quit()``, ``os._exit()`` or ``assert False`` in a cell runs (IPython stops that cell there; the
next cells still run; a note in the result says so). IPython syntax is neutralized line by line (``%magic``,
``!shell``, ``x = !ls``, ``obj?`` become ``pass``; a ``%%time``-style cell magic is dropped, a ``%%bash``-style
cell is skipped). Works without any nbgrader or Colab metadata, with renamed, reordered, duplicated or extra
cells, with nbformat 3 or 4, and with cell sources stored as a string or a list of lines.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .child import GRADED  # the two graded function names, shared with the student process

MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024
"""Larger files are refused (a notebook of the assignment is well under a megabyte without outputs)."""

_CODE_CELL_MAGICS = {"time", "timeit", "capture", "prun", "python", "python3", "debug", "memit"}
_CHEAP_CALL_ROOTS = {"np", "numpy", "tf", "tensorflow", "math", "functools", "operator", "keras"}
_CHEAP_BUILTINS = {"int", "float", "str", "bool", "complex", "tuple", "list", "dict", "set", "frozenset", "range",
                   "len", "abs", "min", "max", "round", "getattr", "isinstance", "sum", "sorted", "zip",
                   "enumerate", "slice", "type", "object", "staticmethod", "classmethod", "property"}
_SKIPPED_IMPORT_PREFIXES = ("autograder", "__future__")
_STOP_CALLS = {("sys", "exit"), (None, "exit"), (None, "quit"), ("os", "_exit"), ("os", "abort")}
_LINE_MAGIC = re.compile(r"^(\s*)(?:[%!]|[\w.\[\], ]+=\s*[%!])")
_HELP = re.compile(r"^(\s*)[\w.]+\?{1,2}\s*$")
_DEF_PATTERN = re.compile(r"^\s*(?:def|async\s+def)\s+(" + "|".join(GRADED) + r")\b", re.MULTILINE)
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)[\s#]*$", re.MULTILINE)
_ANY_DEF = re.compile(r"^(?:async\s+)?def\s+(\w+)", re.MULTILINE)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ASSIGNS = (ast.Assign, ast.AnnAssign, ast.AugAssign)


class NotebookError(Exception):
    """The file cannot be read as a notebook; the message says why (recorded as the submission's result)."""


@dataclass
class Cell:
    """One notebook cell: its index among all cells, its type and its source text."""
    index: int
    cell_type: str
    source: str


@dataclass
class Statement:
    """A selected top-level statement: cell index, first line (1-based, in the cell), source, kind, bound names."""
    cell: int
    line: int
    source: str
    kind: str
    names: tuple


@dataclass
class Extraction:
    """What :func:`extract` found: the statements to run (notebook order), ``{cell index: Python source}`` of
    the cells holding them, ``{graded name: {"cell", "line"}}`` of the winning definitions, the syntax errors,
    remarks for the result, the number of code cells and ``{cell index: label}`` (:func:`cell_labels`)."""
    statements: list = field(default_factory=list)
    cell_sources: dict = field(default_factory=dict)
    definitions: dict = field(default_factory=dict)
    syntax_errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    code_cells: int = 0
    labels: dict = field(default_factory=dict)

    def label(self, index) -> str:
        """How a student finds cell ``index`` (the index counts every cell, which Jupyter never shows)."""
        return self.labels.get(index, f"cell {index}")

    def summary(self) -> dict:
        """JSON-serializable summary for the result file."""
        return {"code_cells": self.code_cells, "statements": len(self.statements),
                "definitions": self.definitions, "syntax_errors": self.syntax_errors, "notes": self.notes}


def read_cells(path) -> tuple[list[Cell], list[str]]:
    """A notebook file's cells (nbformat 3 or 4, not validated against the schema), each source one string, and
    remarks about what was repaired.

    Raises:
        NotebookError: missing, empty, too large, not JSON, or JSON without cells.
    """
    path, notes = Path(path), []
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(f"the file is {size / 2**20:.0f} MB, larger than the "
                                f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MB a notebook may have")
        raw = path.read_bytes()
    except OSError as exc:
        raise NotebookError(f"the file cannot be read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise NotebookError("the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        notes.append(f"the file is not valid UTF-8 (first bad byte at offset {exc.start}); "
                     "undecodable bytes were replaced")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"the file is not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} "
                            f"({exc.msg}); it may be truncated or damaged") from None
    except RecursionError:
        raise NotebookError("the file is not a notebook: its JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise NotebookError(f"the file is not a notebook: its JSON is a {type(data).__name__}, not an object")
    if isinstance(data.get("cells"), list):
        raw_cells, source_key = data["cells"], "source"
    elif isinstance(data.get("worksheets"), list):  # nbformat 3
        raw_cells = [c for ws in data["worksheets"] if isinstance(ws, dict)
                     for c in (ws.get("cells") if isinstance(ws.get("cells"), list) else [])]
        source_key = "input"
        notes.append(f"nbformat {data.get('nbformat')} notebook (read its worksheets)")
    else:
        raise NotebookError("the file is JSON but has no notebook cells")
    cells = []
    for index, cell in enumerate(raw_cells):
        if not isinstance(cell, dict):
            notes.append(f"cell {index} is not a JSON object; ignored")
            continue
        cell_type = cell.get("cell_type") if isinstance(cell.get("cell_type"), str) else "unknown"
        source = cell.get(source_key, cell.get("source", ""))
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            notes.append(f"cell {index} has a malformed source; ignored")
            continue
        cells.append(Cell(index, cell_type, source))
    return cells, notes


def python_source(source: str) -> str | None:
    """A code cell's IPython source as plain Python with the same line numbers; None for a cell whose cell magic
    runs something other than Python (``%%bash``, ``%%html``, ``%%writefile``, ...)."""
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split()
        if not magic or magic[0] not in _CODE_CELL_MAGICS:
            return None
        lines[first] = ""
    out = []
    for line in lines:
        match = _LINE_MAGIC.match(line) or _HELP.match(line)
        out.append(f"{match.group(1)}pass" if match else line)
    return "\n".join(out)


def _parse_cell(source: str):
    """Parse a cell; returns ``(tree, python_source, None)`` or ``(None, python_source, SyntaxError)``."""
    code = python_source(source)
    if code is None:
        return None, None, None
    try:
        return ast.parse(code), code, None
    except SyntaxError as first_error:
        try:  # IPython's own transformer knows more syntax than the line rules above
            from IPython.core.inputtransformer2 import TransformerManager

            alt = TransformerManager().transform_cell(source)
            if alt.count("\n") <= code.count("\n") + 1:
                return ast.parse(alt), alt, None
        except Exception:  # noqa: BLE001 - IPython missing, or the cell is really broken
            pass
        return None, code, first_error
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        error = SyntaxError(f"{type(exc).__name__}: {exc}")
        error.lineno = 1
        return None, code, error


def _bound_names(node) -> set[str]:
    """Names a top-level statement binds."""
    if isinstance(node, _DEFS):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {"*" if a.name == "*" else (a.asname or a.name.split(".")[0]) for a in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, _ASSIGNS) else []
    names = {sub.id for target in targets for sub in ast.walk(target) if isinstance(sub, ast.Name)}
    if isinstance(node, (ast.Try, ast.If)):
        for child in ast.iter_child_nodes(node):
            for stmt in child.body if isinstance(child, ast.ExceptHandler) else [child]:
                if isinstance(stmt, ast.stmt):
                    names |= _bound_names(stmt)
    return names


def _cheap_expression(expr, notebook_classes) -> bool:
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Call):
            root = sub.func
            while isinstance(root, ast.Attribute):
                root = root.value
            root = root.id if isinstance(root, ast.Name) else None
            if isinstance(sub.func, ast.Name):
                if root not in _CHEAP_BUILTINS and root not in notebook_classes:
                    return False
            elif root not in _CHEAP_CALL_ROOTS:
                return False
        elif isinstance(sub, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
    return True


def _cheap_statement(node, notebook_classes) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return not _skipped_import(node)
    if isinstance(node, (ast.Pass, ast.Global, ast.Nonlocal)):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    if isinstance(node, ast.Assign):
        return all(_cheap_expression(e, notebook_classes) for e in [node.value, *node.targets])
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return node.value is None or _cheap_expression(node.value, notebook_classes)
    if isinstance(node, ast.Try):
        return all(_cheap_statement(s, notebook_classes)
                   for s in node.body + node.orelse + node.finalbody + [x for h in node.handlers for x in h.body])
    if isinstance(node, ast.If):
        return _cheap_expression(node.test, notebook_classes) and all(
            _cheap_statement(s, notebook_classes) for s in node.body + node.orelse)
    return False


def _stops_the_cell(node) -> bool:
    """A top-level statement after which nothing of its cell runs: ``raise``, ``sys.exit()``, ``exit()``,
    ``quit()``, ``os._exit()``, ``os.abort()``, ``assert False``."""
    if isinstance(node, ast.Raise):
        return True
    if isinstance(node, ast.Assert):
        return isinstance(node.test, ast.Constant) and not node.test.value
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Name):
            return (None, func.id) in _STOP_CALLS
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            return (func.value.id, func.attr) in _STOP_CALLS
    return False


def _skipped_import(node) -> bool:
    modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
    return any(m == p or m.startswith(p + ".") for m in modules for p in _SKIPPED_IMPORT_PREFIXES)


def _kind(node, notebook_classes) -> str | None:
    """How a top-level statement may be selected (``def``, ``import``, ``assign``, ``block``), or None: never."""
    if isinstance(node, _DEFS):
        return "def"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return None if _skipped_import(node) else "import"
    if not isinstance(node, (*_ASSIGNS, ast.Try, ast.If)):
        return None
    if _bound_names(node) & set(GRADED) and isinstance(node, (ast.Assign, ast.AnnAssign)):
        return "assign"  # e.g. f = tf.function(f): a (re)definition of a graded name
    if _cheap_statement(node, notebook_classes):
        return "assign" if isinstance(node, _ASSIGNS) else "block"
    return None


def cell_labels(cells: list[Cell]) -> dict:
    """``{cell index: where a student finds that cell}``, in the words of what Jupyter shows.

    A notebook's cell index counts markdown cells and Jupyter never shows it (``In [9]`` for the 14th cell), so
    a cell is named by what it holds: "the cell defining f" (its first top-level ``def``; "the 2nd cell defining
    f" when several do), else by the nearest heading above it ("the code cell under the heading "H"", "the 2nd
    code cell under ..."), else "code cell k" (k counting code cells only). Non-code cells: "the markdown cell
    under the heading "H"".
    """
    labels, heading, under, code_number, defined = {}, None, 0, 0, {}
    ordinal = {1: "", 2: "2nd ", 3: "3rd "}
    for cell in cells:
        heading_words = f' under the heading "{heading}"' if heading else ""
        if cell.cell_type != "code":
            labels[cell.index] = f"the {cell.cell_type} cell{heading_words}"
            found = _HEADING.findall(cell.source) if cell.cell_type == "markdown" else []
            if found:
                heading, under = found[-1].strip()[:80], 0
            continue
        code_number, under = code_number + 1, under + 1
        names = _ANY_DEF.findall(cell.source)
        graded = [n for n in names if n in GRADED]
        if names:
            name = (graded or names)[0]
            defined[name] = defined.get(name, 0) + 1
            labels[cell.index] = f"the {ordinal.get(defined[name], f'{defined[name]}th ')}cell defining {name}"
        elif heading:
            labels[cell.index] = f"the {ordinal.get(under, f'{under}th ')}code cell{heading_words}"
        else:
            labels[cell.index] = f"code cell {code_number}"
    return labels


def extract(cells: list[Cell]) -> Extraction:
    """Select the statements to run from a notebook's cells, in notebook order (see the module docstring)."""
    result = Extraction(labels=cell_labels(cells))
    parsed, notebook_classes = [], set()
    for cell in cells:
        if cell.cell_type != "code":
            for name in sorted(set(_DEF_PATTERN.findall(cell.source))):
                result.notes.append(f"a definition of {name} is in {result.label(cell.index)}; only code cells "
                                    "run (turn it back into a code cell)")
            continue
        result.code_cells += 1
        tree, code, error = _parse_cell(cell.source)
        if code is None:
            result.notes.append(f"{result.label(cell.index)} runs a non-Python cell magic; skipped")
        elif error is not None:
            result.syntax_errors.append({
                "cell": cell.index, "label": result.label(cell.index), "line": getattr(error, "lineno", None) or 1,
                "message": str(getattr(error, "msg", error))[:300],
                "code": ((getattr(error, "text", None) or "").strip())[:200],
                "defines": sorted(set(_DEF_PATTERN.findall(cell.source)))})
        else:
            parsed.append((cell, tree, code))
            notebook_classes |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    candidates = []  # (cell, node, code, lines, kind, bound names)
    for cell, tree, code in parsed:
        lines, body = code.split("\n"), tree.body
        stop = next((i for i, node in enumerate(body) if _stops_the_cell(node)), None)
        if stop is not None:  # as in Jupyter: the rest of this cell never runs (later cells still do)
            node = body[stop]
            skipped = sorted({n for later in body[stop + 1:] for n in _bound_names(later)} & set(GRADED))
            what = ast.get_source_segment(code, node) or lines[node.lineno - 1]
            note = (f"{result.label(cell.index)} stops at line {node.lineno} (`{what.strip()[:80]}`), so, as in "
                    "Jupyter, the rest of that cell never runs")
            if skipped:
                note += f": the definition of {', '.join(skipped)} after it does not exist"
            result.notes.append(note)
            body = body[:stop]
        candidates += [(cell, node, code, lines, kind, _bound_names(node)) for node in body
                       if (kind := _kind(node, notebook_classes))]
    needed = set(GRADED)
    while True:  # the names the graded functions use, transitively (locals of functions included)
        used = {sub.id for _, node, *_, bound in candidates if bound & needed or "*" in bound
                for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)}
        if used <= needed:
            break
        needed |= used
    for cell, node, code, lines, kind, bound in candidates:
        if bound & needed or "*" in bound:
            if isinstance(node, (*_DEFS, ast.Try, ast.If)):  # whole lines, decorators included
                line = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                source = "\n".join(lines[line - 1:node.end_lineno]) + "\n"
            else:  # the exact segment of a simple statement
                segment = ast.get_source_segment(code, node)
                line, source = node.lineno, (segment if segment is not None else lines[node.lineno - 1]) + "\n"
            result.statements.append(Statement(cell.index, line, source, kind, tuple(sorted(bound))))
            result.cell_sources[cell.index] = code
            for name in bound & set(GRADED):
                result.definitions[name] = {"cell": cell.index, "line": line}
    return result


def read_notebook(path) -> tuple[Extraction, list[str]]:
    """:func:`read_cells` then :func:`extract`; returns ``(extraction, reading notes)``.

    Raises:
        NotebookError: the file cannot be read as a notebook.
    """
    cells, notes = read_cells(path)
    extraction = extract(cells)
    extraction.notes[:0] = notes
    return extraction, notes
