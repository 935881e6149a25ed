#!/usr/bin/env bash
# The test command (README, CI): set up (idempotent), generate the corpus sets the tests read,
# then run the whole test suite: Swift, then the Python package's (scripts/test-python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/prepare-corpus.sh A 100 0
bash scripts/prepare-corpus.sh B 20 0
bash scripts/prepare-corpus.sh D 100 0
# A test that hangs (a server that never answers, a pipe that never ends) fails the run with a
# line saying so instead of holding CI until its own limit; the suite takes about 10 minutes.
status=0
timeout --kill-after=60 "${WINNOW_TEST_MINUTES:-40}m" swift test "$@" || status=$?
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "scripts/test.sh: swift test did not finish within ${WINNOW_TEST_MINUTES:-40} minutes (a hung test?)" >&2
fi
[ "$status" = 0 ] || exit "$status"
bash scripts/test-python.sh
