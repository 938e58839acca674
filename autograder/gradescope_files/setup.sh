#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (this zip is in /autograder/source).
# It installs the pinned grading packages into a virtual environment OUTSIDE /autograder/source (the student's
# process must be able to run Python, never to read the source folder) and fetches the SqueezeNet 1.1 weights,
# each file checked by SHA-256. Offline: CLASSVIZ_WEIGHTS_MIRROR=/path/to/squeezenet1.1_nchw.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CLASSVIZ_VENV:-/opt/classviz-venv}"
PYTHON="${PYTHON:-python3}"
supported() { "$1" -c 'import sys, ensurepip, venv; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))' \
    >/dev/null 2>&1; }
if supported "$VENV/bin/python"; then
    PYTHON="$VENV/bin/python"  # set up before: reuse it
elif ! supported "$PYTHON"; then  # the pinned packages need Python 3.11-3.12 (Ubuntu 24.04 has 3.12; 22.04: 3.10)
    apt-get update -q
    if apt-cache show python3.12-venv >/dev/null 2>&1; then PY=python3.12; else PY=python3.11; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$PY" "$PY-venv"
    PYTHON="$PY"
fi
if ! supported "$PYTHON"; then
    echo "setup.sh: the grading packages need Python 3.11-3.12; choose the Ubuntu 24.04 base image" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SOURCE/requirements.txt"
cd "$SOURCE"
"$VENV/bin/python" -m classviz fetch-weights --dest "$SOURCE/datasets/squeezenet1.1_nchw" --quiet
# the hidden checks' reference values, built once here (not once per submission), verified before each use
TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" -m autograder references --weights "$SOURCE/datasets/squeezenet1.1_nchw"
echo "setup.sh: grading environment in $VENV, weights in $SOURCE/datasets/squeezenet1.1_nchw"
