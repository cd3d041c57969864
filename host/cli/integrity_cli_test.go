package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/filter/encryptor"
	"github.com/sentinel-audit/sentinel/plugins/filter/signer"
	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file"
	"github.com/sentinel-audit/sentinel/sdk"
)

// cli runs one command with fresh flags and returns stdout (plus the error
// text) and the exit code.
func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, _, err := execute(t, "", args...)
	var ee *exitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out + ee.Error(), ee.code
	}
	return out + err.Error(), 1
}

func TestKeygenWritesSecretsPrivatelyAndRefusesToOverwrite(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	out, code := cli(t, "keygen", "--out", keys, "--origin", "audit.example.com/mcp/gw-01")
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, out)
	}
	pub, _ := os.ReadFile(filepath.Join(keys, integrity.SigningPubFile))
	if !strings.Contains(out, "public key: "+strings.TrimSpace(string(pub))) || !strings.HasPrefix(string(pub), "audit.example.com/mcp/gw-01+") {
		t.Fatalf("printed %q, signing.pub %q", out, pub)
	}
	for _, f := range []string{integrity.SeedFile, integrity.SigningKeyFile} {
		fi, err := os.Stat(filepath.Join(keys, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v, want 0600", f, err, fi.Mode().Perm())
		}
	}
	if _, err := integrity.LoadSeed(keys); err != nil {
		t.Fatal(err)
	}
	seed, _ := os.ReadFile(filepath.Join(keys, integrity.SeedFile))
	if _, code := cli(t, "keygen", "--out", keys); code != 2 {
		t.Fatalf("keygen over existing keys: exit %d, want 2", code)
	}
	if again, _ := os.ReadFile(filepath.Join(keys, integrity.SeedFile)); string(again) != string(seed) {
		t.Fatal("refused keygen still changed the seed")
	}
	if _, code := cli(t, "keygen"); code != 2 {
		t.Fatalf("keygen without --out: exit %d, want 2", code)
	}
	if _, code := cli(t, "keygen", "--out", filepath.Join(t.TempDir(), "k"), "--origin", "has space"); code != 2 {
		t.Fatalf("keygen with a bad origin: exit %d, want 2", code)
	}
}

func TestSignCheckpointsEveryNAndRefusesNonJSON(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, code := cli(t, "keygen", "--out", keys); code != 0 {
		t.Fatal("keygen failed")
	}
	var events strings.Builder
	for i := range 10 {
		fmt.Fprintf(&events, `{"event_id":"e%d","event_type":"mcp_tool_execution"}`+"\n\n", i)
	}
	in := filepath.Join(dir, "day.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	outDir := filepath.Join(dir, "signed")
	os.Mkdir(outDir, 0o755)
	out, code := cli(t, "sign", "--keys", keys, "--every", "4", "--out-dir", outDir, in)
	if code != 0 || !strings.Contains(out, "(10 events)") {
		t.Fatalf("sign: exit %d: %s", code, out)
	}
	signed, err := os.ReadFile(filepath.Join(outDir, "day.signed.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var entries, ckpts int
	for _, l := range strings.Split(strings.TrimSpace(string(signed)), "\n") {
		switch {
		case integrity.IsEntryLine([]byte(l)):
			entries++
		case integrity.IsCheckpointLine([]byte(l)):
			ckpts++
		}
	}
	// genesis + 10 events; a checkpoint after every 4 events and one at the end.
	if entries != 11 || ckpts != 3 {
		t.Fatalf("%d entries, %d checkpoints; want 11 and 3", entries, ckpts)
	}
	if out, code := cli(t, "verify", "--keys", keys, filepath.Join(outDir, "day.signed.jsonl")); code != 0 {
		t.Fatalf("verify: exit %d: %s", code, out)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"event_id":"ok"}`+"\nnot json\n"), 0o644)
	if out, code := cli(t, "sign", "--keys", keys, bad); code != 2 || !strings.Contains(out, "line 2") {
		t.Fatalf("sign of a non-JSON line: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.signed.jsonl")); !os.IsNotExist(err) {
		t.Fatal("sign wrote a file although it refused a line")
	}
	if _, code := cli(t, "sign", in); code != 2 {
		t.Fatalf("sign without --keys: exit %d, want 2", code)
	}
}

// storeThroughPipeline writes events through encryptor -> signer -> file in
// process, with a signer restart in the middle whose lost batch leaves a
// declared gap.
func storeThroughPipeline(t *testing.T, keys, dir string) {
	t.Helper()
	ctx := context.Background()
	enc := &encryptor.Encryptor{}
	raw := func(m map[string]any) json.RawMessage { b, _ := json.Marshal(m); return b }
	if err := enc.Configure(ctx, sdk.Config{Raw: raw(map[string]any{"keys": keys, "fields": []string{"arguments.password"}})}); err != nil {
		t.Fatal(err)
	}
	signerDir := t.TempDir()
	var live *signer.Signer
	newSigner := func() *signer.Signer {
		if live != nil { // restarted: the old process's files are closed (only)
			_ = live.Close(ctx)
		}
		s := &signer.Signer{}
		if err := s.Configure(ctx, sdk.Config{DataDir: signerDir, Raw: raw(map[string]any{"keys": keys})}); err != nil {
			t.Fatal(err)
		}
		live = s
		return s
	}
	out := &file.File{}
	if err := out.Configure(ctx, sdk.Config{Raw: raw(map[string]any{"path": dir, "keys": keys})}); err != nil {
		t.Fatal(err)
	}
	batch := func(from, n int) *sdk.Batch {
		b := &sdk.Batch{}
		for i := from; i < from+n; i++ {
			r, _ := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev-%d","event_type":"mcp_tool_execution","arguments":{"password":"pw-%d"}}`, i, i)))
			b.Records = append(b.Records, r)
		}
		return b
	}
	pass := func(s *signer.Signer, b *sdk.Batch, store bool) {
		b, err := enc.Process(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = s.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
		if store {
			if _, err := out.Process(ctx, &sdk.Batch{Records: b.Records}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s := newSigner()
	pass(s, batch(0, 3), true)
	pass(s, batch(3, 2), false) // the host dies before the store has it
	pass(newSigner(), batch(5, 3), true)
	if err := out.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReadPrintsVerifiedEventsDecryptsAndStopsAtTampering(t *testing.T) {
	dir := t.TempDir()
	keys, store := filepath.Join(dir, "keys"), filepath.Join(dir, "audit")
	if _, code := cli(t, "keygen", "--out", keys); code != 0 {
		t.Fatal("keygen failed")
	}
	storeThroughPipeline(t, keys, store)

	out, code := cli(t, "read", "--keys", keys, store)
	if code != 0 {
		t.Fatalf("read: exit %d: %s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"ev-0", "ev-1", "ev-2", "ev-5", "ev-6", "ev-7"} // ev-3, ev-4 were never stored
	if len(lines) != len(want) {
		t.Fatalf("read printed %d events, want %d:\n%s", len(lines), len(want), out)
	}
	for i, l := range lines {
		if !strings.Contains(l, `"`+want[i]+`"`) || strings.Contains(l, "pw-") || !strings.Contains(l, "$enc:v1.") {
			t.Fatalf("event %d: %s", i, l)
		}
	}
	plain, code := cli(t, "read", "--keys", keys, "--decrypt", store)
	if code != 0 || !strings.Contains(plain, `"password":"pw-6"`) || strings.Contains(plain, "$enc:") {
		t.Fatalf("read --decrypt: exit %d:\n%s", code, plain)
	}
	all, _ := cli(t, "read", "--keys", keys, "--all", store)
	if !strings.Contains(all, `"t0":`) || !strings.Contains(all, `"lost_from":`) {
		t.Fatalf("read --all lacks the genesis and restart entries:\n%s", all)
	}
	if v, code := cli(t, "verify", "--keys", keys, store); code != 0 || !strings.Contains(v, "declared crash loss: entries") {
		t.Fatalf("verify: exit %d:\n%s", code, v)
	}

	seg := filepath.Join(store, "seg-00000001.jsonl")
	b, _ := os.ReadFile(seg)
	os.Chmod(seg, 0o640)
	os.WriteFile(seg, []byte(strings.Replace(string(b), `"ev-6"`, `"ev-9"`, 1)), 0o640)
	out, code = cli(t, "read", "--keys", keys, store)
	if code != 1 || !strings.Contains(out, "read stopped: modified") || strings.Contains(out, "ev-9") {
		t.Fatalf("read of a tampered store: exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, `"ev-5"`) {
		t.Fatalf("read did not print the verified events before the tampered one:\n%s", out)
	}
	if _, code := cli(t, "read", store); code != 2 {
		t.Fatalf("read without keys: exit %d, want 2", code)
	}
}
