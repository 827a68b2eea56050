#!/usr/bin/env bash
# Create a virtual environment with the exact pins of requirements/lock.txt and install
# mmpose (--no-deps, see ../shared/notes/install.md) and mmbinary (editable) into it.
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}
cd "$(dirname "$0")/.."
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/pip --disable-pip-version-check"
echo "[setup] installing pinned requirements (torch is large: the first run takes a few minutes)"
$PIP install -q -r requirements/lock.txt 2> >(grep -v "is ignored: it is neither a file" >&2)
echo "[setup] installing mmpose 1.3.2 without its dependencies (chumpy does not build)"
$PIP install -q --no-deps mmpose==1.3.2 2> >(grep -v "is ignored: it is neither a file" >&2)
echo "[setup] installing mmbinary (editable)"
$PIP install -q --no-deps --no-build-isolation -e . 2> >(grep -v "is ignored: it is neither a file" >&2)
"$VENV/bin/python" -c "import mmbinary, mmpose.models, mmpretrain.models; print('[setup] ok: mmbinary', mmbinary.__version__)"
