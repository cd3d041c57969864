// Package flbmsgpack reads the msgpack chunks Fluent Bit hands an output
// plugin and turns each event into a JSON object in one pass, without building
// Go maps: the stock fluent-bit-go decoder (reflection into
// map[interface{}]interface{}) caps a Go output near 40–70k records/s.
//
// A chunk is a concatenation of events, each in one of Fluent Bit's encodings:
//
//	[timestamp, record]                  (legacy)
//	[[timestamp, metadata], record]      (Fluent Bit 2.1+)
//
// where timestamp is an EventTime (msgpack ext type 0: 4-byte seconds, 4-byte
// nanoseconds, big endian), an integer of seconds, or a float of seconds. In
// the second encoding, integer timestamps -1 and -2 mark the start and end of
// a group (OpenTelemetry resources); those carry no log record and are skipped.
//
// Values become JSON as follows: str as a string (invalid UTF-8 replaced by
// U+FFFD, as encoding/json does); bin as a string when it is valid UTF-8 (what
// Fluent Bit's own JSON encoders print) and otherwise as standard base64; an
// EventTime ext inside a record as an RFC 3339 string; other ext types as base64
// of their payload; NaN and infinities as strings; non-string map keys as their
// JSON text. Map order and duplicate keys are kept as they are.
package flbmsgpack

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// ErrTruncated reports a chunk that ends inside an object.
var ErrTruncated = errors.New("msgpack chunk truncated")

var (
	errDepth    = errors.New("nested deeper than 64 levels")
	errReserved = errors.New("reserved msgpack byte 0xc1")
)

// Event is one decoded Fluent Bit event. Body and Meta alias the decoder's
// buffer and are valid only until the callback returns.
type Event struct {
	Time time.Time
	// Meta is the metadata map of the Fluent Bit 2.1+ encoding as a JSON object,
	// nil in the legacy encoding.
	Meta []byte
	// Body is the record as a JSON object.
	Body []byte
	// HasKey reports whether the record map has the top-level key given to
	// Decoder.WatchKey (e.g. "timestamp").
	HasKey bool
	// Raw is the event's msgpack bytes, for dead letters.
	Raw []byte
}

// Bad is an event that could not become a record.
type Bad struct {
	Raw    []byte
	Reason string
}

// Decoder converts chunks. It keeps its buffer between calls; use one per goroutine.
type Decoder struct {
	buf      []byte
	meta     []byte
	watchKey string
}

// WatchKey makes Event.HasKey report whether the record has this top-level key.
func (d *Decoder) WatchKey(key string) { d.watchKey = key }

// Decode walks every event of chunk, calling fn for each record and collecting
// the events that are not [timestamp, map] pairs. A chunk cut short ends the
// walk with ErrTruncated; events before it were already passed to fn.
func (d *Decoder) Decode(chunk []byte, fn func(*Event) error) (bad []Bad, err error) {
	var ev Event
	for pos := 0; pos < len(chunk); {
		end, err := skip(chunk, pos, 0)
		if err != nil {
			return bad, fmt.Errorf("event at byte %d: %w", pos, err)
		}
		raw := chunk[pos:end]
		ok, reason := d.event(raw, &ev)
		pos = end
		if reason == "" && !ok {
			continue // a group marker
		}
		if reason != "" {
			bad = append(bad, Bad{Raw: raw, Reason: reason})
			continue
		}
		ev.Raw = raw
		if err := fn(&ev); err != nil {
			return bad, err
		}
	}
	return bad, nil
}

// event decodes one complete event. It returns ok=false with an empty reason
// for group markers, and a reason for malformed events.
func (d *Decoder) event(b []byte, ev *Event) (ok bool, reason string) {
	n, p, isArr := arrayHeader(b, 0)
	if !isArr || n != 2 {
		return false, "event is not a [timestamp, record] array"
	}
	ev.Meta = nil
	if hn, hp, ok := arrayHeader(b, p); ok { // [[ts, meta], record]
		if hn < 1 {
			return false, "event header array is empty"
		}
		t, next, marker, reason := readTime(b, hp)
		if reason != "" {
			return false, reason
		}
		if marker {
			return false, ""
		}
		ev.Time = t
		p = next
		if hn >= 2 {
			d.meta = d.meta[:0]
			var err error
			if d.meta, p, err = d.value(d.meta, b, p, 0); err != nil {
				return false, "event metadata: " + err.Error()
			}
			if len(d.meta) > 0 && d.meta[0] == '{' {
				ev.Meta = d.meta
			}
		}
		for i := uint32(2); i < hn; i++ { // future header fields
			var err error
			if p, err = skip(b, p, 0); err != nil {
				return false, err.Error()
			}
		}
	} else {
		t, next, _, reason := readTime(b, p)
		if reason != "" {
			return false, reason
		}
		ev.Time, p = t, next
	}
	if _, _, isMap := mapHeader(b, p); !isMap {
		return false, "event record is not a map"
	}
	d.buf = d.buf[:0]
	var err error
	d.buf, ev.HasKey, err = d.topMap(d.buf, b, p)
	if err != nil {
		return false, "event record: " + err.Error()
	}
	ev.Body = d.buf
	return true, ""
}

// readTime reads an event timestamp; marker reports a group start/end marker.
func readTime(b []byte, p int) (t time.Time, next int, marker bool, reason string) {
	if p >= len(b) {
		return t, p, false, "event timestamp missing"
	}
	c := b[p]
	switch {
	case c == 0xd7 && p+10 <= len(b) && b[p+1] == 0: // fixext 8, type 0
		return eventTime(b[p+2 : p+10]), p + 10, false, ""
	case c == 0xc7 && p+11 <= len(b) && b[p+1] == 8 && b[p+2] == 0: // ext 8 with length 8, type 0
		return eventTime(b[p+3 : p+11]), p + 11, false, ""
	case c == 0xcb && p+9 <= len(b):
		f := math.Float64frombits(binary.BigEndian.Uint64(b[p+1:]))
		return floatTime(f), p + 9, false, ""
	case c == 0xca && p+5 <= len(b):
		f := float64(math.Float32frombits(binary.BigEndian.Uint32(b[p+1:])))
		return floatTime(f), p + 5, false, ""
	}
	if v, next, isInt, neg := readInt(b, p); isInt {
		if neg {
			if v == -1 || v == -2 {
				return t, next, true, ""
			}
			return t, next, false, fmt.Sprintf("event timestamp %d is negative", v)
		}
		return time.Unix(v, 0).UTC(), next, false, ""
	}
	return t, p, false, "event timestamp is not an EventTime, integer or float"
}

func eventTime(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:]))).UTC()
}

func floatTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
}

// readInt reads any msgpack integer; neg is true for negative values.
func readInt(b []byte, p int) (v int64, next int, ok, neg bool) {
	c := b[p]
	switch {
	case c <= 0x7f:
		return int64(c), p + 1, true, false
	case c >= 0xe0:
		return int64(int8(c)), p + 1, true, true
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, p, false, false
	}
	if p+1+size > len(b) {
		return 0, p, false, false
	}
	x := b[p+1 : p+1+size]
	switch c {
	case 0xcc:
		v = int64(x[0])
	case 0xcd:
		v = int64(binary.BigEndian.Uint16(x))
	case 0xce:
		v = int64(binary.BigEndian.Uint32(x))
	case 0xcf:
		u := binary.BigEndian.Uint64(x)
		if u > math.MaxInt64 {
			return 0, p, false, false
		}
		v = int64(u)
	case 0xd0:
		v = int64(int8(x[0]))
	case 0xd1:
		v = int64(int16(binary.BigEndian.Uint16(x)))
	case 0xd2:
		v = int64(int32(binary.BigEndian.Uint32(x)))
	case 0xd3:
		v = int64(binary.BigEndian.Uint64(x))
	}
	return v, p + 1 + size, true, v < 0
}

// topMap converts the record map, noting whether it holds the watched key.
func (d *Decoder) topMap(dst, b []byte, p int) ([]byte, bool, error) {
	n, p, _ := mapHeader(b, p)
	has := false
	dst = append(dst, '{')
	var err error
	for i := uint32(0); i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		if d.watchKey != "" && !has {
			if k, ok := strAt(b, p); ok && string(k) == d.watchKey {
				has = true
			}
		}
		if dst, p, err = key(dst, b, p); err != nil {
			return dst, has, err
		}
		dst = append(dst, ':')
		if dst, p, err = d.value(dst, b, p, 1); err != nil {
			return dst, has, err
		}
	}
	return append(dst, '}'), has, nil
}

const maxDepth = 64

// value appends the JSON form of the msgpack object at b[p:].
func (d *Decoder) value(dst, b []byte, p, depth int) ([]byte, int, error) {
	if depth > maxDepth {
		return dst, p, errDepth
	}
	if p >= len(b) {
		return dst, p, ErrTruncated
	}
	c := b[p]
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		v, next, ok, _ := readInt(b, p)
		if !ok {
			if c == 0xcf && p+9 <= len(b) { // uint64 above MaxInt64
				return strconv.AppendUint(dst, binary.BigEndian.Uint64(b[p+1:]), 10), p + 9, nil
			}
			return dst, p, ErrTruncated
		}
		return strconv.AppendInt(dst, v, 10), next, nil
	case c == 0xc0:
		return append(dst, "null"...), p + 1, nil
	case c == 0xc2:
		return append(dst, "false"...), p + 1, nil
	case c == 0xc3:
		return append(dst, "true"...), p + 1, nil
	case c == 0xca || c == 0xcb:
		var f float64
		if c == 0xca {
			if p+5 > len(b) {
				return dst, p, ErrTruncated
			}
			f, p = float64(math.Float32frombits(binary.BigEndian.Uint32(b[p+1:]))), p+5
		} else {
			if p+9 > len(b) {
				return dst, p, ErrTruncated
			}
			f, p = math.Float64frombits(binary.BigEndian.Uint64(b[p+1:])), p+9
		}
		return appendFloat(dst, f), p, nil
	}
	if s, next, ok := strOrBin(b, p); ok {
		if c == 0xc4 || c == 0xc5 || c == 0xc6 { // bin
			if utf8.Valid(s) {
				return appendString(dst, s), next, nil
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, s)
			return append(dst, '"'), next, nil
		}
		return appendString(dst, s), next, nil
	}
	if n, q, ok := arrayHeader(b, p); ok {
		dst = append(dst, '[')
		var err error
		for i := uint32(0); i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, q, err = d.value(dst, b, q, depth+1); err != nil {
				return dst, q, err
			}
		}
		return append(dst, ']'), q, nil
	}
	if n, q, ok := mapHeader(b, p); ok {
		dst = append(dst, '{')
		var err error
		for i := uint32(0); i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, q, err = key(dst, b, q); err != nil {
				return dst, q, err
			}
			dst = append(dst, ':')
			if dst, q, err = d.value(dst, b, q, depth+1); err != nil {
				return dst, q, err
			}
		}
		return append(dst, '}'), q, nil
	}
	if typ, data, next, ok := ext(b, p); ok {
		if typ == 0 && len(data) == 8 {
			dst = append(dst, '"')
			dst = eventTime(data).AppendFormat(dst, time.RFC3339Nano)
			return append(dst, '"'), next, nil
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, data)
		return append(dst, '"'), next, nil
	}
	if c == 0xc1 {
		return dst, p, errReserved
	}
	return dst, p, ErrTruncated
}

// key appends a map key as a JSON string: strings as they are, anything else
// as its JSON text.
func key(dst, b []byte, p int) ([]byte, int, error) {
	if s, next, ok := strOrBin(b, p); ok {
		return appendString(dst, s), next, nil
	}
	var d Decoder
	v, next, err := d.value(nil, b, p, 1)
	if err != nil {
		return dst, p, err
	}
	return appendString(dst, v), next, nil
}

func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Inf"`...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}
