#!/usr/bin/env bash
# Refresh the vendored front-end files in app/static/vendor/ from the npm
# registry. Versions are pinned exactly; bump them here and re-run.
set -euo pipefail

HTMX_VERSION="2.0.11"       # npm: htmx.org (latest 2.0.x)
HTMX_WS_VERSION="2.0.4"     # npm: htmx-ext-ws (depends on htmx.org ^2.0.2)
AXE_VERSION="4.14.1"        # npm: axe-core; only the browser tests load it (tests/browser/vendor/)

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dest="app/static/vendor"
mkdir -p "$dest"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# fetch <package> <version>: download the tarball and unpack it into $tmp/<package>/
fetch() {
    local pkg="$1" ver="$2" tarball
    tarball="$(cd "$tmp" && npm pack --silent "${pkg}@${ver}" | tail -n 1)"
    mkdir -p "$tmp/$pkg"
    tar -xzf "$tmp/$tarball" -C "$tmp/$pkg" --strip-components=1
    local got
    got="$(node -p 'require(process.argv[1]).version' "$tmp/$pkg/package.json")"
    if [[ "$got" != "$ver" ]]; then
        echo "error: expected $pkg@$ver, got $got" >&2
        exit 1
    fi
}

fetch htmx.org "$HTMX_VERSION"
fetch htmx-ext-ws "$HTMX_WS_VERSION"
fetch axe-core "$AXE_VERSION"

cp "$tmp/htmx.org/dist/htmx.min.js" "$dest/htmx.min.js"
if [[ -f "$tmp/htmx-ext-ws/dist/ws.min.js" ]]; then
    cp "$tmp/htmx-ext-ws/dist/ws.min.js" "$dest/ws.js"
else
    cp "$tmp/htmx-ext-ws/dist/ws.js" "$dest/ws.js"
fi

# Sanity check: the extension must register itself with htmx 2.
grep -q 'htmx.defineExtension("ws"' "$dest/ws.js" \
    || grep -q "htmx.defineExtension('ws'" "$dest/ws.js" \
    || { echo "error: $dest/ws.js does not define the ws extension" >&2; exit 1; }

{
    echo "# package version file sha256"
    echo "htmx.org $HTMX_VERSION htmx.min.js $(sha256sum "$dest/htmx.min.js" | cut -d' ' -f1)"
    echo "htmx-ext-ws $HTMX_WS_VERSION ws.js $(sha256sum "$dest/ws.js" | cut -d' ' -f1)"
} > "$dest/VERSIONS"

cat "$dest/VERSIONS"

# The accessibility checker is injected into pages by the browser tests, never served.
test_dest="tests/browser/vendor"
mkdir -p "$test_dest"
cp "$tmp/axe-core/axe.min.js" "$test_dest/axe.min.js"
echo "axe-core $AXE_VERSION axe.min.js $(sha256sum "$test_dest/axe.min.js" | cut -d' ' -f1)" \
    > "$test_dest/VERSIONS"
cat "$test_dest/VERSIONS"
