#!/usr/bin/env bash
# Set up what is missing, lint, then run the whole test suite.
# Extra arguments go to pytest (e.g. ./test.sh -k metrics).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export GRADIO_ANALYTICS_ENABLED=False
export MPLBACKEND=Agg
echo "[test] ruff check"
.venv/bin/ruff check .
echo "[test] pytest"
set +e
.venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "[test] pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
