package signer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The signer's durable state is two preallocated files in its data
// directory, used in turn; legacyLogFile is the single file earlier versions
// kept, migrated at start-up.
var logFiles = [2]string{"chain-a.log", "chain-b.log"}

const legacyLogFile = "chain.log"

// lockFile is held by the signer using the data directory.
const lockFile = "chain.lock"

// Each file holds records, one per batch that signed something:
//
//	u32 len | u32 crc(the frame but its state) | u64 gen | u32 state crc | u32 state len | state | key[32] | u32 n | n × (i32 input | u8 kind | u32 len | line)
//
// Each record holds the chain state after the batch, the batch's key (a hash
// of its record ids) and every line the batch was answered with. Appending a
// record is one write into space the file already owns and one fdatasync: no
// file is created or renamed, so the file system has no metadata to commit.
// The record is durable before the batch is answered, so a signer that dies
// after signing comes back with the chain state and the exact answer, which
// it gives again when the host replays the batch.
//
// When the current file is full the next record starts the other file from
// its beginning, under a higher generation (gen). Every frame's CRC covers
// its gen and a file is read only while the gen stays that of its first
// frame, so what is left of the file's earlier use (or of a torn start) is
// never read as current. At start-up the file whose newest intact state has
// the higher gen is current; a switch torn by a crash leaves the other file
// current, with its state intact. A switch happens only once the current
// file holds the answers of the last keepBatches batches, so overwriting the
// other file loses no answer that may be replayed.
//
// Forward security: a state holds the next entry key, so once a newer state is
// durable the older one is overwritten with zeros (the state has its own CRC,
// so the frame stays readable). The lines kept for replay are not secret:
// they are what the store holds.
type stateLog struct {
	dir       string
	f         *os.File // the current file; nil before the first record
	cur       int      // index of f in logFiles
	other     *os.File // the other file, once it exists
	gen       uint64   // generation of the current file
	otherGen  uint64
	off       int64 // where the next record goes
	capacity  [2]int64
	keyed     int   // records with a key in the current file
	prevState int64 // offset and length of the newest state, to erase
	prevLen   int
	recent    []batchAnswer // the last keepBatches answers, oldest first
	buf       []byte
	lock      *os.File // the data directory's lock
}

// batchAnswer is what a batch was answered with.
type batchAnswer struct {
	key   [32]byte
	lines []answerLine
}

type answerLine struct {
	in   int32 // index of the input record it wraps, -1 for chain records
	kind byte  // 'e' entry, 'c' checkpoint
	line []byte
}

const (
	keepBatches = 16 // answers kept for replay: at least the host's in_flight
	frameHeader = 8
	genLen      = 8
	stateHeader = 8
	kindEntry   = 'e'
	kindCkpt    = 'c'
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// minCapacity is the smallest log file: a variable so tests can switch
// files without writing megabytes.
var minCapacity int64 = 8 << 20

// scan is what reading one file found.
type scan struct {
	gen     uint64
	state   []byte // the newest intact state, nil if none
	stateAt int64
	older   [][2]int64 // offset and length of intact states before it
	answers []batchAnswer
	end     int64 // after the last intact record
	size    int64
}

// scanFile reads the records of a log file; legacy files have no gen.
func scanFile(path string, legacy bool) (*scan, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	skip := genLen
	if legacy {
		skip = 0
	}
	sc := &scan{size: int64(len(data))}
	off, answered := 0, 0
	for off+frameHeader <= len(data) {
		n := int(binary.BigEndian.Uint32(data[off:]))
		if n < skip+stateHeader+36 || off+frameHeader+n > len(data) {
			break
		}
		frame := data[off+frameHeader : off+frameHeader+n]
		if frameCRC(frame, skip) != binary.BigEndian.Uint32(data[off+4:]) {
			break
		}
		if !legacy {
			g := binary.BigEndian.Uint64(frame)
			if off == 0 {
				sc.gen = g
			} else if g != sc.gen {
				break // left from an earlier use of the file
			}
		}
		st, ans, err := decodeRecord(frame[skip:])
		if err != nil {
			break
		}
		if ans.key != ([32]byte{}) {
			sc.answers = append(sc.answers, ans)
		}
		off += frameHeader + n
		if st != nil {
			if sc.state != nil {
				sc.older = append(sc.older, [2]int64{sc.stateAt, int64(len(sc.state))})
			}
			sc.state = st
			sc.stateAt = int64(off - n + skip + stateHeader)
			sc.end, answered = int64(off), len(sc.answers)
		}
	}
	// A state is erased only once a newer one is durable, so the newest
	// record always holds an intact state. A record after it whose state
	// reads as missing was torn (its lines reached the disk, its state did
	// not): it and its answer never happened, or its batch would be
	// answered with lines whose sequence numbers the chain hands out again.
	if sc.state != nil {
		sc.answers = sc.answers[:answered]
	} else {
		sc.end = int64(off)
	}
	return sc, nil
}

// openStateLog reads the log in dir and returns it with the last durable
// state (nil when there is none). A torn record at the end (a crash during
// the write, before the batch was answered) is ignored.
func openStateLog(dir string) (*stateLog, []byte, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	l, state, err := readStateLog(dir)
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	l.lock = lock
	return l, state, nil
}

// lockDir takes the data directory's lock, held for the life of the
// signer: a second process reading the log beside a live signer would race
// it, and erase what it takes for stale states. The kernel releases the
// lock when the process dies, kill -9 included.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state log lock: %w", err)
	}
	// A predecessor killed a moment ago may not have exited yet: wait a
	// little for its lock before calling the directory taken.
	for deadline := time.Now().Add(lockWait); ; {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("the signer state in %s is in use by another process (two signers with one data directory?): %w", dir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockWait is how long a starting signer waits for the data directory.
var lockWait = 5 * time.Second

func readStateLog(dir string) (*stateLog, []byte, error) {
	l := &stateLog{dir: dir}
	var sc [2]*scan
	for i, name := range logFiles {
		s, err := scanFile(filepath.Join(dir, name), false)
		if err != nil {
			return nil, nil, err
		}
		sc[i] = s
	}
	cur := -1
	for i, s := range sc {
		if s != nil && s.state != nil && (cur < 0 || s.gen > sc[cur].gen) {
			cur = i
		}
	}
	if cur < 0 {
		for _, s := range sc {
			if s != nil && s.end > 0 {
				return nil, nil, noState(filepath.Join(dir, logFiles[0]))
			}
		}
		return l.openLegacy()
	}
	c, o := sc[cur], sc[1-cur]
	l.cur, l.gen, l.off = cur, c.gen, c.end
	l.capacity[cur] = c.size
	l.prevState, l.prevLen = c.stateAt, len(c.state)
	if o != nil {
		l.otherGen, l.capacity[1-cur] = o.gen, o.size
		if o.gen+1 == c.gen {
			for _, a := range o.answers {
				l.remember(a)
			}
		}
	}
	for _, a := range c.answers {
		l.remember(a)
	}
	l.keyed = len(c.answers)
	var err error
	if l.f, err = os.OpenFile(filepath.Join(dir, logFiles[cur]), os.O_WRONLY, 0o600); err != nil {
		return nil, nil, fmt.Errorf("open state log: %w", err)
	}
	if o != nil {
		if l.other, err = os.OpenFile(filepath.Join(dir, logFiles[1-cur]), os.O_WRONLY, 0o600); err != nil {
			l.f.Close()
			return nil, nil, fmt.Errorf("open state log: %w", err)
		}
		if o.state != nil { // a crash came between a switch and the erasure
			o.older = append(o.older, [2]int64{o.stateAt, int64(len(o.state))})
		}
		eraseAll(l.other, o.older)
	}
	// An erasure is made durable by the next record's sync: a power cut
	// just after a record can leave the one before intact.
	eraseAll(l.f, c.older)
	return l, c.state, nil
}

// eraseAll overwrites the states at spans with zeros and syncs them.
func eraseAll(f *os.File, spans [][2]int64) {
	for _, sp := range spans {
		erase(f, sp[0], int(sp[1]))
	}
	if len(spans) > 0 {
		_ = datasync(f)
	}
}

// openLegacy reads the single-file log of earlier versions, if any: its
// state and answers go into the first new file, then it is removed.
func (l *stateLog) openLegacy() (*stateLog, []byte, error) {
	path := filepath.Join(l.dir, legacyLogFile)
	s, err := scanFile(path, true)
	if err != nil || s == nil {
		return l, nil, err
	}
	if s.state == nil && s.end > 0 {
		return nil, nil, noState(path)
	}
	for _, a := range s.answers {
		l.remember(a)
	}
	return l, s.state, nil
}

func noState(path string) error {
	return fmt.Errorf("%s holds no intact chain state; restore it from a backup (starting a new chain would break the store's)", path)
}

// decodeRecord returns the record's state (nil once erased) and answer.
func decodeRecord(frame []byte) ([]byte, batchAnswer, error) {
	var a batchAnswer
	bad := errors.New("state log record malformed")
	if len(frame) < stateHeader {
		return nil, a, bad
	}
	stateCRC, n := binary.BigEndian.Uint32(frame), int(binary.BigEndian.Uint32(frame[4:]))
	p := frame[stateHeader:]
	if n > len(p) {
		return nil, a, bad
	}
	state := p[:n]
	if n == 0 || crc32.Checksum(state, crcTable) != stateCRC {
		state = nil // none, or erased after the next record was durable
	}
	p = p[n:]
	if len(p) < 36 {
		return nil, a, bad
	}
	copy(a.key[:], p)
	count := int(binary.BigEndian.Uint32(p[32:]))
	p = p[36:]
	for range count {
		if len(p) < 9 {
			return nil, a, bad
		}
		in, kind, ln := int32(binary.BigEndian.Uint32(p)), p[4], int(binary.BigEndian.Uint32(p[5:]))
		if ln > len(p)-9 {
			return nil, a, bad
		}
		a.lines = append(a.lines, answerLine{in: in, kind: kind, line: bytes.Clone(p[9 : 9+ln])})
		p = p[9+ln:]
	}
	return bytes.Clone(state), a, nil
}

func (l *stateLog) remember(a batchAnswer) {
	if len(l.recent) == keepBatches {
		copy(l.recent, l.recent[1:])
		l.recent = l.recent[:keepBatches-1]
	}
	l.recent = append(l.recent, a)
}

// lookup returns the answer a batch with this key was given.
func (l *stateLog) lookup(key [32]byte) ([]answerLine, bool) {
	if key == ([32]byte{}) {
		return nil, false
	}
	for i := len(l.recent) - 1; i >= 0; i-- {
		if l.recent[i].key == key {
			return l.recent[i].lines, true
		}
	}
	return nil, false
}

func encodeRecord(dst []byte, gen uint64, state []byte, a *batchAnswer) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = binary.BigEndian.AppendUint64(dst, gen)
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(state, crcTable))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(state)))
	dst = append(dst, state...)
	dst = append(dst, a.key[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(a.lines)))
	for _, ln := range a.lines {
		dst = binary.BigEndian.AppendUint32(dst, uint32(ln.in))
		dst = append(dst, ln.kind)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(ln.line)))
		dst = append(dst, ln.line...)
	}
	frame := dst[start+frameHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(frame)))
	binary.BigEndian.PutUint32(dst[start+4:], frameCRC(frame, genLen))
	return dst
}

// frameCRC covers a frame except its state, which is erased later; skip is
// the length of the gen before the state header (0 in legacy frames).
func frameCRC(frame []byte, skip int) uint32 {
	hdr := skip + stateHeader
	n := min(int(binary.BigEndian.Uint32(frame[skip+4:])), len(frame)-hdr)
	c := crc32.Update(0, crcTable, frame[:hdr])
	return crc32.Update(c, crcTable, frame[hdr+n:])
}

// append makes state and the batch's answer durable, then erases the
// previous state.
func (l *stateLog) append(state []byte, a batchAnswer) error {
	if l.f == nil {
		return l.start(state, a)
	}
	l.buf = encodeRecord(l.buf[:0], l.gen, state, &a)
	end := l.off + int64(len(l.buf))
	if end > l.capacity[l.cur] {
		return l.switchFiles(state, a)
	}
	if _, err := l.f.WriteAt(l.buf, l.off); err != nil {
		return fmt.Errorf("write %s: %w", logFiles[l.cur], err)
	}
	if err := datasync(l.f); err != nil {
		return fmt.Errorf("sync %s: %w", logFiles[l.cur], err)
	}
	erase(l.f, l.prevState, l.prevLen) // made durable by the next datasync
	l.prevState, l.prevLen = l.off+frameHeader+genLen+stateHeader, len(state)
	l.off = end
	l.keep(a)
	return nil
}

// switchFiles writes the record at the start of the other file under a new
// generation, then erases the current file's state. Answers that may still
// be replayed and live only in the file about to be overwritten (this file
// holds fewer keyed answers than are kept: idle ticks answer nothing to
// replay) are carried over first.
func (l *stateLog) switchFiles(state []byte, a batchAnswer) error {
	next, gen := 1-l.cur, max(l.gen, l.otherGen)+1
	// keyed is set only once the switch succeeded: a failed switch is
	// retried, and must carry the answers again.
	var carried []batchAnswer
	if l.keyed < len(l.recent) {
		carried = l.recent
	}
	var stateAt int64
	l.buf, stateAt = encodeFirst(l.buf[:0], gen, carried, state, &a)
	if l.other == nil {
		f, err := l.create(next, l.capacity[l.cur])
		if err != nil {
			return err
		}
		l.other = f
	}
	if want := max(l.capacity[l.cur], 4*int64(len(l.buf))); l.capacity[next] < want {
		if err := l.grow(l.other, next, want); err != nil {
			return err
		}
	}
	if _, err := l.other.WriteAt(l.buf, 0); err != nil {
		return fmt.Errorf("write %s: %w", logFiles[next], err)
	}
	if err := datasync(l.other); err != nil {
		return fmt.Errorf("sync %s: %w", logFiles[next], err)
	}
	// No later datasync reaches the file left behind: sync its erasure now.
	erase(l.f, l.prevState, l.prevLen)
	_ = datasync(l.f)
	l.f, l.other = l.other, l.f
	l.cur, l.gen, l.otherGen = next, gen, l.gen
	l.off, l.keyed = int64(len(l.buf)), len(carried)
	l.prevState, l.prevLen = stateAt, len(state)
	l.keep(a)
	return nil
}

// start writes the first file: the answers of a migrated log, then the
// record.
func (l *stateLog) start(state []byte, a batchAnswer) error {
	body, stateAt := encodeFirst(nil, 1, l.recent, state, &a)
	f, err := l.create(0, max(minCapacity, 4*int64(len(body))))
	if err != nil {
		return err
	}
	if _, err = f.WriteAt(body, 0); err == nil {
		err = datasync(f)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", logFiles[0], err)
	}
	if removeErased(filepath.Join(l.dir, legacyLogFile)) == nil {
		syncDir(l.dir)
	}
	l.f, l.cur, l.gen, l.off = f, 0, 1, int64(len(body))
	l.prevState, l.prevLen = stateAt, len(state)
	l.keyed = len(l.recent)
	l.keep(a)
	return nil
}

// encodeFirst encodes what a file starts with: the answers carried into it
// (without a state), then the batch's record. stateAt is where the
// record's state lies, to be erased once a newer one is durable.
func encodeFirst(dst []byte, gen uint64, carried []batchAnswer, state []byte, a *batchAnswer) ([]byte, int64) {
	for _, old := range carried {
		dst = encodeRecord(dst, gen, nil, &old)
	}
	stateAt := int64(len(dst) + frameHeader + genLen + stateHeader)
	return encodeRecord(dst, gen, state, a), stateAt
}

// create makes log file i, capacity bytes of written zeros, durable with
// its directory entry.
func (l *stateLog) create(i int, capacity int64) (*os.File, error) {
	path := filepath.Join(l.dir, logFiles[i])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	l.capacity[i] = 0
	if err = l.grow(f, i, capacity); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	syncDir(l.dir)
	return f, nil
}

// grow extends log file i to capacity with zeros. Zeros are written, not
// just allocated: records then overwrite blocks the file already owns, and
// their datasync commits no metadata.
func (l *stateLog) grow(f *os.File, i int, capacity int64) error {
	if err := writeZeros(f, l.capacity[i], capacity); err != nil {
		return fmt.Errorf("grow %s: %w", logFiles[i], err)
	}
	l.capacity[i] = max(l.capacity[i], capacity)
	return nil
}

// zeros is only ever read: the source of writeZeros.
var zeros [64 << 10]byte

// writeZeros overwrites [from, to) of f with zeros.
func writeZeros(f *os.File, from, to int64) error {
	for at := from; at < to; at += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), to-at)], at); err != nil {
			return err
		}
	}
	return nil
}

// keep remembers a's answer for replay. The line bytes are shared, not
// copied: the chain never writes to a line it has handed out.
func (l *stateLog) keep(a batchAnswer) {
	if a.key == ([32]byte{}) {
		return
	}
	l.keyed++
	l.remember(batchAnswer{key: a.key, lines: append([]answerLine(nil), a.lines...)})
}

// erase overwrites a state with zeros. Best effort, like any erasure on
// journaling file systems and SSDs.
func erase(f *os.File, at int64, n int) { _ = writeZeros(f, at, at+int64(n)) }

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func (l *stateLog) close() error {
	var err error
	for _, f := range []*os.File{l.f, l.other, l.lock} {
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	l.f, l.other, l.lock = nil, nil, nil
	return err
}

// removeErased overwrites a file that held chain states with zeros, syncs
// it, then removes it: removing alone would leave the old keys on the disk.
func removeErased(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil {
		_ = writeZeros(f, 0, st.Size())
		_ = datasync(f)
	}
	f.Close()
	return os.Remove(path)
}
