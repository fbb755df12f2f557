#!/usr/bin/env bash
# Gather every benchmark of the project into BENCHMARKS.md, in one command:
#
#   scripts/bench_all.sh            # full run (tens of minutes on 2 cores)
#   scripts/bench_all.sh --quick    # smoke run: few repetitions, first size only
#
# Sections: machine description and date; `medseg bench --all` (model x back-end x size with
# ratios to eager, batched vs looped TTA, int8, and the helper scripts it knows:
# ConfusionMatrix vs loop, training, video pipeline vs sequential loop) or, where that command
# is missing, every scripts/bench_*.py; the model zoo table (scripts/bench_zoo.py); the app
# round trip of one 256x256 slice through gradio_client on 127.0.0.1 (target < 300 ms).
# Environment: BENCH_OUT (default BENCHMARKS.md), BENCH_THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT="${BENCH_OUT:-BENCHMARKS.md}"
THREADS="${BENCH_THREADS:-2}"
QUICK=""
for a in "$@"; do
    case "$a" in
        --quick) QUICK="--quick" ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option $a (use --quick)" >&2; exit 2 ;;
    esac
done
export GRADIO_ANALYTICS_ENABLED=False MPLBACKEND=Agg
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# ------------------------------------------------------------------ machine and date
{
    echo "# Benchmarks"
    echo
    echo "Gathered by \`scripts/bench_all.sh ${QUICK}\` on $(date -u '+%Y-%m-%d %H:%M UTC')," \
        "commit \`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\`."
    echo "Every ratio is measured against its baseline in the same run, on the same machine."
    echo
    echo "## Machine"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| CPU | $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1) |"
    echo "| cores visible / threads used | $(nproc) / ${THREADS} |"
    echo "| memory | $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}') |"
    echo "| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) (other jobs share the machine: absolute times vary, ratios less) |"
    echo "| OS | $(uname -sr) |"
    "$PY" - <<'EOF'
import platform

import numpy
import onnxruntime
import torch

print(f"| Python / torch / ONNX Runtime / numpy | {platform.python_version()} / {torch.__version__}"
      f" / {onnxruntime.__version__} / {numpy.__version__} |")
EOF
    echo
    echo "## How to reproduce"
    echo
    echo '```'
    echo "bash scripts/setup.sh          # creates .venv if needed"
    echo "scripts/bench_all.sh           # or --quick for a smoke run"
    echo '```'
    echo
} >"$TMP/head.md"

# ------------------------------------------------------------------ medseg bench --all
if .venv/bin/medseg bench --help 2>/dev/null | grep -q -- "--all"; then
    echo "[bench_all] medseg bench --all $QUICK" >&2
    .venv/bin/medseg bench --all $QUICK --threads "$THREADS" --benchmarks-md "$TMP/body.md" >&2
    # The helper scripts `--all` already ran (and bench_inference.py, which is its core).
    covered="$("$PY" -c 'from medseg.commands.bench import HELPER_SCRIPTS as H; print(" ".join(f for f, _ in H))') bench_inference.py"
    # Drop its own title: this file has one.
    sed -i -e "1{/^# Benchmarks/d}" -e "s/^Written by \`medseg bench --all\`\.$/Sections below: \`medseg bench --all\`./" "$TMP/body.md"
else
    echo "[bench_all] medseg bench --all not available: running scripts/bench_*.py" >&2
    covered=""
    : >"$TMP/body.md"
fi
for f in scripts/bench_*.py; do
    name="$(basename "$f")"
    # bench_gpu.py needs CUDA; its table comes from docs/benchmarks-gpu.md (below)
    case " $covered bench_zoo.py bench_gpu.py " in *" $name "*) continue ;; esac
    echo "[bench_all] $name" >&2
    {
        echo "## $name"
        echo
        echo '```'
        "$PY" "$f" 2>&1 | tail -n 60 || echo "(failed: exit $?)"
        echo '```'
        echo
    } >>"$TMP/body.md"
done

# ------------------------------------------------------------------ model zoo table
echo "[bench_all] bench_zoo.py" >&2
{
    echo "## Model zoo: parameters and eager CPU latency"
    echo
    if "$PY" scripts/bench_zoo.py --threads "$THREADS" --repeats "$([ -n "$QUICK" ] && echo 2 || echo 5)" \
        --out "$TMP/zoo.md" >&2; then
        sed '1{/^#/d}' "$TMP/zoo.md"
    else
        echo "_bench_zoo.py failed_"
    fi
    echo
} >"$TMP/zoo_section.md"

# ------------------------------------------------------------------ app round trip
echo "[bench_all] app round trip" >&2
"$PY" - "$QUICK" >"$TMP/app.md" <<'EOF'
"""Median round trip of one 256x256 slice through the running app (gradio_client, loopback)."""
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

quick = len(sys.argv) > 1 and sys.argv[1] == "--quick"
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
tmp = Path(tempfile.mkdtemp())
img = tmp / "slice256.png"
yy, xx = np.mgrid[:256, :256]
Image.fromarray((((xx - 128) ** 2 + (yy - 128) ** 2 < 80**2) * 180 + 40).astype(np.uint8)).save(img)
server = subprocess.Popen(
    [sys.executable, "-m", "medseg.cli", "app", "--host", "127.0.0.1", "--port", str(port), "--quiet"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
try:
    from gradio_client import Client, handle_file

    t0 = time.time()
    while True:
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            break
        except Exception:
            if time.time() - t0 > 180 or server.poll() is not None:
                raise
            time.sleep(1)
    args = ([handle_file(str(img))], None, "axial", 0, "auto (1–99 percentile)", 40, 400,
            "unet_medical", "this slice")
    for _ in range(3):  # warm-up: model build, caches
        client.predict(*args, api_name="/medical_segment")
    times = []
    for _ in range(5 if quick else 30):
        t = time.perf_counter()
        client.predict(*args, api_name="/medical_segment")
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p90 = times[int(0.9 * (len(times) - 1))]
    med = statistics.median(times)
    print("## App round trip (gradio_client, 127.0.0.1)\n")
    print("One 256×256 slice through `/medical_segment` (upload, load, window, `unet_medical`, "
          "overlay, NIfTI mask, download), after 3 warm-up calls.\n")
    print("| requests | median ms | p90 ms | target | met |")
    print("|---:|---:|---:|---|---|")
    print(f"| {len(times)} | {med:.0f} | {p90:.0f} | < 300 ms | {'yes' if med < 300 else 'no'} |\n")
finally:
    server.terminate()
    server.wait(20)
EOF
[ -s "$TMP/app.md" ] || echo "_app round trip failed_" >"$TMP/app.md"

# ------------------------------------------------------------------ GPU (kept from its own run)
: >"$TMP/gpu.md"
if [ -s docs/benchmarks-gpu.md ]; then
    {
        echo "## GPU"
        echo
        echo "_Not re-measured by this script (this machine has no GPU): copied from" \
            "docs/benchmarks-gpu.md, written by 'python scripts/bench_gpu.py' on a" \
            "GPU machine; the date and device are in its text._"
        echo
        sed '1{/^## /d}' docs/benchmarks-gpu.md
        echo
    } >"$TMP/gpu.md"
fi

# ------------------------------------------------------------------ assemble
{
    cat "$TMP/head.md" "$TMP/body.md"
    echo
    cat "$TMP/zoo_section.md" "$TMP/app.md" "$TMP/gpu.md"
    echo "## Reliability"
    echo
    echo "Corpus, load-test and fault-test figures: see docs/reliability.md" \
        "(\`pytest tests/reliability -m slow -s\` prints them)."
} >"$OUT"
echo "[bench_all] wrote $OUT" >&2
