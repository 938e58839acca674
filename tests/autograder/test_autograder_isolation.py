"""OS-level isolation of the student process (D1/D2/D3/D8): namespaces when the machine allows them (CI runs as
root: they must be used there), the audit-hook fallback otherwise, and no process surviving a killed grader."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.sandbox import AUDIT_HOOK_ONLY, NAMESPACES, isolation

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_namespaces_are_used_when_running_as_root():
    mode, prefix, detail = isolation()
    if os.geteuid() != 0 and mode != NAMESPACES:
        pytest.skip(f"not root and no user namespaces here: {detail}")
    assert mode == NAMESPACES, detail
    assert prefix[:3] == ["setpriv", "--pdeathsig", "KILL"] and "--kill-child" in prefix
    if os.geteuid() == 0:
        assert "nobody" in detail


def test_the_fallback_can_be_forced(monkeypatch):
    monkeypatch.setenv("CLASSVIZ_GRADER_ISOLATION", "audit-hook")
    mode, prefix, detail = sandbox._probe_isolation(sys.executable)
    assert (mode, prefix) == (AUDIT_HOOK_ONLY, None) and "CLASSVIZ_GRADER_ISOLATION" in detail


def test_only_python_the_venv_and_the_sandbox_are_visible():
    paths = sandbox._visible_paths(sys.executable)
    assert str(REPO) not in paths and all(not p.startswith(str(REPO) + "/autograder") for p in paths)
    assert any(Path(p, "pyvenv.cfg").exists() for p in paths) or sys.prefix == sys.base_prefix


SCRIPT = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    import numpy as np
    from autograder.sandbox import Limits, SandboxDir, StudentProcess, prepare_sandbox
    source = "def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):\\n" \\
             "    if target_y == 1:\\n        while True:\\n            pass\\n" \\
             "    return model(X)[0, target_y], X\\n"
    with SandboxDir({tmp!r}) as tmp:
        proc = StudentProcess(prepare_sandbox(tmp, {{0: source}}), Limits())
        proc.start()
        proc.wait_ready(time.monotonic() + 300)
        proc.request({{"op": "setup", "statements": [{{"file": "cells/cell_000.py", "line": 1, "source": source}}]}},
                     None, time.monotonic() + 60)
        header, _ = proc.request({{"op": "loss", "model": "linear", "input": "numpy", "target_y": 0, "l2_reg": 0.0}},
                                 {{"X": np.zeros((1, 224, 224, 3), np.float32)}}, time.monotonic() + 60)
        print("ISOLATION", proc.isolation.replace(" ", "_"), "OK", header["ok"], "UID", proc.hello.get("uid"),
              flush=True)
        print("PGID", proc.proc.pid, flush=True)
        proc.end.send({{"op": "loss", "model": "linear", "input": "numpy", "target_y": 1, "l2_reg": 0.0}},
                      {{"X": np.zeros((1, 224, 224, 3), np.float32)}}, time.monotonic() + 60)
        time.sleep(600)  # killed here, while the student's endless loop runs
''')


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("mode", ["default", "audit-hook"])
def test_a_killed_grader_takes_its_student_processes_with_it(tmp_path, mode):
    """D3/D8: the grader is killed with SIGKILL mid-call; the student's process group (and, with namespaces, its
    whole PID namespace) dies too, and the sandbox it left is removed by the next batch's clean-up."""
    env = dict(os.environ)
    if mode == "audit-hook":
        env["CLASSVIZ_GRADER_ISOLATION"] = "audit-hook"
    grader = subprocess.Popen([sys.executable, "-c", SCRIPT.format(repo=str(REPO), tmp=str(tmp_path))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              start_new_session=True)
    lines = []
    while len(lines) < 2:
        line = grader.stdout.readline()
        assert line, grader.stderr.read()[-3000:]
        lines.append(line.split())
    assert lines[0][1] == (AUDIT_HOOK_ONLY if mode == "audit-hook" else isolation()[0]).replace(" ", "_")
    assert lines[0][3] == "True"
    if mode == "default" and isolation()[0] == NAMESPACES and os.geteuid() == 0:
        assert lines[0][5] == "65534"  # nobody
    pgid = int(lines[1][1])
    time.sleep(1.0)
    assert _alive(pgid)
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    for _ in range(100):
        if not _alive(pgid):
            break
        time.sleep(0.1)
    assert not _alive(pgid), "the student process outlived the grader"
    left = [p for p in tmp_path.iterdir() if p.name.startswith(sandbox.SANDBOX_PREFIX)]
    assert len(left) == 1
    assert sandbox.clean_stale_sandboxes(tmp_path) == left and not left[0].exists()
