package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/filter/signer"
	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file"
	"github.com/sentinel-audit/sentinel/sdk"
)

// TestSignerReplayAfterCrashKeepsTheChainVerifiable is the smallest form of
// what the chaos run finds when it kills the signer's process (or the host)
// between signing a batch and the host receiving the answer: the host
// replays the batch to a new signer process (as the contract says), but the
// dead process had already saved its chain state past the entries it
// signed, so the new process signs the replay with later sequence numbers
// and the store held a gap that `sentinel verify` reported as deleted
// entries, although no event was lost and nothing was tampered with. Fixed:
// the signer answers a replayed batch with its saved lines, and a gap a host
// kill leaves (signed, never stored) is declared by its restart entry.
func TestSignerReplayAfterCrashKeepsTheChainVerifiable(t *testing.T) {
	if os.Getenv("SENTINEL_CHAOS") != "1" {
		t.Skip("set SENTINEL_CHAOS=1 (make chaos) to run the chaos tests")
	}
	ctx := context.Background()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		t.Fatal(err)
	}
	signerDir, storeDir := filepath.Join(dir, "signer"), filepath.Join(dir, "audit")
	signerRaw, _ := json.Marshal(map[string]any{"keys": keys})
	fileRaw, _ := json.Marshal(map[string]any{"path": storeDir, "keys": keys})

	var live sdk.Plugin
	newSigner := func() sdk.Plugin {
		if live != nil { // killed: the kernel closes its files (only), releasing its lock
			_ = live.(sdk.Closer).Close(ctx)
		}
		s := signer.Definition.New()
		if err := s.(sdk.Configurer).Configure(ctx, sdk.Config{Name: "chain", DataDir: signerDir, Raw: signerRaw}); err != nil {
			t.Fatal(err)
		}
		live = s
		return s
	}
	store := file.Definition.New()
	if err := store.(sdk.Configurer).Configure(ctx, sdk.Config{Name: "store", DataDir: filepath.Join(dir, "file"), Raw: fileRaw}); err != nil {
		t.Fatal(err)
	}
	batch := func(from int) *sdk.Batch {
		b := &sdk.Batch{}
		for i := from; i < from+3; i++ {
			r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev-%d","event_type":"mcp_tool_execution"}`, i)))
			if err != nil {
				t.Fatal(err)
			}
			b.Records = append(b.Records, r)
		}
		return b
	}
	deliver := func(s sdk.Plugin, in *sdk.Batch) {
		out, err := s.Process(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Process(ctx, &sdk.Batch{Records: out.Records}); err != nil {
			t.Fatal(err)
		}
	}

	first := newSigner()
	deliver(first, batch(0)) // delivered and stored
	// The host sends the next batch; the signer signs it, and its process is
	// killed before the host reads the answer: the signed records are gone.
	if _, err := first.Process(ctx, batch(3)); err != nil {
		t.Fatal(err)
	}
	// The host starts a new signer process and replays the unanswered batch:
	// the new process answers with the lines the first one signed.
	second := newSigner()
	deliver(second, batch(3))
	// Then the host itself is killed after the signer answered a batch and
	// before the store had it: the signed lines are gone, and the inputs send
	// their events again with new record ids. The restarted signer's first
	// entry declares the gap.
	if _, err := second.Process(ctx, batch(6)); err != nil {
		t.Fatal(err)
	}
	deliver(newSigner(), batch(100))
	if err := store.(sdk.Closer).Close(ctx); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command("go", "run", "github.com/sentinel-audit/sentinel/host/cmd/sentinel",
		"verify", "--keys", keys, storeDir).CombinedOutput()
	if err != nil {
		t.Fatalf("a replay after a signer crash makes the store fail verification:\n%s", out)
	}
	// Genesis 0, events 1..3 and 4..6 (replayed), then the second process's
	// restart entry 7 and events 8..10 are lost; the third's restart entry is 11.
	if !strings.Contains(string(out), "declared crash loss: entries 7..10") {
		t.Fatalf("verify does not report the declared crash loss:\n%s", out)
	}
}
