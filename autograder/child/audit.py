"""The student process's walls inside Python: resource limits, the audit hook, the disabled escape hatches.

Rule of this module: everything here is installed before any student code runs and is never undone. The limits
are lowered with soft = hard (they cannot be raised again without privileges); the audit hook (PEP 578) refuses
for the rest of the process's life: reading files outside the Python installation, the system folders and the
sandbox; writing outside the sandbox; starting processes; sockets; ``ctypes``; signals to other processes;
raising resource limits; scanning the heap (``gc``); tracing; new audit hooks; replacing a function's
``__code__``; and any frame access in the main thread or to this package's own frames (these last ones are
reported as tampering). ``signal.signal`` installs nothing (a handler would receive a frame of the request loop)
and ``_posixsubprocess.fork_exec`` refuses (it forks without an audit event).
"""

from __future__ import annotations

import builtins as _builtins

__builtins__ = dict(vars(_builtins))  # private copy: the student may rebind builtins.len & co.

import os  # noqa: E402
import sys  # noqa: E402

from . import worker  # noqa: E402

PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))
"""This package's folder: no job may get a frame of its code."""


def limit_resources(memory_bytes: int | None, cpu_seconds: int | None, file_bytes: int | None,
                    processes: int | None = None) -> None:
    """Lower this process's limits (soft = hard, so they cannot be raised again without privileges)."""
    import resource

    def lower(which, value):
        if value is None:
            return
        soft, hard = resource.getrlimit(which)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(which, (value, value))

    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_AS, memory_bytes)
    lower(resource.RLIMIT_FSIZE, file_bytes)
    if processes is not None and os.getuid() != 0:  # counts every process and thread of the user
        lower(resource.RLIMIT_NPROC, processes)
    if cpu_seconds is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 5))


def make_non_dumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: ``/proc/self/mem``, ``environ``, ... become root-owned (unreadable to an
    unprivileged process, even its own). Returns whether it worked."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


# Refused, and reported as tampering: they reach into the grading machinery itself.
_TAMPER_EVENTS = frozenset({
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
    "ctypes.cdata/buffer", "ctypes.string_at", "ctypes.wstring_at", "ctypes.PyObj_FromPtr", "ctypes.addressof",
    "ctypes.get_errno", "ctypes.set_errno", "ctypes.seh_exception", "ctypes.create_string_buffer",
    "ctypes.create_unicode_buffer",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.settrace",
    "sys.setprofile", "sys.addaudithook", "resource.setrlimit", "resource.prlimit", "os.setns", "os.unshare",
})
# Refused (PermissionError), not tampering by itself: the call just fails, as it would on any locked-down machine.
_BLOCKED_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "pty.spawn", "os.startfile", "webbrowser.open", "os.killpg",
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
    "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "socket.sethostname", "urllib.Request",
})
# path arguments that must lie inside the sandbox (writes, renames, deletions, links)
_WRITE_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.rename": (0, 1), "os.link": (0, 1), "os.symlink": (1,), "os.truncate": (0,), "os.utime": (0,),
    "os.chflags": (0,), "os.lchflags": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "os.mkfifo": (0,),
    "os.mknod": (0,), "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copymode": (1,),
    "shutil.copystat": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1), "shutil.chown": (0,),
}
# path arguments that must lie inside the readable roots (directory listings)
_READ_EVENTS = {"os.listdir": (0,), "os.scandir": (0,), "glob.glob": (0,), "os.listxattr": (0,),
                "os.getxattr": (0,), "glob.glob/2": (0,)}
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
_REFUSED_IMPORTS = frozenset({"_posixsubprocess", "_signal", "signal", "_ctypes", "ctypes", "gc", "_thread",
                              "faulthandler", "_xxsubinterpreters"})
_PROC_READABLE = ("/proc/self/status", "/proc/self/stat", "/proc/self/maps", "/proc/self/cgroup",
                  "/proc/self/mountinfo", "/proc/self/limits", "/proc/self/task")


def default_read_roots(sandbox: str) -> list[str]:
    """Folders a student process may read: Python and its packages, system folders, a few /proc files."""
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sandbox,
             os.path.dirname(os.path.realpath(sys.executable)),
             "/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc", "/dev/null", "/dev/urandom", "/dev/zero",
             "/sys/devices/system/cpu", "/sys/fs/cgroup", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat",
             "/proc/sys/vm", "/proc/filesystems", "/proc/mounts"}
    for path in _PROC_READABLE:
        roots.add(path)
        roots.add(path.replace("/proc/self/", f"/proc/{os.getpid()}/"))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    return sorted(roots)


def install_audit_hook(sandbox: str, read_roots, main_thread: int | None = None, harness_dir: str = PACKAGE_DIR,
                       log: list | None = None) -> list:
    """Install the PEP 578 audit hook described in the module docstring (irrevocable for this process).

    Args:
        sandbox: the only folder the process may write in.
        read_roots: the folders (and files) it may read.
        main_thread: ident of the request loop's thread (no frame access at all there), or None.
        harness_dir: the folder of this package (no job may get a frame of its code).
        log: list the hook appends ``(kind, what)`` to for every refusal (``kind`` ``"tamper"`` or ``"blocked"``).

    Returns:
        The log.
    """
    import _thread

    realpath, join, isdir = os.path.realpath, os.path.join, os.path.isdir
    getcwd, getpid, fsdecode, get_ident = os.getcwd, os.getpid, os.fsdecode, _thread.get_ident
    sep = os.sep
    sandbox_root = realpath(sandbox).rstrip(sep) + sep
    readable = tuple(sorted({realpath(r).rstrip(sep) + sep for r in read_roots} | {sandbox_root}))
    writable = (sandbox_root,)
    write_files = ("/dev/null",)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    tamper, blocked, write_events, read_events = _TAMPER_EVENTS, _BLOCKED_EVENTS, dict(_WRITE_EVENTS), \
        dict(_READ_EVENTS)
    frame_attributes, refused_imports = _FRAME_ATTRIBUTES, _REFUSED_IMPORTS
    harness_prefix = realpath(harness_dir).rstrip(sep) + sep
    log = [] if log is None else log
    record = log.append
    _str, _int, _isinstance, _tuple, _len, _bytes, _bytearray = str, int, isinstance, tuple, len, bytes, bytearray

    def resolve(path):
        if _isinstance(path, (_bytes, _bytearray)):
            path = fsdecode(_bytes(path))
        path = _str(path)
        return realpath(path if path.startswith(sep) else join(getcwd(), path))

    def inside(path, roots):
        return (path + sep).startswith(roots)

    def deny(event, detail="", kind="blocked"):
        if _len(log) < 1000:  # a loop of refused calls must not fill the memory
            record((kind, f"{event}{' ' + detail if detail else ''}"[:300]))
        raise PermissionError(f"not allowed while grading: {event}{' ' + detail if detail else ''}")

    def hook(event, args):
        if event == "open":
            path, mode, flags = (_tuple(args) + (None, None, None))[:3]
            if path is None or _isinstance(path, _int):
                return
            full = resolve(path)
            writing = (_isinstance(mode, _str) and any(ch in mode for ch in "wax+")) or \
                (_isinstance(flags, _int) and flags & write_flags)
            if writing:
                if not (inside(full, writable) or full in write_files):
                    deny("writing", repr(_str(path)))
            elif not inside(full, readable):
                deny("reading", repr(_str(path)))
            elif not inside(full, writable) and isdir(full) and mode is None:
                deny("opening a directory outside the sandbox", repr(_str(path)))  # dir_fd tricks
        elif event == "object.__getattr__":
            if main_thread is not None and get_ident() == main_thread and _len(args) > 1 \
                    and args[1] in frame_attributes:
                deny(f"reading {args[1]} in the grading loop", kind="tamper")
        elif event == "sys._getframe":
            if main_thread is not None and get_ident() == main_thread:
                deny("sys._getframe in the grading loop", kind="tamper")
            frame = args[0] if args else None
            if frame is not None:
                filename = frame.f_code.co_filename
                if _isinstance(filename, _str) and realpath(filename).startswith(harness_prefix):
                    deny("sys._getframe of the grading harness's own frames", kind="tamper")
        elif event == "object.__setattr__":
            if _len(args) > 1 and args[1] in ("__code__", "__class__"):
                deny(f"setting {args[1]}", kind="tamper")
        elif event == "import":
            if args and args[0] in refused_imports:
                deny("import", repr(args[0]), kind="tamper")
        elif event in tamper:
            deny(event, kind="tamper")
        elif event in blocked:
            deny(event)
        elif event == "os.kill":
            if args and args[0] != getpid():
                deny("signals to other processes")
        elif event in write_events:
            for i in write_events[event]:
                if i < _len(args) and args[i] is not None and not _isinstance(args[i], _int) \
                        and not inside(resolve(args[i]), writable):
                    deny(event, repr(_str(args[i])))
        elif event in read_events:
            for i in read_events[event]:
                if i < _len(args) and args[i] is not None and not _isinstance(args[i], _int) \
                        and not inside(resolve(args[i]), readable):
                    deny(event, repr(_str(args[i])))

    sys.addaudithook(hook)
    return log


def disable_escape_hatches() -> None:
    """``signal.signal`` (a handler receives the interrupted frame) and ``_posixsubprocess.fork_exec`` (forks
    without an audit event) refuse from now on; re-importing them is refused by the audit hook."""
    refuse = worker.refusing  # defined in the student realm: no frame or global of this module behind it
    for name in ("signal", "_signal"):
        module = sys.modules.get(name)
        if module is not None:
            if hasattr(module, "signal") and hasattr(module, "getsignal"):
                module.signal = worker.ignoring(module.getsignal)
            for attr in ("set_wakeup_fd", "siginterrupt"):
                if hasattr(module, attr):
                    setattr(module, attr, refuse(f"{name}.{attr}"))
    module = sys.modules.get("_posixsubprocess")
    if module is not None:
        module.fork_exec = refuse("_posixsubprocess.fork_exec")
    for name in ("subprocess", "multiprocessing.util"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "_fork_exec"):
            module._fork_exec = refuse("_posixsubprocess.fork_exec")
