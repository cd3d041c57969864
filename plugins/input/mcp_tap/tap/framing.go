package tap

import (
	"bytes"

	"github.com/buger/jsonparser"
)

// DefaultMaxMessage is how much of one message the observer keeps for parsing.
// Forwarding has no limit; a longer message is forwarded whole and recorded as
// oversize from its first bytes.
const DefaultMaxMessage = 16 << 20

// sniffPrefix is how much of an oversize message is kept to read its id and
// method, which JSON-RPC encoders write before params or result.
const sniffPrefix = 4 << 10

// LineFramer splits a stdio byte stream into newline-delimited messages as it
// is forwarded. It copies only when a line spans several writes.
type LineFramer struct {
	// Max is the largest line handed to OnLine; longer lines go to OnOversize.
	Max        int
	OnLine     func(line []byte)
	OnOversize func(prefix []byte, size int)

	buf     []byte
	over    bool
	overLen int
	skip    bool // resynchronising: drop bytes up to the next newline
}

// Resync drops the partial line held and the bytes up to the next newline:
// after a gap in the observed bytes, the line it cut cannot be parsed.
func (f *LineFramer) Resync() {
	f.buf, f.over, f.overLen, f.skip = f.buf[:0], false, 0, true
}

// Write feeds forwarded bytes; it never fails.
func (f *LineFramer) Write(p []byte) {
	if f.skip {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return
		}
		f.skip, p = false, p[i+1:]
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.add(p)
			return
		}
		if len(f.buf) == 0 && !f.over {
			f.emit(p[:i]) // the common case: a whole line in one read, no copy
		} else {
			f.add(p[:i])
			f.end()
		}
		p = p[i+1:]
	}
}

// Flush ends a last line that had no newline (the stream ended).
func (f *LineFramer) Flush() {
	if f.skip {
		f.skip = false
		return
	}
	if len(f.buf) > 0 || f.over {
		f.end()
	}
}

func (f *LineFramer) max() int {
	if f.Max <= 0 {
		return DefaultMaxMessage
	}
	return f.Max
}

func (f *LineFramer) add(p []byte) {
	if f.over {
		f.overLen += len(p)
		return
	}
	if len(f.buf)+len(p) > f.max() {
		f.over = true
		f.overLen = len(f.buf) + len(p)
		if len(f.buf) < sniffPrefix {
			n := min(sniffPrefix-len(f.buf), len(p))
			f.buf = append(f.buf, p[:n]...)
		}
		return
	}
	f.buf = append(f.buf, p...)
}

func (f *LineFramer) end() {
	if f.over {
		if f.OnOversize != nil {
			f.OnOversize(f.buf, f.overLen)
		}
	} else {
		f.emit(f.buf)
	}
	f.over, f.overLen = false, 0
	if cap(f.buf) > 1<<20 {
		f.buf = nil // do not pin a multi-MB buffer after one big message
	} else {
		f.buf = f.buf[:0]
	}
}

func (f *LineFramer) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(bytes.TrimSpace(line)) == 0 {
		return // blank lines carry nothing; they are forwarded all the same
	}
	if len(line) > f.max() {
		if f.OnOversize != nil {
			f.OnOversize(line[:min(len(line), sniffPrefix)], len(line))
		}
		return
	}
	if f.OnLine != nil {
		f.OnLine(line)
	}
}

// sniff reads the id and method from the first bytes of a message too large
// to parse, so that an oversize response still closes its request.
func sniff(prefix []byte) (id []byte, method string) {
	if v, t, _, err := jsonparser.Get(prefix, "id"); err == nil {
		if t == jsonparser.String {
			id = append(append([]byte{'"'}, v...), '"')
		} else if t == jsonparser.Number {
			id = v
		}
	}
	if v, err := jsonparser.GetString(prefix, "method"); err == nil {
		method = v
	}
	return id, method
}
