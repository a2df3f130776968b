#!/usr/bin/env bash
# Create (once per set of pins) the virtualenv the platform and its tests run in, and print its path.
#
# The environment lives outside the clone, keyed by a hash of the lock files and the Python version, so a
# fresh clone (CI) reuses it while the pins are unchanged, and any changed pin yields a new environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
LOCKS="requirements/lock.txt"
KEY="$( { "$PYTHON" -c 'import sys; print(sys.version)'; cat $LOCKS; } | sha256sum | cut -c1-16)"
ROOT="${MLOPS_VENV_ROOT:-$HOME/.cache/mlops-lite}"
VENV="$ROOT/venv-$KEY"
mkdir -p "$ROOT"
# One builder at a time; a half-built environment (no .complete marker) is rebuilt from scratch.
exec 9>"$VENV.lock"
flock 9
if [ ! -f "$VENV/.complete" ]; then
  echo ">> creating virtualenv $VENV (first run with these pins takes a few minutes)" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade "pip>=24" "setuptools>=68" wheel >&2
  # The lock is a full `pip freeze` of a resolved install: --no-deps makes the install exact and fast.
  "$VENV/bin/pip" install -q --no-deps -r "$LOCKS" >&2
  "$VENV/bin/pip" check >&2
  touch "$VENV/.complete"
fi
# The environment is shared by every checkout, so the project itself is never installed into it (an
# editable install would point every checkout at whichever one ran last). Checkouts put themselves on
# PYTHONPATH instead (Makefile, ./mlops, tests/conftest.py). Remove an install left by older versions.
if [ -n "$(ls "$VENV"/lib/python3*/site-packages/ 2>/dev/null | grep -i '^__editable__.*mlops_lite\|^mlops_lite')" ]; then
  "$VENV/bin/pip" uninstall -q -y mlops-lite >&2 || true
fi
ln -sfn "$VENV" .venv
echo "$VENV"
