package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/filter/encryptor"
	"github.com/sentinel-audit/sentinel/plugins/filter/signer"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt/vaulttest"
	"github.com/sentinel-audit/sentinel/plugins/output/file"
	"github.com/sentinel-audit/sentinel/sdk"
)

// storeEncryptedWithVault writes events through encryptor (kms vault) ->
// signer -> file.
func storeEncryptedWithVault(t *testing.T, keys, dir, vaultAddr string) {
	t.Helper()
	ctx := context.Background()
	raw := func(m map[string]any) sdk.Config {
		b, _ := json.Marshal(m)
		return sdk.Config{Raw: b, DataDir: t.TempDir()}
	}
	enc, s, out := &encryptor.Encryptor{}, &signer.Signer{}, &file.File{}
	if err := enc.Configure(ctx, raw(map[string]any{"keys": keys, "fields": []string{"arguments.password"},
		"kms": map[string]any{"vault": map[string]any{"address": vaultAddr, "key": "sentinel"}}})); err != nil {
		t.Fatal(err)
	}
	if err := s.Configure(ctx, raw(map[string]any{"keys": keys})); err != nil {
		t.Fatal(err)
	}
	if err := out.Configure(ctx, raw(map[string]any{"path": dir, "keys": keys})); err != nil {
		t.Fatal(err)
	}
	b := &sdk.Batch{}
	for i := range 3 {
		r, _ := sdk.NewRecord(fmt.Appendf(nil, `{"event_id":"ev-%d","event_type":"mcp_tool_execution","arguments":{"password":"pw-%d"}}`, i, i))
		b.Records = append(b.Records, r)
	}
	b, err := enc.Process(ctx, b)
	if err == nil {
		b, err = s.Process(ctx, b)
	}
	if err == nil {
		_, err = out.Process(ctx, b)
	}
	if err != nil || out.Close(ctx) != nil {
		t.Fatal(err)
	}
}

// leaveFlagsClean resets the Vault flags after a test, for helpers that run
// the CLI without resetting flags first.
func leaveFlagsClean(t *testing.T) { t.Cleanup(func() { resetFlags(root) }) }

func TestKeygenAndReadWithAVaultWrappedKeyring(t *testing.T) {
	leaveFlagsClean(t)
	v := vaulttest.Start(t)
	t.Setenv("VAULT_TOKEN", v.Token)
	dir := t.TempDir()
	keys, store := filepath.Join(dir, "keys"), filepath.Join(dir, "audit")
	if out, code := cli(t, "keygen", "--out", keys, "--vault-addr", v.URL, "--vault-key", "sentinel"); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(keys, "keyring", "kek.key")); !os.IsNotExist(err) {
		t.Fatalf("a Vault keyring kept kek.key: %v", err)
	}
	storeEncryptedWithVault(t, keys, store, v.URL)

	out, code := cli(t, "read", "--keys", keys, "--decrypt", store)
	if code != 2 || !strings.Contains(out, "wrapped by vault-transit:transit/sentinel") || strings.Contains(out, "pw-") {
		t.Fatalf("read --decrypt without Vault flags: exit %d: %s", code, out)
	}
	t.Setenv("VAULT_ADDR", v.URL)
	plain, code := cli(t, "read", "--keys", keys, "--decrypt", "--vault-key", "sentinel", store)
	if code != 0 || !strings.Contains(plain, `"password":"pw-2"`) || strings.Contains(plain, "$enc:") {
		t.Fatalf("read --decrypt with Vault: exit %d:\n%s", code, plain)
	}
	t.Setenv("VAULT_TOKEN", "revoked")
	if out, code := cli(t, "read", "--keys", keys, "--decrypt", "--vault-key", "sentinel", store); code != 2 || !strings.Contains(out, "check the token's policy") {
		t.Fatalf("read with a revoked token: exit %d: %s", code, out)
	}
}

func TestKeygenRewrapMovesALocalKeyringToVault(t *testing.T) {
	leaveFlagsClean(t)
	v := vaulttest.Start(t)
	t.Setenv("VAULT_TOKEN", v.Token)
	keys := filepath.Join(t.TempDir(), "keys")
	if _, code := cli(t, "keygen", "--out", keys); code != 0 {
		t.Fatal("keygen failed")
	}
	local, err := fieldcrypt.OpenKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := local.AppendEncrypted(nil, []byte(`"secret"`), "", "ev1", "arguments.password")
	if err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, "keygen", "--out", keys, "--rewrap"); code != 2 || !strings.Contains(out, "--vault-key") {
		t.Fatalf("--rewrap without a key: exit %d: %s", code, out)
	}
	// Two data keys: keygen's, and the one the keyring made for the field above.
	out, code := cli(t, "keygen", "--out", keys, "--rewrap", "--vault-addr", v.URL, "--vault-key", "sentinel")
	if code != 0 || !strings.Contains(out, "rewrapped 2 data keys in "+keys+" with vault-transit:transit/sentinel") {
		t.Fatalf("rewrap: exit %d: %s", code, out)
	}
	// Moved: the local key-encryption key is gone, and the field encrypted
	// before the move opens through Vault.
	if _, err := os.Stat(filepath.Join(keys, "keyring", "kek.key")); !os.IsNotExist(err) {
		t.Fatalf("kek.key after the move: %v", err)
	}
	kek, err := fieldcrypt.NewVaultKEK(fieldcrypt.VaultConfig{Address: v.URL, Key: "sentinel", Token: v.Token})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := fieldcrypt.OpenKeyringKEK(context.Background(), keys, kek)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := moved.Decrypt(strings.Trim(string(enc), `"`), "ev1", "arguments.password"); err != nil || string(plain) != `"secret"` {
		t.Fatalf("field from before the move: %s %v", plain, err)
	}
}

func TestKeygenWithVaultDownLeavesNothing(t *testing.T) {
	leaveFlagsClean(t)
	v := vaulttest.Start(t)
	t.Setenv("VAULT_TOKEN", v.Token)
	down := filepath.Join(t.TempDir(), "keys")
	addr := v.URL
	v.Close()
	out, code := cli(t, "keygen", "--out", down, "--vault-addr", addr, "--vault-key", "sentinel")
	if code == 0 || !strings.Contains(out, "unreachable") {
		t.Fatalf("keygen with Vault down: exit %d: %s", code, out)
	}
	// Nothing half-made is left behind, and no local key-encryption key ever existed.
	if entries, _ := os.ReadDir(down); len(entries) != 0 {
		t.Fatalf("keygen with Vault down left %v in %s", entries, down)
	}
}
