#!/usr/bin/env bash
# Idempotent set-up shared by run.sh, test.sh and the Dockerfile.
# Creates .venv, installs the project with its dev extras, and the Debian packages the
# app/tests need (real sample data + chromium for the browser test; Orthanc with its DICOMweb
# plugin, dicom3tools for the PACS tests). The OHIF viewer (@ohif/app, MIT) for the
# PACS browser test is fetched once with `npm pack` into .cache/ohif/ (git-ignored). Stamp
# files keyed on pyproject.toml and the OHIF version make a second run take well under 10 s.
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
    # npm is not listed: machines of this kind carry Node.js with its npm (nodesource), and
    # Debian's npm package conflicts with that nodejs (apt-get refuses: "nodejs : Conflicts:
    # npm"). The OHIF fetch below uses whichever npm is on the PATH.
    APT_PKGS=(chromium insighttoolkit5-examples mricron-data opencv-doc
              orthanc orthanc-dicomweb dicom3tools)
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
    # policy-rc.d may refuse to start the orthanc service: fine, the tests start their own.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

# OHIF viewer for the PACS browser test (tests/pacs/test_ohif_browser.py): the prebuilt
# dist of @ohif/app, pinned to the version the test was written against.
OHIF_VERSION=3.13.2
ohif_cache=.cache/ohif
if [ "$PROFILE" = dev ] && [ ! -f "$ohif_cache/$OHIF_VERSION/.stamp" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "[setup] fetching @ohif/app@$OHIF_VERSION (about 50 MB, once)"
        rm -rf "$ohif_cache/$OHIF_VERSION"
        mkdir -p "$ohif_cache/$OHIF_VERSION"
        if tgz=$(cd "$ohif_cache" && npm pack --silent "@ohif/app@$OHIF_VERSION" 2>/dev/null); then
            tar -xzf "$ohif_cache/$tgz" -C "$ohif_cache/$OHIF_VERSION"
            rm -f "$ohif_cache/$tgz"
            touch "$ohif_cache/$OHIF_VERSION/.stamp"
        else
            echo "[setup] could not fetch @ohif/app: the OHIF browser test will be skipped"
        fi
    else
        echo "[setup] npm not found: the OHIF browser test will be skipped"
    fi
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
