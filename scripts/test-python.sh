#!/usr/bin/env bash
# The Python package's tests (python/tests, pytest) against the real winnow binary.
# Sets up (idempotent) a venv at ${WINNOW_CACHE:-~/.cache/winnow}/venv-python with pytest, pandas
# and numpy, reinstalls ./python into it, builds the debug `winnow` (unless WINNOW_BIN names a
# binary) and runs pytest. Reads corpus set A (scripts/prepare-corpus.sh A 100 0).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${WINNOW_CACHE:-$HOME/.cache/winnow}
VENV=$CACHE/venv-python
PACKAGES="pytest==9.2.0 pandas==3.1.1 numpy==2.4.6 setuptools>=61 wheel"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ "$(cat "$VENV/.packages" 2>/dev/null)" != "$PACKAGES" ]; then
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q $PACKAGES
  echo "$PACKAGES" > "$VENV/.packages"
fi
# The package as it is now (no build isolation: nothing is fetched for it).
"$VENV/bin/pip" install -q --no-deps --no-build-isolation --force-reinstall ./python
rm -rf python/build python/winnow.egg-info

if [ -z "${WINNOW_BIN:-}" ]; then
  swift build --product winnow
  WINNOW_BIN="$(swift build --show-bin-path)/winnow"
fi
export WINNOW_BIN
cd python && "$VENV/bin/python" -m pytest -q tests
