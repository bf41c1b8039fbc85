package s3local

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// An object file appears under its name only when written whole.
func TestAtomicFs(t *testing.T) {
	dir := t.TempDir()
	a := atomicFs{Fs: afero.NewBasePathFs(afero.NewOsFs(), dir), expected: &sync.Map{}}
	write := func(name string, want int64, data string) error {
		t.Helper()
		if want >= 0 {
			defer a.expect(name, want)()
		}
		before, _ := os.ReadFile(filepath.Join(dir, name))
		f, err := a.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(data))
		partial := false
		for _, e := range mustReadDir(t, dir) {
			partial = partial || strings.HasPrefix(e, partialPrefix)
		}
		now, _ := os.ReadFile(filepath.Join(dir, name))
		if !partial || string(now) != string(before) {
			t.Errorf("%s: written in place (temporary file %v; visible %q before close)", name, partial, now)
		}
		return f.Close()
	}
	if err := write("whole.bin", 5, "hello"); err != nil || !exists(filepath.Join(dir, "whole.bin")) {
		t.Errorf("a whole write: %v", err)
	}
	if err := write("cut.bin", 100, "short"); !errors.Is(err, errIncomplete) || exists(filepath.Join(dir, "cut.bin")) {
		t.Errorf("a short write: %v, stored %v", err, exists(filepath.Join(dir, "cut.bin")))
	}
	if err := write("free.bin", -1, "any"); err != nil || !exists(filepath.Join(dir, "free.bin")) {
		t.Errorf("a write with no expectation: %v", err)
	}
	// Overwrite: the old object stays readable until the new one is whole.
	os.WriteFile(filepath.Join(dir, "old.bin"), []byte("old"), 0o644)
	if err := write("old.bin", 100, "short"); err == nil {
		t.Error("a short overwrite succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "old.bin")); string(b) != "old" {
		t.Errorf("a failed overwrite changed the object: %q", b)
	}
	for _, e := range mustReadDir(t, dir) {
		if strings.HasPrefix(e, partialPrefix) {
			t.Errorf("temporary file %s left after a failed write", e)
		}
	}
	// A server killed mid-write leaves a temporary file: the next start
	// removes it, and it is never listed meanwhile.
	srv, err := New(Config{Dir: t.TempDir(), Bucket: "scenedex", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(srv.ObjectsDir(), "docs", partialPrefix+"0123")
	os.MkdirAll(filepath.Dir(leftover), 0o755)
	os.WriteFile(leftover, []byte("half"), 0o644)
	if keys, _ := srv.keysUnder("docs/"); len(keys) != 0 {
		t.Errorf("listed %v", keys)
	}
	if _, err := New(Config{Dir: srv.cfg.Dir, Bucket: "scenedex", Now: time.Now}); err != nil {
		t.Fatal(err)
	}
	if exists(leftover) {
		t.Error("a killed write's temporary file survives a restart")
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
