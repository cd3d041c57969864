package sdk

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/buger/jsonparser"
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

var envelopePaths = [][]string{
	{FieldEventID}, {FieldTimestamp}, {FieldEventType}, {FieldSeverity}, {FieldSessionID},
	{FieldServer}, {FieldMethod}, {FieldDirection}, {FieldStatus}, {FieldClassification},
}

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
	if len(body) == 0 || body[0] != '{' {
		return nil, fmt.Errorf("event must be a JSON object")
	}
	r := &Record{}
	var perr error
	var ts []byte
	jsonparser.EachKey(body, func(idx int, v []byte, vt jsonparser.ValueType, err error) {
		if err != nil {
			perr = err
			return
		}
		if idx == 1 {
			ts = v
			if vt == jsonparser.String {
				ts = v
			}
			return
		}
		if vt != jsonparser.String {
			return
		}
		s := string(v)
		if bytes.IndexByte(v, '\\') >= 0 {
			if u, err := jsonparser.ParseString(v); err == nil {
				s = u
			}
		}
		switch idx {
		case 0:
			r.ID = s
		case 2:
			r.Type = s
		case 3:
			r.Severity = s
		case 4:
			r.Session = s
		case 5:
			r.Server = s
		case 6:
			r.Method = s
		case 7:
			r.Direction = s
		case 8:
			r.Status = s
		case 9:
			r.Classification = s
		}
	}, envelopePaths...)
	if perr != nil {
		return nil, fmt.Errorf("invalid JSON: %w", perr)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("invalid JSON")
	}
	r.Time = parseTime(ts)
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

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

// parseTime accepts RFC 3339 strings and epoch seconds, milliseconds or nanoseconds.
func parseTime(v []byte) time.Time {
	if len(v) == 0 {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, string(v)); err == nil {
		return t
	}
	f, err := strconv.ParseFloat(string(v), 64)
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
	return ulid.MustNew(ulid.Timestamp(t), entropy).String()
}

// DeterministicID returns a ULID for time t whose random part is derived from
// key, so that re-reading the same event yields the same id.
func DeterministicID(t time.Time, key [10]byte) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t))
	_ = id.SetEntropy(key[:])
	return id.String()
}
