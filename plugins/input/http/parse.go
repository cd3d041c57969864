package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

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
	body = bytes.TrimSpace(body)
	p := newParser(len(body), 1)
	defer p.release()
	if err := p.add(body); err != nil {
		return nil, []lineError{{Line: 1, Reason: err.Error()}}
	}
	return p.finish(), nil
}

// parseBatch reads a /v1/events:batch body: NDJSON, blank lines ignored. It
// validates every line, so a request is accepted whole or not at all.
func parseBatch(body []byte) ([]*sdk.Record, []lineError) {
	lines := bytes.Count(body, []byte{'\n'}) + 1
	p := newParser(len(body), lines)
	defer p.release()
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
		if err := p.add(line); err != nil && len(errs) < maxReportedErrors {
			errs = append(errs, lineError{Line: n, Reason: err.Error()})
		}
	}
	if errs != nil {
		return nil, errs
	}
	return p.finish(), nil
}

// parser turns the lines of one request into records with a few
// allocations per request rather than several per event: the bodies are
// copied into one buffer (events without an event_id with the id spliced in
// front), the records live in one array, the ids of all events are made at
// once at the end, and strings that repeat from one event to the next are
// shared. Nothing it returns points into the request body, which the caller
// may then reuse. Parsers are pooled, without the memory they hand out.
type parser struct {
	rr     sdk.RecordReader
	bodies []byte
	slab   []sdk.Record
	recs   []*sdk.Record
	needID []int       // indexes in recs of the records that get a new id
	times  []time.Time // the times of their ids
	idText []byte
}

var parsers = sync.Pool{New: func() any { return &parser{rr: sdk.RecordReader{Key: "operation"}} }}

// newParser prepares a parser for a body of size bytes and at most lines events.
func newParser(size, lines int) *parser {
	p := parsers.Get().(*parser)
	p.bodies = make([]byte, 0, size+lines*idSpliceLen)
	p.slab = make([]sdk.Record, 0, lines)
	p.recs = make([]*sdk.Record, 0, lines)
	return p
}

// release returns p to the pool, keeping only its scratch space.
func (p *parser) release() {
	p.bodies, p.slab, p.recs = nil, nil, nil
	p.needID, p.times, p.idText = p.needID[:0], p.times[:0], p.idText[:0]
	parsers.Put(p)
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
	placeholderULID = bytes.Repeat([]byte{'0'}, ulidLen)
)

// add turns one event object, plain or in PlugPipe's log_audit_event
// shape, into a record.
func (p *parser) add(obj []byte) error {
	if len(obj) == 0 || obj[0] != '{' {
		return errNotObject
	}
	var rec *sdk.Record
	if len(p.slab) < cap(p.slab) {
		p.slab = p.slab[:len(p.slab)+1]
		rec = &p.slab[len(p.slab)-1]
	} else {
		rec = new(sdk.Record)
	}
	// One scan validates the event (exactly as encoding/json would) and
	// reads its envelope; it also tells whether it has an "operation" key.
	wrapped, err := p.rr.Read(rec, obj)
	switch {
	case err != nil:
		*rec = sdk.Record{}
		p.slab = p.slab[:len(p.slab)-1]
		return errInvalidJSON
	case wrapped:
		*rec = sdk.Record{}
		p.slab = p.slab[:len(p.slab)-1]
		event, err := unwrapOperation(p.keep(obj))
		if err != nil {
			return err
		}
		if rec, err = sdk.NewRecord(event); err != nil {
			return err
		}
	case rec.ID != "":
		rec.Body = p.keep(obj)
		rec.Time = orNow(rec.Time)
	default:
		rec.Body = p.withPlaceholder(obj)
		rec.Time = orNow(rec.Time) // as NewRecord: the id too carries the time of reading
		p.needID = append(p.needID, len(p.recs))
		p.times = append(p.times, rec.Time)
	}
	p.recs = append(p.recs, rec)
	return nil
}

// orNow is t, or the time of reading when the event has none (as NewRecord).
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

// keep copies obj into the request's buffer.
func (p *parser) keep(obj []byte) []byte {
	start := len(p.bodies)
	p.bodies = append(p.bodies, obj...)
	return p.bodies[start:len(p.bodies):len(p.bodies)]
}

// withPlaceholder writes the body sdk.NewRecord would splice for an event
// without event_id ({"event_id":"<ULID>", then the event's members) into
// the request's buffer, with a placeholder where finish puts the id.
func (p *parser) withPlaceholder(obj []byte) []byte {
	start := len(p.bodies)
	p.bodies = append(p.bodies, idPrefix...)
	p.bodies = append(p.bodies, placeholderULID...)
	p.bodies = append(p.bodies, '"')
	rest := bytes.TrimSpace(obj[1:])
	if len(rest) > 0 && rest[0] != '}' {
		p.bodies = append(p.bodies, ',')
	}
	p.bodies = append(p.bodies, rest...)
	return p.bodies[start:len(p.bodies):len(p.bodies)]
}

// finish gives the events without an id theirs, made all at once, and
// returns the records (nil for none).
func (p *parser) finish() []*sdk.Record {
	if len(p.recs) == 0 {
		return nil
	}
	if len(p.needID) > 0 {
		p.idText = sdk.AppendNewIDs(p.idText[:0], p.times)
		ids := string(p.idText) // one string for all: each record's ID is a piece of it
		for k, i := range p.needID {
			rec := p.recs[i]
			copy(rec.Body[len(idPrefix):len(idPrefix)+ulidLen], p.idText[k*ulidLen:])
			rec.ID = ids[k*ulidLen : (k+1)*ulidLen]
		}
	}
	return p.recs
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
