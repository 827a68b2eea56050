#!/usr/bin/env bash
# Create a virtual environment with the exact pins of requirements/lock.txt, install mmpose with
# --no-deps (the version on the lock file's `# --no-deps` line: its chumpy dependency does not
# build) and mmbinary (editable), then check that every flavoured package is there exactly once.
# Usage: bash tools/setup_env.sh [PYTHON] [VENV]     (what `make setup` runs)
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}
cd "$(dirname "$0")/.."
NO_DEPS=$(sed -n 's/^# --no-deps //p' requirements/lock.txt)
if [ -z "$NO_DEPS" ]; then
    echo "[setup] requirements/lock.txt has no '# --no-deps <package>==<version>' line" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/pip --disable-pip-version-check"
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file" >&2); }
# A venv built from an older lock file may hold distributions the lock no longer lists, e.g.
# opencv-python-headless beside opencv-python: two flavours of one package sharing files, so
# removing one deletes files of the other. Remove every such distribution; the repair step below
# reinstalls whatever lost files.
normalise() { sed -e 's/[=<>@ ].*//' -e 's/[._]/-/g' | tr 'A-Z' 'a-z' | sort -u; }
KEEP=$( (grep -v '^#' requirements/lock.txt; echo "$NO_DEPS"; echo pip) | normalise)
STALE=$(comm -23 <($PIP list --format=freeze --exclude-editable 2>/dev/null | normalise) \
                 <(echo "$KEEP"))
if [ -n "$STALE" ]; then
    echo "[setup] removing what requirements/lock.txt does not list:" $STALE
    quiet $PIP uninstall -q -y $STALE
fi
echo "[setup] installing pinned requirements (torch is large: the first run takes a few minutes)"
quiet $PIP install -q -r requirements/lock.txt
BROKEN=$("$VENV/bin/python" - <<'EOF'
from importlib import metadata

for dist in metadata.distributions():
    if any(not path.locate().exists() for path in dist.files or ()):
        print(f"{dist.metadata['Name']}=={dist.version}")
EOF
)
if [ -n "$BROKEN" ]; then
    echo "[setup] reinstalling what lost files:" $BROKEN
    quiet $PIP install -q --force-reinstall --no-deps $BROKEN
fi
echo "[setup] installing $NO_DEPS without its dependencies"
quiet $PIP install -q --no-deps $NO_DEPS
echo "[setup] installing mmbinary (editable)"
quiet $PIP install -q --no-deps --no-build-isolation -e .
echo "[setup] building the native 1-bit conv kernel (mmbinary/ops; optional: without a compiler the PyTorch reference runs)"
"$VENV/bin/python" -m mmbinary.ops.build 2>&1 | sed 's/^/[setup]   /' || true
echo "[setup] building its OpenVINO extension op (optional: without it exports use BinaryConvolution)"
"$VENV/bin/python" -m mmbinary.ops.openvino_ext 2>&1 | sed 's/^/[setup]   /' || true
echo "[setup] checking mmcv, mmengine, mmpose, torchvision and OpenCV (one flavour each)"
"$VENV/bin/python" -m mmbinary.utils.check_env | sed 's/^/[setup]   /'
"$VENV/bin/python" -c "import mmbinary, mmpose.models, mmpretrain.models; print('[setup] ok: mmbinary', mmbinary.__version__)"
