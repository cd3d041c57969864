package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

// fixture is a store written through a real chain with real keys.
type fixture struct {
	t      *testing.T
	keys   string
	dir    string
	seed   []byte
	signer note.Signer
	pub    note.Verifier
	chain  *integrity.Chain
	st     *Store
	now    time.Time
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, "test.example/audit"); err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t, keys: keys, dir: filepath.Join(t.TempDir(), "store"), now: time.Unix(1_800_000_000, 0)}
	var err error
	if fx.seed, err = integrity.LoadSeed(keys); err != nil {
		t.Fatal(err)
	}
	if fx.signer, err = integrity.LoadSigner(keys); err != nil {
		t.Fatal(err)
	}
	if fx.pub, err = integrity.LoadVerifier(keys); err != nil {
		t.Fatal(err)
	}
	if fx.chain, err = integrity.NewChain(fx.seed, "test.example/audit", time.Minute, fx.now); err != nil {
		t.Fatal(err)
	}
	opts.Dir = fx.dir
	opts.Framed = true
	opts.Now = func() time.Time { return fx.now }
	if opts.Signer == nil {
		opts.Signer = fx.signer
	}
	fx.st = fx.open(opts)
	return fx
}

func (fx *fixture) open(opts Options) *Store {
	st, err := Open(opts)
	if err != nil {
		fx.t.Fatal(err)
	}
	// Tests that play a crash drop a store without closing it: its flusher
	// must not outlive the test.
	fx.t.Cleanup(st.stopFlusher)
	return st
}

// write signs n events (advancing the clock step per event) with a
// checkpoint after every ckEvery entries, and stores them.
func (fx *fixture) write(n, ckEvery int, step time.Duration) {
	fx.t.Helper()
	var lines [][]byte
	emit := func(l []byte) { lines = append(lines, l) }
	since := 0
	for i := 0; i < n; i++ {
		fx.now = fx.now.Add(step)
		ev := fmt.Sprintf(`{"event_id":"ev%06d","event_type":"mcp_tool_execution","tool_name":"read_file","user_id":"u%d"}`, i, i%3)
		before := len(lines)
		fx.chain.Sign(fx.now, []byte(ev), emit)
		since += len(lines) - before
		if ckEvery > 0 && since >= ckEvery {
			l, err := fx.chain.Checkpoint(fx.signer)
			if err != nil {
				fx.t.Fatal(err)
			}
			lines = append(lines, l)
			since = 0
		}
	}
	if err := fx.st.Append(lines); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) checkpoint() {
	fx.t.Helper()
	l, err := fx.chain.Checkpoint(fx.signer)
	if err != nil {
		fx.t.Fatal(err)
	}
	if err := fx.st.Append([][]byte{l}); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) close() {
	fx.t.Helper()
	if err := fx.st.Close(); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) verify(seed bool, pub bool) *Report {
	fx.t.Helper()
	opts := VerifyOptions{}
	if seed {
		opts.Seed = fx.seed
	}
	if pub {
		opts.Pub = fx.pub
	}
	rep, err := Verify(fx.dir, opts)
	if err != nil {
		fx.t.Fatal(err)
	}
	return rep
}

// readSegment and writeSegment edit a (possibly read-only) segment the way
// an attacker with file-system access would.
func (fx *fixture) readSegment(n int) []byte {
	b, err := os.ReadFile(SegmentPath(fx.dir, n))
	if err != nil {
		fx.t.Fatal(err)
	}
	return b
}

func (fx *fixture) writeSegment(n int, b []byte) {
	p := SegmentPath(fx.dir, n)
	_ = os.Chmod(p, 0o640)
	if err := os.WriteFile(p, b, 0o640); err != nil {
		fx.t.Fatal(err)
	}
}
