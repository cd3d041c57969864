package encryptor

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt/vaulttest"
	"github.com/sentinel-audit/sentinel/sdk"
)

// vaultKeys makes a key directory whose keyring is wrapped by the fake
// Vault's transit key "sentinel", as `sentinel keygen --vault-key` does.
func vaultKeys(t *testing.T, v *vaulttest.Server) string {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		t.Fatal(err)
	}
	kek, err := fieldcrypt.NewVaultKEK(fieldcrypt.VaultConfig{Address: v.URL, Key: "sentinel", Token: v.Token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fieldcrypt.RewrapKeyring(context.Background(), keys, kek); err != nil {
		t.Fatal(err)
	}
	return keys
}

func vaultConfig(keys, addr string) sdk.Config {
	raw, _ := json.Marshal(map[string]any{
		"keys": keys, "fields": []string{"arguments.password"}, "subject": "user_id",
		"kms": map[string]any{"vault": map[string]any{"address": addr, "key": "sentinel", "token_env": "SENTINEL_TEST_VAULT_TOKEN"}},
	})
	return sdk.Config{Raw: raw}
}

func process(t *testing.T, e *Encryptor, bodies ...string) *sdk.Batch {
	t.Helper()
	in := &sdk.Batch{}
	for _, b := range bodies {
		r, _ := sdk.NewRecord([]byte(b))
		in.Records = append(in.Records, r)
	}
	out, err := e.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Events encrypted by one process decrypt in the next: the data keys it made
// (one per subject) are stored wrapped by Vault and unwrapped by Vault again.
func TestVaultKeyringSurvivesARestart(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	keys := vaultKeys(t, v)

	first := &Encryptor{}
	if err := first.Configure(context.Background(), vaultConfig(keys, v.URL)); err != nil {
		t.Fatal(err)
	}
	out := process(t, first,
		`{"event_id":"e1","user_id":"alice","arguments":{"password":"hunter2"}}`,
		`{"event_id":"e2","user_id":"bob","arguments":{"password":"swordfish"}}`)
	if out.Len() != 2 || len(out.Rejected) != 0 {
		t.Fatalf("out %d rejected %v", out.Len(), out.Rejected)
	}
	wrapsBefore := v.Calls("encrypt")
	for _, r := range out.Records {
		if strings.Contains(string(r.Body), "hunter2") || strings.Contains(string(r.Body), "swordfish") {
			t.Fatalf("plaintext left: %s", r.Body)
		}
	}

	second := &Encryptor{} // a new process: nothing cached
	if err := second.Configure(context.Background(), vaultConfig(keys, v.URL)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"hunter2", "swordfish"} {
		dec, errs := second.kr.DecryptEvent(out.Records[i].Body, []string{"e1", "e2"}[i])
		if len(errs) > 0 || !strings.Contains(string(dec), want) {
			t.Fatalf("after restart: %s %v", dec, errs)
		}
	}
	// alice's key is reused after the restart, not made again.
	process(t, second, `{"event_id":"e3","user_id":"alice","arguments":{"password":"x"}}`)
	if v.Calls("encrypt") != wrapsBefore {
		t.Fatalf("a known subject's key was wrapped again (%d wraps)", v.Calls("encrypt")-wrapsBefore)
	}
}

func TestVaultRefusalsStopConfigureClearly(t *testing.T) {
	v := vaulttest.Start(t)
	keys := vaultKeys(t, v)

	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", "expired-token")
	err := (&Encryptor{}).Configure(context.Background(), vaultConfig(keys, v.URL))
	if err == nil || !strings.Contains(err.Error(), "vault denied transit decrypt on transit/sentinel at "+v.URL+": check the token's policy") {
		t.Fatalf("wrong token: %v", err)
	}

	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	local := filepath.Join(t.TempDir(), "local")
	if _, err := integrity.Keygen(local, ""); err != nil {
		t.Fatal(err)
	}
	err = (&Encryptor{}).Configure(context.Background(), vaultConfig(local, v.URL))
	if err == nil || !strings.Contains(err.Error(), "wrapped by its local kek.key, not by vault-transit:transit/sentinel") {
		t.Fatalf("local keyring with Vault config: %v", err)
	}

	raw, _ := json.Marshal(map[string]any{"keys": keys, "fields": []string{"a"}})
	err = (&Encryptor{}).Configure(context.Background(), sdk.Config{Raw: raw})
	if err == nil || !strings.Contains(err.Error(), "wrapped by vault-transit:transit/sentinel, not by a local kek.key") {
		t.Fatalf("Vault keyring without kms: %v", err)
	}
}

// With Vault down, nothing starts; once running, a batch with an event that
// needs a new data key waits for Vault (a retryable error), never passed on
// or dead-lettered in plaintext.
func TestVaultDownLeaksNothing(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	keys := vaultKeys(t, v)

	e := &Encryptor{}
	if err := e.Configure(context.Background(), vaultConfig(keys, v.URL)); err != nil {
		t.Fatal(err)
	}
	addr := v.URL
	v.Close()

	err := (&Encryptor{}).Configure(context.Background(), vaultConfig(keys, addr))
	if err == nil || !strings.Contains(err.Error(), "vault at "+addr+" unreachable") {
		t.Fatalf("down at start: %v", err)
	}

	r, _ := sdk.NewRecord([]byte(`{"event_id":"e1","user_id":"carol","arguments":{"password":"hunter2"}}`))
	out, err := e.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{r}})
	var re *sdk.RetryError
	if out != nil || !errors.As(err, &re) || !strings.Contains(err.Error(), "unreachable") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("event for a new subject with Vault down: %v, %v: want the batch retried later, nothing leaked", out, err)
	}
}

// A Vault that answers 503 for longer than the request retries (sealed,
// restarting) holds the batch back until it is back.
func TestSealedVaultHoldsBatchesUntilItReturns(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	e := &Encryptor{}
	if err := e.Configure(context.Background(), vaultConfig(vaultKeys(t, v), v.URL)); err != nil {
		t.Fatal(err)
	}
	v.FailNext(503, 503, 503, 503)
	r, _ := sdk.NewRecord([]byte(`{"event_id":"e2","user_id":"dave","arguments":{"password":"hunter2"}}`))
	if _, err := e.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{r}}); !errors.Is(err, fieldcrypt.ErrKeyUnavailable) {
		t.Fatalf("sealed Vault: %v, want a retryable unavailable error", err)
	}
	out := process(t, e, `{"event_id":"e2","user_id":"dave","arguments":{"password":"hunter2"}}`)
	if out.Len() != 1 || strings.Contains(string(out.Records[0].Body), "hunter2") {
		t.Fatalf("after Vault returned: %d records, %s", out.Len(), out.Records[0].Body)
	}
}

func TestVaultConfigValidation(t *testing.T) {
	ok := map[string]any{"address": "https://vault:8200", "key": "sentinel"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		kms   any
		raw   bool
		field string
	}{
		{map[string]any{}, false, "kms"},
		{map[string]any{"vault": with("address", "")}, false, "kms.vault.address"},
		{map[string]any{"vault": with("address", "vault:8200")}, false, "kms.vault.address"},
		{map[string]any{"vault": with("key", "")}, false, "kms.vault.key"},
		{map[string]any{"vault": with("token", "t", "token_file", "f")}, false, "kms.vault.token_file"},
		{map[string]any{"vault": ok}, true, "kms"},
	} {
		cfg := map[string]any{"keys": "k", "fields": []string{"a"}, "kms": c.kms}
		if c.raw {
			delete(cfg, "keys")
			cfg["key"] = "8f1e3c5d7a9b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e"
		}
		raw, _ := json.Marshal(cfg)
		err := (&Encryptor{}).Validate(sdk.Config{Raw: raw})
		var fe *sdk.FieldError
		if err == nil || !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("kms %v: got %v, want an error on %s", c.kms, err, c.field)
		}
	}
	raw, _ := json.Marshal(map[string]any{"keys": "k", "fields": []string{"a"}, "kms": map[string]any{"vault": ok}})
	if err := (&Encryptor{}).Validate(sdk.Config{Raw: raw}); err != nil {
		t.Fatalf("valid kms rejected: %v", err)
	}
}

// An expired or revoked token (403) is an operator's fix, not bad data: the
// batch waits for it instead of reaching the dead letters unencrypted.
func TestARefusedTokenHoldsTheBatchBack(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	e := &Encryptor{}
	if err := e.Configure(context.Background(), vaultConfig(vaultKeys(t, v), v.URL)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", "expired")
	r, _ := sdk.NewRecord([]byte(`{"event_id":"e3","user_id":"erin","arguments":{"password":"hunter2"}}`))
	out, err := e.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{r}})
	var re *sdk.RetryError
	if out != nil || !errors.As(err, &re) || !strings.Contains(err.Error(), "denied") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("refused token: %v, %v: want the batch retried, nothing leaked", out, err)
	}
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	if out := process(t, e, `{"event_id":"e3","user_id":"erin","arguments":{"password":"hunter2"}}`); out.Len() != 1 {
		t.Fatal("the batch did not go through once the token was renewed")
	}
}

// A slow Vault and a batch of new subjects: the wraps share one budget, so
// the batch fails (to be retried) well before the host's deadline instead of
// the plugin being killed at it.
func TestNewKeysOfOneBatchShareOneWrapBudget(t *testing.T) {
	v := vaulttest.Start(t)
	t.Setenv("SENTINEL_TEST_VAULT_TOKEN", v.Token)
	e := &Encryptor{}
	if err := e.Configure(context.Background(), vaultConfig(vaultKeys(t, v), v.URL)); err != nil {
		t.Fatal(err)
	}
	defer func(b time.Duration) { wrapBudget = b }(wrapBudget)
	wrapBudget = 500 * time.Millisecond
	v.Delay = 200 * time.Millisecond
	in := &sdk.Batch{}
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		r, _ := sdk.NewRecord([]byte(`{"event_id":"e-` + u + `","user_id":"` + u + `","arguments":{"password":"hunter2"}}`))
		in.Records = append(in.Records, r)
	}
	start := time.Now()
	_, err := e.Process(context.Background(), in)
	var re *sdk.RetryError
	if !errors.As(err, &re) || time.Since(start) > 2*time.Second {
		t.Fatalf("after %v: %v, want a retryable error within the budget", time.Since(start), err)
	}
}
