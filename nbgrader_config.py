"""nbgrader configuration of the course: this repository's root is the course root; run nbgrader from here.

Layout (nbgrader's names -> folders):

* source:   ``solutions/<assignment>/<assignment>.ipynb`` -- the instructor notebook (solutions, hidden tests);
* release:  ``assignment/<assignment>/`` -- what students receive, generated and committed
  (``python tools/build_assignment.py``: ``nbgrader generate_assignment`` plus the student copy of ``classviz``);
* ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``, ``grading/`` -- local grading data, never
  committed.

``nbgrader autograde`` never runs a student's notebook: each graded cell gets the hidden grader's verdict on its
check, computed from the submitted file in the grader's sandbox (``autograder/nbgrader_autograde.py`` says how;
its results are kept in ``grading/``, the standalone grader's output folder, and reused). ``generate_feedback``,
``export`` and formgrader work as usual on the autograded notebooks.

``nbgrader validate`` still runs notebooks in a kernel (the instructor's own source, or a student's on their own
machine): for it, ``PYTHONPATH`` starts with the repository root (the source's hidden test cells import
``autograder``), ``CLASSVIZ_WEIGHTS_DIR`` points at the repository's verified weights and
``TF_CPP_MIN_LOG_LEVEL=2`` quiets TensorFlow. ``PATH`` starts with the folder of the Python running nbgrader
(``.venv/bin``): nbgrader runs the ``alembic`` command of its own environment to set up ``gradebook.db``.
SQLAlchemy's "Object of type <SubmittedAssignment> not in session" warnings about nbgrader's own gradebook code
(harmless: nbgrader adds the objects to the session right after) are filtered.
"""

import os
import sys
import warnings
from pathlib import Path

from sqlalchemy.exc import SAWarning

from autograder import nbgrader_autograde  # installed by setup.sh (pip install -e .)

ROOT = Path(__file__).resolve().parent

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignment"
# Never copied from a source or submission folder: caches, downloaded weights, the demo's output image.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "datasets",
                            "tarantula.png"]
nbgrader_autograde.configure(c)

# nbgrader validate: TensorFlow on 2 CPU cores takes ~10 s to start; the source's first hidden test cell grades
# the whole notebook in subprocesses (a few minutes at most).
c.Execute.timeout = 1200  # seconds per cell
c.Execute.startup_timeout = 180  # seconds for the kernel to start

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
