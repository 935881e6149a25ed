#!/usr/bin/env bash
# The test command (README, CI): set up (idempotent), generate the corpus sets the tests read,
# then run the whole test suite: Swift, then the Python package's (scripts/test-python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/prepare-corpus.sh A 100 0
bash scripts/prepare-corpus.sh B 20 0
bash scripts/prepare-corpus.sh D 100 0
swift test "$@"
bash scripts/test-python.sh
