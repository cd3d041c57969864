package piitokenizer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sentinel-audit/sentinel/sdk"
)

// keyFileName is the generated key's file in the component's data directory.
const keyFileName = "tokenizer.key"

// loadKey returns the HMAC key and where it came from. Without key or
// key_file it uses the key kept in the data directory, generating it on first
// start, so tokens stay the same across restarts.
func loadKey(c *Config, sc sdk.Config) ([]byte, string, error) {
	switch {
	case sc.DryRun && c.Key == "": // validation only: read and write nothing
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, "dry run", err
	case c.Key != "":
		k, err := parseHexKey(c.Key)
		return k, "key", err
	case c.KeyFile != "":
		k, err := readKeyFile(c.KeyFile)
		return k, "key_file", err
	}
	if sc.DataDir == "" {
		return nil, "", errors.New("no key: set key or key_file (the host's data_dir would let the plugin generate and keep one)")
	}
	path := filepath.Join(sc.DataDir, keyFileName)
	k, err := readKeyFile(path)
	if err == nil {
		return k, path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	if err := writeNewKeyFile(path, k); err != nil {
		if errors.Is(err, fs.ErrExist) { // another instance won the race: use its key
			k, err = readKeyFile(path)
			return k, path, err
		}
		return nil, "", err
	}
	sc.Log().Warn("generated a tokenization key; tokens are stable as long as this file is kept (back it up, or set key/key_file)", "path", path)
	return k, path, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(b) == 32 { // raw key bytes
		return b, nil
	}
	k, err := parseHexKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// writeNewKeyFile creates the key file 0600, failing if it exists, and syncs
// it so a crash right after start cannot lose the key its tokens depend on.
func writeNewKeyFile(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("sync key file: %w", err)
	}
	return f.Close()
}
