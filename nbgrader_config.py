"""nbgrader configuration of the course: this repository's root is the course root; run nbgrader from here.

Layout (nbgrader's names -> folders):

* source:   ``solutions/<assignment>/<assignment>.ipynb`` -- the instructor notebook (solutions, hidden tests);
* release:  ``assignment/<assignment>/`` -- what students receive, generated and committed
  (``python tools/build_assignment.py``: ``nbgrader generate_assignment`` plus the student copy of ``classviz``);
* ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db`` -- local grading data, never committed.

The autograde (and validate) kernel needs three things from its environment, set here because nbgrader starts
its kernels with this process's environment:

* ``PYTHONPATH`` starts with the repository root, so the hidden test cells can ``import autograder`` (the hidden
  grader, never released) whatever folder the kernel runs in;
* ``CLASSVIZ_WEIGHTS_DIR`` points at the repository's verified weights, so grading a submission never downloads
  them again into the submission's folder;
* ``TF_CPP_MIN_LOG_LEVEL=2``: fewer TensorFlow C++ log lines.

``PATH`` also starts with the folder of the Python running nbgrader (``.venv/bin``): nbgrader runs the
``alembic`` command of its own environment to set up ``gradebook.db``, so ``.venv/bin/nbgrader ...`` works
without activating the venv.

Any output on stderr in a test cell scores that cell 0 in nbgrader. TensorFlow prints its C++ start-up lines
(absl, oneDNN) while it is imported, whatever ``TF_CPP_MIN_LOG_LEVEL`` says: that happens in the notebook's setup
cell, which is not graded. The setup cell also keeps TensorFlow's Python warnings (``tf.function`` retracing, ...)
off stderr, the hidden grader captures its subprocesses' stderr, and the test cells write nothing to stderr
(checked on real autograded notebooks by ``tests/test_assignment_nbgrader.py``, and for the grader's whole corpus
of answers by ``tests/test_assignment.py``).
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

ROOT = Path(__file__).resolve().parent

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignment"
# Never copied from a source or submission folder: caches, downloaded weights, the demo's output image.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "datasets",
                            "tarantula.png"]

# TensorFlow on 2 CPU cores: starting the kernel and importing TensorFlow take ~10 s; the first hidden test
# cell grades the whole notebook in subprocesses (a few minutes at most), the later ones reuse its results.
c.Execute.timeout = 1200  # seconds per cell
c.Execute.startup_timeout = 180  # seconds for the kernel to start

_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *_paths])
_bin = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _bin:
    os.environ["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])
os.environ.setdefault("CLASSVIZ_WEIGHTS_DIR", str(ROOT / "datasets" / "squeezenet1.1_nchw"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
