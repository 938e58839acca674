"""The hidden autograder of the class visualization assignment (never released to students).

Rule of this package: a notebook is graded by *content* (:mod:`.notebook` selects the two graded functions,
the imports and helpers they use), its code runs only in a fresh, limited, audited process per submission
(:mod:`.sandbox`, :mod:`.child`), and the seven checks of :data:`.checks.CHECKS` (15 points, each all or nothing)
compare its raw outputs with reference values computed in the grader's own process (:mod:`.suite`).

Entry points:

* ``python -m autograder grade PATH [PATH ...] --out DIR [--jobs N]`` (:mod:`.batch`);
* ``autograder.nbgrader_bridge.run_check(name)`` in the assignment's hidden nbgrader test cells;
* :class:`.grader.Grader` from Python.
"""

from .checks import CHECKS, MAX_SCORE  # noqa: F401
