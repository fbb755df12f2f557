#!/usr/bin/env bash
# Assemble a Hugging Face Space (Gradio SDK) from this repository's committed files:
#
#   bash scripts/make_space.sh /tmp/medseg-space
#
# The folder holds what the Space runs as it is: app.py, the package, requirements.txt (pip
# installs medseg from the folder), packages.txt (Debian sample data for the examples), and
# a README.md that starts with the Space's configuration (deploy/space_readme_header.md).
# Tests and CI files stay out. Upload it with `hf upload` (docs/hosting.md).
set -euo pipefail
OUT=$(realpath -m "${1:?usage: scripts/make_space.sh OUT_DIR}")
cd "$(dirname "$(readlink -f "$0")")/.."  # the checkout, also when called through a link
rm -rf "$OUT"
mkdir -p "$OUT"
git archive --format=tar HEAD | tar -x -C "$OUT"
rm -rf "$OUT/tests" "$OUT/.ci" "$OUT/test.sh"
{ cat deploy/space_readme_header.md; echo; cat README.md; } > "$OUT/README.md"
echo "[space] $OUT: $(find "$OUT" -type f | wc -l) files from commit $(git rev-parse --short HEAD)"
