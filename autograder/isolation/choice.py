"""Which mode isolates the student processes here, and the grader's explicit step of closing the course.

Rule of this module: :func:`choose` is a question -- the first of :data:`~autograder.isolation.MODES` (strongest
first) whose probe works here, remembered per interpreter, changing nothing on disk; :func:`close_to_students` is
the one step that changes permissions (through :func:`~.closing.protect`), called by name by every grader before
it grades: where the unprivileged-user mode is the one to use, it closes the course folder and the given paths to
other users, so that the mode's probe then works. ``CLASSVIZ_GRADER_ISOLATION`` = ``namespaces``, ``user`` or
``audit-hook`` starts the choice at that mode (tests of the weaker modes).
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

from . import closing
from .base import AuditHookOnly, Mode, Probe, real_python
from .namespaces import Namespaces
from .user import UnprivilegedUser

MODES = (Namespaces, UnprivilegedUser, AuditHookOnly)  # strongest first
NAMESPACES, USER, AUDIT_HOOK_ONLY = (mode.name for mode in MODES)
FORCED = {"namespaces": Namespaces, "user": UnprivilegedUser, USER: UnprivilegedUser, "audit-hook": AuditHookOnly,
          AUDIT_HOOK_ONLY: AuditHookOnly, "none": AuditHookOnly}
_PROBES = {}  # (mode, interpreter[, what the user probe checks]) -> Probe: each probe runs once per process
_REQUESTED = set()  # the real paths given to close_to_students
_CLOSE_FAILED = []  # why close_to_students could not close them (then the unprivileged-user mode is refused)
_LOCK = threading.RLock()


@dataclass(frozen=True)
class Choice:
    """The mode student processes start in (a ready :class:`~.base.Mode`), and ``detail``: as whom the student's
    code runs and why each stronger mode was not used."""
    mode: Mode
    detail: str

    @property
    def name(self) -> str:
        return self.mode.name


def forced_mode():
    """The mode class ``CLASSVIZ_GRADER_ISOLATION`` starts the choice at (None when unset).

    Raises:
        ValueError: it holds something else than ``namespaces``, ``user`` or ``audit-hook``.
    """
    value = os.environ.get("CLASSVIZ_GRADER_ISOLATION", "")
    if value and value not in FORCED:
        raise ValueError(f"CLASSVIZ_GRADER_ISOLATION={value!r}: use 'namespaces', 'user' or 'audit-hook' "
                         "(or unset it to use the strongest mode that works)")
    return FORCED.get(value)


def _probe(mode, python: str, once_closed: bool = False):
    """``mode``'s probe, run once per process (the unprivileged-user mode's again after each closing). The
    unprivileged-user mode needs the course closed by :func:`close_to_students`, or with ``once_closed``, says
    whether it would work then."""
    with _LOCK:
        if mode is not UnprivilegedUser:
            key, run = (mode, python), lambda: mode.probe(python)
        elif _CLOSE_FAILED:
            return Probe(None, _CLOSE_FAILED[-1])
        elif not (_REQUESTED or once_closed):  # not closed: refused, and why it would not work anyway if so
            could = _probe(mode, python, once_closed=True)
            return mode.probe(python, None) if could.works else could
        else:
            closed = list(closing.CLOSED)
            key, run = (mode, python, tuple(closed)), lambda: mode.probe(python, closed)
        if key not in _PROBES:
            _PROBES[key] = run()
        return _PROBES[key]


def probes() -> dict:
    """The probes this process has run, for the worker processes it starts (:func:`adopt`)."""
    with _LOCK:
        return dict(_PROBES)


def adopt(parent_probes: dict) -> None:
    """Take the probes of the process that started this one (same machine, same interpreter, moments ago), so a
    worker process does not run them again before it starts its first student process."""
    with _LOCK:
        for key, probe in parent_probes.items():
            _PROBES.setdefault(key, probe)


def choose(python=None) -> Choice:
    """How student processes are isolated here: the first of :data:`MODES` (from ``CLASSVIZ_GRADER_ISOLATION``'s
    on, if set) whose probe works. Changes nothing on disk.

    Raises:
        ValueError: ``CLASSVIZ_GRADER_ISOLATION`` holds an unknown value.
    """
    python = real_python(python or sys.executable)
    forced = forced_mode()
    refused = [f"CLASSVIZ_GRADER_ISOLATION={os.environ.get('CLASSVIZ_GRADER_ISOLATION')}"] if forced else []
    for mode in MODES[MODES.index(forced) if forced else 0:]:
        probe = _probe(mode, python)
        if probe.works:
            return Choice(probe.mode, "; ".join(text for text in [probe.detail, *refused] if text))
        refused.append(f"no {mode.name}: {probe.detail}")
    raise AssertionError("the audit-hook only mode always works")  # pragma: no cover


def close_to_students(paths=(), python=None) -> Choice:
    """The grader's step before grading: close the course folder and ``paths`` to other users where students run
    as other users, and return the mode to use (:func:`choose`).

    Nothing changes on disk where a stronger mode works (namespaces), where ``CLASSVIZ_GRADER_ISOLATION`` starts
    the choice below the unprivileged-user mode, or where that mode cannot work at all (not root, no ``setpriv``).
    Otherwise the course folder (:func:`~.closing.course_folder`) and ``paths`` -- output and submission folders,
    the weights -- are closed (:func:`~.closing.protect`); paths already closed by an earlier call are not visited
    again. If they cannot be closed, the unprivileged-user mode is refused and the choice says why.

    Args:
        paths: files or folders the student must not reach besides the course folder (missing ones are skipped).
        python: the student's interpreter (the grader's by default).

    Raises:
        ValueError: ``CLASSVIZ_GRADER_ISOLATION`` holds an unknown value.
    """
    python = real_python(python or sys.executable)
    wanted = {os.path.realpath(p) for p in [closing.course_folder(), *paths]}
    with _LOCK:
        if not wanted <= _REQUESTED and _user_mode_to_prepare(python):
            _REQUESTED.update(wanted)
            try:
                closing.protect(sorted(wanted), python)
            except (OSError, ValueError) as exc:
                _CLOSE_FAILED.append(f"the course's files cannot be closed to other users ({exc})")
        return choose(python)


def _user_mode_to_prepare(python: str) -> bool:
    """Whether the choice reaches the unprivileged-user mode and it would work once the course is closed."""
    forced = forced_mode()
    start = MODES.index(forced) if forced else 0
    if start > MODES.index(UnprivilegedUser):
        return False
    if any(_probe(mode, python).works for mode in MODES[start:MODES.index(UnprivilegedUser)]):
        return False
    return _probe(UnprivilegedUser, python, once_closed=True).works


def status(python=None) -> dict:
    """What a batch's summary reports about isolation.

    Returns:
        ``{"mode", "reason"}`` as :func:`choose`; ``"best"``: the strongest mode that works on this machine,
        whatever ``CLASSVIZ_GRADER_ISOLATION`` says (the unprivileged-user mode counts if it would work once the
        course is closed); ``"weaker"``: whether ``mode`` is weaker than ``best``; ``"protected"``: ``[(path, mode
        before, mode after)]``, the permissions :func:`close_to_students` changed in this process.
    """
    python = real_python(python or sys.executable)
    chosen = choose(python)
    best = next(mode for mode in MODES if _probe(mode, python, once_closed=True).works)
    return {"mode": chosen.name, "reason": chosen.detail, "best": best.name,
            "weaker": MODES.index(type(chosen.mode)) > MODES.index(best), "protected": list(closing.CHANGED)}


def summary(python=None) -> str:
    """One line for a batch's summary: the mode, why it is not the strongest, and a warning when this machine
    could do better (e.g. ``isolation: audit-hook only -- WEAKER than 'namespaces', which works here (...)``)."""
    state = status(python)
    line = f"isolation: {state['mode']}"
    if state["weaker"]:
        line += f" -- WEAKER than {state['best']!r}, which works here"
    return line if state["mode"] == NAMESPACES and not state["weaker"] else f"{line} ({state['reason']})"
