package sdk

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Canonical event field names (DESIGN.md §2). Outputs map them to each
// destination's schema.
const (
	FieldEventID        = "event_id"
	FieldTimestamp      = "timestamp"
	FieldEventType      = "event_type"
	FieldSeverity       = "severity"
	FieldSessionID      = "session_id"
	FieldServer         = "server"
	FieldMethod         = "method"
	FieldDirection      = "direction"
	FieldStatus         = "status"
	FieldClassification = "classification"
)

// NewRecord reads the envelope out of an event's JSON object in one pass. An
// event without event_id gets a fresh ULID, spliced into the body so that every
// stage and destination sees the same id; one without a timestamp gets now.
func NewRecord(body []byte) (*Record, error) {
	return newRecord(body, nil)
}

// NewRecordWithID is NewRecord with the id to use when the body has none;
// inputs that re-read data derive it from the position so replays keep ids.
// id receives the event's own timestamp, or the zero time when it has none.
func NewRecordWithID(body []byte, id func(t time.Time) string) (*Record, error) {
	return newRecord(body, id)
}

func newRecord(body []byte, mkID func(time.Time) string) (*Record, error) {
	body = bytes.TrimSpace(body)
	vals, err := scanEnvelope(body)
	if err != nil {
		return nil, err
	}
	r := &Record{}
	for i, dst := range [envelopeFields]*string{0: &r.ID, 2: &r.Type, 3: &r.Severity, 4: &r.Session, 5: &r.Server,
		6: &r.Method, 7: &r.Direction, 8: &r.Status, 9: &r.Classification} {
		if dst != nil && vals[i].quoted {
			*dst = vals[i].string()
		}
	}
	r.Time = parseTime(vals[1])
	if r.ID == "" {
		if mkID != nil {
			r.ID = mkID(r.Time) // zero when the event has no timestamp: ids must not depend on when it was read
		} else {
			r.ID = NewID(orNow(r.Time))
		}
		body = SpliceField(body, FieldEventID, r.ID)
	}
	r.Time = orNow(r.Time)
	r.Body = body
	return r, nil
}

// string returns a quoted value's text, unescaped when it has escapes.
func (v rawValue) string() string {
	if !v.escaped {
		return string(v.b)
	}
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, v.b...), '"'), &s); err != nil {
		return string(v.b)
	}
	return s
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

// parseTime accepts RFC 3339 strings and epoch seconds, milliseconds or nanoseconds.
func parseTime(v rawValue) time.Time {
	if len(v.b) == 0 {
		return time.Time{}
	}
	if v.quoted {
		t, err := time.Parse(time.RFC3339Nano, v.string())
		if err != nil {
			return time.Time{}
		}
		return t
	}
	f, err := strconv.ParseFloat(string(v.b), 64)
	if err != nil {
		return time.Time{}
	}
	switch {
	case f > 1e17:
		return time.Unix(0, int64(f)).UTC()
	case f > 1e11:
		return time.UnixMilli(int64(f)).UTC()
	default:
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	}
}

// SpliceField puts "key":"value" first in a JSON object without re-encoding it.
func SpliceField(obj []byte, key, value string) []byte {
	k, _ := json.Marshal(key)
	v, _ := json.Marshal(value)
	out := make([]byte, 0, len(obj)+len(k)+len(v)+2)
	out = append(out, '{')
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, v...)
	rest := bytes.TrimSpace(obj[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

var (
	entropyMu sync.Mutex
	entropy   = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a ULID for time t: sortable by time, unique across hosts.
func NewID(t time.Time) string {
	entropyMu.Lock()
	defer entropyMu.Unlock()
	return ulid.MustNew(idTime(t), entropy).String()
}

// AppendNewIDs appends the text of a new id for each time of ts to dst, 26
// bytes each, the ids NewID would make in turn. It takes the id source's
// lock once for all of them: with requests read in parallel, a lock per id
// cost more than making the ids.
func AppendNewIDs(dst []byte, ts []time.Time) []byte {
	var id ulid.ULID // one for all: ulid.New's escapes, an allocation per id
	entropyMu.Lock()
	defer entropyMu.Unlock()
	for _, t := range ts {
		ms := idTime(t)
		_ = id.SetTime(ms) // within range
		if err := entropy.MonotonicRead(ms, id[6:]); err != nil {
			panic(err)
		}
		n := len(dst)
		dst = append(dst, make([]byte, ulid.EncodedSize)...)
		_ = id.MarshalTextTo(dst[n:])
	}
	return dst
}

// idTime is t's place in an id, within what a ULID can hold: an event's own
// timestamp may lie before 1970 or past the year 10889 (milliseconds read as
// seconds), and its id must still be made rather than fail the whole request.
func idTime(t time.Time) uint64 {
	if t.Before(time.Unix(0, 0)) {
		return 0
	}
	return min(ulid.Timestamp(t), ulid.MaxTime())
}

// DeterministicID returns a ULID for time t whose random part is derived from
// key, so that re-reading the same event yields the same id.
func DeterministicID(t time.Time, key [10]byte) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t))
	_ = id.SetEntropy(key[:])
	return id.String()
}
