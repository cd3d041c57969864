package fluentbit_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
	"github.com/sentinel-audit/sentinel/sdk/fluentbit"
)

// writePipeline writes the audit chain a Fluent Bit section can run:
// fluentbit input -> pii_tokenizer -> signer -> sealed file store.
func writePipeline(t *testing.T) (hclPath, keysDir, storeDir string) {
	t.Helper()
	dir := t.TempDir()
	keysDir, storeDir = filepath.Join(dir, "keys"), filepath.Join(dir, "audit")
	if _, err := integrity.Keygen(keysDir, ""); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
sentinel {
  data_dir = %q
}

input "fluentbit" "in" {}

filter "pii_tokenizer" "pii" {
  inputs = [input.fluentbit.in]
  key    = "%s"
}

filter "signer" "sig" {
  inputs = [filter.pii_tokenizer.pii]
  keys   = %q
}

output "file" "store" {
  inputs = [filter.signer.sig]
  path   = %q
  keys   = %q
}
`, filepath.Join(dir, "data"), strings.Repeat("ab", 32), keysDir, storeDir, keysDir)
	hclPath = filepath.Join(dir, "pipeline.hcl")
	if err := os.WriteFile(hclPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return hclPath, keysDir, storeDir
}

func TestPipelineModeRunsTheAuditChainInsideFluentBit(t *testing.T) {
	hclPath, keysDir, storeDir := writePipeline(t)
	o, err := fluentbit.Open(keys(map[string]string{"pipeline": hclPath}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if code := o.Flush(chunk(t, fmt.Sprintf("p%d", i), 40), "audit"); code != fluentbit.FLBOK {
			t.Fatalf("flush %d returned %d", i, code)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	seed, err := integrity.LoadSeed(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := integrity.LoadVerifier(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	rep, err := store.Verify(storeDir, store.VerifyOptions{Seed: seed, Pub: pub,
		OnEntry: func(_ integrity.Pos, e *integrity.Entry, _ []byte) error {
			bodies = append(bodies, string(e.Event))
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() {
		t.Fatalf("store not intact: %+v", rep.Findings)
	}
	if rep.Events != 120 {
		t.Errorf("store holds %d events, want 120", rep.Events)
	}
	for _, b := range bodies {
		if strings.Contains(b, "alice@example.com") {
			t.Fatalf("PII reached the store: %s", b)
		}
	}
}

func TestPipelineNeedsOneFluentBitInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	src := fmt.Sprintf("sentinel {\n  data_dir = %q\n}\n\ninput \"jsonl\" \"in\" {\n  paths = [\"x.jsonl\"]\n}\n\noutput \"stdout\" \"o\" {\n  inputs = [input.jsonl.in]\n}\n", dir)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := fluentbit.Open(keys(map[string]string{"pipeline": path}), nil)
	if err == nil || !strings.Contains(err.Error(), `input "fluentbit"`) {
		t.Fatalf("err %v", err)
	}
}
