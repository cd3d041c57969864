package integrity

import (
	"bytes"
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
//	{"v":2,"seq":7,"ep":0,"t":1787934006123456789,"k":"e","ev":{...},"mac":"<43 base64url>"}
//
// "v" is the chain's format, fixed by its genesis entry. Version 1 hashed ev
// twice and the whole line once per entry (MAC, then Merkle leaf) and stepped
// the entry key with an HMAC; version 2 hashes ev once and lets the leaf cover
// that hash with the rest of the line's exact bytes, and steps the key with
// one SHA-256 block (see ratchet.go). Chains begun as version 1 stay version 1
// so that stores written before keep verifying and keep growing.
const (
	entryPrefixHead = `{"v":`
	entryPrefixTail = `,"seq":`
	entryPrefixLen  = len(entryPrefixHead) + 1 + len(entryPrefixTail)
	macSuffixAt     = len(`,"mac":"`) + 43 + len(`"}`)
)

// Entry format versions.
const (
	Version1 = 1
	Version2 = 2
	// CurrentVersion is the format new chains are written in.
	CurrentVersion = Version2
)

// Entry is one parsed entry line; Event aliases the line's bytes.
type Entry struct {
	Version byte
	Seq     uint64
	Epoch   uint64
	T       int64
	Kind    byte
	Event   []byte
	MAC     [32]byte
}

// ErrMalformed means a line is not a well-formed entry line.
var ErrMalformed = errors.New("malformed entry line")

// IsEntryLine reports whether line has the shape of an entry line.
func IsEntryLine(line []byte) bool { return lineVersion(line) != 0 }

// lineVersion is the format version an entry line declares, 0 if none.
func lineVersion(line []byte) byte {
	if len(line) < entryPrefixLen || !bytes.HasPrefix(line, []byte(entryPrefixHead)) ||
		!bytes.HasPrefix(line[len(entryPrefixHead)+1:], []byte(entryPrefixTail)) {
		return 0
	}
	switch v := line[len(entryPrefixHead)] - '0'; v {
	case Version1, Version2:
		return v
	}
	return 0
}

// AppendEntryLine appends the line for e (without a newline).
func AppendEntryLine(dst []byte, e *Entry) []byte {
	dst = append(dst, entryPrefixHead...)
	dst = append(dst, '0'+max(e.Version, Version1))
	dst = append(dst, entryPrefixTail...)
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
	dst = macEncoding.AppendEncode(dst, e.MAC[:])
	return append(dst, `"}`...)
}

// ParseEntryLine reads an entry line; e.Event aliases line.
func ParseEntryLine(line []byte, e *Entry) error {
	if e.Version = lineVersion(line); e.Version == 0 || len(line) < entryPrefixLen+macSuffixAt+30 {
		return ErrMalformed
	}
	p := line[entryPrefixLen:]
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
	if n, err := macEncoding.Decode(e.MAC[:], tail[len(`,"mac":"`):len(tail)-2]); err != nil || n != 32 {
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
	// Only 20 digits can pass uint64 (19 cannot), and past it n wrapped:
	// two spellings must not read as one number.
	if i == 20 && string(p[:20]) > "18446744073709551615" {
		return 0, nil, false
	}
	return n, p[i+len(sep):], true
}

// macEncoding is strict: a MAC has one spelling, so a version 2 leaf, which
// covers the line's bytes, cannot be matched by a second line.
var macEncoding = base64.RawURLEncoding.Strict()

// MAC domains, one per format version.
const (
	macDomainV1 = "sentinel/v1/entry\x00"
	macDomainV2 = "sentinel/v2/entry\x00"
)

// computeMAC is HMAC(key, domain ‖ seq ‖ ep ‖ t ‖ kind ‖ prev ‖ SHA-256(ev)),
// given SHA-256(ev) as evHash.
func computeMAC(h *hmacer, out *[32]byte, key *[32]byte, e *Entry, prev, evHash *[32]byte) {
	b := h.msg[:0]
	if e.Version >= Version2 {
		b = append(b, macDomainV2...)
	} else {
		b = append(b, macDomainV1...)
	}
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, e.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(e.T))
	b = append(b, e.Kind)
	b = append(b, prev[:]...)
	b = append(b, evHash[:]...)
	h.begin(key)
	h.write(b)
	h.finish(out)
}
