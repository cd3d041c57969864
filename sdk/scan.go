package sdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"time"
)

// scanEnvelope validates body as one JSON object and, in the same pass,
// returns the raw values of the envelope's top-level fields (strings without
// their quotes, escapes untouched; other values as written). Inputs build a
// record from every event they read, so this one pass replaces a full
// validation plus a second parse: it is the largest per-record cost of ingestion.
func scanEnvelope(b []byte) (vals [envelopeFields]rawValue, err error) {
	vals, _, err = scanObject(b, "")
	return vals, err
}

// scanObject is scanEnvelope that also reports whether the object has the
// top-level key (when not "") or a top-level key written with escapes.
func scanObject(b []byte, key string) (vals [envelopeFields]rawValue, hasKey bool, err error) {
	s := scanner{b: b}
	s.space()
	if s.peek() != '{' {
		return vals, false, errors.New("event must be a JSON object")
	}
	s.i++
	s.space()
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			if s.peek() != '"' {
				return vals, false, s.fail("object key")
			}
			ks, ke, kesc := s.str()
			if s.err != nil {
				return vals, false, s.err
			}
			s.space()
			if s.peek() != ':' {
				return vals, false, s.fail("':'")
			}
			s.i++
			s.space()
			idx := -1
			if !kesc {
				idx = envelopeIndex(b[ks:ke])
				hasKey = hasKey || (key != "" && string(b[ks:ke]) == key)
			} else {
				hasKey = true
			}
			start := s.i
			quoted := s.peek() == '"'
			var vs, ve int
			var vesc bool
			if quoted {
				vs, ve, vesc = s.str()
			} else {
				s.value(1)
				vs, ve = start, s.i
			}
			if s.err != nil {
				return vals, false, s.err
			}
			if idx >= 0 {
				vals[idx] = rawValue{b: b[vs:ve], quoted: quoted, escaped: vesc}
			}
			s.space()
			if c := s.peek(); c == ',' {
				s.i++
				s.space()
				continue
			} else if c == '}' {
				s.i++
				break
			}
			return vals, false, s.fail("',' or '}'")
		}
	}
	s.space()
	if s.i != len(b) {
		return vals, false, s.fail("end of input")
	}
	return vals, hasKey, nil
}

// RecordReader turns the events of one read (a request, a chunk of a file)
// into records for an input that reads many at once. It does NewRecord's
// work into a Record the caller provides, so a batch's records can share one
// allocation, and shares the strings that repeat from one event to the next
// (type, server, session, timestamp) instead of allocating them again. It
// leaves the id and the missing time to the caller, who makes the ids of a
// whole read at once (AppendNewIDs). Not safe for concurrent use.
type RecordReader struct {
	// Key, when set, is a top-level key of the input's own that Read looks
	// out for (a wrapper's "operation", say).
	Key string

	last     [envelopeFields]string
	lastTime []byte    // raw text of the last string timestamp
	time     time.Time // and its value
}

// Read validates body, trimmed of spaces, as one JSON object, sets *r to the
// record NewRecord would make of it, and reports whether the object has Key
// or a top-level key written with escapes, which could spell it (NewRecord
// leaves such keys unread too). Unlike NewRecord it neither makes an id nor
// defaults the time: r.ID is empty when the event has no event_id string
// (or an empty one), r.Time is zero when it has no readable timestamp, and
// r.Body is body, with no event_id spliced in.
func (rr *RecordReader) Read(r *Record, body []byte) (hasKey bool, err error) {
	body = bytes.TrimSpace(body)
	vals, hasKey, err := scanObject(body, rr.Key)
	if err != nil {
		return false, err
	}
	*r = Record{Body: body}
	for i, dst := range [envelopeFields]*string{0: &r.ID, 2: &r.Type, 3: &r.Severity, 4: &r.Session, 5: &r.Server,
		6: &r.Method, 7: &r.Direction, 8: &r.Status, 9: &r.Classification} {
		if dst != nil && vals[i].quoted {
			*dst = rr.str(i, vals[i])
		}
	}
	switch ts := vals[1]; {
	case len(ts.b) == 0:
	case ts.quoted && !ts.escaped && string(ts.b) == string(rr.lastTime):
		r.Time = rr.time
	default:
		r.Time = parseTime(ts)
		if ts.quoted && !ts.escaped { // only strings are remembered: 1 and "1" are different times
			rr.lastTime = append(rr.lastTime[:0], ts.b...)
			rr.time = r.Time
		}
	}
	return hasKey, nil
}

// str is v's text, the last event's string for the same field when equal.
func (rr *RecordReader) str(field int, v rawValue) string {
	if v.escaped {
		return v.string()
	}
	if string(v.b) != rr.last[field] {
		rr.last[field] = string(v.b)
	}
	return rr.last[field]
}

const envelopeFields = 10

// envelopeIndex maps a top-level key to its slot; the order is envelopePaths'.
func envelopeIndex(k []byte) int {
	switch string(k) { // no allocation: the compiler compares in place
	case FieldEventID:
		return 0
	case FieldTimestamp:
		return 1
	case FieldEventType:
		return 2
	case FieldSeverity:
		return 3
	case FieldSessionID:
		return 4
	case FieldServer:
		return 5
	case FieldMethod:
		return 6
	case FieldDirection:
		return 7
	case FieldStatus:
		return 8
	case FieldClassification:
		return 9
	}
	return -1
}

type rawValue struct {
	b       []byte
	quoted  bool
	escaped bool
}

const maxDepth = 10000 // as encoding/json

type scanner struct {
	b   []byte
	i   int
	err error
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) fail(want string) error {
	if s.err == nil {
		if s.i >= len(s.b) {
			s.err = errors.New("invalid JSON: unexpected end, want " + want)
		} else {
			s.err = errors.New("invalid JSON: unexpected " + quoteByte(s.b[s.i]) + ", want " + want)
		}
	}
	s.i = len(s.b)
	return s.err
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(c) + "'"
	}
	return "control byte"
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str scans a string at s.i and returns its content's span.
func (s *scanner) str() (start, end int, escaped bool) {
	s.i++ // opening quote
	start = s.i
	b := s.b
	for i := s.i; i < len(b); {
		// Most of an event is plain string text: look at it eight bytes at a
		// time, and go straight to the first byte that ends or escapes it.
		if i+8 <= len(b) {
			m := needsLook(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8 // a byte that needs a look
		} else if c := b[i]; c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return start, i, escaped
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.i = i
				s.fail("escape")
				return
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					s.i = i
					s.fail("\\u and four hex digits")
					return
				}
				i += 6
			default:
				s.i = i + 1
				s.fail("escape character")
				return
			}
		default:
			s.i = i
			s.fail("string character (control bytes must be escaped)")
			return
		}
	}
	s.i = len(b)
	s.fail("closing quote")
	return
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// needsLook marks, with the high bit of the byte, the bytes of w that are a
// quote, a backslash or a control byte: (x - ones) &^ x flags a zero byte of
// x, (w - 0x20*ones) &^ w a byte of w below 0x20. Borrows can flag a byte
// above a true one, never below, so the lowest flag is exact.
func needsLook(w uint64) uint64 {
	q := w ^ ('"' * ones)
	bs := w ^ ('\\' * ones)
	return ((w-0x20*ones)&^w | (q-ones)&^q | (bs-ones)&^bs) & highs
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// value scans any JSON value.
func (s *scanner) value(depth int) {
	if depth > maxDepth {
		s.fail("less nesting")
		return
	}
	switch c := s.peek(); {
	case c == '"':
		s.str()
	case c == '{':
		s.i++
		s.space()
		if s.peek() == '}' {
			s.i++
			return
		}
		for s.err == nil {
			if s.peek() != '"' {
				s.fail("object key")
				return
			}
			s.str()
			s.space()
			if s.peek() != ':' {
				s.fail("':'")
				return
			}
			s.i++
			s.space()
			s.value(depth + 1)
			s.space()
			switch s.peek() {
			case ',':
				s.i++
				s.space()
			case '}':
				s.i++
				return
			default:
				s.fail("',' or '}'")
			}
		}
	case c == '[':
		s.i++
		s.space()
		if s.peek() == ']' {
			s.i++
			return
		}
		for s.err == nil {
			s.value(depth + 1)
			s.space()
			switch s.peek() {
			case ',':
				s.i++
				s.space()
			case ']':
				s.i++
				return
			default:
				s.fail("',' or ']'")
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		s.number()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	default:
		s.fail("a value")
	}
}

func (s *scanner) literal(lit string) {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		s.fail(lit)
		return
	}
	s.i += len(lit)
}

// number follows JSON's grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (s *scanner) number() {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		s.fail("digit")
		return
	}
	if s.peek() == '.' {
		s.i++
		if c := s.peek(); c < '0' || c > '9' {
			s.fail("digit")
			return
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if c := s.peek(); c < '0' || c > '9' {
			s.fail("digit")
			return
		}
		s.digits()
	}
}

func (s *scanner) digits() {
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
}
