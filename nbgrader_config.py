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

Autograde puts the hidden tests back into untouched cells before nbgrader checks their checksums
(``tools/nbgrader_hidden_tests.py``: without it, nbgrader warns "Attribute 'checksum' for cell test_... has
changed!" for every graded cell of every submission, jupyter/nbgrader#1961), so a checksum warning means the
student really changed a read-only cell. The grading kernel shows errors without tracebacks
(``InteractiveShell.xmode=Minimal``): the feedback then shows the grader's message, not the files of the grading
machine it was raised in. SQLAlchemy's "Object of type <SubmittedAssignment> not in session" warnings about
nbgrader's own gradebook code (harmless: nbgrader adds the objects to the session right after) are filtered.

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
import warnings
from pathlib import Path

from nbgrader.converters import Autograde
from nbgrader.preprocessors import OverwriteCells
from sqlalchemy.exc import SAWarning

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
# Errors without traceback frames in the graded notebooks and feedback: the message only (the hidden test cells'
# AssertionError is the grader's feedback; its frames would show the grading machine's paths).
c.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]

# Hidden tests back into untouched cells before nbgrader compares checksums (see the module's docstring).
sys.path.insert(0, str(ROOT / "tools"))
from nbgrader_hidden_tests import OverwriteCellsKeepingHiddenTests  # noqa: E402

c.Autograde.sanitize_preprocessors = [OverwriteCellsKeepingHiddenTests if p is OverwriteCells else p
                                      for p in Autograde.class_traits()["sanitize_preprocessors"].default()]
# nbgrader's Gradebook.add_submission links new rows before adding them to the session; SQLAlchemy >= 2.0.19 warns
# about that pattern during autoflush, and nbgrader adds them right after. Only these warnings, only from nbgrader.
warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session, add operation along",
                        category=SAWarning, module=r"nbgrader\.")

_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *_paths])
_bin = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _bin:
    os.environ["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])
os.environ.setdefault("CLASSVIZ_WEIGHTS_DIR", str(ROOT / "datasets" / "squeezenet1.1_nchw"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
