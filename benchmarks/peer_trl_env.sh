#!/usr/bin/env bash
# Create (idempotently) the separate environment used by benchmarks/peer_trl.py:
# torch 2.13.0 first (pinned; every later pip call gets a constraints file pinning torch==2.13.0, so pip
# never resolves plain `torch` nor upgrades it), then trl 1.16.0 with its own dependencies
# (transformers, accelerate, datasets, ...), which GKDTrainer needs to import. In trl 1.x GKDTrainer is
# trl.experimental.gkd.gkd_trainer.GKDTrainer (there is no trl.trainer.gkd_trainer any more).
# kdtaxonomy is not installed there: the benchmark puts the repository root on sys.path.
# The project venv (.venv) is not touched.
#
# Usage: bash benchmarks/peer_trl_env.sh [VENV_DIR]    (default /tmp/trl-venv)
set -euo pipefail

VENV="${1:-${TRL_VENV:-/tmp/trl-venv}}"
PY="$VENV/bin/python"
TORCH=2.13.0
TRL=1.16.0

if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi

CONSTRAINTS="$VENV/torch-constraints.txt"
echo "torch==$TORCH" >"$CONSTRAINTS"

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

check_torch() {
  local got
  got="$("$PY" -c 'import torch; print(torch.__version__)')"
  if [ "${got%%+*}" != "$TORCH" ]; then
    echo "peer_trl_env.sh: torch is $got in $VENV, expected $TORCH" >&2
    exit 1
  fi
}

if ! have "torch==$TORCH"; then
  "$VENV/bin/pip" install --quiet -c "$CONSTRAINTS" "torch==$TORCH"
fi
check_torch
if ! have "trl==$TRL"; then
  "$VENV/bin/pip" install --quiet -c "$CONSTRAINTS" "trl==$TRL"
fi
check_torch

TRL_EXPERIMENTAL_SILENCE=1 "$PY" -c "
import torch, transformers, trl
from trl.experimental.gkd.gkd_trainer import GKDTrainer
assert callable(GKDTrainer.generalized_jsd_loss)
print('trl venv', '$VENV', 'torch', torch.__version__, 'trl', trl.__version__, 'transformers', transformers.__version__)
"
