"""OS-level isolation of the student process (D1/D2/D3/D8, issue 10): namespaces when the machine allows them (CI
runs as root: they must be used there), the unprivileged-user mode where namespaces are refused but the grader is
root (forced here, as in a container), the audit-hook fallback otherwise, and no process surviving a killed grader.

The unprivileged-user tests run the grader in a subprocess, as root, with ``CLASSVIZ_GRADER_ISOLATION=user``: the
grader then uses no namespace. Where this machine's Python lies under a folder other users cannot pass through
(pyenv in ``/root``, mode 0700), :func:`in_container` starts that subprocess in a private mount namespace *of the
test* in which that folder is a 0711 tmpfs holding only the way to Python -- what a container image does by
installing Python where every user can run it. Their graders call the closing step
(:func:`autograder.isolation.close_to_students`), which changes the modes of the course folder's entries;
:func:`restore_course_modes` puts them back afterwards. :func:`container_like` runs a grader as a Docker-default
container would (namespaces refused by seccomp), where that mode is the strongest one. The hostile attempts aim at
the real files a student must not see, and a control shows each was readable by another user before the closing.
"""

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

import corpus
import hostile
from autograder import isolation
from autograder.store import KEY_FILE, output_key
from autograder.isolation import AUDIT_HOOK_ONLY, NAMESPACES, STUDENT_UIDS, USER, choose, closing
from autograder.isolation.base import visible_paths

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _way_to_python():
    """``(folder, entry)``: the first folder on the way to the Python binary that other users cannot pass
    through, and its entry leading to Python; None when there is none."""
    binary = Path(os.path.realpath(sys.executable))
    for folder in reversed(binary.parents):
        if not folder.stat().st_mode & 0o001:
            return folder, binary.relative_to(folder).parts[0]
    return None


_CONTAINER = r"""
set -eu
FOLDER="$1"; ENTRY="$2"; shift 2
KEEP=$(mktemp -d)
mount --rbind "$FOLDER/$ENTRY" "$KEEP"
mount -t tmpfs -o mode=711 cvtest "$FOLDER"
mkdir "$FOLDER/$ENTRY"
mount --move "$KEEP" "$FOLDER/$ENTRY"
rmdir "$KEEP"
exec "$@"
"""


def in_container(argv) -> list:
    """``argv`` run where the Python installation is reachable by every user (see the module docstring)."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        pytest.skip("the unprivileged-user mode needs root on Linux")
    way = _way_to_python()
    if way is None:
        return list(argv)
    if shutil.which("unshare") is None:
        pytest.skip(f"Python lies under {way[0]}, closed to other users, and unshare is missing to stand in for "
                    "a container")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _CONTAINER, "sh", str(way[0]), way[1],
            *map(str, argv)]


def container_like(argv) -> list:
    """``argv`` run as a Docker-default container would run it (root without CAP_SYS_ADMIN, the namespace system
    calls refused by seccomp: the project's shared tool ``container_like.py``), where Python is reachable by every
    user (:func:`in_container`)."""
    tool = REPO.parent / "shared" / "tools" / "container_like.py"
    if not tool.is_file():
        pytest.skip(f"{tool} is missing")
    if subprocess.run(["/usr/bin/python3", "-c", "import seccomp"], capture_output=True).returncode:
        pytest.skip("container_like.py needs python3-seccomp (apt-get install -y python3-seccomp)")
    return in_container(["/usr/bin/python3", str(tool), shlex.join(map(str, argv))])


@pytest.fixture(scope="module")
def restore_course_modes():
    """Put back the modes of the course folder's entries that the unprivileged-user mode closes."""
    before = {p: stat.S_IMODE(p.lstat().st_mode) for p in REPO.iterdir() if not p.is_symlink()}
    yield
    for path, mode in before.items():
        if path.exists():
            os.chmod(path, mode)


@pytest.fixture(scope="module")
def open_tmp():
    """A folder every user may pass through (not list), holding world-readable folders: what the user mode must
    close itself (pytest's own temporary folders are closed to others already, which would prove nothing)."""
    root = Path(tempfile.mkdtemp(prefix="cvtest-user-", dir="/tmp"))
    os.chmod(root, 0o711)
    for name in ("tmp", "outside", "out"):
        (root / name).mkdir(mode=0o755)
        os.chmod(root / name, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _user_env(open_tmp: Path, **extra) -> dict:
    return dict(os.environ, CLASSVIZ_GRADER_ISOLATION="user", TMPDIR=str(open_tmp / "tmp"), **extra)


def test_namespaces_are_used_when_running_as_root():
    chosen = choose()
    if os.geteuid() != 0 and chosen.name != NAMESPACES:
        pytest.skip(f"not root and no user namespaces here: {chosen.detail}")
    assert chosen.name == NAMESPACES, chosen.detail
    prefix = chosen.mode.prefix
    assert prefix[:3] == ["setpriv", "--pdeathsig", "KILL"] and "--kill-child" in prefix
    if os.geteuid() == 0:
        assert chosen.mode.drop and "nobody" in chosen.detail


def test_the_fallback_can_be_forced(monkeypatch):
    monkeypatch.setenv("CLASSVIZ_GRADER_ISOLATION", "audit-hook")
    chosen = choose()
    assert chosen.name == AUDIT_HOOK_ONLY and chosen.detail == "CLASSVIZ_GRADER_ISOLATION=audit-hook"


def test_only_python_the_venv_and_the_sandbox_are_visible():
    paths = visible_paths(sys.executable)
    assert str(REPO) not in paths and all(not p.startswith(str(REPO) + "/autograder") for p in paths)
    assert any(Path(p, "pyvenv.cfg").exists() for p in paths) or sys.prefix == sys.base_prefix


def one_call_script(tmp, source: str, then: str, after: str = "") -> str:
    """A grader process that closes the course (as the grader does before grading; only the unprivileged-user mode
    changes anything), starts one student process with the loss function ``source`` in a sandbox under ``tmp``
    and makes one call (class 0, as ``header``); then runs ``then`` inside the sandbox's block, ``after`` past it."""
    return textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(REPO)!r})
        import numpy as np
        from autograder.isolation import Limits, SandboxDir, StudentProcess, close_to_students, prepare_sandbox
        close_to_students()
        source = {source!r}
        with SandboxDir({str(tmp)!r}) as tmp:
            proc = StudentProcess(prepare_sandbox(tmp, {{0: source}}), Limits())
            proc.start()
            proc.wait_ready(time.monotonic() + 300)
            proc.request({{"op": "setup", "statements": [{{"file": "cells/cell_000.py", "line": 1, "source": source}}]}},
                         None, time.monotonic() + 60)
            header, _ = proc.request({{"op": "loss", "model": "linear", "input": "numpy", "target_y": 0,
                                      "l2_reg": 0.0}}, {{"X": np.zeros((1, 224, 224, 3), np.float32)}},
                                     time.monotonic() + 60)
        """) + textwrap.indent(textwrap.dedent(then), "    ") + textwrap.dedent(after)


ENDLESS = ("def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):\n"
           "    if target_y == 1:\n        while True:\n            pass\n"
           "    return model(X)[0, target_y], X\n")
KILLED_MIDWAY = """
    print("ISOLATION", proc.isolation.replace(" ", "_"), "OK", header["ok"], "UID", proc.hello.get("uid"), flush=True)
    print("PGID", proc.proc.pid, flush=True)
    proc.end.send({"op": "loss", "model": "linear", "input": "numpy", "target_y": 1, "l2_reg": 0.0},
                  {"X": np.zeros((1, 224, 224, 3), np.float32)}, time.monotonic() + 60)
    time.sleep(600)  # killed here, while the student's endless loop runs
"""


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("mode", ["default", "audit-hook", "user"])
def test_a_killed_grader_takes_its_student_processes_with_it(tmp_path, mode, request):
    """D3/D8: the grader is killed with SIGKILL mid-call; the student's process group (and, with namespaces, its
    whole PID namespace) dies too, and the sandbox it left is removed by the next batch's clean-up."""
    env = dict(os.environ)
    argv = [sys.executable, "-c", one_call_script(tmp_path, ENDLESS, KILLED_MIDWAY)]
    if mode == "audit-hook":
        env["CLASSVIZ_GRADER_ISOLATION"] = "audit-hook"
    if mode == "user":  # its own user id, killed by the parent-death signal kept across setpriv's change of user
        request.getfixturevalue("restore_course_modes")
        open_tmp = request.getfixturevalue("open_tmp")
        tmp_path = Path(tempfile.mkdtemp(dir=open_tmp / "tmp"))
        os.chmod(tmp_path, 0o711)
        env = _user_env(open_tmp)
        argv = in_container([sys.executable, "-c", one_call_script(tmp_path, ENDLESS, KILLED_MIDWAY)])
    grader = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              start_new_session=True)
    lines = []
    while len(lines) < 2:
        line = grader.stdout.readline()
        assert line, grader.stderr.read()[-3000:]
        lines.append(line.split())
    expected = {"audit-hook": AUDIT_HOOK_ONLY, "user": USER}.get(mode) or choose().name
    assert lines[0][1] == expected.replace(" ", "_")
    assert lines[0][3] == "True"
    if mode == "default" and choose().name == NAMESPACES and os.geteuid() == 0:
        assert lines[0][5] == "65534"  # nobody
    if mode == "user":
        assert int(lines[0][5]) in STUDENT_UIDS
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
    left = [p for p in tmp_path.iterdir() if p.name.startswith(isolation.SANDBOX_PREFIX)]
    assert len(left) == 1
    assert isolation.clean_stale_sandboxes(tmp_path) == left and not left[0].exists()


# --------------------------------------------------------------------------------------------------------------
# The unprivileged-user mode (issue 10): root without namespaces, e.g. in a container
# --------------------------------------------------------------------------------------------------------------

def test_a_forced_mode_must_be_known(monkeypatch):
    monkeypatch.setenv("CLASSVIZ_GRADER_ISOLATION", "chroot")
    with pytest.raises(ValueError, match="'chroot'.*'namespaces', 'user' or 'audit-hook'"):
        isolation.choice.forced_mode()


@pytest.mark.parametrize("name", ["init.sh", "user_probe.py"])
def test_a_helper_script_on_a_command_line_names_nothing_of_the_grader(name):
    from autograder.isolation.base import helper

    text = helper(name)  # what goes on the command line, readable in /proc/<pid>/cmdline
    assert text.strip() and "autograder" not in text and "classviz" not in text and str(REPO) not in text


def _status(env, argv_wrapper=list, close=False) -> dict:
    """The isolation status and summary line of a fresh grader process (after its closing step if ``close``)."""
    code = ("import json; from autograder.isolation import close_to_students, status, summary; "
            f"{'close_to_students(); ' if close else ''}print(json.dumps(status())); print(summary())")
    proc = subprocess.run(argv_wrapper([sys.executable, "-c", code]), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    status, summary = proc.stdout.strip().splitlines()[-2:]
    return {**json.loads(status), "summary": summary}


def test_asking_which_mode_works_changes_nothing_on_disk(open_tmp, restore_course_modes):
    """Without the grader's closing step the unprivileged-user mode is refused, saying why, and no permission
    changes: importing the package, choosing a mode and reporting it (status, summary) only ask."""
    os.chmod(REPO / "autograder", 0o755)  # open, as in a fresh checkout (restore_course_modes puts it back)
    before = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in REPO.iterdir() if not p.is_symlink()}
    status = _status(_user_env(open_tmp), in_container)
    assert status["mode"] == AUDIT_HOOK_ONLY
    assert "no unprivileged user: the course folder is not closed to other users" in status["reason"], status
    assert status["protected"] == []
    assert {p.name: stat.S_IMODE(p.lstat().st_mode) for p in REPO.iterdir() if not p.is_symlink()} == before


def test_in_a_container_the_user_mode_is_the_best_and_closes_the_course(open_tmp, restore_course_modes):
    """Under container_like.py (namespaces refused, as in Docker or Gradescope), with no mode forced: the
    namespaces' probe fails, the unprivileged-user mode is the strongest that works, and the closing step closes the
    course folder -- asking first changed nothing."""
    os.chmod(REPO / "autograder", 0o755)  # open, as in a fresh checkout (restore_course_modes puts it back)
    env = {k: v for k, v in _user_env(open_tmp).items() if k != "CLASSVIZ_GRADER_ISOLATION"}
    asked = _status(env, container_like)
    assert (asked["mode"], asked["best"], asked["protected"]) == (AUDIT_HOOK_ONLY, USER, []), asked
    assert asked["reason"].startswith("no namespaces: unshare failed"), asked["reason"]
    status = _status(env, container_like, close=True)
    assert (status["mode"], status["best"], status["weaker"]) == (USER, USER, False), status["reason"]
    assert status["reason"].startswith("as a fresh unprivileged user per process")
    assert "no namespaces: unshare failed" in status["reason"]
    assert [str(REPO / "autograder"), "0755", "0750"] in status["protected"]
    assert not (REPO / "autograder").stat().st_mode & 0o007
    assert status["summary"].startswith("isolation: unprivileged user (as a fresh unprivileged user")


SANDBOX_IMPORTS = ("def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):\n"
                   "    import classviz, importlib.util, os, sys\n"
                   "    assert os.path.dirname(classviz.__file__) == os.path.join(os.getcwd(), 'classviz')\n"
                   "    assert importlib.util.find_spec('classviz_reference') is None\n"
                   "    assert 'matplotlib' not in sys.modules  # Keras's optional import, refused at start-up\n"
                   "    import matplotlib.pyplot  # the student's own: as usual\n"
                   "    assert matplotlib.pyplot.figure is not None\n"
                   "    return model(X)[0, target_y], X\n")


def test_a_student_process_runs_as_its_own_user_in_a_container(open_tmp, restore_course_modes):
    """Under container_like.py: a grader that closes the course starts its student process as a fresh user id,
    which imports the sandbox's classviz (and matplotlib, which TensorFlow's import did not load) and finds no
    classviz_reference, and answers a call."""
    tmp = Path(tempfile.mkdtemp(dir=open_tmp / "tmp"))
    os.chmod(tmp, 0o711)
    env = {k: v for k, v in _user_env(open_tmp).items() if k != "CLASSVIZ_GRADER_ISOLATION"}
    proc = subprocess.run(container_like([sys.executable, "-c", one_call_script(tmp, SANDBOX_IMPORTS, "proc.close()\n", (
        'print("RESULT", json.dumps({"mode": proc.isolation, "ok": header["ok"], "error": header.get("error"), '
        '"uid": proc.hello["uid"]}))\n'))]),
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert "RESULT" in proc.stdout, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert (result["mode"], result["ok"]) == (USER, True), result
    assert result["uid"] in STUDENT_UIDS


def test_a_forced_fallback_is_reported_as_weaker():
    status = _status(dict(os.environ, CLASSVIZ_GRADER_ISOLATION="audit-hook"))
    best = choose().name
    assert (status["mode"], status["best"], status["weaker"]) == (AUDIT_HOOK_ONLY, best, best != AUDIT_HOOK_ONLY)
    assert status["reason"] == "CLASSVIZ_GRADER_ISOLATION=audit-hook"
    if best != AUDIT_HOOK_ONLY:
        assert status["summary"] == (f"isolation: audit-hook only -- WEAKER than {best!r}, which works here "
                                     "(CLASSVIZ_GRADER_ISOLATION=audit-hook)")


def test_the_user_mode_closes_the_course_folder_but_the_venv_and_the_student_package(open_tmp, restore_course_modes):
    status = _status(_user_env(open_tmp), in_container, close=True)
    assert status["mode"] == USER, status["reason"]
    assert "fresh unprivileged user" in status["reason"] and "CLASSVIZ_GRADER_ISOLATION=user" in status["reason"]
    assert status["weaker"] == (choose().name == NAMESPACES)
    assert status["summary"].startswith("isolation: unprivileged user")
    for name in ("autograder", "classviz_reference", "solutions", "tests", "datasets", "README.md"):
        assert not (REPO / name).stat().st_mode & 0o007, name  # closed to others
    assert (REPO / "classviz").stat().st_mode & 0o005 == 0o005  # the student package stays readable
    assert REPO.stat().st_mode & 0o001  # the course folder itself can be passed through (to a .venv inside)


def test_the_user_mode_is_refused_where_its_sandboxes_cannot_be_reached(open_tmp, restore_course_modes):
    """A temporary folder under a folder closed to other users (e.g. pytest's own): the probe, which reaches its
    sandbox by absolute path as the student process does, fails, and the grader says why."""
    closed = Path(tempfile.mkdtemp(dir=open_tmp / "outside"))  # mode 0700
    (closed / "tmp").mkdir(mode=0o755)
    status = _status(dict(_user_env(open_tmp), TMPDIR=str(closed / "tmp")), in_container, close=True)
    assert status["mode"] == AUDIT_HOOK_ONLY
    assert f"other users cannot pass through {closed} (mode 0700)" in status["reason"], status["reason"]


def test_protect_closes_each_entry_except_the_way_to_what_the_student_needs(tmp_path, monkeypatch):
    course = tmp_path / "course"
    for folder in ("autograder", "solutions", "tmp", "elsewhere_target"):
        (course / folder).mkdir(parents=True)
    (course / "secret.txt").write_text("s")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (course / "weights").symlink_to(elsewhere)
    for path in [course, *course.iterdir(), elsewhere]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    monkeypatch.setattr(tempfile, "tempdir", str(course / "tmp"))  # the sandboxes' folder lies in the course
    monkeypatch.setattr(closing, "CLOSED", [])  # (this process's record of what it closed)
    monkeypatch.setattr(closing, "CHANGED", [])
    closed = dict(closing.protect([course], sys.executable))
    assert closed == {str(course / "autograder"): True, str(course / "elsewhere_target"): True,
                      str(course / "secret.txt"): False, str(course / "solutions"): True, str(elsewhere): True}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in [course, *course.iterdir()]} == {
        "course": 0o755, "tmp": 0o755, "autograder": 0o750, "solutions": 0o750, "elsewhere_target": 0o750,
        "secret.txt": 0o640, "weights": 0o750}  # (the link's target)
    with pytest.raises(ValueError, match="cannot be closed to the student"):
        closing.protect([Path(sys.prefix) / "lib"], sys.executable)


def _as_student(*argv) -> int:
    uid = isolation.student_uid()
    return subprocess.run(isolation.user_command(uid, list(argv)), capture_output=True).returncode


def test_protect_closes_a_gradescope_layout(open_tmp, monkeypatch):
    """Gradescope: code in /autograder/source, the submission in /autograder/submission, results in
    /autograder/results, the virtual environment elsewhere (/opt/...): closing /autograder closes all of them."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = Path(tempfile.mkdtemp(dir=open_tmp / "outside"))
    os.chmod(root, 0o755)
    for name in ("source", "submission", "results"):
        (root / name).mkdir(mode=0o755)
        os.chmod(root / name, 0o755)
        (root / name / "file.txt").write_text(name)
    assert _as_student("cat", str(root / "results" / "file.txt")) == 0  # control: readable before
    monkeypatch.setattr(closing, "CLOSED", [])
    monkeypatch.setattr(closing, "CHANGED", [])
    assert closing.protect([root], sys.executable) == [(str(root), True)]
    for name in ("source", "submission", "results"):
        assert _as_student("cat", str(root / name / "file.txt")) != 0
        assert _as_student("ls", str(root / name)) != 0
    assert _as_student("touch", str(root / "results" / "results.json")) != 0
    assert not (root / "results" / "results.json").exists()


def test_the_namespaces_probe_needs_numpy_visible(tmp_path):
    """The probe's program (which finds and reads NumPy instead of importing it) prints the sandbox file and the
    user id with the virtual environment's packages on the path, and fails without them (``-S``)."""
    from autograder.isolation.namespaces import PROBE_CODE

    (tmp_path / "probe.txt").write_text("ok")
    seen = subprocess.run([sys.executable, "-I", "-c", PROBE_CODE], cwd=tmp_path, capture_output=True, text=True)
    assert seen.stdout.split() == ["ok", str(os.getuid())], seen.stderr
    hidden = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE_CODE], cwd=tmp_path, capture_output=True,
                            text=True)
    assert hidden.returncode != 0 and hidden.stdout == ""


def test_a_symlinked_virtual_environment_starts_in_the_best_mode(tmp_path):
    """A venv reached through a link used to start nothing inside the namespaces (the link does not exist there)
    and fell back to the audit hook: now its real path is used."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running in a virtual environment")
    link = tmp_path / "elsewhere" / ".venv"
    link.parent.mkdir()
    link.symlink_to(os.path.realpath(sys.prefix))
    python = link / "bin" / Path(sys.executable).name
    code = textwrap.dedent(f'''
        import sys, time
        from autograder.isolation import Limits, SandboxDir, StudentProcess, prepare_sandbox
        assert sys.prefix == {str(link)!r}, sys.prefix
        with SandboxDir({str(tmp_path)!r}) as tmp:
            proc = StudentProcess(prepare_sandbox(tmp, {{}}), Limits())
            proc.start()
            hello = proc.wait_ready(time.monotonic() + 300)
            proc.close()
        print(proc.isolation.replace(" ", "_"), hello["ok"], proc.python)
    ''')
    proc = subprocess.run([str(python), "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mode, ok, used = proc.stdout.split()[-3:]
    assert (mode, ok) == (choose().name.replace(" ", "_"), "True")
    assert used == str(Path(os.path.realpath(sys.prefix)) / "bin" / Path(sys.executable).name)


# A hostile student function: its class index selects an attempt; it returns normally only if the attempt
# succeeded. {REPO}, {OUT}, {OUTSIDE}, {WEIGHTS} are replaced by the test.
_READ = {"hidden_tests": "{REPO}/autograder/hidden_tests/test_class_visualization.py",
         "reference_solution": "{REPO}/classviz_reference/solution.py",
         "instructor_notebook": "{REPO}/solutions/class_visualization/class_visualization.ipynb",
         "project_tests": "{REPO}/tests/autograder/hostile.py",
         "weights_folder": "{WEIGHTS}/weights/squeezenet0_conv0_weight.npy",
         "output_folder": "{OUT}/results/victim.json",
         "signing_key": "{OUT}/.autograder-key",
         "other_submission": "{OUTSIDE}/other_student.ipynb",
         "other_running_sandbox": "@other.txt"}  # the path of the other process's cell, which it learnt
_LIST = {"list_submissions": "{OUTSIDE}", "list_output": "{OUT}", "list_hidden_tests": "{REPO}/autograder/hidden_tests",
         "list_weights_folder": "{WEIGHTS}"}
_WRITE = {"write_results_json": "{OUT}/results.json", "overwrite_a_result": "{OUT}/results/victim.json",
          "write_into_the_grader": "{REPO}/autograder/forged.py"}
FORBIDDEN = {
    **{f"{name}_python": f"open(_path({path!r}), 'rb').read()" for name, path in _READ.items()},
    **{f"{name}_tfio": f"tf.io.read_file(_path({path!r})).numpy()" for name, path in _READ.items()},
    **{f"{name}_python": f"os.listdir({path!r})" for name, path in _LIST.items()},
    **{f"{name}_tfio": f"tf.io.gfile.listdir({path!r})" for name, path in _LIST.items()},
    **{f"{name}_python": f"open({path!r}, 'w').write('{{}}')" for name, path in _WRITE.items()},
    **{f"{name}_tfio": f"tf.io.write_file({path!r}, '{{}}')" for name, path in _WRITE.items()},
}
ORDINARY = {
    "tensorflow_computes": "assert float(tf.reduce_sum(tf.ones((3, 4)))) == 12.0",
    "weights_copy_readable": "assert tf.io.read_file(os.path.join(os.path.dirname(os.getcwd()), 'weights', "
                             "'weights', 'squeezenet0_conv0_weight.npy')).numpy()[:6] == b'\\x93NUMPY'",
    "write_in_sandbox": "open('notes.txt', 'w').write('ok')",
    "classviz_is_the_sandbox_copy": "import classviz; assert os.path.dirname(classviz.__file__) == "
                                    "os.path.join(os.getcwd(), 'classviz')",
    "no_course_folder_on_sys_path": "import sys; assert not [p for p in map(os.path.realpath, sys.path) if "
                                    "p.startswith('{REPO}') and not p.startswith(os.path.realpath(sys.prefix))]",
    "unprivileged": "s = open('/proc/self/status').read(); assert 'CapEff:\\t0000000000000000' in s and "
                    "'CapBnd:\\t0000000000000000' in s and 'NoNewPrivs:\\t1' in s and os.getuid() != 0 and "
                    "os.getgroups() in ([], [os.getgid()]), s",
}
NOT_CONTAINED = {  # what the mode does not hide (README): other processes, world-readable system files, /tmp
    "other_processes_visible": "assert tf.io.read_file(f'/proc/{os.getppid()}/cmdline').numpy()",
    "system_files_readable": "assert b'root' in tf.io.read_file('/etc/passwd').numpy()",
    "world_writable_tmp": "tf.io.write_file('/tmp/cvtest-left-by-a-student-' + str(os.getuid()), 'x')",
}
ATTEMPTS = [*FORBIDDEN, *ORDINARY, *NOT_CONTAINED]
SQUEEZENET_CLASS = 76  # tarantula


def _substitute(code: str, subs: dict) -> str:
    for token, value in subs.items():
        code = code.replace(token, value)
    return code


def _hostile_cell(subs: dict) -> str:
    lines = ["import os", "import tensorflow as tf",
             "def _path(p):\n    return open('other.txt').read().strip() if p == '@other.txt' else p",
             "ATTEMPTS = []"]
    for name in ATTEMPTS:
        code = _substitute({**FORBIDDEN, **ORDINARY, **NOT_CONTAINED}[name], subs)
        lines.append(f"def _a():\n    {code}\nATTEMPTS.append(_a)")
    lines.append("def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):\n"
                 "    if target_y < len(ATTEMPTS):\n        ATTEMPTS[target_y]()\n        return 0.0, X\n"
                 "    return model(X)[0, target_y], X")
    return "\n".join(lines) + "\n"


USER_SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    sys.path.insert(0, {repo!r})
    import numpy as np
    import subprocess
    from autograder.isolation import Limits, SandboxDir, StudentProcess, close_to_students, prepare_sandbox, \
        student_uid, user_command
    control = {{name: subprocess.run(user_command(student_uid(), ["cat", path]), capture_output=True).returncode
               for name, path in {reads!r}.items()}}  # before the grader's step: readable by another user
    close_to_students([{outside!r}, {out!r}, {weights!r}])
    source = open({cell!r}).read()
    X = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype(np.float32)
    with SandboxDir() as a_dir, SandboxDir() as b_dir:
        procs = [StudentProcess(prepare_sandbox(d, {{0: source}}), Limits(), weights={weights!r})
                 for d in (a_dir, b_dir)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_ready(time.monotonic() + 300)
            header, _ = proc.request({{"op": "setup", "statements": [
                {{"file": "cells/cell_000.py", "line": 1, "source": source}}]}}, None, time.monotonic() + 120)
            assert header["ok"] and not header["errors"], header
        a, b = procs
        run_a, run_b = (os.path.join(p.sandbox.parent, f"run-{{p.uid}}") for p in procs)
        with open(os.path.join(run_a, "other.txt"), "w") as f:  # what a could learn from /proc/<b's pid>/cmdline
            f.write(os.path.join(run_b, "cells", "cell_000.py"))
        answers = {{}}
        for i, name in enumerate({attempts!r}):
            header, _ = a.request({{"op": "loss", "model": "linear", "input": "numpy", "target_y": i, "l2_reg": 0.0}},
                                  {{"X": X}}, time.monotonic() + 120)
            answers[name] = {{"ok": header["ok"], "error": header.get("error")}}
        header, arrays = a.request({{"op": "loss", "model": "squeezenet", "input": "numpy", "target_y": {cls},
                                    "l2_reg": 0.0}}, {{"X": X}}, time.monotonic() + 300)
        layout = {{name: [oct(os.stat(path).st_mode & 0o7777), os.stat(path).st_uid] for name, path in (
            ("submission_folder", a.sandbox.parent), ("grader_copy", a.sandbox), ("run", run_a),
            ("weights_copy", os.path.join(a.sandbox.parent, "weights")))}}
        result = {{"mode": a.isolation, "detail": a.isolation_detail, "uids": [a.hello["uid"], b.hello["uid"]],
                  "answers": answers, "squeezenet_ok": header["ok"], "layout": layout, "control": control,
                  "loss": float(arrays["loss"]) if "loss" in arrays else None}}
        for proc in procs:
            proc.close()
    import classviz
    result["expected_loss"] = float(classviz.load_squeezenet({weights!r})(X)[0, {cls}])
    print("RESULT", json.dumps(result))
''')


@pytest.fixture(scope="module")
def hostile_user_process(open_tmp, restore_course_modes, weights_dir):
    """Two student processes graded at once as their own users; the first tries every attempt."""
    outside, out = open_tmp / "outside", open_tmp / "out"
    (outside / "other_student.ipynb").write_text("{}")
    (out / "results").mkdir(mode=0o755, exist_ok=True)
    (out / "results" / "victim.json").write_text('{"score": 3}')
    output_key(out)
    os.chmod(out / KEY_FILE, 0o644)  # world-readable (it is 0600): closing the output folder must hide it itself
    subs = {"{REPO}": str(REPO), "{OUT}": str(out), "{OUTSIDE}": str(outside), "{WEIGHTS}": str(weights_dir)}
    reads = {name: _substitute(path, subs) for name, path in _READ.items() if not path.startswith("@")}
    for path in map(Path, reads.values()):  # open as in a fresh checkout: earlier tests' closing steps may remain
        for folder in [p for p in reversed(path.parents) if p.is_relative_to(REPO) or p.is_relative_to(weights_dir)]:
            os.chmod(folder, stat.S_IMODE(folder.stat().st_mode) | 0o005)
        if path.exists():
            os.chmod(path, stat.S_IMODE(path.stat().st_mode) | 0o004)
    cell = open_tmp / "tmp" / "hostile_cell.py"
    cell.write_text(_hostile_cell(subs))
    script = USER_SCRIPT.format(repo=str(REPO), outside=str(outside), out=str(out), cell=str(cell),
                                weights=str(weights_dir), attempts=ATTEMPTS, cls=SQUEEZENET_CLASS, reads=reads)
    proc = subprocess.run(in_container([sys.executable, "-c", script]), cwd=REPO, env=_user_env(open_tmp),
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0 and "RESULT" in proc.stdout, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    result["files"] = {"victim": (out / "results" / "victim.json").read_text(),
                       "forged": [p for p in (out / "results.json", REPO / "autograder" / "forged.py") if p.exists()]}
    for left in Path("/tmp").glob("cvtest-left-by-a-student-*"):
        left.unlink()
    return result


@pytest.mark.weights
def test_the_user_mode_is_recorded_with_a_fresh_user_per_process(hostile_user_process):
    result = hostile_user_process
    assert result["mode"] == USER and "fresh unprivileged user" in result["detail"]
    a, b = result["uids"]
    assert a in STUDENT_UIDS and b in STUDENT_UIDS and a != b
    layout = result["layout"]
    assert layout["submission_folder"] == ["0o711", 0] and layout["grader_copy"] == ["0o700", 0]
    assert layout["run"] == ["0o700", a] and layout["weights_copy"] == ["0o755", 0]


@pytest.mark.weights
@pytest.mark.parametrize("name", list(FORBIDDEN))
def test_a_hostile_student_user_reads_and_writes_nothing_outside(hostile_user_process, name):
    answer = hostile_user_process["answers"][name]
    assert not answer["ok"], f"{name} succeeded in the student process"
    assert answer["error"]["type"] in ("PermissionError", "PermissionDeniedError", "FileNotFoundError",
                                       "NotFoundError"), answer["error"]
    assert hostile_user_process["files"] == {"victim": '{"score": 3}', "forged": []}


@pytest.mark.weights
def test_the_reading_attempts_succeed_before_the_course_is_closed(hostile_user_process):
    """The control: each file the hostile process fails to read was there, readable by another user, until the
    grader's closing step (so the attempts fail because of the unprivileged-user mode, not a wrong path)."""
    assert hostile_user_process["control"] == {name: 0 for name in _READ if not _READ[name].startswith("@")}


@pytest.mark.weights
@pytest.mark.parametrize("name", list(ORDINARY))
def test_ordinary_work_succeeds_as_the_student_user(hostile_user_process, name):
    assert hostile_user_process["answers"][name]["ok"], hostile_user_process["answers"][name]


@pytest.mark.weights
def test_the_student_user_computes_on_its_copy_of_the_weights(hostile_user_process):
    result = hostile_user_process
    assert result["squeezenet_ok"]
    assert result["loss"] == pytest.approx(result["expected_loss"], rel=1e-5, abs=1e-4)


@pytest.mark.weights
@pytest.mark.parametrize("name", list(NOT_CONTAINED))
def test_what_the_user_mode_does_not_contain(hostile_user_process, name):
    """The list in docs/isolation.md of what this mode leaves visible: these succeed (the namespaces hide them)."""
    assert hostile_user_process["answers"][name]["ok"], hostile_user_process["answers"][name]


# A notebook like hostile/t_reads_reference_tests_and_classmates without the grader's command line, which this
# mode leaves visible in /proc (see test_what_the_user_mode_does_not_contain).
READS_WITH_C_IO = """\
# What: tries to read the hidden checks, the reference, the weights folder and a classmate's notebook, and to
# What: list the submissions and output folders, with Python and tf.io: wrong answers if any succeeds; none does
# Expected: loss_value=2 gradient_sign=3 l2_regularizer=2 raw_score=1 update_step=3 score_increase=3 tf_function=1
# %%
def class_visualization_loss_and_gradient(model, X, target_y, l2_reg):
    leaks = []
    for path in ("{REPO}/autograder/hidden_tests/test_class_visualization.py", "{REPO}/classviz_reference/solution.py",
                 "{WEIGHTS}/weights/squeezenet0_conv0_weight.npy", "{SUBMISSIONS}/h_update_raises.ipynb"):
        for read in (lambda p: open(p, "rb").read(), lambda p: tf.io.read_file(p).numpy()):
            try:
                read(path)
                leaks.append(path)
            except Exception:
                pass
    for folder in ("{SUBMISSIONS}", "{OUT}", "{REPO}/autograder"):
        try:
            tf.io.gfile.listdir(folder)
            leaks.append(folder)
        except Exception:
            pass
    if leaks:
        raise RuntimeError("LEAKED " + " ".join(leaks))
    X = tf.convert_to_tensor(X, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss = model(X)[0, target_y] - l2_reg * tf.reduce_sum(tf.square(X))
    return loss, tape.gradient(loss, X)

# %%
def class_visualization_update_step(model, X, target_y, l2_reg, learning_rate):
    loss, dX = class_visualization_loss_and_gradient(model, X, target_y, l2_reg)
    return np.asarray(X + learning_rate * dX.numpy(), dtype=np.float32)
"""


@pytest.mark.weights
def test_the_batch_grades_hostile_notebooks_as_the_student_user(open_tmp, restore_course_modes, weights_dir):
    """``python -m autograder grade`` as root with namespaces unavailable (the user mode forced): the hostile
    notebooks read and write nothing outside, the victim keeps its grade, every result records the mode, and the
    summary line says it is weaker than what this machine allows."""
    subs, out = open_tmp / "submissions", open_tmp / "batch-out"
    cases = hostile.materialize(subs, out, names={"t_writes_result_files", "h_update_raises"})
    text = READS_WITH_C_IO
    for token, value in {"{REPO}": str(REPO), "{WEIGHTS}": str(weights_dir), "{SUBMISSIONS}": str(subs),
                         "{OUT}": str(out)}.items():
        text = text.replace(token, value)
    snippet = corpus.parse_snippet(Path("u_reads_with_c_io.py"), text)
    nbformat.write(corpus.build_notebook(snippet), subs / "u_reads_with_c_io.ipynb")
    for path in (subs, *subs.iterdir()):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)  # world-readable: the batch must close them itself
    argv = [sys.executable, "-m", "autograder", "grade", subs, "--out", out, "--weights", weights_dir,
            "--jobs", "2", "--timeout-scale", "0.5", "--memory-gb", "4"]
    proc = subprocess.run(in_container(argv), cwd=REPO, env=_user_env(open_tmp), capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    expected = {"u_reads_with_c_io": 15, "t_writes_result_files": 15,
                "h_update_raises": cases["h_update_raises"].total}
    assert {name: r["score"] for name, r in records.items()} == expected, \
        {name: [c["feedback"] for c in r["checks"] if not c["points"]] for name, r in records.items()}
    assert {r["isolation"] for r in records.values()} == {USER}
    assert all("fresh unprivileged user" in r["isolation_detail"] for r in records.values())
    assert not (out / "results" / "zz_forged.json").exists()
    summary = proc.stdout.strip().splitlines()[-1]
    assert "3 submission(s) in" in summary and "isolation: unprivileged user" in summary
    assert ("WEAKER than 'namespaces'" in summary) == (choose().name == NAMESPACES)
    for path in (subs, out):
        assert not path.stat().st_mode & 0o007, path  # closed by the batch
