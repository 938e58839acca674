"""Reading answers out of notebooks by content: what runs, what never runs, and damaged files."""

import json

import nbformat
import pytest

from autograder.notebook import GRADED, NotebookError, extract, python_source, read_cells, read_notebook

LOSS, UPDATE = GRADED


def notebook(tmp_path, cells, name="nb.ipynb"):
    """Write a v4 notebook whose cells are given as sources (str) or (cell_type, source)."""
    nb = nbformat.v4.new_notebook()
    for cell in cells:
        kind, source = cell if isinstance(cell, tuple) else ("code", cell)
        nb.cells.append({"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                         "raw": nbformat.v4.new_raw_cell}[kind](source))
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def selected(path):
    extraction, _ = read_notebook(path)
    return extraction, [s.source.strip() for s in extraction.statements]


LOSS_DEF = f"def {LOSS}(model, X, target_y, l2_reg):\n    return helper(X), X\n"
UPDATE_DEF = f"def {UPDATE}(model, X, target_y, l2_reg, learning_rate):\n    return np.asarray(X)\n"


def test_selects_the_functions_their_helpers_and_imports_and_nothing_else(tmp_path):
    path = notebook(tmp_path, [
        "import numpy as np\nimport matplotlib.pyplot as plt\nimport tensorflow as tf\n"
        "model = classviz.load_squeezenet()\nnp.random.seed(0)",
        "SCALE = 2.0\nUNUSED = 3\n\ndef helper(X):\n    return tf.reduce_sum(X) * SCALE\n",
        LOSS_DEF, UPDATE_DEF,
        "for i in range(10**9):\n    X = class_visualization_update_step(model, X, 76, 1e-3, 25.0)",
        "out = create_class_visualization(76, model)\nplt.show()",
    ])
    extraction, sources = selected(path)
    assert sources == ["import numpy as np", "import tensorflow as tf", "SCALE = 2.0",
                       "def helper(X):\n    return tf.reduce_sum(X) * SCALE", LOSS_DEF.strip(), UPDATE_DEF.strip()]
    assert extraction.definitions == {LOSS: {"cell": 2, "line": 1}, UPDATE: {"cell": 3, "line": 1}}


def test_last_definition_wins_and_order_is_kept(tmp_path):
    first = f"def {LOSS}(model, X, target_y, l2_reg):\n    return 1, X\n"
    path = notebook(tmp_path, [first, "import numpy as np", LOSS_DEF, first.replace("1, X", "2, X")])
    extraction, sources = selected(path)
    assert [s for s in sources if s.startswith("def")] == [first.strip(), LOSS_DEF.strip(),
                                                            first.replace("1, X", "2, X").strip()]
    assert extraction.definitions[LOSS] == {"cell": 3, "line": 1}


def test_expensive_assignments_never_run_but_cheap_ones_and_redefinitions_do(tmp_path):
    path = notebook(tmp_path, [
        "import tensorflow as tf\nimport classviz",
        "EPS = tf.constant(1e-3) * float('1')\nmodel = classviz.load_squeezenet()\nX = make_image()",
        f"def {LOSS}(model, X, target_y, l2_reg, eps=EPS):\n    return X, X\n",
        f"{LOSS} = tf.function({LOSS})",
    ])
    _, sources = selected(path)
    assert "EPS = tf.constant(1e-3) * float('1')" in sources
    assert f"{LOSS} = tf.function({LOSS})" == sources[-1]
    assert not any("load_squeezenet" in s or "make_image" in s for s in sources)


def test_colab_style_try_block_is_kept_when_needed(tmp_path):
    path = notebook(tmp_path, [
        "try:\n    import google.colab\n    IN_COLAB = True\nexcept ImportError:\n    IN_COLAB = False",
        f"def {LOSS}(model, X, target_y, l2_reg):\n    return IN_COLAB, X\n",
    ])
    _, sources = selected(path)
    assert sources[0].startswith("try:") and sources[1].startswith("def")


def test_semicolons_select_only_the_statement(tmp_path):
    path = notebook(tmp_path, ["import numpy as np; run_demo_forever()", UPDATE_DEF])
    _, sources = selected(path)
    assert sources == ["import numpy as np", UPDATE_DEF.strip()]


def test_decorators_come_with_their_function(tmp_path):
    path = notebook(tmp_path, ["import tensorflow as tf", f"@tf.function\n{LOSS_DEF}"])
    _, sources = selected(path)
    assert sources[-1] == f"@tf.function\n{LOSS_DEF}".strip()


def test_hidden_test_cells_and_autograder_imports_are_ignored(tmp_path):
    path = notebook(tmp_path, [LOSS_DEF, 'from autograder.nbgrader_bridge import run_check\nrun_check("loss_value")',
                               "import autograder.checks"])
    _, sources = selected(path)
    assert sources == [LOSS_DEF.strip()]


@pytest.mark.parametrize("source, expected", [
    ("%matplotlib inline\nx = 1", "pass\nx = 1"),
    ("!pip install tensorflow\n  !ls", "pass\n  pass"),
    ("files = !ls\nobj?\nobj.attr??", "pass\npass\npass"),
    ("%%time\nx = 1", "\nx = 1"),
    ("%%bash\necho hi", None),
    ("y = a % b\nz = not_a != magic", "y = a % b\nz = not_a != magic"),
])
def test_ipython_syntax_is_neutralized_line_by_line(source, expected):
    assert python_source(source) == expected


def test_magics_inside_answer_cells(tmp_path):
    path = notebook(tmp_path, ["%%time\n" + LOSS_DEF, "%%bash\nrm -rf /", "!pip install x\n" + UPDATE_DEF])
    extraction, sources = selected(path)
    assert sources == [LOSS_DEF.strip(), UPDATE_DEF.strip()]
    assert extraction.definitions[UPDATE] == {"cell": 2, "line": 2}
    assert any("non-Python cell magic" in note for note in extraction.notes)


def test_a_cell_with_a_syntax_error_contributes_nothing_and_is_reported(tmp_path):
    path = notebook(tmp_path, [LOSS_DEF, LOSS_DEF.replace("return helper(X), X", "return (helper(X), X") +
                               "\nx = 1", UPDATE_DEF])
    extraction, sources = selected(path)
    assert extraction.definitions[LOSS] == {"cell": 0, "line": 1}
    error = extraction.syntax_errors[0]
    assert error["cell"] == 1 and error["defines"] == [LOSS] and "never closed" in error["message"]


def test_definitions_in_markdown_or_raw_cells_are_noted_not_run(tmp_path):
    path = notebook(tmp_path, [("markdown", LOSS_DEF), ("raw", UPDATE_DEF)])
    extraction, sources = selected(path)
    assert sources == [] and extraction.definitions == {}
    assert f"a definition of {LOSS} is in the markdown cell; only code cells run (turn it back into a code cell)" \
        in extraction.notes
    assert any(f"a definition of {UPDATE} is in the raw cell" in n for n in extraction.notes)


def test_cells_are_named_as_a_student_finds_them_not_by_their_index():
    """"cell 13" counts markdown cells, which Jupyter never numbers (issue 19): name a cell by the function it
    defines, else by the heading above it, else by its number among code cells."""
    from autograder.notebook import Cell, cell_labels

    cells = [Cell(0, "code", "import numpy as np"), Cell(1, "markdown", "# Intro\ntext"),
             Cell(2, "code", "x = 1"), Cell(3, "markdown", "## The step ##"), Cell(4, "code", LOSS_DEF),
             Cell(5, "code", "print(x)"), Cell(6, "code", "y = (1"), Cell(7, "code", "def helper(X):\n    return X"),
             Cell(8, "code", LOSS_DEF), Cell(9, "raw", UPDATE_DEF)]
    assert cell_labels(cells) == {
        0: "code cell 1", 1: "the markdown cell", 2: 'the code cell under the heading "Intro"',
        3: 'the markdown cell under the heading "Intro"', 4: f"the cell defining {LOSS}",
        5: 'the 2nd code cell under the heading "The step"', 6: 'the 3rd code cell under the heading "The step"',
        7: "the cell defining helper", 8: f"the 2nd cell defining {LOSS}",
        9: 'the raw cell under the heading "The step"'}
    error = extract(cells).syntax_errors[0]
    assert (error["cell"], error["label"], error["line"]) == (6, 'the 3rd code cell under the heading "The step"', 1)


def test_nbformat3_and_string_sources_and_no_metadata(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": LOSS_DEF.splitlines(keepends=True), "language": "python", "outputs": []},
        {"cell_type": "heading", "source": "Title", "level": 1}]}]}
    (tmp_path / "v3.ipynb").write_text(json.dumps(v3))
    extraction, _ = read_notebook(tmp_path / "v3.ipynb")
    assert extraction.definitions == {LOSS: {"cell": 0, "line": 1}}
    bare = {"nbformat": 4, "nbformat_minor": 0, "metadata": {},
            "cells": [{"cell_type": "code", "source": UPDATE_DEF}, "garbage", {"cell_type": "code", "source": 5}]}
    (tmp_path / "bare.ipynb").write_text(json.dumps(bare))
    extraction, _ = read_notebook(tmp_path / "bare.ipynb")
    assert extraction.definitions == {UPDATE: {"cell": 0, "line": 1}}
    assert sum("ignored" in n for n in extraction.notes) == 2


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b'{"cells": [', "invalid JSON at line 1"),
    (b"[1, 2]", "JSON is a list"),
    (b'{"metadata": {}}', "no notebook cells"),
    (b"\x89PNG\r\n\x1a\n", "invalid JSON"),
])
def test_unreadable_files_raise_with_a_reason(tmp_path, content, words):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match=words):
        read_cells(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(NotebookError, match="cannot be read"):
        read_cells(tmp_path / "nope.ipynb")


def test_invalid_utf8_is_salvaged_with_a_note(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "markdown", "source": "caf\u00e9"}, {"cell_type": "code", "source": LOSS_DEF}]}
    raw = json.dumps(nb, ensure_ascii=False).encode("utf-8").replace("caf\u00e9".encode(), b"caf\xe9")
    (tmp_path / "latin.ipynb").write_bytes(raw)
    extraction, notes = read_notebook(tmp_path / "latin.ipynb")
    assert extraction.definitions == {LOSS: {"cell": 1, "line": 1}}
    assert any("not valid UTF-8" in n for n in notes)


def test_extract_on_cells_directly():
    from autograder.notebook import Cell

    extraction = extract([Cell(0, "code", LOSS_DEF), Cell(1, "code", "import numpy as np\nprint(1)")])
    assert [s.kind for s in extraction.statements] == ["def"]
    assert extraction.code_cells == 2
