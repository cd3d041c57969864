package file

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
	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func raw(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Definition, sdktest.Options{Config: raw(map[string]any{"path": t.TempDir()})})
}

type pipeline struct {
	enc  *encryptor.Encryptor
	sig  *signer.Signer
	out  *File
	keys string
	dir  string
	sigD string
}

func newPipeline(t *testing.T, keys, dir, sigData string) *pipeline {
	t.Helper()
	ctx := context.Background()
	p := &pipeline{enc: &encryptor.Encryptor{}, sig: &signer.Signer{}, out: &File{}, keys: keys, dir: dir, sigD: sigData}
	must(t, p.enc.Configure(ctx, sdk.Config{Name: "e", Raw: raw(map[string]any{"keys": keys, "fields": []string{"arguments.password", "result"}, "subject": "user_id"})}))
	must(t, p.sig.Configure(ctx, sdk.Config{Name: "s", DataDir: sigData, Raw: raw(map[string]any{"keys": keys, "checkpoint_every": 16})}))
	must(t, p.out.Configure(ctx, sdk.Config{Name: "f", Raw: raw(map[string]any{"path": dir, "segment_size": "8KiB", "fsync": "always", "keys": keys})}))
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (p *pipeline) send(t *testing.T, from, n int) {
	t.Helper()
	ctx := context.Background()
	b := &sdk.Batch{}
	for i := from; i < from+n; i++ {
		user := []string{"alice", "bob"}[i%2]
		r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev%04d","event_type":"mcp_tool_execution","user_id":%q,"arguments":{"password":"pw-%d"},"result":{"ok":true}}`, i, user, i)))
		must(t, err)
		b.Records = append(b.Records, r)
	}
	b, err := p.enc.Process(ctx, b)
	must(t, err)
	b, err = p.sig.Process(ctx, b)
	must(t, err)
	_, err = p.out.Process(ctx, b)
	must(t, err)
}

func (p *pipeline) close(t *testing.T) {
	must(t, p.sig.Close(context.Background()))
	must(t, p.out.Close(context.Background()))
}

func verify(t *testing.T, keys, dir string) *store.Report {
	t.Helper()
	seed, err := integrity.LoadSeed(keys)
	must(t, err)
	pub, err := integrity.LoadVerifier(keys)
	must(t, err)
	rep, err := store.Verify(dir, store.VerifyOptions{Seed: seed, Pub: pub})
	must(t, err)
	return rep
}

// encryptor -> signer -> file, restarted in the middle, then crypto-shredding.
func TestPipelineSurvivesRestartAndCryptoShredding(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		t.Fatal(err)
	}
	dir, sigData := filepath.Join(t.TempDir(), "audit"), t.TempDir()
	p := newPipeline(t, keys, dir, sigData)
	p.send(t, 0, 100)
	p.close(t)
	p = newPipeline(t, keys, dir, sigData) // a restart: chain state from the data dir
	p.send(t, 100, 100)
	st, err := p.out.Invoke(context.Background(), sdk.OpGetStatus, nil)
	must(t, err)
	if s := st.(store.Status); s.Entries < 200 || s.Segments < 2 {
		t.Fatalf("status %+v", s)
	}
	p.close(t)

	rep := verify(t, keys, dir)
	if !rep.Intact() || rep.Events != 200 {
		t.Fatalf("pipeline store: %+v", rep)
	}
	seg, _ := os.ReadFile(store.SegmentPath(dir, 1))
	if strings.Contains(string(seg), "pw-1") {
		t.Fatal("plaintext password stored")
	}

	kr, err := fieldcrypt.OpenKeyring(keys)
	must(t, err)
	if _, err := kr.Shred("alice"); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, keys, dir); !rep.Intact() {
		t.Fatalf("store no longer verifies after shredding: %v", rep.Findings)
	}
	kr, _ = fieldcrypt.OpenKeyring(keys)
	seed, _ := integrity.LoadSeed(keys)
	var readable, shredded int
	_, err = store.Verify(dir, store.VerifyOptions{Seed: seed, OnEntry: func(_ integrity.Pos, e *integrity.Entry, _ []byte) error {
		if e.Kind != integrity.KindEvent {
			return nil
		}
		var ev struct {
			ID string `json:"event_id"`
		}
		json.Unmarshal(e.Event, &ev)
		out, errs := kr.DecryptEvent(e.Event, ev.ID)
		if strings.Contains(string(out), `"user_id":"alice"`) {
			if len(errs) == 0 {
				t.Errorf("alice's event %s still decrypts", ev.ID)
			}
			shredded++
		} else if len(errs) == 0 && strings.Contains(string(out), `"password":"pw-`) {
			readable++
		}
		return nil
	}})
	must(t, err)
	if readable != 100 || shredded != 100 {
		t.Fatalf("readable %d, shredded %d", readable, shredded)
	}
}

func TestPlainJSONLStoreWithoutSigner(t *testing.T) {
	dir := t.TempDir()
	f := &File{}
	must(t, f.Configure(context.Background(), sdk.Config{Raw: raw(map[string]any{"path": dir, "format": "jsonl", "segment_size": "4KiB"})}))
	b := &sdk.Batch{}
	for i := 0; i < 100; i++ {
		r, _ := sdk.NewRecord([]byte(fmt.Sprintf("{\n \"event_id\": \"e%d\", \"event_type\": \"mcp_tool_execution\"\n}", i)))
		b.Records = append(b.Records, r)
	}
	_, err := f.Process(context.Background(), b)
	must(t, err)
	must(t, f.Close(context.Background()))
	segs, _ := store.Segments(dir)
	if len(segs) < 2 {
		t.Fatalf("no rotation: %v", segs)
	}
	lines := 0
	for _, n := range segs {
		data, _ := os.ReadFile(store.SegmentPath(dir, n))
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if !json.Valid([]byte(l)) || !strings.HasPrefix(l, `{"event_id"`) {
				t.Fatalf("line %q", l)
			}
			lines++
		}
	}
	if lines != 100 {
		t.Fatalf("%d lines, want 100", lines)
	}
}
