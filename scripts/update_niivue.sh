#!/usr/bin/env bash
# Refresh the vendored NiiVue viewer (medseg/app/static/niivue/) from the npm registry.
#
#   scripts/update_niivue.sh            # re-fetch the pinned version and check it is unchanged
#   scripts/update_niivue.sh 0.70.0     # move to another version (then review the notices)
#
# The tarball is fetched with `npm pack` into the git-ignored .cache/npm/ (once per version).
# Only dist/niivue.umd.js is kept; SOURCE.txt records the version and both SHA-256 sums.
# The app never loads NiiVue from a CDN: it serves this file itself.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=medseg/app/static/niivue
PINNED=$(sed -n 's/^package: *@niivue\/niivue \([0-9.]*\).*/\1/p' "$DEST/SOURCE.txt")
VERSION=${1:-$PINNED}
CACHE=.cache/npm
mkdir -p "$CACHE"
TGZ="$CACHE/niivue-niivue-$VERSION.tgz"
if [ ! -f "$TGZ" ]; then
    (cd "$CACHE" && npm pack --silent "@niivue/niivue@$VERSION" >/dev/null)
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
tar -xzf "$TGZ" -C "$TMP" package/dist/niivue.umd.js package/package.json
LICENSE_FIELD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["license"])' "$TMP/package/package.json")
if [ "$LICENSE_FIELD" != "BSD-2-Clause" ]; then
    echo "[niivue] licence changed to $LICENSE_FIELD: review before vendoring" >&2
    exit 1
fi
TGZ_SHA=$(sha256sum "$TGZ" | cut -d' ' -f1)
FILE_SHA=$(sha256sum "$TMP/package/dist/niivue.umd.js" | cut -d' ' -f1)
if [ "$VERSION" = "$PINNED" ]; then
    grep -q "$FILE_SHA" "$DEST/SOURCE.txt" || { echo "[niivue] $VERSION differs from the vendored file" >&2; exit 1; }
    cmp -s "$TMP/package/dist/niivue.umd.js" "$DEST/niivue.umd.js" || { echo "[niivue] vendored file modified" >&2; exit 1; }
    echo "[niivue] vendored $VERSION matches the registry"
    exit 0
fi
cp "$TMP/package/dist/niivue.umd.js" "$DEST/niivue.umd.js"
cat > "$DEST/SOURCE.txt" <<SRC
package:  @niivue/niivue $VERSION (npm registry, BSD-2-Clause)
file:     package/dist/niivue.umd.js of niivue-niivue-$VERSION.tgz
tarball sha256:  $TGZ_SHA
file sha256:     $FILE_SHA
update:   scripts/update_niivue.sh VERSION  (npm pack into .cache/npm, then copy this file)
SRC
sed -i "s/@niivue\/niivue\` [0-9.]*/@niivue\/niivue\` $VERSION/" "$DEST/THIRD_PARTY_NOTICES.md"
echo "[niivue] vendored $VERSION; review THIRD_PARTY_NOTICES.md against its bundled packages"
