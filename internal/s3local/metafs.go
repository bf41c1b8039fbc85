package s3local

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"
)

// maxMetaName is the longest side-car file name kept as the emulator makes it
// (the key with / as _, plus a 33-byte hash suffix); most file systems allow
// 255 bytes a name.
const maxMetaName = 200

// metaFs holds the emulator's side-car metadata. It names a file whose name
// would be too long for the file system after a hash of that name instead, so
// keys up to S3's 1,024 bytes get their metadata (they were a 500). Short
// names are untouched, so existing data folders read as before.
type metaFs struct{ afero.Fs }

func (m metaFs) name(p string) string {
	dir, base := filepath.Split(p)
	if len(base) <= maxMetaName {
		return p
	}
	sum := sha256.Sum256([]byte(base))
	return filepath.Join(dir, "long-"+hex.EncodeToString(sum[:]))
}

func (m metaFs) Create(n string) (afero.File, error)       { return m.Fs.Create(m.name(n)) }
func (m metaFs) Open(n string) (afero.File, error)         { return m.Fs.Open(m.name(n)) }
func (m metaFs) Remove(n string) error                     { return m.Fs.Remove(m.name(n)) }
func (m metaFs) RemoveAll(n string) error                  { return m.Fs.RemoveAll(m.name(n)) }
func (m metaFs) Stat(n string) (os.FileInfo, error)        { return m.Fs.Stat(m.name(n)) }
func (m metaFs) Chmod(n string, mode os.FileMode) error    { return m.Fs.Chmod(m.name(n), mode) }
func (m metaFs) Chown(n string, uid, gid int) error        { return m.Fs.Chown(m.name(n), uid, gid) }
func (m metaFs) Mkdir(n string, perm os.FileMode) error    { return m.Fs.Mkdir(m.name(n), perm) }
func (m metaFs) MkdirAll(n string, perm os.FileMode) error { return m.Fs.MkdirAll(m.name(n), perm) }
func (m metaFs) Rename(from, to string) error              { return m.Fs.Rename(m.name(from), m.name(to)) }
func (m metaFs) Chtimes(n string, atime, mtime time.Time) error {
	return m.Fs.Chtimes(m.name(n), atime, mtime)
}
func (m metaFs) OpenFile(n string, flag int, perm os.FileMode) (afero.File, error) {
	return m.Fs.OpenFile(m.name(n), flag, perm)
}
