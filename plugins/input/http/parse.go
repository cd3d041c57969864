package http

import (
	"bytes"
	"encoding/json"
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
	rec, err := toRecord(bytes.TrimSpace(body))
	if err != nil {
		return nil, []lineError{{Line: 1, Reason: err.Error()}}
	}
	return []*sdk.Record{rec}, nil
}

// parseBatch reads a /v1/events:batch body: NDJSON, blank lines ignored. It
// validates every line, so a request is accepted whole or not at all.
func parseBatch(body []byte) ([]*sdk.Record, []lineError) {
	var recs []*sdk.Record
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
		rec, err := toRecord(line[:len(line):len(line)])
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
	return recs, nil
}

// toRecord turns one event object, plain or in PlugPipe's log_audit_event
// shape, into a record.
func toRecord(obj []byte) (*sdk.Record, error) {
	if len(obj) == 0 || obj[0] != '{' {
		return nil, fmt.Errorf("event must be a JSON object")
	}
	if !json.Valid(obj) {
		return nil, fmt.Errorf("invalid JSON")
	}
	event, err := unwrapOperation(obj)
	if err != nil {
		return nil, err
	}
	return sdk.NewRecord(event)
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
