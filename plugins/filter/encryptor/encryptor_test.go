package encryptor

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"keys": keys, "fields": []string{"arguments.*", "result"}})
	sdktest.Conformance(t, Definition, sdktest.Options{Config: raw})
}

func TestRawKeyEncryptsWithoutLeakingAndValidates(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"key": "8f1e3c5d7a9b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e", "fields": []string{"arguments.password"}})
	e := &Encryptor{}
	if err := e.Configure(context.Background(), sdk.Config{Raw: raw}); err != nil {
		t.Fatal(err)
	}
	r, _ := sdk.NewRecord([]byte(`{"event_id":"x","arguments":{"password":"hunter2"}}`))
	out, err := e.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{r}})
	if err != nil || out.Len() != 1 || strings.Contains(string(out.Records[0].Body), "hunter2") {
		t.Fatalf("out %v err %v", out, err)
	}
	for _, bad := range []map[string]any{
		{"fields": []string{"a"}},
		{"key": "short", "fields": []string{"a"}},
		{"keys": "k", "fields": []string{}},
		{"key": "8f1e3c5d7a9b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e", "fields": []string{"a"}, "subject": "user_id"},
	} {
		raw, _ := json.Marshal(bad)
		if err := (&Encryptor{}).Validate(sdk.Config{Raw: raw}); err == nil {
			t.Errorf("config %v accepted", bad)
		}
	}
}

// The audit chain's event comes out with exactly arguments.path replaced by
// an envelope, and decrypts back to the very bytes that went in.
func TestChainEventEnvelopeDecryptsToItself(t *testing.T) {
	e, keys := chainEncryptor(t)
	r, err := sdk.NewRecord([]byte(chainEvent))
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{r}})
	if err != nil || out.Len() != 1 {
		t.Fatalf("out %v err %v", out, err)
	}
	enc := string(out.Records[0].Body)
	envelope := regexp.MustCompile(`"path":"\$enc:v1\.[a-z2-7]+\.[A-Za-z0-9_-]+"`)
	if loc := envelope.FindStringIndex(enc); loc == nil || enc[:loc[0]]+`"path":"/srv/projects/atlas/reports/2026/q3-summary.md"`+enc[loc[1]:] != chainEvent {
		t.Fatalf("not the event with its path enveloped: %s", enc)
	}
	kr, err := fieldcrypt.OpenKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	if dec, errs := kr.DecryptEvent(out.Records[0].Body, r.ID); len(errs) > 0 || string(dec) != chainEvent {
		t.Fatalf("decrypted %s, errors %v", dec, errs)
	}
}
