"""The hidden autograder of the class visualization assignment (never released to students).

Rule of this package: a notebook is graded by *content* (:mod:`.notebook` selects the two graded functions,
the imports and helpers they use), its code runs only in a fresh, limited, isolated process per submission
(:mod:`.isolation`, :mod:`.child`, seen from the grader through :mod:`.student`), and the hidden checks are pytest
tests (:mod:`.hidden_tests`, one per check, 15 points, each all or nothing) that compare its raw outputs with
reference values computed in the grader's own process (:mod:`.references`), in the words of :mod:`.feedback`.

Entry points:

* ``python -m pytest autograder --submission NOTEBOOK`` -- one notebook, by hand (:mod:`.plugin`);
* ``python -m autograder grade PATH [PATH ...] --out DIR [--jobs N]`` -- batches (:mod:`.batch`);
* ``python -m autograder grade ... --shard I/N`` and ``python -m autograder merge OUT... --out OUT`` -- several
  machines (:mod:`.batch`);
* ``python -m autograder gradescope --out autograder.zip`` -- the Gradescope autograder (:mod:`.gradescope`);
* ``python -m autograder checks`` -- the checks, read from the hidden tests (:mod:`.results`);
* ``autograder.nbgrader_bridge.run_check(name)`` in the assignment's hidden nbgrader test cells.
"""

import os

# The grader's NumPy (scoring the students' images, comparing arrays) shares the cores with the student processes:
# OpenBLAS's extra threads only spin-wait there, and one thread halves the grader's CPU per notebook (bench/,
# BENCHMARKS.md). Set before NumPy loads in the grader's processes (``python -m autograder``, pytest's conftest) and
# inherited by its workers; float64 scores do not depend on it. A value already set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
