package signer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// switchRun is a batch whose record started the other log file, with both
// files as they were before and after it.
type switchRun struct {
	b, out        *sdk.Batch
	from, to      int
	before, after [2][]byte
	recLen        int64
}

// signUntilSwitch signs (and stores) batches until one starts a file that
// was used before (generation 3 or later), and returns that batch unstored.
func signUntilSwitch(r *crashRig, s *Signer) switchRun {
	r.t.Helper()
	read := func() (files [2][]byte) {
		for i, name := range logFiles {
			files[i], _ = os.ReadFile(filepath.Join(r.dataDir, name))
		}
		return files
	}
	for range 200 {
		run := switchRun{from: s.log.cur, before: read(), b: r.batch(200)}
		run.out = r.sign(s, run.b)
		if s.log.cur != run.from && s.log.gen >= 3 {
			run.to, run.after, run.recLen = s.log.cur, read(), s.log.off
			return run
		}
		r.store(run.out)
	}
	r.t.Fatal("the state log never reused a file")
	return switchRun{}
}

func writeLogs(t *testing.T, dir string, files [2][]byte) {
	t.Helper()
	for i, name := range logFiles {
		if err := os.WriteFile(filepath.Join(dir, name), files[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A crash while the first record of a reused file is written leaves that
// file with half a record of a new generation over frames of an old one:
// the new process resumes from the file it was leaving, whose state was not
// yet erased, and signs the unanswered batch again at the same positions.
func TestTornSwitchResumesFromTheFileLeft(t *testing.T) {
	r := newCrashRig(t)
	r.pad = 1500
	run := signUntilSwitch(r, r.newProcess(nil))
	crashed := run.before
	torn := bytes.Clone(crashed[run.to])
	copy(torn, run.after[run.to][:run.recLen/2])
	crashed[run.to] = torn
	writeLogs(t, r.dataDir, crashed)

	second := r.newProcess(nil)
	if second.log.cur != run.from {
		t.Fatalf("resumed from %s, want %s", logFiles[second.log.cur], logFiles[run.from])
	}
	r.storeLosingNothing(second, r.sign(second, run.b))
}

// A crash after the reused file's first record is durable, before the file
// left behind had its state erased: the new process resumes from the newer
// generation, answers the replayed batch with the same lines, and erases the
// stale state.
func TestSwitchCrashBeforeErasure(t *testing.T) {
	r := newCrashRig(t)
	r.pad = 1500
	run := signUntilSwitch(r, r.newProcess(nil))
	crashed := run.after
	crashed[run.from] = run.before[run.from] // its state not yet erased
	writeLogs(t, r.dataDir, crashed)
	if sc, _ := scanFile(filepath.Join(r.dataDir, logFiles[run.from]), false); sc.state == nil {
		t.Fatal("test setup: the file left behind has no state")
	}

	second := r.newProcess(nil)
	if second.log.cur != run.to {
		t.Fatalf("resumed from %s, want %s", logFiles[second.log.cur], logFiles[run.to])
	}
	if sc, _ := scanFile(filepath.Join(r.dataDir, logFiles[run.from]), false); sc.state != nil {
		t.Fatal("the older state was not erased at start-up")
	}
	again := r.sign(second, run.b)
	if !equalLines(bodies(run.out), bodies(again)) {
		t.Fatal("the replayed batch was answered with different lines")
	}
	if rep := r.storeLosingNothing(second, again); rep.Restarts != 1 {
		t.Fatalf("%d restarts, want 1", rep.Restarts)
	}
}

// legacyFrame encodes a record the way the single-file log of earlier
// versions did: no generation.
func legacyFrame(dst, state []byte, a *batchAnswer) []byte {
	rec := encodeRecord(nil, 0, state, a)
	frame := append([]byte(nil), rec[frameHeader+genLen:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(frame)))
	dst = binary.BigEndian.AppendUint32(dst, frameCRC(frame, 0))
	return append(dst, frame...)
}

// A chain.log of an earlier version is migrated: same state, same answers
// for replay, and the old file is gone.
func TestLegacyStateLogIsMigrated(t *testing.T) {
	r := newCrashRig(t)
	first := r.newProcess(nil)
	r.store(r.sign(first, r.batch(5)))
	b2 := r.batch(4)
	lost2 := r.sign(first, b2)
	sc, err := scanFile(filepath.Join(r.dataDir, logFiles[0]), false)
	if err != nil || sc.state == nil || len(sc.answers) != 2 {
		t.Fatalf("scan: %v, %d answers", err, len(sc.answers))
	}
	var legacy []byte
	legacy = legacyFrame(legacy, nil, &sc.answers[0])
	legacy = legacyFrame(legacy, sc.state, &sc.answers[1])
	legacy = append(legacy, make([]byte, 4096)...) // preallocated zeros
	for _, name := range logFiles {
		os.Remove(filepath.Join(r.dataDir, name))
	}
	if err := os.WriteFile(filepath.Join(r.dataDir, legacyLogFile), legacy, 0o600); err != nil {
		t.Fatal(err)
	}

	second := r.newProcess(nil)
	if _, err := os.Stat(filepath.Join(r.dataDir, legacyLogFile)); !os.IsNotExist(err) {
		t.Fatalf("legacy log still there: %v", err)
	}
	again2 := r.sign(second, b2)
	if !equalLines(bodies(lost2), bodies(again2)) {
		t.Fatal("the replayed batch was answered with different lines")
	}
	r.store(again2)
	third := r.newProcess(nil) // the migrated answers survive another restart
	r.store(r.sign(third, r.batch(3)))
	if rep := r.verify(); len(rep.Losses) != 0 || rep.Events != 12 {
		t.Fatalf("losses %v, %d events", rep.Losses, rep.Events)
	}
}

// A power cut can leave a record whose answer reached the disk but whose
// state did not (it reads as erased). That record never happened: the batch
// is signed again after the previous state, and no sequence number is used
// twice.
func TestARecordWithoutItsStateIsTorn(t *testing.T) {
	r := newCrashRig(t)
	s := r.newProcess(nil)
	r.store(r.sign(s, r.batch(3)))
	path := filepath.Join(r.dataDir, logFiles[s.log.cur])
	before, end := readFile(t, path), s.log.off
	b := r.batch(4)
	r.sign(s, b) // cut off while its record was written: never answered
	// What the disk holds: the earlier record as it was (its state is
	// erased only after the new one is durable), the new record's lines,
	// and zeros where its state should be.
	data := readFile(t, path)
	copy(data[:end], before[:end])
	clear(data[s.log.prevState : s.log.prevState+int64(s.log.prevLen)])
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	second := r.newProcess(nil)
	r.storeLosingNothing(second, r.sign(second, b))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Idle ticks answer nothing a replay would ask for. However many there are,
// the files switch instead of growing, and the answers that may still be
// replayed are carried into each new file.
func TestIdleRecordsSwitchFilesAndCarryReplayableAnswers(t *testing.T) {
	defer func(c int64) { minCapacity = c }(minCapacity)
	minCapacity = 16 << 10
	dir := t.TempDir()
	l, _, err := openStateLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	keyed := batchAnswer{key: [32]byte{1}, lines: []answerLine{{in: 0, kind: kindEntry, line: []byte(`{"seq":1}`)}}}
	if err := l.append([]byte("state-0"), keyed); err != nil {
		t.Fatal(err)
	}
	idle := batchAnswer{lines: []answerLine{{in: -1, kind: kindCkpt, line: bytes.Repeat([]byte("c"), 400)}}}
	var last []byte
	for i := range 2000 { // ~1 MB of records through 16 KiB files
		last = []byte("state-" + string(rune('a'+i%26)))
		if err := l.append(last, idle); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range logFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() > 4*minCapacity {
			t.Fatalf("%s: %v: idle records must not grow the log", name, err)
		}
	}
	again, state, err := openStateLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(state, last) {
		t.Fatalf("state after reopening: %q, want %q", state, last)
	}
	if lines, ok := again.lookup(keyed.key); !ok || string(lines[0].line) != `{"seq":1}` {
		t.Fatal("the keyed answer was not carried through the switches")
	}
}

// A power cut right after a record can leave the state before it intact
// (its erasure waits for the next sync). Opening the log erases it, so the
// older key is gone from the disk as forward security promises.
func TestOpeningTheLogErasesOlderStatesLeftByAPowerCut(t *testing.T) {
	r := newCrashRig(t)
	s := r.newProcess(nil)
	r.store(r.sign(s, r.batch(3)))
	path := filepath.Join(r.dataDir, logFiles[s.log.cur])
	before, end := readFile(t, path), s.log.off
	oldAt, oldLen := s.log.prevState, s.log.prevLen
	r.store(r.sign(s, r.batch(3)))
	data := readFile(t, path)
	copy(data[:end], before[:end]) // the erasure never reached the disk
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if sc, _ := scanFile(path, false); len(sc.older) == 0 {
		t.Fatal("test setup: no older intact state")
	}

	r.newProcess(nil)
	if old := readFile(t, path)[oldAt : oldAt+int64(oldLen)]; !bytes.Equal(old, make([]byte, oldLen)) {
		t.Fatal("an older chain state survived opening the log")
	}
	if sc, _ := scanFile(path, false); sc.state == nil || len(sc.older) != 0 {
		t.Fatalf("after opening: newest state kept %v, older states %d", sc.state != nil, len(sc.older))
	}
}

// Two signers on one data directory would race over the state log (and
// the second would erase states the first still writes): the second is
// refused, until the first is gone.
func TestASecondSignerOnTheSameDataDirIsRefused(t *testing.T) {
	defer func(w time.Duration) { lockWait = w }(lockWait)
	lockWait = 200 * time.Millisecond
	r := newCrashRig(t)
	first := r.newProcess(nil)
	raw, _ := json.Marshal(map[string]any{"keys": r.keys})
	err := (&Signer{}).Configure(context.Background(), sdk.Config{DataDir: r.dataDir, Raw: raw})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second signer on a live data dir: %v", err)
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := &Signer{}
	if err := second.Configure(context.Background(), sdk.Config{DataDir: r.dataDir, Raw: raw}); err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	second.Close(context.Background())
}
