#!/usr/bin/env bash
# Installs what the build and tests need from Debian/Ubuntu packages when it
# is missing: ffmpeg + ffprobe (chunking, tests), zip (Lambda packages), and
# with --test the fonts the OCR tests draw words with (ffmpeg drawtext):
# DejaVu, Liberation, FreeFont and WenQuanYi Micro Hei (CJK), and qemu with an
# arm64 glibc to run the Lambda artifacts as Lambda would, and Chromium for
# the web app's browser tests.
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v zip >/dev/null 2>&1 || missing+=(zip)
fonts=/usr/share/fonts/truetype
if [ "${1:-}" = "--test" ]; then
[ -f $fonts/dejavu/DejaVuSansMono.ttf ] || missing+=(fonts-dejavu-core)
[ -f $fonts/liberation2/LiberationSans-Regular.ttf ] || missing+=(fonts-liberation2)
[ -f $fonts/freefont/FreeSans.ttf ] || missing+=(fonts-freefont-ttf)
[ -f $fonts/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
# The Lambda bootstraps and the arm64 ffmpeg layer run under qemu in tests.
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
[ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || missing+=(libc6-arm64-cross)
# Debian's aws-cli 2.9, rclone, s3cmd and boto3: the S3 clients the local endpoint is tested with.
[ -x /usr/bin/aws ] || missing+=(awscli)
[ -x /usr/bin/rclone ] || missing+=(rclone)
[ -x /usr/bin/s3cmd ] || missing+=(s3cmd)
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || missing+=(python3-boto3)
# Debian's onnx for python builds the model server benchmark's graph.
/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 || missing+=(python3-onnx)
# Chromium (headless) drives the web app's browser tests.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} with apt-get" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "missing ${missing[*]} and this user cannot install packages: install them (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
