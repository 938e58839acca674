#!/usr/bin/env bash
# Set up this project on a fresh machine: a virtual environment in .venv with the pinned packages and the project
# itself installed in editable mode (pyproject.toml: classviz, classviz_reference and autograder importable from
# anywhere), and the pretrained SqueezeNet 1.1 weights (plus its reference test data) downloaded into datasets/ and
# verified by SHA-256. Idempotent: a second run installs and downloads nothing new.
#   PYTHON=python3.11 ./setup.sh                                  # choose the interpreter (3.11 or 3.12)
#   CLASSVIZ_WEIGHTS_MIRROR=/path/to/squeezenet1.1_nchw ./setup.sh  # offline: copy from a local folder
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup.sh: '$PYTHON' not found; install Python 3.11 or 3.12 or set PYTHON=/path/to/python3" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))'; then
    echo "setup.sh: the pinned packages (NumPy 2.4, SciPy 1.17, Keras 3.15) need Python 3.11 or 3.12, but $PYTHON is $("$PYTHON" --version 2>&1);" \
         "set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .  # requirements.txt pins, the project
.venv/bin/python -m classviz fetch-weights --with-test-data --quiet
echo "setup.sh: ready (.venv, weights in ${CLASSVIZ_WEIGHTS_DIR:-datasets/squeezenet1.1_nchw})"
