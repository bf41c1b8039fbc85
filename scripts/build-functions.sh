#!/usr/bin/env bash
# Builds every Lambda function for linux/arm64 (provided.al2023) as
# $OUT/<name>/bootstrap and zips it to $OUT/<name>.zip. No Docker needed.
# FUNCTIONS="probe chunk" builds only those.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-dist}"
GO="${GO:-go}"
mkdir -p "$OUT"
names="${FUNCTIONS:-$(cd functions && ls -d */ | tr -d /)}"
for name in $names; do
  [ -d "functions/$name" ] || { echo "no function $name" >&2; exit 1; }
  mkdir -p "$OUT/$name"
  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 "$GO" build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' \
    -o "$OUT/$name/bootstrap" "./functions/$name"
  touch -d @315532800 "$OUT/$name/bootstrap" # fixed mtime: same code, same zip
  rm -f "$OUT/$name.zip"
  (cd "$OUT/$name" && zip -q -X "../$name.zip" bootstrap)
  echo "built $OUT/$name.zip"
done
