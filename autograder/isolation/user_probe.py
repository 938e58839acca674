# Run as a fresh student user by the probe of the unprivileged-user mode (autograder/isolation/user.py).
#
# Its text is passed to ``python -I -c`` (the student user cannot read the course folder that holds this file).
# Arguments: the JSON list ``[[path, is_dir], ...]`` of the paths closed to students, and the sandbox folder. Every
# closed path must refuse to be listed, entered, read or written; the interpreter (the same installation as the
# grader's), NumPy and the sandbox must work. Prints one JSON line: ``{"uid", "leaks", "base_prefix"}``.
import json
import os
import sys

import numpy  # noqa: F401 - the student's process needs it

leaks = []


def attempt(what, path, action):
    try:
        action(path)
    except OSError:
        return
    leaks.append(what + " " + path)


def create_in(folder):
    name = os.path.join(folder, ".cvgrade-probe")
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.unlink(name)


for path, is_dir in json.loads(sys.argv[1]):
    if is_dir:
        attempt("list", path, os.listdir)
        attempt("enter", path, lambda p: os.stat(os.path.join(p, ".")))
        attempt("write into", path, create_in)
    else:
        attempt("read", path, lambda p: open(p, "rb").close())
        attempt("write", path, lambda p: os.close(os.open(p, os.O_WRONLY | os.O_APPEND)))
sandbox = sys.argv[2]  # by its absolute path, as the harness does (its folders must be reachable from /)
with open(os.path.join(sandbox, "written.txt"), "w") as out, open(os.path.join(sandbox, "probe.txt")) as probe:
    out.write(probe.read())
print(json.dumps({"uid": os.getuid(), "leaks": leaks, "base_prefix": os.path.realpath(sys.base_prefix)}))
