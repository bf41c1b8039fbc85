package s3local

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/afero"
)

// partialPrefix names the files objects are written into before they are
// renamed into place. Listing, drop-in scans and the events never show them.
const partialPrefix = ".s3partial-"

// atomicFs is the objects' file system: a file created for an object is
// written under a temporary name beside it and renamed to the object's path
// only when it was written whole — exactly the bytes expected of it (see
// expect) and without a write error. A crash, a full disk or a failed read
// mid-write leaves no partial object (only a temporary file, removed at the
// next start), and readers see the old object or the new one, never half.
type atomicFs struct {
	afero.Fs
	expected *sync.Map // object path (in this fs) -> int64 size its write must reach
	noSpace  *sync.Map // object path -> struct{}: its last write failed for a full disk
}

// tookNoSpace reports (once) whether the last write of name failed because
// the disk was full: the emulator answers that with a plain 500.
func (a atomicFs) tookNoSpace(name string) bool {
	if a.noSpace == nil {
		return false
	}
	_, ok := a.noSpace.LoadAndDelete(filepath.Clean(name))
	return ok
}

func (a atomicFs) noteNoSpace(name string, err error) {
	if a.noSpace != nil && errors.Is(err, syscall.ENOSPC) {
		a.noSpace.Store(filepath.Clean(name), struct{}{})
	}
}

// expect records that the next write of name must reach size bytes to count.
func (a atomicFs) expect(name string, size int64) func() {
	a.expected.Store(filepath.Clean(name), size)
	return func() { a.expected.Delete(filepath.Clean(name)) }
}

func (a atomicFs) Create(name string) (afero.File, error) {
	var raw [8]byte
	rand.Read(raw[:])
	tmp := filepath.Join(filepath.Dir(name), partialPrefix+hex.EncodeToString(raw[:]))
	f, err := a.Fs.Create(tmp)
	if errors.Is(err, fs.ErrNotExist) {
		// Its folder went empty and was removed (Remove) since the caller
		// made it: make it again.
		if err = a.Fs.MkdirAll(filepath.Dir(name), 0o755); err == nil {
			f, err = a.Fs.Create(tmp)
		}
	}
	if err != nil {
		a.noteNoSpace(name, err)
		return nil, err
	}
	want := int64(-1)
	if v, ok := a.expected.Load(filepath.Clean(name)); ok {
		want = v.(int64)
	}
	return &renameOnClose{File: f, fs: a, tmp: tmp, final: name, want: want}, nil
}

// Remove removes an object's file, then the folders it leaves empty (a
// folder exists only through the objects under it, as on S3).
func (a atomicFs) Remove(name string) error {
	if err := a.Fs.Remove(name); err != nil {
		return err
	}
	for dir := filepath.Dir(filepath.Clean(name)); dir != "." && dir != string(filepath.Separator) && dir != ""; dir = filepath.Dir(dir) {
		if a.Fs.Remove(dir) != nil {
			break // not empty (or not ours to remove): the folders above are not either
		}
	}
	return nil
}

type renameOnClose struct {
	afero.File
	fs         atomicFs
	tmp, final string
	want       int64
	written    int64
	failed     bool
	closed     bool
}

func (r *renameOnClose) Write(p []byte) (int, error) {
	n, err := r.File.Write(p)
	r.written += int64(n)
	if err != nil {
		r.failed = true
		r.fs.noteNoSpace(r.final, err)
	}
	return n, err
}

func (r *renameOnClose) Name() string { return r.final }

func (r *renameOnClose) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.File.Close()
	if err != nil || r.failed || (r.want >= 0 && r.written != r.want) {
		r.fs.noteNoSpace(r.final, err)
		r.fs.Fs.Remove(r.tmp)
		if err == nil {
			err = &fs.PathError{Op: "write", Path: r.final, Err: errIncomplete}
		}
		return err
	}
	if err := r.fs.Fs.Rename(r.tmp, r.final); err != nil {
		r.fs.noteNoSpace(r.final, err)
		r.fs.Fs.Remove(r.tmp) // no object, and no temporary file left either
		return err
	}
	return nil
}

type incompleteError struct{}

func (incompleteError) Error() string { return "the object was not written whole; nothing was stored" }

var errIncomplete = incompleteError{}

// removePartials deletes the temporary files a killed server was writing.
func removePartials(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), partialPrefix) {
			os.Remove(p)
		}
		return nil
	})
}
