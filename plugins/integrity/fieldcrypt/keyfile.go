// Package fieldcrypt encrypts single JSON field values with AES-256-GCM under
// data keys (DEKs) kept in a keyring directory, one file per key, so that
// deleting one subject's key file crypto-shreds that subject's fields while the
// tamper-evident log that holds the ciphertexts still verifies.
package fieldcrypt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// ParseKey reads a 32-byte key written as 64 hex digits (the output of
// `openssl rand -hex 32`) or as base64 (standard or URL alphabet, padded or
// not). Surrounding whitespace is ignored.
func ParseKey(b []byte) ([]byte, error) {
	s := string(bytes.TrimSpace(b))
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("key must be 32 bytes as 64 hex digits (openssl rand -hex 32) or base64, got %d characters", len(s))
}

// ReadKeyFile reads a key file in ParseKey's format.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	return k, nil
}

// WriteSecretFile writes data with mode 0600 through a temporary file and a
// rename, so a crash leaves either the old or the new file, never half of one.
func WriteSecretFile(path string, data []byte) error {
	return writeFileAtomic(path, data, 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteFileAtomic is WriteSecretFile with a chosen mode, for state files.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomic(path, data, mode)
}
