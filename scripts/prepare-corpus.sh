#!/usr/bin/env bash
# Generates the corpus sets the tests and benchmarks use with ../shared/corpus (real photos
# from Debian/PyPI packages, with ground truth), cached under ${WINNOW_CACHE:-~/.cache/winnow}.
# Usage: prepare-corpus.sh SET N [SEED]      e.g. prepare-corpus.sh B 20 0 ; prepare-corpus.sh C 20000
set -euo pipefail
cd "$(dirname "$0")/.."
SET=$1; N=$2; SEED=${3:-0}
CACHE=${WINNOW_CACHE:-$HOME/.cache/winnow}
SHARED=${WINNOW_SHARED:-$(cd .. && pwd)/shared}
OUT=${WINNOW_CORPUS:-$CACHE/corpus}
STAMP="$OUT/$SET/.made-n$N-seed$SEED"
[ -f "$STAMP" ] && exit 0
[ -f "$SHARED/corpus/make_corpus.py" ] || { echo "prepare-corpus: $SHARED/corpus not found (set WINNOW_SHARED)" >&2; exit 1; }
export CORPUS_BASE=$CACHE/corpus-base
export SRC=$CORPUS_BASE/src
if [ ! -f "$CORPUS_BASE/.fetched" ]; then
  ( cd "$SHARED/corpus" && bash fetch_sources.sh >/dev/null )
  touch "$CORPUS_BASE/.fetched"
fi
rm -rf "${OUT:?}/$SET"
"$CORPUS_BASE/venv/bin/python" "$SHARED/corpus/make_corpus.py" --out "$OUT" --set "$SET" --n "$N" --seed "$SEED" \
  --src "$SRC" --workers 2
touch "$STAMP"
