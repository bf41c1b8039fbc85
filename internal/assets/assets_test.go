package assets

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/npm-fetch.sh refuses a package whose bytes do not match the pin,
// and leaves nothing behind (a real npm pack from the registry).
func TestFetchRefusesWrongIntegrity(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pkg")
	cmd := exec.Command("../../scripts/npm-fetch.sh", "is-number@7.0.0", "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", out)
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "integrity mismatch") {
		t.Fatalf("wrong pin accepted: %v\n%s", err, b)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("something was unpacked: %v", err)
	}
}

// What `make models` installed is where Dir, Library and OCRModels say.
func TestInstalledLayout(t *testing.T) {
	dir := Dir()
	for _, f := range []string{Library(dir), filepath.Join(OCRModels(dir), "det.onnx"), filepath.Join(OCRModels(dir), "rec.onnx"), filepath.Join(OCRModels(dir), "keys.txt")} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (%v)", f, err, ErrMissing)
		}
	}
	t.Setenv(Env, "/somewhere/else")
	if Dir() != "/somewhere/else" {
		t.Error(Env + " ignored")
	}
}
