#!/usr/bin/env bash
# Fetches one npm package tarball, refuses it unless its sha512 matches the
# pinned integrity (npm's dist.integrity), and unpacks it into OUT/package.
# Only npm's registry is needed; nothing else is downloaded.
#
#   scripts/npm-fetch.sh onnxruntime-node@1.30.0 sha512-... OUT
#
# OUT/.integrity records what was unpacked; a second call with the same pin
# does nothing.
set -euo pipefail
pkg="${1:?usage: npm-fetch.sh PKG@VERSION INTEGRITY OUT}"
integrity="${2:?usage: npm-fetch.sh PKG@VERSION INTEGRITY OUT}"
out="${3:?usage: npm-fetch.sh PKG@VERSION INTEGRITY OUT}"
if [ -f "$out/.integrity" ] && [ "$(cat "$out/.integrity")" = "$integrity" ] && [ -d "$out/package" ]; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tgz="$(cd "$work" && npm pack --silent "$pkg" 2>/dev/null | tail -n 1)"
if [ -z "$tgz" ] || [ ! -f "$work/$tgz" ]; then
  echo "npm pack $pkg failed (is the npm registry reachable?)" >&2
  exit 1
fi
got="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$work/$tgz")"
if [ "$got" != "$integrity" ]; then
  echo "integrity mismatch for $pkg: got $got, pinned $integrity" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$work/x"
tar -xzf "$work/$tgz" -C "$work/x"
mkdir -p "$(dirname "$out")"
mv "$work/x" "$out"
echo "$integrity" >"$out/.integrity"
echo "$pkg (verified $integrity)" >&2
