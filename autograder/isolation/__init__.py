"""Isolation of the student processes: one class per mode, the choice among them, the sandbox and its process.

Rule of this package: one place decides what a student's code can see. Each mode is a class that says whether it
works here (its probe, run for real, changing nothing on disk) and wraps a command; strongest first:

* :class:`~.namespaces.Namespaces` (``"namespaces"``; Linux, root, or unprivileged user namespaces): a private root
  holding only the system folders, Python, the virtual environment, the weights and the sandbox; no network, own
  PID namespace; as ``nobody`` (``init.sh``);
* :class:`~.user.UnprivilegedUser` (``"unprivileged user"``; Linux, root, namespaces refused: the usual container):
  a fresh user id per process, in a sandbox copy only it can enter, once the grader has closed the course folder
  to other users (``user_probe.py`` checks it);
* :class:`~.base.AuditHookOnly` (``"audit-hook only"``; anything else): the harness's limits and audit hook alone.

:func:`choose` picks the first that works (``CLASSVIZ_GRADER_ISOLATION`` = ``namespaces``, ``user`` or
``audit-hook`` starts the choice at that mode); :func:`close_to_students` is the graders' explicit step that closes
the course folder (and their output and submission folders, the weights) to other users where the unprivileged-user
mode is the one to use -- batch grading, Gradescope's ``run_autograder`` and the pytest plugin call it before
grading; :func:`status` and :func:`summary` report the choice. The rest is plainly separated: :mod:`.layout` (what a
sandbox holds, and the folders of a killed grader), :mod:`.closing` (the permission changes) and :mod:`.process`
(time and memory limits; start, requests under deadlines, kill). Importing any of it changes
nothing.
"""

from .base import AuditHookOnly, Mode, Placement, Probe
from .choice import (AUDIT_HOOK_ONLY, MODES, NAMESPACES, USER, Choice, adopt, choose, close_to_students, probes,
                     status, summary)
from .layout import CHILD_PACKAGE, OWNER_FILE, SANDBOX_PREFIX, SandboxDir, clean_stale_sandboxes, prepare_sandbox
from .namespaces import Namespaces
from .process import DEFAULT_MEMORY_GB, Limits, StudentProcess, StudentProcessError, describe_exit
from .user import STUDENT_UIDS, UnprivilegedUser, student_uid, user_command

__all__ = ["AUDIT_HOOK_ONLY", "CHILD_PACKAGE", "DEFAULT_MEMORY_GB", "MODES", "NAMESPACES", "OWNER_FILE", "SANDBOX_PREFIX", "STUDENT_UIDS",
           "USER", "AuditHookOnly", "Choice", "Limits", "Mode", "Namespaces", "Placement", "Probe", "SandboxDir",
           "StudentProcess", "StudentProcessError", "UnprivilegedUser", "adopt", "choose", "clean_stale_sandboxes",
           "close_to_students", "describe_exit", "prepare_sandbox", "probes", "status", "student_uid", "summary",
           "user_command"]
