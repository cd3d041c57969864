package signer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// logFile is the signer's durable state in its data directory.
const logFile = "chain.log"

// The state log is one preallocated file of records, one per batch that
// signed something:
//
//	u32 len | u32 crc(the frame but its state) | u32 state crc | u32 state len | state | key[32] | u32 n | n × (i32 input | u8 kind | u32 len | line)
//
// Each record holds the chain state after the batch, the batch's key (a hash
// of its record ids) and every line the batch was answered with. Appending a
// record is one write into space that is already allocated and one
// fdatasync: no file is created or renamed, so the file system has no
// metadata to commit. The record is durable before the batch is answered, so
// a signer that dies after signing comes back with the chain state and the
// exact answer, which it gives again when the host replays the batch.
//
// Forward security: a state holds the next entry key, so once a newer state is
// durable the older one is overwritten with zeros (the state has its own
// CRC, so the frame stays readable). The lines kept for replay are not secret:
// they are what the store holds.
type stateLog struct {
	dir, path string
	f         *os.File
	off       int64 // where the next record goes
	capacity  int64
	prevState int64 // offset and length of the previous record's state, to erase
	prevLen   int
	recent    []batchAnswer // the last keepBatches answers, oldest first
	buf       []byte
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
	minCapacity = 8 << 20
	frameHeader = 8
	stateHeader = 8
	kindEntry   = 'e'
	kindCkpt    = 'c'
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// openStateLog reads the log in dir and returns it with the last durable
// state (nil when there is none). A torn record at the end (a crash during
// the write, before the batch was answered) is ignored.
func openStateLog(dir string) (*stateLog, []byte, error) {
	l := &stateLog{dir: dir, path: filepath.Join(dir, logFile)}
	data, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", l.path, err)
	}
	var state []byte
	off := 0
	for off+frameHeader <= len(data) {
		n := int(binary.BigEndian.Uint32(data[off:]))
		if n < stateHeader+36 || off+frameHeader+n > len(data) {
			break
		}
		frame := data[off+frameHeader : off+frameHeader+n]
		if frameCRC(frame) != binary.BigEndian.Uint32(data[off+4:]) {
			break
		}
		st, ans, err := decodeRecord(frame)
		if err != nil {
			break
		}
		if st != nil {
			state = st
			l.prevState, l.prevLen = int64(off+frameHeader+stateHeader), len(st)
		}
		if ans.key != ([32]byte{}) {
			l.remember(ans)
		}
		off += frameHeader + n
	}
	if state == nil && off > 0 {
		return nil, nil, fmt.Errorf("%s holds no intact chain state; restore it from a backup (starting a new chain would break the store's)", l.path)
	}
	l.off, l.capacity = int64(off), int64(len(data))
	if l.f, err = os.OpenFile(l.path, os.O_WRONLY, 0o600); err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", l.path, err)
	}
	return l, state, nil
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

func encodeRecord(dst, state []byte, a *batchAnswer) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
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
	binary.BigEndian.PutUint32(dst[start+4:], frameCRC(frame))
	return dst
}

// frameCRC covers a frame except its state, which is erased later.
func frameCRC(frame []byte) uint32 {
	n := min(int(binary.BigEndian.Uint32(frame[4:])), len(frame)-stateHeader)
	c := crc32.Update(0, crcTable, frame[:stateHeader])
	return crc32.Update(c, crcTable, frame[stateHeader+n:])
}

// append makes state and the batch's answer durable, then erases the
// previous state.
func (l *stateLog) append(state []byte, a batchAnswer) error {
	l.buf = encodeRecord(l.buf[:0], state, &a)
	if l.f == nil || l.off+int64(len(l.buf)) > l.capacity {
		return l.compact(state, a)
	}
	if _, err := l.f.WriteAt(l.buf, l.off); err != nil {
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	if err := datasync(l.f); err != nil {
		return fmt.Errorf("sync %s: %w", l.path, err)
	}
	l.erasePrevious(l.off+frameHeader+stateHeader, len(state))
	l.off += int64(len(l.buf))
	l.keep(a)
	return nil
}

// keep remembers a's answer for replay. The line bytes are shared, not
// copied: the chain never writes to a line it has handed out.
func (l *stateLog) keep(a batchAnswer) {
	if a.key == ([32]byte{}) {
		return
	}
	l.remember(batchAnswer{key: a.key, lines: append([]answerLine(nil), a.lines...)})
}

// erasePrevious overwrites the previous record's state (and its key) with
// zeros; the next datasync makes it durable. Best effort, like any erasure
// on journaling file systems and SSDs.
func (l *stateLog) erasePrevious(nextState int64, nextLen int) {
	if l.prevLen > 0 {
		_, _ = l.f.WriteAt(make([]byte, l.prevLen), l.prevState)
	}
	l.prevState, l.prevLen = nextState, nextLen
}

// compact starts a new preallocated file holding the kept answers and the
// newest record, and renames it over the old one.
func (l *stateLog) compact(state []byte, a batchAnswer) error {
	var body []byte
	for _, old := range l.recent {
		body = encodeRecord(body, nil, &old)
	}
	stateAt := int64(len(body) + frameHeader + stateHeader)
	body = encodeRecord(body, state, &a)
	capacity := max(minCapacity, 4*int64(len(body)))
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("compact %s: %w", l.path, err)
	}
	// Zeros are written, not just allocated: later records then overwrite
	// blocks the file already owns, and their datasync commits no metadata.
	page := make([]byte, 1<<20)
	for written := int64(0); written < capacity; written += int64(len(page)) {
		if _, err = f.Write(page[:min(int64(len(page)), capacity-written)]); err != nil {
			break
		}
	}
	if err == nil {
		_, err = f.WriteAt(body, 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", l.path, err)
	}
	if d, derr := os.Open(l.dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.off, l.capacity = f, int64(len(body)), capacity
	l.prevState, l.prevLen = stateAt, len(state)
	l.keep(a)
	return nil
}

func (l *stateLog) close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
