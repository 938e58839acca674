"""The student process: what its code cannot do (read the hidden tests, the reference, the instructor notebook or an
output folder's signing key, write outside, spawn, connect, signal the grader, reach into the harness), and how
the grader survives an endless loop, a memory hog and a process that kills itself.

Probes of three kinds: ``PROBES`` fail (an exception) and the process goes on; ``C_LEVEL`` are the same attacks
through TensorFlow's C++ file system, which only the namespaces stop (skipped under "audit-hook only");
``TAMPER`` fail *and* are reported as tampering (``tampered_now`` in the response). They run in the strongest mode
that works here and in "audit-hook only" (forced). The reading probes aim at real files: a control runs them with
isolation off (plain Python, no sandbox) and each must succeed there, so a probe that fails in the sandbox fails
because of the sandbox, not because its file is missing.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.store import output_key
from autograder.isolation import AUDIT_HOOK_ONLY, NAMESPACES, Limits, StudentProcess, StudentProcessError, choose, \
    prepare_sandbox

REPO = Path(__file__).resolve().parents[2]
LOSS = "class_visualization_loss_and_gradient"
HIDDEN_TESTS = REPO / "autograder" / "hidden_tests" / "test_class_visualization.py"
INSTRUCTOR_NOTEBOOK = REPO / "solutions" / "class_visualization" / "class_visualization.ipynb"

PROBES = {
    "read_reference": lambda: open(REPO / "classviz_reference" / "solution.py").read(),
    "import_reference": "import classviz_reference",
    "import_autograder": "sys.path.insert(0, REPO); import autograder.references",
    "read_hidden_tests": lambda: (REPO / "autograder" / "hidden_tests" / "test_class_visualization.py").read_text(),
    "read_instructor_notebook": lambda: (REPO / "solutions" / "class_visualization" /
                                         "class_visualization.ipynb").read_text(),
    "read_signing_key": lambda: (OUTSIDE / "out" / ".autograder-key").read_bytes(),
    "list_output_folder": lambda: os.listdir(OUTSIDE / "out"),
    "list_repository": lambda: os.listdir(REPO),
    "read_other_folder": lambda: open(OUTSIDE / "other_student.ipynb").read(),
    "write_outside": lambda: open(OUTSIDE / "forged.json", "w").write("{}"),
    "delete_outside": lambda: os.remove(OUTSIDE / "other_student.ipynb"),
    "rename_outside": lambda: os.rename(OUTSIDE / "other_student.ipynb", "stolen.ipynb"),
    "hard_link_reference": lambda: os.link(REPO / "classviz_reference" / "solution.py", "ref.py"),
    "directory_fd": lambda: os.open("/usr", os.O_RDONLY),
    "subprocess": "import subprocess; subprocess.run(['true'])",
    "os_system": lambda: os.system("true"),
    "fork": lambda: os.fork(),
    "posixsubprocess": "import _posixsubprocess; _posixsubprocess.fork_exec([b'/bin/true'], [b'/bin/true'], "
                       "True, (), None, None, -1, -1, -1, -1, -1, -1, -1, -1, True, True, -1, None, None, None, "
                       "-1, None, False)",
    "socket": "import socket; socket.socket()",
    "network": "import urllib.request; urllib.request.urlopen('http://example.com', timeout=1)",
    "signal_grader": lambda: os.kill(os.getppid(), 0),
    "grader_environment": lambda: open(f"/proc/{os.getppid()}/environ").read(),
    "own_memory": lambda: open("/proc/self/mem", "rb").read(1),
}
C_LEVEL = {  # TensorFlow reads and writes files in C++: only the namespaces hide the files
    "tfio_read_reference": "import tensorflow as tf; tf.io.read_file(str(REPO / 'classviz_reference' / 'solution.py'))",
    "tfio_read_hidden_tests": "import tensorflow as tf; tf.io.read_file(str(REPO / 'autograder' / 'hidden_tests' / "
                              "'test_class_visualization.py'))",
    "tfio_read_instructor_notebook": "import tensorflow as tf; tf.io.read_file(str(REPO / 'solutions' / "
                                     "'class_visualization' / 'class_visualization.ipynb'))",
    "tfio_read_signing_key": "import tensorflow as tf; tf.io.read_file(str(OUTSIDE / 'out' / '.autograder-key'))",
    "tfio_grader_cmdline": "import tensorflow as tf; "
                           "assert b'autograder' in tf.io.read_file(f'/proc/{os.getppid()}/cmdline').numpy()",
    "tfio_list_other_folder": "import tensorflow as tf; tf.io.gfile.listdir(str(OUTSIDE))",
    "tfio_read_other_student": "import tensorflow as tf; tf.io.read_file(str(OUTSIDE / 'other_student.ipynb'))",
    "tfio_write_outside": "import tensorflow as tf; tf.io.write_file(str(OUTSIDE / 'forged.json'), '{}')",
    "tfio_own_memory": "import tensorflow as tf; tf.io.read_file('/proc/self/mem')",
}
TAMPER = {  # refused and reported: they reach into the grading machinery
    "ctypes": "import ctypes; ctypes.CDLL(None)",
    "heap_scan": "import gc; gc.get_objects()",
    "referrers": "import gc; gc.get_referrers(os)",
    "raise_limits": "import resource; resource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
    "caller_frame": "sys._getframe(2).f_globals",
    "other_threads_frames": "sys._current_frames()",
    "trace": "sys.settrace(lambda *a: None)",
    "replace_code": "(lambda: 1).__code__ = (lambda: 2).__code__",
    "audit_hook": "sys.addaudithook(lambda *a: None)",
    "patch_numpy": "import numpy; numpy.allclose = lambda *a, **k: True",
    "patch_compile": "import classviz.visualize as v; v.compile_loss_and_gradient = lambda f, m, *a, **k: (f, None)",
    "run_eagerly": "import tensorflow as tf; tf.config.run_functions_eagerly(True)",
}
ALLOWED = {
    "write_in_sandbox": lambda: open("notes.txt", "w").write("ok"),
    "temporary_file": "import tempfile; tempfile.NamedTemporaryFile().close()",
    "read_own_cells": lambda: os.listdir("cells"),
    "classviz_is_the_sandbox_copy": "import classviz; assert os.path.dirname(classviz.__file__) == "
                                    "os.path.join(os.getcwd(), 'classviz')",
    "no_course_folder_on_sys_path": "assert not [p for p in map(os.path.realpath, sys.path) if p.startswith(str(REPO)) "
                                    "and not p.startswith(os.path.realpath(sys.prefix))], sys.path",  # (a venv in it)
    "numpy_and_tensorflow": "import numpy, tensorflow; numpy.ones(3); tensorflow.ones(3)",
    # the harness collects no garbage while it starts, then freezes what it allocated: on for the student's code
    "garbage_collector_on": "gc = sys.modules['gc']; assert gc.isenabled() and gc.get_freeze_count() > 100_000, "
                            "(gc.isenabled(), gc.get_freeze_count())",
    "signal_self": lambda: os.kill(os.getpid(), 0),
    "signal_handler_not_installed": "import signal; f = lambda *a: None; signal.signal(signal.SIGUSR1, f); "
                                    "assert signal.getsignal(signal.SIGUSR1) is not f",
}
ORDER = list(ALLOWED) + list(PROBES) + list(C_LEVEL) + list(TAMPER)
REACHABLE = ("read_reference", "read_hidden_tests", "read_instructor_notebook", "read_signing_key",
             "list_output_folder", "list_repository", "read_other_folder", "tfio_read_reference",
             "tfio_read_hidden_tests", "tfio_read_instructor_notebook", "tfio_read_signing_key",
             "tfio_list_other_folder", "tfio_read_other_student")
"""The probes that read or list a file a student must not see: each succeeds with isolation off (the control)."""


def probe_cell(outside: Path) -> str:
    """A loss function whose class index selects a probe; it returns normally only if the probe succeeded."""
    lines = ["import os, sys", "from pathlib import Path", f"REPO = Path({str(REPO)!r})",
             f"OUTSIDE = Path({str(outside)!r})", "PROBES = []"]
    import inspect

    for name in ORDER:
        probe = {**PROBES, **ALLOWED, **C_LEVEL, **TAMPER}[name]
        if isinstance(probe, str):
            lines.append(f"def _p():\n    {probe}\nPROBES.append(_p)")
        else:
            body = inspect.getsource(probe).split("lambda:", 1)[1].strip().rstrip(",")
            lines.append(f"def _p():\n    return {body}\nPROBES.append(_p)")
    lines.append(f"def {LOSS}(model, X, target_y, l2_reg):\n    PROBES[target_y]()\n    return 0.0, X")
    return "\n".join(lines) + "\n"


def start(tmp_path, source: str, limits=Limits()):
    sandbox = prepare_sandbox(tmp_path, {0: source})
    proc = StudentProcess(sandbox, limits)
    proc.start()
    proc.wait_ready(time.monotonic() + 180)
    header, _ = proc.request({"op": "setup", "statements": [
        {"file": "cells/cell_000.py", "line": 1, "source": source}]}, None, time.monotonic() + 60)
    assert header["ok"] and not header["errors"], header
    return proc


def loss_request(proc, target_y, seconds=60):
    return proc.request({"op": "loss", "model": "linear", "input": "numpy", "target_y": target_y, "l2_reg": 0.0},
                        {"X": np.zeros((1, 224, 224, 3), np.float32)}, time.monotonic() + seconds)


def make_outside(folder: Path) -> Path:
    """A classmate's notebook, and a batch's output folder with its signing key (made by the batch's own code)."""
    (folder / "other_student.ipynb").write_text("{}")
    output_key(folder / "out")
    return folder


@pytest.fixture(scope="module", params=["strongest", "audit-hook"])
def probes(request, tmp_path_factory):
    """Every probe's answer in the strongest mode that works here, and in "audit-hook only" (forced)."""
    outside = make_outside(tmp_path_factory.mktemp("outside"))
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "audit-hook":
            patch.setenv("CLASSVIZ_GRADER_ISOLATION", "audit-hook")
        mode = choose().name
        proc = start(tmp_path_factory.mktemp("probe"), probe_cell(outside))
        assert proc.isolation == mode
        answers = {name: loss_request(proc, i)[0] for i, name in enumerate(ORDER)
                   if not (mode == AUDIT_HOOK_ONLY and name in C_LEVEL)}  # not contained there: they would write
        proc.close()
    yield answers, outside, mode


CONTROL = """
import json
exec(compile(open({cell!r}).read(), "probe_cell", "exec"))
answers = {{}}
for index in {indices!r}:
    try:
        PROBES[index]()
        answers[index] = "ok"
    except Exception as exc:
        answers[index] = f"{{type(exc).__name__}}: {{exc}}"[:300]
print(json.dumps(answers))
"""


def test_the_reading_probes_succeed_with_isolation_off(tmp_path):
    """The control: run in a plain Python process (no sandbox, no audit hook, no other user, the grader's cwd), every
    probe that reads or lists a file a student must not see succeeds -- so those files exist where the probes look,
    and a probe failing in the student process is the isolation's doing."""
    cell = tmp_path / "cell.py"
    cell.write_text(probe_cell(make_outside(tmp_path)))
    indices = [ORDER.index(name) for name in REACHABLE]
    proc = subprocess.run([sys.executable, "-c", CONTROL.format(cell=str(cell), indices=indices)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {name: answers[str(ORDER.index(name))] for name in REACHABLE} == {name: "ok" for name in REACHABLE}
    assert HIDDEN_TESTS.is_file() and INSTRUCTOR_NOTEBOOK.is_file()


@pytest.mark.parametrize("name", list(PROBES))
def test_forbidden_actions_fail_inside_the_student_process(probes, name):
    answers, outside, _ = probes
    header = answers[name]
    assert not header["ok"], f"{name} succeeded in the student process"
    error = header["error"]
    assert error["type"] in ("PermissionError", "ModuleNotFoundError", "ImportError", "FileNotFoundError"), error
    if error["type"] == "PermissionError":
        assert "not allowed while grading" in error["message"] or "Permission denied" in error["message"]
    assert not header.get("tampered_now"), header
    assert (outside / "other_student.ipynb").read_text() == "{}"
    assert not (outside / "forged.json").exists()


@pytest.mark.parametrize("name", list(C_LEVEL))
def test_c_level_file_access_sees_nothing_outside_the_sandbox(probes, name):
    answers, outside, mode = probes
    if mode != NAMESPACES:
        pytest.skip(f"isolation is {mode!r}: C-level file access is not contained")
    header = answers[name]
    assert not header["ok"], f"{name} succeeded in the student process"
    assert header["error"]["type"] in ("NotFoundError", "PermissionDeniedError", "FailedPreconditionError",
                                       "AssertionError", "InvalidArgumentError"), header["error"]
    assert (outside / "other_student.ipynb").read_text() == "{}"
    assert not (outside / "forged.json").exists()


@pytest.mark.parametrize("name", list(TAMPER))
def test_tampering_fails_and_is_reported(probes, name):
    answers, _, _ = probes
    header = answers[name]
    assert not header["ok"] or header.get("tampered_now"), f"{name} succeeded unnoticed"
    assert header.get("tampered_now"), header


@pytest.mark.parametrize("name", list(ALLOWED))
def test_ordinary_actions_still_work(probes, name):
    answers, _, _ = probes
    assert answers[name]["ok"], answers[name]


def test_the_sandbox_holds_no_reference(tmp_path):
    sandbox = prepare_sandbox(tmp_path, {3: "x = 1\n"})
    files = {p.relative_to(sandbox).as_posix() for p in sandbox.rglob("*") if p.is_file()}
    assert "classviz/visualize.py" in files and "cells/cell_003.py" in files
    assert not any(f.startswith("classviz_reference") for f in files)
    assert {f for f in files if f.startswith("cvgrade_child/")} == {
        f"cvgrade_child/{name}.py" for name in ("__init__", "wire", "standin", "harness", "audit", "bindings",
                                                "operations", "worker")}
    assert all(f.split("/")[0] in ("classviz", "cvgrade_child", "cells") for f in files), files


def test_endless_loop_is_killed_at_the_deadline(tmp_path):
    proc = start(tmp_path, f"def {LOSS}(model, X, target_y, l2_reg):\n    while True:\n        pass\n")
    began = time.monotonic()
    with pytest.raises(StudentProcessError) as info:
        loss_request(proc, 0, seconds=2)
    assert info.value.kind == "timeout" and time.monotonic() - began < 15
    assert not proc.alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.proc.pid, 0)  # the whole process group is gone


def test_memory_hog_and_self_kill(tmp_path):
    source = (f"import os\nimport numpy as np\ndef {LOSS}(model, X, target_y, l2_reg):\n"
              "    if target_y == 0:\n        return np.ones(40 * 2 ** 30 // 8), X\n"
              "    os._exit(3)\n")
    proc = start(tmp_path, source, Limits(memory_bytes=4 * 2 ** 30))
    header, _ = loss_request(proc, 0)
    assert not header["ok"] and "MemoryError" in header["error"]["type"]
    with pytest.raises(StudentProcessError) as info:
        loss_request(proc, 1)
    assert info.value.kind == "crashed" and "exit code 3" in info.value.detail
