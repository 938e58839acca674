"""The ``unprivileged user`` mode: each student process runs as a fresh user id of its own.

Rule of this module: (Linux, root, namespaces refused: the usual container) => the process runs as a user id no
one else has (:func:`student_uid`; ``setpriv``: no capabilities, ``no_new_privs``, the parent-death signal kept),
in a copy of the sandbox that only it can enter, with a read-only copy of the weights (:meth:`UnprivilegedUser.
place`). File permissions then hold whatever API reads the files -- provided the grader closed the course folder
and its other private paths to other users first (:func:`autograder.isolation.close_to_students`, see
:mod:`.closing`). The probe runs ``user_probe.py`` as such a user and works only if every closed path refuses it
while the grader's Python, NumPy and a sandbox work; it changes nothing on disk. The process still sees the
machine's other files, processes and network.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from .base import Mode, Placement, Probe, helper, last_line
from .layout import SandboxDir

# a block that systemd's table of UID ranges (docs/UIDS-GIDS.md) leaves unused -- no distribution, systemd-homed,
# dynamic-user, container or foreign-image id lies there
STUDENT_UIDS = range(0x70000000, 0x7FFE0000)


class UnprivilegedUser(Mode):
    name = "unprivileged user"

    @classmethod
    def probe(cls, python: str, closed: list | None = None) -> Probe:
        """Works when a probe run as a fresh user reaches none of ``closed`` (``[(path, is_dir)]``, what
        :func:`~.closing.protect` closed; None or empty: the course folder is not closed yet, so this mode is
        refused) while the interpreter, NumPy and its sandbox work. ``closed=[]`` asks whether the mode would work
        here once the course is closed (the strongest mode this machine allows, :func:`~.choice.status`).
        """
        if not sys.platform.startswith("linux") or os.geteuid() != 0:
            return Probe(None, "only root can run the student's process as another user")
        if shutil.which("setpriv") is None:
            return Probe(None, "setpriv not found (util-linux)")
        if closed is None:
            return Probe(None, "the course folder is not closed to other users (the grader did not call "
                               "autograder.isolation.close_to_students)")
        uid = student_uid()
        with SandboxDir() as parent:
            (parent / "sandbox").mkdir()
            (parent / "sandbox" / "probe.txt").write_text("ok")
            try:
                placement = cls().place(parent / "sandbox", None, uid)
                proc = subprocess.run(
                    user_command(uid, [python, "-I", "-c", helper("user_probe.py"), json.dumps(closed),
                                       placement.sandbox]),
                    capture_output=True, text=True, timeout=120, cwd="/",
                    env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": placement.sandbox,
                         "TMPDIR": placement.sandbox})
            except (OSError, subprocess.TimeoutExpired) as exc:
                return Probe(None, f"the probe as user {uid} failed ({exc})")
            blocked = [b for b in (closed_ancestor(os.path.realpath(python)), closed_ancestor(placement.sandbox))
                       if b]
        passes = f"; other users cannot pass through {', '.join(blocked)}" if blocked else ""
        try:
            answer = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return Probe(None, f"the probe as user {uid} failed ({last_line(proc)}){passes}")
        if answer["uid"] != uid:
            return Probe(None, f"the probe ran as user {answer['uid']}, not {uid}")
        installation = os.path.dirname(os.path.dirname(os.path.realpath(python)))
        if answer["base_prefix"] != installation:  # setpriv starts the binary, which then finds another libpython
            return Probe(None, f"the student user cannot read the Python installation {installation} (its process "
                               f"ran the one in {answer['base_prefix']}){passes}")
        if answer["leaks"]:
            return Probe(None, f"the student user could still {', '.join(answer['leaks'][:5])}")
        return Probe(cls(), f"as a fresh unprivileged user per process (ids from {STUDENT_UIDS.start}), no "
                            f"capabilities; {len(closed)} protected paths checked closed to it")

    def place(self, sandbox: Path, weights: str | None, uid: int | None = None) -> Placement:
        """Lay out the files of a process that runs as a fresh user id (``uid``, or one from :func:`student_uid`).

        Next to the grader's copy ``sandbox`` (closed to others): ``run-<uid>``, a fresh copy owned by ``uid`` with
        mode 0700 (no other student process can enter it; a restarted process never imports what the previous one
        wrote, e.g. a ``numpy.py`` or a changed harness), and ``weights/``, a copy of the verified weights that the
        process can read but not change. Their folder becomes 0711: others pass through it, cannot list it.
        """
        uid = student_uid() if uid is None else uid
        sandbox = Path(sandbox)
        parent = sandbox.parent
        os.chmod(parent, 0o711)
        os.chmod(sandbox, 0o700)
        run = parent / f"run-{uid}"
        shutil.copytree(sandbox, run, symlinks=True)
        for folder, _, files in os.walk(run):
            for path in [folder, *(os.path.join(folder, name) for name in files)]:
                os.lchown(path, uid, uid)
        os.chmod(run, 0o700)
        if not weights:
            return Placement(str(run), None, uid)
        copy = parent / "weights"
        if not copy.is_dir():
            partial = Path(tempfile.mkdtemp(prefix="weights-", dir=parent))
            shutil.copytree(weights, partial, dirs_exist_ok=True, copy_function=shutil.copyfile)
            for folder, _, files in os.walk(partial):
                os.chmod(folder, 0o755)
                for name in files:
                    os.chmod(os.path.join(folder, name), 0o644)
            os.rename(partial, copy)
        return Placement(str(run), str(copy), uid)

    def wrap(self, command: list, sandbox: Path, placement: Placement, python: str) -> tuple[list, str]:
        return user_command(placement.uid, command), placement.sandbox


def student_uid() -> int:
    """A fresh user id for one student process: random in :data:`STUDENT_UIDS` and in no user or group entry.

    One id per process (not ``nobody`` for all): two submissions graded at once cannot read each other's
    sandbox or signal each other, and ``RLIMIT_NPROC`` counts one process's threads alone.
    """
    import grp
    import pwd

    for _ in range(100):
        uid = STUDENT_UIDS[secrets.randbelow(len(STUDENT_UIDS))]
        try:
            pwd.getpwuid(uid)
        except KeyError:
            try:
                grp.getgrgid(uid)
            except KeyError:
                return uid
    raise RuntimeError(f"no free user id found in {STUDENT_UIDS}")


def user_command(uid: int, command) -> list:
    """The argv that runs ``command`` as ``uid`` (group ``uid``, no other group), with no capabilities and
    ``no_new_privs``, killed (SIGKILL) when the grader dies. ``setpriv`` applies ``--pdeathsig`` after changing
    the user, which would otherwise clear it."""
    return ["setpriv", "--pdeathsig", "KILL", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *command]


def closed_ancestor(path) -> str | None:
    """The first folder above ``path`` that other users cannot pass through, e.g. ``'/root (mode 0700)'``."""
    for folder in reversed(Path(path).parents):
        try:
            mode = os.stat(folder).st_mode
        except OSError:
            return None
        if not mode & 0o001:
            return f"{folder} (mode {stat.S_IMODE(mode):04o})"
    return None
