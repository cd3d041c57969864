package signer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
	"github.com/sentinel-audit/sentinel/sdk"
)

// crashRig is a signer data directory, a store and a clock: each
// newProcess is what the host starts after a kill -9 of the last one.
type crashRig struct {
	t       *testing.T
	keys    string
	dataDir string
	st      *store.Store
	dir     string
	now     time.Time
	next    int
	pad     int     // bytes of padding in each event, to fill the state log sooner
	live    *Signer // the last process started
}

func newCrashRig(t *testing.T) *crashRig {
	r := &crashRig{t: t, keys: keygen(t), dataDir: t.TempDir(), dir: filepath.Join(t.TempDir(), "audit"), now: time.Unix(1_800_000_000, 0)}
	s, err := integrity.LoadSigner(r.keys)
	if err != nil {
		t.Fatal(err)
	}
	if r.st, err = store.Open(store.Options{Dir: r.dir, Framed: true, Signer: s, Fsync: store.FsyncNever}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *crashRig) newProcess(extra map[string]any) *Signer {
	cfg := map[string]any{"keys": r.keys, "checkpoint_every": 7}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	if r.live != nil && r.live.log != nil {
		r.live.log.close() // the kernel closes a killed process's files, releasing its lock
	}
	s := &Signer{now: func() time.Time { r.now = r.now.Add(100 * time.Millisecond); return r.now }}
	if err := s.Configure(context.Background(), sdk.Config{DataDir: r.dataDir, Raw: raw}); err != nil {
		r.t.Fatal(err)
	}
	r.live = s
	return s
}

// batch makes n new events (new record ids).
func (r *crashRig) batch(n int) *sdk.Batch {
	b := &sdk.Batch{}
	for range n {
		rec, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev-%d","event_type":"mcp_tool_execution","pad":"%s"}`, r.next, strings.Repeat("x", r.pad))))
		if err != nil {
			r.t.Fatal(err)
		}
		r.next++
		b.Records = append(b.Records, rec)
	}
	return b
}

func (r *crashRig) sign(s *Signer, b *sdk.Batch) *sdk.Batch {
	out, err := s.Process(context.Background(), b)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *crashRig) store(out *sdk.Batch) {
	lines := make([][]byte, len(out.Records))
	for i, rec := range out.Records {
		lines[i] = rec.Body
	}
	if err := r.st.Append(lines); err != nil {
		r.t.Fatal(err)
	}
}

// storeLosingNothing stores out, has s sign and store one batch more, and
// checks that the store verifies with every event signed so far and no
// declared loss.
func (r *crashRig) storeLosingNothing(s *Signer, out *sdk.Batch) *store.Report {
	r.t.Helper()
	r.store(out)
	r.store(r.sign(s, r.batch(2)))
	rep := r.verify()
	if len(rep.Losses) != 0 || rep.Events != uint64(r.next) {
		r.t.Fatalf("losses %v, %d events, want none and %d", rep.Losses, rep.Events, r.next)
	}
	return rep
}

func (r *crashRig) verify() *store.Report {
	r.t.Helper()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	seed, _ := integrity.LoadSeed(r.keys)
	pub, _ := integrity.LoadVerifier(r.keys)
	rep, err := store.Verify(r.dir, store.VerifyOptions{Seed: seed, Pub: pub})
	if err != nil {
		r.t.Fatal(err)
	}
	if !rep.Intact() {
		r.t.Fatalf("store does not verify: %v", rep.Findings)
	}
	return rep
}

func bodies(b *sdk.Batch) [][]byte {
	var out [][]byte
	for _, r := range b.Records {
		out = append(out, r.Body)
	}
	return out
}

// Killed after signing, before the host had the answer: the host replays the
// batch to the new process, which answers with exactly the same lines.
func TestKilledSignerAnswersAReplayWithTheSameLines(t *testing.T) {
	r := newCrashRig(t)
	first := r.newProcess(nil)
	r.store(r.sign(first, r.batch(5)))
	b2, b3 := r.batch(4), r.batch(9) // in flight together (in_flight = 2)
	lost2, lost3 := r.sign(first, b2), r.sign(first, b3)
	second := r.newProcess(nil) // kill -9: first never answered
	again2, again3 := r.sign(second, b2), r.sign(second, b3)
	if !equalLines(bodies(lost2), bodies(again2)) || !equalLines(bodies(lost3), bodies(again3)) {
		t.Fatal("replayed batches were answered with different lines")
	}
	if again2.Records[0].ID != b2.Records[0].ID || again2.Records[0].Attributes[AttrLine] != "entry" {
		t.Fatalf("replayed record lost its envelope: %+v", again2.Records[0])
	}
	r.store(again2)
	r.store(again3)
	r.store(r.sign(second, r.batch(3)))
	rep := r.verify()
	if len(rep.Losses) != 0 || rep.Events != 21 || rep.Restarts != 1 {
		t.Fatalf("losses %v, %d events, %d restarts; want none, 21, 1", rep.Losses, rep.Events, rep.Restarts)
	}
}

// A filter process killed with the encryptor and the signer in it (fused):
// the host retries the batch from the first filter, so the signer sees the
// same record ids with bodies the encryptor made anew (fresh nonces). It
// answers with the lines it first gave, which hold the first bodies and
// verify; rebuilding lines around the new bodies would break their MACs.
func TestReplayWithReencryptedBodiesGivesTheFirstLines(t *testing.T) {
	r := newCrashRig(t)
	first := r.newProcess(nil)
	r.store(r.sign(first, r.batch(5)))
	b := r.batch(4)
	lost := r.sign(first, b)
	second := r.newProcess(nil)
	retry := &sdk.Batch{}
	for _, rec := range b.Records {
		c := *rec
		c.Body = bytes.Replace(rec.Body, []byte(`"event_type"`), []byte(`"note":"re-encrypted","event_type"`), 1)
		retry.Records = append(retry.Records, &c)
	}
	again := r.sign(second, retry)
	if !equalLines(bodies(lost), bodies(again)) {
		t.Fatal("a replay with new bodies was answered with other lines")
	}
	r.store(again)
	if rep := r.verify(); !rep.Intact() || len(rep.Losses) != 0 || rep.Events != 9 {
		t.Fatalf("findings %v, losses %v, %d events", rep.Findings, rep.Losses, rep.Events)
	}
}

// The host killed between signing and storing: the inputs replay with new
// record ids, so the signed lines are gone for good. The new process's
// restart entry declares them, and verify passes with that warning.
func TestHostKilledBeforeStoringLeavesADeclaredLoss(t *testing.T) {
	r := newCrashRig(t)
	first := r.newProcess(nil)
	r.store(r.sign(first, r.batch(5)))
	lost := r.sign(first, r.batch(4))
	second := r.newProcess(nil)
	r.store(r.sign(second, r.batch(3)))
	rep := r.verify()
	var e0, e1 integrity.Entry
	integrity.ParseEntryLine(lost.Records[0].Body, &e0)
	integrity.ParseEntryLine(lost.Records[len(lost.Records)-1].Body, &e1)
	if len(rep.Losses) != 1 || rep.Losses[0].From != e0.Seq || rep.Losses[0].To < e1.Seq {
		t.Fatalf("losses %+v, want one from %d through %d", rep.Losses, e0.Seq, e1.Seq)
	}
}

// A crash in the middle of writing the state log (before the batch was
// answered) leaves a torn record: the new process resumes from the record
// before and signs the batch again at the same positions.
func TestTornStateRecordIsIgnored(t *testing.T) {
	r := newCrashRig(t)
	first := r.newProcess(nil)
	r.store(r.sign(first, r.batch(5)))
	path := filepath.Join(r.dataDir, logFiles[0])
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := first.log.off
	b2 := r.batch(4)
	r.sign(first, b2)
	after, _ := os.ReadFile(path)
	// Restore the log as it was, plus half of the new record.
	torn := append([]byte(nil), before...)
	copy(torn[off:], after[off:off+(first.log.off-off)/2])
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	second := r.newProcess(nil)
	r.storeLosingNothing(second, r.sign(second, b2))
}

// A batch whose state cannot be made durable is not answered, and the chain
// rolls back, so the host's retry is signed at the same positions.
func TestFailedStateWriteRollsBack(t *testing.T) {
	r := newCrashRig(t)
	s := r.newProcess(nil)
	r.store(r.sign(s, r.batch(5)))
	good := s.log.f
	ro, err := os.Open(filepath.Join(r.dataDir, logFiles[0]))
	if err != nil {
		t.Fatal(err)
	}
	s.log.f = ro // writes fail
	b := r.batch(4)
	if _, err := s.Process(context.Background(), b); err == nil {
		t.Fatal("answered a batch whose state is not durable")
	}
	ro.Close()
	s.log.f = good
	r.store(r.sign(s, b))
	if rep := r.verify(); len(rep.Losses) != 0 || rep.Events != 9 {
		t.Fatalf("losses %v, %d events", rep.Losses, rep.Events)
	}
}

// Many batches: the log fills its two files in turn and keeps working across
// restarts, without growing.
func TestStateLogAlternatesFilesAndResumes(t *testing.T) {
	r := newCrashRig(t)
	r.pad = 1500 // about 350 KB of answer per batch: a switch every ~23 batches
	s := r.newProcess(nil)
	for range 3 {
		for range 40 {
			r.store(r.sign(s, r.batch(200)))
		}
		s.Close(context.Background())
		s = r.newProcess(nil)
	}
	r.store(r.sign(s, r.batch(1)))
	if s.log.gen < 4 {
		t.Fatalf("generation %d: the files were not reused", s.log.gen)
	}
	for _, name := range logFiles {
		if fi, err := os.Stat(filepath.Join(r.dataDir, name)); err != nil || fi.Size() > 2*minCapacity {
			t.Fatalf("%s: %v, %d bytes", name, err, fi.Size())
		}
	}
	if rep := r.verify(); len(rep.Losses) != 0 || rep.Events != 24001 {
		t.Fatalf("losses %v, %d events", rep.Losses, rep.Events)
	}
}

func equalLines(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
