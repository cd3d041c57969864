package integrity

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
)

// Entry kinds, the "k" field of a stored entry line.
const (
	KindEvent     = 'e' // an audit event
	KindGenesis   = 'g' // first entry of a chain: origin, t0, epoch length
	KindEpochSeal = 's' // last entry of an epoch, written even when the epoch was empty
	KindRestart   = 'r' // first entry a restarted signer writes: declares what a crash may have lost
)

// An entry line is written in this fixed shape, so the verifier reads it with
// a few byte comparisons instead of a JSON parse, and ev keeps the exact bytes
// the MAC and the Merkle leaf cover:
//
//	{"v":1,"seq":7,"ep":0,"t":1787934006123456789,"k":"e","ev":{...},"mac":"<43 base64url>"}
const (
	entryPrefix = `{"v":1,"seq":`
	macSuffixAt = len(`,"mac":"`) + 43 + len(`"}`)
)

// Entry is one parsed entry line; Event aliases the line's bytes.
type Entry struct {
	Seq   uint64
	Epoch uint64
	T     int64
	Kind  byte
	Event []byte
	MAC   [32]byte
}

// ErrMalformed means a line is not a well-formed entry line.
var ErrMalformed = errors.New("malformed entry line")

// IsEntryLine reports whether line has the shape of an entry line.
func IsEntryLine(line []byte) bool { return bytes.HasPrefix(line, []byte(entryPrefix)) }

// AppendEntryLine appends the line for e (without a newline).
func AppendEntryLine(dst []byte, e *Entry) []byte {
	dst = append(dst, entryPrefix...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"ep":`...)
	dst = strconv.AppendUint(dst, e.Epoch, 10)
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, e.T, 10)
	dst = append(dst, `,"k":"`...)
	dst = append(dst, e.Kind)
	dst = append(dst, `","ev":`...)
	dst = append(dst, e.Event...)
	dst = append(dst, `,"mac":"`...)
	dst = base64.RawURLEncoding.AppendEncode(dst, e.MAC[:])
	return append(dst, `"}`...)
}

// ParseEntryLine reads an entry line; e.Event aliases line.
func ParseEntryLine(line []byte, e *Entry) error {
	if !bytes.HasPrefix(line, []byte(entryPrefix)) || len(line) < len(entryPrefix)+macSuffixAt+30 {
		return ErrMalformed
	}
	p := line[len(entryPrefix):]
	var ok bool
	if e.Seq, p, ok = readUint(p, `,"ep":`); !ok {
		return ErrMalformed
	}
	if e.Epoch, p, ok = readUint(p, `,"t":`); !ok {
		return ErrMalformed
	}
	var t uint64
	if t, p, ok = readUint(p, `,"k":"`); !ok || t > 1<<63-1 {
		return ErrMalformed
	}
	e.T = int64(t)
	if len(p) < 1+len(`","ev":`) || !bytes.HasPrefix(p[1:], []byte(`","ev":`)) {
		return ErrMalformed
	}
	e.Kind = p[0]
	p = p[1+len(`","ev":`):]
	if len(p) < macSuffixAt+2 {
		return ErrMalformed
	}
	tail := p[len(p)-macSuffixAt:]
	if !bytes.HasPrefix(tail, []byte(`,"mac":"`)) || !bytes.HasSuffix(tail, []byte(`"}`)) {
		return ErrMalformed
	}
	e.Event = p[:len(p)-macSuffixAt]
	if n, err := base64.RawURLEncoding.Decode(e.MAC[:], tail[len(`,"mac":"`):len(tail)-2]); err != nil || n != 32 {
		return ErrMalformed
	}
	if e.Event[0] != '{' || e.Event[len(e.Event)-1] != '}' {
		return ErrMalformed
	}
	return nil
}

// readUint reads decimal digits up to sep.
func readUint(p []byte, sep string) (uint64, []byte, bool) {
	var n uint64
	i := 0
	for ; i < len(p) && i < 20; i++ {
		c := p[i]
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
	}
	if i == 0 || (i > 1 && p[0] == '0') || !bytes.HasPrefix(p[i:], []byte(sep)) {
		return 0, nil, false
	}
	return n, p[i+len(sep):], true
}

// macInput is the domain-separated message an entry MAC covers.
const macDomain = "sentinel/v1/entry\x00"

// computeMAC is HMAC(key, domain ‖ seq ‖ ep ‖ t ‖ kind ‖ prev ‖ SHA-256(ev)).
func computeMAC(h *hmacer, out *[32]byte, key *[32]byte, e *Entry, prev *[32]byte) {
	b := append(h.msg[:0], macDomain...)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, e.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(e.T))
	b = append(b, e.Kind)
	b = append(b, prev[:]...)
	evHash := sha256.Sum256(e.Event)
	b = append(b, evHash[:]...)
	h.begin(key)
	h.write(b)
	h.finish(out)
}
