#!/usr/bin/env bash
# Installs ffmpeg/ffprobe from Debian/Ubuntu packages when they are missing.
set -euo pipefail
if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
  exit 0
fi
echo "ffmpeg not found: installing it with apt-get" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ffmpeg is missing and this user cannot install packages: install ffmpeg and ffprobe (e.g. apt-get install -y ffmpeg)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq ffmpeg >/dev/null
ffmpeg -version | head -1
