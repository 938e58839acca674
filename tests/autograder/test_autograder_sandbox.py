"""The student process: what its code cannot do (read the reference, write outside, spawn, connect, signal the
grader), and how the grader survives an endless loop, a memory hog and a process that kills itself."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import Limits, StudentProcess, StudentProcessError, prepare_sandbox

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
LOSS = "class_visualization_loss_and_gradient"

PROBES = {
    "read_reference": lambda: open(REPO / "classviz" / "reference.py").read(),
    "import_reference": "import classviz.reference",
    "import_autograder": "sys.path.insert(0, REPO); import autograder.checks",
    "read_hidden_checks": lambda: (REPO / "autograder" / "checks.py").read_text(),
    "list_repository": lambda: os.listdir(REPO),
    "read_other_folder": lambda: open(OUTSIDE / "other_student.ipynb").read(),
    "write_outside": lambda: open(OUTSIDE / "forged.json", "w").write("{}"),
    "delete_outside": lambda: os.remove(OUTSIDE / "other_student.ipynb"),
    "rename_outside": lambda: os.rename(OUTSIDE / "other_student.ipynb", "stolen.ipynb"),
    "hard_link_reference": lambda: os.link(REPO / "classviz" / "reference.py", "ref.py"),
    "directory_fd": lambda: os.open("/usr", os.O_RDONLY),
    "subprocess": "import subprocess; subprocess.run(['true'])",
    "os_system": lambda: os.system("true"),
    "fork": lambda: os.fork(),
    "socket": "import socket; socket.socket()",
    "network": "import urllib.request; urllib.request.urlopen('http://example.com', timeout=1)",
    "signal_grader": lambda: os.kill(os.getppid(), 0),
    "ctypes": "import ctypes; ctypes.CDLL(None)",
    "heap_scan": "import gc; gc.get_objects()",
    "raise_limits": "import resource; resource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
    "grader_environment": lambda: open(f"/proc/{os.getppid()}/environ").read(),
}
ALLOWED = {
    "write_in_sandbox": lambda: open("notes.txt", "w").write("ok"),
    "temporary_file": "import tempfile; tempfile.NamedTemporaryFile().close()",
    "read_own_cells": lambda: os.listdir("cells"),
    "numpy_and_tensorflow": "import numpy, tensorflow; numpy.ones(3); tensorflow.ones(3)",
    "signal_self": lambda: os.kill(os.getpid(), 0),
}
ORDER = list(PROBES) + list(ALLOWED)


def probe_cell(outside: Path) -> str:
    """A loss function whose class index selects a probe; it returns normally only if the probe succeeded."""
    lines = ["import os, sys", "from pathlib import Path", f"REPO = Path({str(REPO)!r})",
             f"OUTSIDE = Path({str(outside)!r})", "PROBES = []"]
    import inspect

    for name in ORDER:
        probe = PROBES.get(name, ALLOWED.get(name))
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


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "other_student.ipynb").write_text("{}")
    proc = start(tmp_path_factory.mktemp("probe"), probe_cell(outside))
    answers = {name: loss_request(proc, i)[0] for i, name in enumerate(ORDER)}
    proc.close()
    yield answers, outside


@pytest.mark.parametrize("name", list(PROBES))
def test_forbidden_actions_fail_inside_the_student_process(probes, name):
    answers, outside = probes
    header = answers[name]
    assert not header["ok"], f"{name} succeeded in the student process"
    error = header["error"]
    assert error["type"] in ("PermissionError", "ModuleNotFoundError", "ImportError"), error
    if error["type"] == "PermissionError":
        assert "not allowed while grading" in error["message"]
    assert (outside / "other_student.ipynb").read_text() == "{}"
    assert not (outside / "forged.json").exists()


@pytest.mark.parametrize("name", list(ALLOWED))
def test_ordinary_actions_still_work(probes, name):
    answers, _ = probes
    assert answers[name]["ok"], answers[name]


def test_the_sandbox_holds_no_reference(tmp_path):
    sandbox = prepare_sandbox(tmp_path, {3: "x = 1\n"})
    files = {p.relative_to(sandbox).as_posix() for p in sandbox.rglob("*") if p.is_file()}
    assert "classviz/visualize.py" in files and "cells/cell_003.py" in files
    assert "classviz/reference.py" not in files
    assert {f for f in files if f.startswith("cvgrade_child/")} == {
        "cvgrade_child/__init__.py", "cvgrade_child/wire.py", "cvgrade_child/standin.py", "cvgrade_child/harness.py"}
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
