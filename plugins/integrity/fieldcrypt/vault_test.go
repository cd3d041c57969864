package fieldcrypt

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt/vaulttest"
)

func vaultKEK(t *testing.T, v *vaulttest.Server, mod func(*VaultConfig)) *VaultKEK {
	t.Helper()
	cfg := VaultConfig{Address: v.URL, Key: "sentinel", Token: v.Token, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	k, err := NewVaultKEK(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testDEK = bytes.Repeat([]byte{0x5a}, 32)

// noKeyMaterial fails if an error carries the DEK in any common encoding.
func noKeyMaterial(t *testing.T, err error) {
	t.Helper()
	if err != nil && (strings.Contains(err.Error(), hex.EncodeToString(testDEK)) || strings.Contains(err.Error(), "WlpaWlpa")) {
		t.Fatalf("error leaks the data key: %v", err)
	}
}

func TestVaultWrapsThroughTransitAndBindsTheKeyID(t *testing.T) {
	v := vaulttest.Start(t)
	k := vaultKEK(t, v, nil)
	ctx := context.Background()
	wrapped, err := k.Wrap(ctx, testDEK, dekAAD("abcd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(wrapped), "vault:v1:") || bytes.Contains(wrapped, testDEK) {
		t.Fatalf("wrapped = %q", wrapped)
	}
	got, err := k.Unwrap(ctx, wrapped, dekAAD("abcd"))
	if err != nil || !bytes.Equal(got, testDEK) {
		t.Fatalf("unwrap: %x %v", got, err)
	}
	// A wrapped key copied into another key id's file is refused.
	_, err = k.Unwrap(ctx, wrapped, dekAAD("efgh"))
	if err == nil || !strings.Contains(err.Error(), "bound to another key id") {
		t.Fatalf("swapped key file: %v", err)
	}
	noKeyMaterial(t, err)
	if k.Name() != "vault-transit:transit/sentinel" {
		t.Fatalf("name %q", k.Name())
	}
	if v.Calls("encrypt") != 1 || v.Calls("decrypt") != 2 {
		t.Fatalf("calls: encrypt %d decrypt %d", v.Calls("encrypt"), v.Calls("decrypt"))
	}
}

func TestVaultKeyRotationKeepsOldVersionsReadable(t *testing.T) {
	v := vaulttest.Start(t)
	k := vaultKEK(t, v, nil)
	ctx := context.Background()
	w1, _ := k.Wrap(ctx, testDEK, dekAAD("k1"))
	if v.Rotate("sentinel") != 2 {
		t.Fatal("rotate")
	}
	w2, err := k.Wrap(ctx, testDEK, dekAAD("k2"))
	if err != nil || !strings.HasPrefix(string(w2), "vault:v2:") {
		t.Fatalf("after rotation: %q %v", w2, err)
	}
	if _, err := k.Unwrap(ctx, w1, dekAAD("k1")); err != nil {
		t.Fatalf("v1 after rotation: %v", err)
	}
	v.SetMinDecryptionVersion("sentinel", 2)
	_, err = k.Unwrap(ctx, w1, dekAAD("k1"))
	if err == nil || !strings.Contains(err.Error(), "too old") || !strings.Contains(err.Error(), "min_decryption_version") {
		t.Fatalf("v1 below min_decryption_version: %v", err)
	}
	if _, err := k.Unwrap(ctx, w2, dekAAD("k2")); err != nil {
		t.Fatal(err)
	}
}

func TestVaultErrorsNameTheKeyAndNeverRetryARefusal(t *testing.T) {
	v := vaulttest.Start(t)
	good := vaultKEK(t, v, nil)
	wrapped, _ := good.Wrap(context.Background(), testDEK, dekAAD("k"))

	bad := vaultKEK(t, v, func(c *VaultConfig) { c.Token = "stolen-or-expired" })
	before := v.Calls("decrypt")
	_, err := bad.Unwrap(context.Background(), wrapped, dekAAD("k"))
	want := "vault denied transit decrypt on transit/sentinel at " + v.URL + ": check the token's policy (permission denied)"
	if err == nil || err.Error() != want {
		t.Fatalf("wrong token:\n got %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "stolen-or-expired") || v.Calls("decrypt")-before != 1 {
		t.Fatalf("token in error or refusal retried (%d calls)", v.Calls("decrypt")-before)
	}

	before = v.Calls("decrypt")
	_, err = good.Unwrap(context.Background(), []byte("vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), dekAAD("k"))
	if err == nil || !strings.Contains(err.Error(), "refused the wrapped key (cipher: message authentication failed)") || v.Calls("decrypt")-before != 1 {
		t.Fatalf("bad ciphertext: %v (%d calls)", err, v.Calls("decrypt")-before)
	}

	other := vaultKEK(t, v, func(c *VaultConfig) { c.Mount = "kv" })
	if _, err := other.Wrap(context.Background(), testDEK, dekAAD("k")); err == nil || !strings.Contains(err.Error(), "check the mount and key names") {
		t.Fatalf("wrong mount: %v", err)
	}
}

func TestVaultRetriesWhenSealedOrThrottled(t *testing.T) {
	v := vaulttest.Start(t)
	k := vaultKEK(t, v, nil)
	v.FailNext(http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError)
	w, err := k.Wrap(context.Background(), testDEK, dekAAD("k"))
	if err != nil || v.Calls("encrypt") != 4 {
		t.Fatalf("wrap after 3 failures: %v, %d calls", err, v.Calls("encrypt"))
	}
	v.FailNext(503, 503, 503, 503)
	_, err = k.Unwrap(context.Background(), w, dekAAD("k"))
	if err == nil || !strings.Contains(err.Error(), "failed after 4 attempts") || !strings.Contains(err.Error(), "Vault is sealed") {
		t.Fatalf("sealed throughout: %v", err)
	}
	noKeyMaterial(t, err)
}

func TestVaultUnreachableFailsClearly(t *testing.T) {
	v := vaulttest.Start(t)
	addr := v.URL
	v.Close()
	k, err := NewVaultKEK(VaultConfig{Address: addr, Key: "sentinel", Token: "t", Attempts: 2, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Wrap(context.Background(), testDEK, dekAAD("k"))
	if err == nil || !strings.Contains(err.Error(), "vault at "+addr+" unreachable") || !strings.Contains(err.Error(), "transit/sentinel") {
		t.Fatalf("down: %v", err)
	}
	noKeyMaterial(t, err)
}

func TestVaultTokenSourcesNamespaceAndCAFile(t *testing.T) {
	v, ca := vaulttest.StartTLS(t)
	v.Namespace = "team-a"
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte(v.Token+"\n"), 0o600)
	k := vaultKEK(t, v, func(c *VaultConfig) { c.Token, c.TokenFile, c.CAFile, c.Namespace = "", tokFile, ca, "team-a" })
	w, err := k.Wrap(context.Background(), testDEK, dekAAD("k"))
	if err != nil {
		t.Fatal(err)
	}
	if k.Name() != "vault-transit:team-a/transit/sentinel" {
		t.Fatalf("name %q", k.Name())
	}
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	fromEnv := vaultKEK(t, v, func(c *VaultConfig) {
		c.Token, c.TokenEnv, c.CAFile, c.Namespace = "", "SENTINEL_TEST_VAULT_TOKEN", ca, "team-a"
	})
	if _, err := fromEnv.Unwrap(context.Background(), w, dekAAD("k")); err != nil {
		t.Fatal(err)
	}
	noToken := vaultKEK(t, v, func(c *VaultConfig) { c.Token, c.TokenEnv, c.CAFile = "", "SENTINEL_TEST_NO_SUCH_VAR", ca })
	before := v.Calls("decrypt")
	if _, err := noToken.Unwrap(context.Background(), w, dekAAD("k")); err == nil || !strings.Contains(err.Error(), "no Vault token: set SENTINEL_TEST_NO_SUCH_VAR") || v.Calls("decrypt") != before {
		t.Fatalf("no token: %v", err)
	}
	untrusted := vaultKEK(t, v, func(c *VaultConfig) { c.Namespace = "team-a" })
	if _, err := untrusted.Wrap(context.Background(), testDEK, dekAAD("k")); err == nil || !strings.Contains(err.Error(), "certificate not trusted (set ca_file)") {
		t.Fatalf("TLS without the CA: %v", err)
	}
	if _, err := NewVaultKEK(VaultConfig{Address: "vault:8200", Key: "k"}); err == nil {
		t.Fatal("address without scheme accepted")
	}
}

// A keyring moves from its local kek.key to Vault, is then refused by the
// local path with an error naming Vault, reopens through Vault in a fresh
// keyring, and after a transit key rotation is rewrapped to the new version
// so that min_decryption_version can be raised.
func TestKeyringMovesToVaultAndRewrapsAfterRotation(t *testing.T) {
	v := vaulttest.Start(t)
	k := vaultKEK(t, v, nil)
	ctx := context.Background()
	dir, kr := testKeyring(t)
	f, _ := CompileFields([]string{"arguments.password"})
	enc, _, err := kr.EncryptEvent([]byte(event), f, "alice", "01J0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyringKEK(ctx, dir, k); err == nil || !strings.Contains(err.Error(), "wrapped by its local kek.key, not by vault-transit:transit/sentinel") {
		t.Fatalf("local keyring opened with Vault: %v", err)
	}
	n, err := RewrapKeyring(ctx, dir, k)
	if err != nil || n != 2 { // keygen's shared key and alice's key
		t.Fatalf("rewrap: %d %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyringDir, kekFile)); !os.IsNotExist(err) {
		t.Fatalf("kek.key left behind: %v", err)
	}
	if _, err := OpenKeyring(dir); err == nil || !strings.Contains(err.Error(), "wrapped by vault-transit:transit/sentinel") {
		t.Fatalf("Vault keyring opened locally: %v", err)
	}
	decryptWith := func() {
		t.Helper()
		re, err := OpenKeyringKEK(ctx, dir, k)
		if err != nil {
			t.Fatal(err)
		}
		if out, errs := re.DecryptEvent(enc, "01J0"); len(errs) > 0 || !strings.Contains(string(out), "hunter2") {
			t.Fatalf("after reopening through Vault: %v", errs)
		}
	}
	decryptWith()

	v.Rotate("sentinel")
	if n, err := RewrapKeyring(ctx, dir, k); err != nil || n != 2 {
		t.Fatalf("rewrap to v2: %d %v", n, err)
	}
	v.SetMinDecryptionVersion("sentinel", 2)
	decryptWith()

	other := vaultKEK(t, v, func(c *VaultConfig) { c.Key = "other" })
	if _, err := OpenKeyringKEK(ctx, dir, other); err == nil || !strings.Contains(err.Error(), "was wrapped by vault-transit:transit/sentinel, but the configured key-encryption key is vault-transit:transit/other") {
		t.Fatalf("other transit key: %v", err)
	}
}
