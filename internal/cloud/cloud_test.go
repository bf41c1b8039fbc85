package cloud

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadEnv(t *testing.T) {
	t.Setenv("BUCKET", "media")
	t.Setenv("TABLE", "")
	t.Setenv("CHUNK_SECONDS", "5")
	e, err := ReadEnv("BUCKET")
	if err != nil || e.Bucket != "media" || e.ChunkSeconds != 5 || e.OpenSearchService != "es" || e.FFmpegDir != "/opt/bin" {
		t.Fatalf("env %+v %v", e, err)
	}
	if _, err := ReadEnv("BUCKET", "TABLE"); err == nil || !strings.Contains(err.Error(), "TABLE") {
		t.Fatalf("missing TABLE: %v", err)
	}
	t.Setenv("CHUNK_SECONDS", "ten")
	if _, err := ReadEnv(); err == nil {
		t.Fatal("bad CHUNK_SECONDS accepted")
	}
}

// TestBuildFunctions runs the build script `make build` uses and checks every
// bootstrap is a static, stripped-of-interpreter ELF for arm64 (Lambda's
// provided.al2023 on Graviton), zipped.
func TestBuildFunctions(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles every function")
	}
	if _, err := exec.LookPath("zip"); err != nil {
		t.Skip("zip not installed")
	}
	out := t.TempDir()
	cmd := exec.Command("../../scripts/build-functions.sh")
	cmd.Env = append(os.Environ(), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	fns, _ := filepath.Glob("../../functions/*")
	if len(fns) < 8 {
		t.Fatalf("only %d functions", len(fns))
	}
	for _, fn := range fns {
		name := filepath.Base(fn)
		f, err := elf.Open(filepath.Join(out, name, "bootstrap"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
			t.Errorf("%s: machine %v class %v", name, f.Machine, f.Class)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked", name)
			}
		}
		f.Close()
		if st, err := os.Stat(filepath.Join(out, name+".zip")); err != nil || st.Size() == 0 {
			t.Errorf("%s.zip: %v", name, err)
		}
	}
}
