package fieldcrypt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RewrapKeyring wraps every data key of keyDir/keyring again with to, so
// that a local keyring moves to Vault, or a Vault keyring moves to the
// newest version of its transit key (after which the key's
// min_decryption_version can be raised). Keys already wrapped by to are
// unwrapped with to; keys wrapped locally are unwrapped with kek.key. Data
// keys do not change, so the log and every ciphertext stay as they are.
//
// Each key file is replaced atomically, and kek.key is removed only after
// every file is wrapped by to, so an interrupted run can simply be repeated.
// Copies of kek.key in backups can still unwrap the old key files.
func RewrapKeyring(ctx context.Context, keyDir string, to KEK) (int, error) {
	dir := filepath.Join(keyDir, KeyringDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("rewrap: no keyring in %s: %w", keyDir, err)
	}
	var local KEK
	if k, err := ReadKeyFile(filepath.Join(dir, kekFile)); err == nil {
		if local, err = NewLocalKEK(k); err != nil {
			return 0, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		kf, err := readKeyFile(path)
		if err != nil {
			return n, fmt.Errorf("rewrap: %w", err)
		}
		from := to
		if kf.KEK != to.Name() {
			if kf.KEK != "local" || local == nil {
				return n, fmt.Errorf("rewrap: key %s was wrapped by %s, which is neither %s nor a local kek.key here", kf.KID, kf.KEK, to.Name())
			}
			from = local
		}
		key, err := kf.unwrap(ctx, from, e.Name())
		if err != nil {
			return n, fmt.Errorf("rewrap: %w", err)
		}
		rewrapped, err := to.Wrap(ctx, key, dekAAD(kf.KID))
		clear(key)
		if err != nil {
			return n, fmt.Errorf("rewrap: key %s: %w", kf.KID, err)
		}
		kf.KEK, kf.Wrapped = to.Name(), base64.RawURLEncoding.EncodeToString(rewrapped)
		b, _ := json.Marshal(kf)
		if err := WriteSecretFile(path, b); err != nil {
			return n, err
		}
		n++
	}
	if local != nil && to.Name() != local.Name() {
		if err := os.Remove(filepath.Join(dir, kekFile)); err != nil {
			return n, fmt.Errorf("rewrap: remove the local kek.key: %w", err)
		}
	}
	return n, nil
}
