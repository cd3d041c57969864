package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/buger/jsonparser"

	"github.com/sentinel-audit/sentinel/sdk"
)

// opLogAuditEvent is PlugPipe's audit logging operation; its event may be
// nested under "event" or written next to "operation".
const opLogAuditEvent = "log_audit_event"

// maxReportedErrors bounds the error list of a 400 response.
const maxReportedErrors = 100

// lineError names one bad line of a request.
type lineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// parseOne reads a /v1/events body: one event object.
func parseOne(body []byte) ([]*sdk.Record, []lineError) {
	var p parser
	rec, err := p.toRecord(bytes.TrimSpace(body))
	if err != nil {
		return nil, []lineError{{Line: 1, Reason: err.Error()}}
	}
	return []*sdk.Record{rec}, nil
}

// parseBatch reads a /v1/events:batch body: NDJSON, blank lines ignored. It
// validates every line, so a request is accepted whole or not at all.
func parseBatch(body []byte) ([]*sdk.Record, []lineError) {
	lines := bytes.Count(body, []byte{'\n'}) + 1
	p := parser{ids: make([]byte, 0, len(body)+lines*idSpliceLen)}
	recs := make([]*sdk.Record, 0, lines)
	var errs []lineError
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		rec, err := p.toRecord(line[:len(line):len(line)])
		if err != nil {
			if len(errs) < maxReportedErrors {
				errs = append(errs, lineError{Line: n, Reason: err.Error()})
			}
			continue
		}
		if errs == nil {
			recs = append(recs, rec)
		}
	}
	if errs != nil {
		return nil, errs
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return recs, nil
}

// parser turns the lines of one request into records. Events without an
// event_id get theirs written in front of the line in one buffer shared by
// the request, instead of one allocation per event.
type parser struct {
	ids []byte
}

const (
	idPrefix = `{"event_id":"`
	// idSpliceLen is what splicing an id adds to an event: "event_id":"<ULID>",
	idSpliceLen = len(idPrefix) + ulidLen + 2
	ulidLen     = 26
)

var (
	errNotObject    = errors.New("event must be a JSON object")
	errInvalidJSON  = errors.New("invalid JSON")
	keyOperation    = []byte(`"operation"`)
	keyEventID      = []byte(`"event_id"`)
	unicodeEscape   = []byte(`\u`)
	placeholderULID = bytes.Repeat([]byte{'0'}, ulidLen)
)

// toRecord turns one event object, plain or in PlugPipe's log_audit_event
// shape, into a record.
func (p *parser) toRecord(obj []byte) (*sdk.Record, error) {
	if len(obj) == 0 || obj[0] != '{' {
		return nil, errNotObject
	}
	// A plain event (no "operation" key, not even one spelled with \u
	// escapes) needs one pass: NewRecord's scan validates exactly as
	// encoding/json does, and on a JSON object it fails only on invalid JSON.
	if !bytes.Contains(obj, keyOperation) && !bytes.Contains(obj, unicodeEscape) {
		if !bytes.Contains(obj, keyEventID) {
			return p.withNewID(obj)
		}
		rec, err := sdk.NewRecord(obj)
		if err != nil {
			return nil, errInvalidJSON
		}
		return rec, nil
	}
	if !json.Valid(obj) {
		return nil, errInvalidJSON
	}
	event, err := unwrapOperation(obj)
	if err != nil {
		return nil, err
	}
	return sdk.NewRecord(event)
}

// withNewID builds the record of an event that has no event_id: the same
// body sdk.NewRecord would splice ({"event_id":"<ULID>", then the event's
// members), written into the request's buffer. The id depends on the event's
// timestamp, which is known only after the scan, so a placeholder of the
// id's length is scanned and then overwritten.
func (p *parser) withNewID(obj []byte) (*sdk.Record, error) {
	start := len(p.ids)
	p.ids = append(p.ids, idPrefix...)
	at := len(p.ids) - start
	p.ids = append(p.ids, placeholderULID...)
	p.ids = append(p.ids, '"')
	rest := bytes.TrimSpace(obj[1:])
	if len(rest) > 0 && rest[0] != '}' {
		p.ids = append(p.ids, ',')
	}
	p.ids = append(p.ids, rest...)
	body := p.ids[start:len(p.ids):len(p.ids)]
	rec, err := sdk.NewRecord(body)
	if err != nil {
		p.ids = p.ids[:start]
		return nil, errInvalidJSON
	}
	id := sdk.NewID(rec.Time) // rec.Time is the event's timestamp, or now without one, as NewRecord uses
	copy(body[at:], id)
	rec.ID = id
	return rec, nil
}

// unwrapOperation accepts {"operation":"log_audit_event","event":{...}} and
// {"operation":"log_audit_event", <event fields>}, returning the event with
// the "operation" key gone; other objects are returned as they are.
func unwrapOperation(obj []byte) ([]byte, error) {
	op, typ, _, err := jsonparser.Get(obj, "operation")
	if typ == jsonparser.NotExist {
		return obj, nil
	}
	if err != nil || typ != jsonparser.String {
		return nil, fmt.Errorf("\"operation\" must be the string %q", opLogAuditEvent)
	}
	if string(op) != opLogAuditEvent {
		return nil, fmt.Errorf("unsupported operation %q: only %q is accepted", op, opLogAuditEvent)
	}
	if ev, typ, _, err := jsonparser.Get(obj, "event"); err == nil {
		if typ != jsonparser.Object {
			return nil, fmt.Errorf("\"event\" must be a JSON object")
		}
		return ev[:len(ev):len(ev)], nil
	}
	// Delete works in place: give it a copy so the request body stays intact.
	out := jsonparser.Delete(append([]byte(nil), obj...), "operation")
	if !json.Valid(out) {
		return nil, fmt.Errorf("cannot remove \"operation\" from the event")
	}
	return out, nil
}
