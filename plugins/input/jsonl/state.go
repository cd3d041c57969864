package jsonl

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// stateFile holds the committed read offsets, in the component's data dir.
const stateFile = "offsets.json"

// headBytes is how much of a file's beginning is fingerprinted, so that a
// new file that happens to reuse a deleted file's inode is not taken for it.
const headBytes = 1024

// fileID identifies a file across renames: device and inode, or the path
// where the platform has no inode.
type fileID struct {
	Dev, Ino uint64
	Path     string
}

func keyFor(path string, info os.FileInfo) fileID {
	id := identityOf(info)
	if id == (fileID{}) {
		id.Path = path
	}
	return id
}

// stateEntry is the committed progress of one file.
type stateEntry struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Offset  int64  `json:"offset"`
	HeadLen int64  `json:"head_len"`
	Head    string `json:"head"` // hex SHA-256 prefix of the first HeadLen bytes
}

func (e *stateEntry) id() fileID {
	if e.Dev == 0 && e.Ino == 0 {
		return fileID{Path: e.Path}
	}
	return fileID{Dev: e.Dev, Ino: e.Ino}
}

type stateDoc struct {
	Version int           `json:"version"`
	Files   []*stateEntry `json:"files"`
}

// loadState reads the committed offsets. A missing file is a first start; an
// unreadable one (a torn write after power loss) is reported and ignored,
// which re-reads from start_at: duplicates, never a gap.
func loadState(dir string) (map[fileID]*stateEntry, error) {
	out := map[fileID]*stateEntry{}
	if dir == "" {
		return out, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read offsets: %w", err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return out, fmt.Errorf("offsets file %s is corrupt, starting over: %w", filepath.Join(dir, stateFile), err)
	}
	for _, e := range doc.Files {
		if e != nil && e.Offset >= 0 {
			out[e.id()] = e
		}
	}
	return out, nil
}

// saveState writes the offsets atomically: a temporary file renamed over the
// old one, so a kill -9 leaves either the old or the new state. sync adds
// fsync (at Close) for power loss; per-ack writes skip it to keep acks cheap.
func saveState(dir string, entries map[fileID]*stateEntry, sync bool) error {
	if dir == "" {
		return nil
	}
	doc := stateDoc{Version: 1, Files: make([]*stateEntry, 0, len(entries))}
	for _, e := range entries {
		doc.Files = append(doc.Files, e)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode offsets: %w", err)
	}
	tmp, err := os.CreateTemp(dir, stateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write offsets: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write offsets: %w", err)
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return fmt.Errorf("sync offsets: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write offsets: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	if sync {
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

// fingerprint hashes up to the first n bytes of f and says how many it hashed.
func fingerprint(f io.ReaderAt, n int64) (string, int64, error) {
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	sum := sha256.Sum256(buf[:m])
	return hex.EncodeToString(sum[:8]), int64(m), nil
}
