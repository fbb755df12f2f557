#!/usr/bin/env bash
# Idempotent set-up shared by run.sh, test.sh and the Dockerfile.
# Creates .venv, installs the project with its dev extras, and the Debian packages the
# app/tests need (real sample data + chromium for the browser test). A stamp file keyed on
# pyproject.toml makes a second run take well under 10 s.
#
# MEDSEG_SETUP=server (the Dockerfile) installs what serving the app needs and no more: the
# sample data its examples use, the package without dev extras, no browser.
# The web app's viewer (NiiVue) is vendored in medseg/app/static/niivue (see
# scripts/update_niivue.sh): nothing to fetch here, and the app works offline.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
PROFILE=${MEDSEG_SETUP:-dev}
if [ "$PROFILE" = server ]; then
    APT_PKGS=(insighttoolkit5-examples opencv-doc)
    EXTRAS=""
else
    APT_PKGS=(chromium insighttoolkit5-examples mricron-data opencv-doc)
    EXTRAS="[dev]"
fi

missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "[setup] installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$PY" -m venv .venv
    .venv/bin/pip install -q --upgrade pip
fi

stamp=.venv/.medseg-install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
[ "$PROFILE" = dev ] || want="$want-$PROFILE"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[setup] installing medseg and its dependencies (first run takes a few minutes)"
    # torch/torchvision first, pinned to the builds that lie on this machine's disk.
    .venv/bin/pip install -q "torch==2.14.1" "torchvision==0.29.1" \
        || .venv/bin/pip install -q "torch<=2.14.1" "torchvision<=0.29.1"
    .venv/bin/pip install -q -e ".$EXTRAS"
    echo "$want" > "$stamp"
fi
