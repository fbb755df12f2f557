#!/usr/bin/env bash
# Set up what is missing, then start the web app on http://127.0.0.1:7860
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/medseg app "$@"
