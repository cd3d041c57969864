package integrity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
)

// Files of a key directory written by `sentinel keygen`.
const (
	SeedFile       = "chain.seed"  // HMAC chain seed, 64 hex digits; secret (0600)
	SigningKeyFile = "signing.key" // Ed25519 note signer key; secret (0600)
	SigningPubFile = "signing.pub" // Ed25519 note verifier key; public
)

// DefaultOrigin names the log in checkpoints when none is configured.
const DefaultOrigin = "sentinel.local/audit"

// Keygen writes a fresh key directory: chain seed, signing key pair and an
// encryption keyring. It refuses to overwrite existing keys. It returns the
// public verifier key.
func Keygen(dir, origin string) (string, error) {
	return KeygenKEK(context.Background(), dir, origin, nil)
}

// KeygenKEK is Keygen with the keyring's data keys wrapped by kek (a KMS)
// instead of a local kek.key. The keyring is made first, so that a KMS that
// refuses leaves no half-made key directory behind.
func KeygenKEK(ctx context.Context, dir, origin string, kek fieldcrypt.KEK) (string, error) {
	if origin == "" {
		origin = DefaultOrigin
	}
	if strings.ContainsAny(origin, " +\n") {
		return "", fmt.Errorf("origin %q: must not contain spaces or '+'", origin)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	for _, f := range []string{SeedFile, SigningKeyFile, SigningPubFile, fieldcrypt.KeyringDir} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return "", fmt.Errorf("keygen: %s already exists; refusing to overwrite keys", filepath.Join(dir, f))
		}
	}
	if err := fieldcrypt.CreateKeyringKEK(ctx, dir, kek); err != nil {
		os.RemoveAll(filepath.Join(dir, fieldcrypt.KeyringDir))
		return "", err
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	if err := fieldcrypt.WriteSecretFile(filepath.Join(dir, SeedFile), []byte(hex.EncodeToString(seed)+"\n")); err != nil {
		return "", err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	if err := fieldcrypt.WriteSecretFile(filepath.Join(dir, SigningKeyFile), []byte(skey+"\n")); err != nil {
		return "", err
	}
	if err := fieldcrypt.WriteFileAtomic(filepath.Join(dir, SigningPubFile), []byte(vkey+"\n"), 0o644); err != nil {
		return "", err
	}
	return vkey, nil
}

// LoadSeed reads the chain seed of a key directory.
func LoadSeed(dir string) ([]byte, error) {
	k, err := fieldcrypt.ReadKeyFile(filepath.Join(dir, SeedFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no chain seed %s (create keys with `sentinel keygen --out %s`)", filepath.Join(dir, SeedFile), dir)
		}
		return nil, err
	}
	return k, nil
}

// LoadSigner reads the checkpoint signing key of a key directory.
func LoadSigner(dir string) (note.Signer, error) {
	b, err := os.ReadFile(filepath.Join(dir, SigningKeyFile))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", filepath.Join(dir, SigningKeyFile), err)
	}
	return s, nil
}

// LoadVerifier reads a public verifier key from a file, or from a key
// directory's signing.pub.
func LoadVerifier(path string) (note.Verifier, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, SigningPubFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return v, nil
}
