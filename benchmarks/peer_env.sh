#!/usr/bin/env bash
# Create (idempotently) the separate environment used by benchmarks/peer_torchdistill.py:
# torch 2.13.0 (installed first, pinned, so pip never resolves another torch), numpy, pyyaml, pydantic,
# then torchdistill 1.1.5 with --no-deps (its loss modules need neither torchvision nor its other deps).
# kdtaxonomy is not installed there: the benchmark puts the repository root on sys.path.
# The project venv (.venv) is not touched.
#
# Usage: bash benchmarks/peer_env.sh [VENV_DIR]    (default /tmp/peer-venv)
set -euo pipefail

VENV="${1:-${PEER_VENV:-/tmp/peer-venv}}"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi

have() {
  "$PY" - "$@" <<'EOF'
import importlib.metadata as md
import sys

for spec in sys.argv[1:]:
    name, _, version = spec.partition("==")
    try:
        installed = md.version(name)
    except md.PackageNotFoundError:
        sys.exit(1)
    if version and installed.split("+")[0] != version:
        sys.exit(1)
EOF
}

if ! have torch==2.13.0 numpy pyyaml pydantic; then
  "$VENV/bin/pip" install --quiet torch==2.13.0 numpy pyyaml pydantic
fi
if ! have torchdistill==1.1.5; then
  "$VENV/bin/pip" install --quiet --no-deps torchdistill==1.1.5
fi

"$PY" -c "import torch, torchdistill; print('peer venv', '$VENV', 'torch', torch.__version__, 'torchdistill', torchdistill.__version__)"
