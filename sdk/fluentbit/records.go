package fluentbit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/fluentbit/flbmsgpack"
)

// Attribute names a record gets from Fluent Bit.
const (
	AttrTag      = "fluentbit.tag"
	AttrMetadata = "fluentbit.metadata" // the event's v2 metadata map as JSON, when not empty
)

// converter turns a Fluent Bit chunk into Sentinel records. It is safe for
// concurrent use (Fluent Bit flushes from several workers at once).
type converter struct {
	eventKey string
	decoders sync.Pool
}

func newConverter(eventKey string) *converter {
	c := &converter{eventKey: eventKey}
	c.decoders.New = func() any {
		d := &flbmsgpack.Decoder{}
		if eventKey == "" {
			d.WatchKey(sdk.FieldTimestamp)
		}
		return d
	}
	return c
}

// records decodes a chunk. Events that cannot become records are returned as
// dead letters (with their msgpack bytes in base64); a chunk cut short returns
// what came before the cut together with the error.
func (c *converter) records(chunk []byte, tag string) ([]*sdk.Record, []deadLetter, error) {
	d := c.decoders.Get().(*flbmsgpack.Decoder)
	defer c.decoders.Put(d)
	var recs []*sdk.Record
	var dead []deadLetter
	bad, err := d.Decode(chunk, func(e *flbmsgpack.Event) error {
		r, reason := c.record(e, tag)
		if reason != "" {
			dead = append(dead, rawLetter(e.Raw, reason))
			return nil
		}
		recs = append(recs, r)
		return nil
	})
	for _, b := range bad {
		dead = append(dead, rawLetter(b.Raw, b.Reason))
	}
	if err != nil {
		err = fmt.Errorf("decode chunk: %w", err)
	}
	return recs, dead, err
}

func rawLetter(raw []byte, reason string) deadLetter {
	return deadLetter{Reason: reason, Data: "msgpack:" + base64.StdEncoding.EncodeToString(raw)}
}

// record builds one record. The event's JSON becomes the body; an event
// without a timestamp gets Fluent Bit's; one without an event_id gets a ULID
// derived from the event's bytes, so a chunk Fluent Bit retries yields the
// same ids and destinations that deduplicate (Elasticsearch, Chronicle) do.
func (c *converter) record(e *flbmsgpack.Event, tag string) (*sdk.Record, string) {
	body, hasTime := e.Body, e.HasKey
	if c.eventKey != "" {
		var reason string
		if body, hasTime, reason = extractEvent(e.Body, c.eventKey); reason != "" {
			return nil, reason
		}
	}
	if hasTime {
		body = append([]byte(nil), body...) // the decoder reuses its buffer
	} else {
		body = sdk.SpliceField(body, sdk.FieldTimestamp, e.Time.Format(time.RFC3339Nano))
	}
	raw := e.Raw
	r, err := sdk.NewRecordWithID(body, func(t time.Time) string {
		if t.IsZero() {
			t = e.Time
		}
		h := sha256.Sum256(raw)
		return sdk.DeterministicID(t, [10]byte(h[:10]))
	})
	if err != nil {
		return nil, "record is not an event object: " + err.Error()
	}
	r.Attributes = map[string]string{AttrTag: tag}
	if len(e.Meta) > 2 { // not "{}"
		r.Attributes[AttrMetadata] = string(e.Meta)
	}
	return r, ""
}

// extractEvent takes the event out of one key of the record: a map, or a
// string holding a JSON object (tail without a parser).
func extractEvent(record []byte, key string) (event []byte, hasTime bool, reason string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(record, &fields); err != nil {
		return nil, false, "record: " + err.Error()
	}
	v, ok := fields[key]
	if !ok {
		return nil, false, fmt.Sprintf("record has no %q key (event_key)", key)
	}
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, false, err.Error()
		}
		v = json.RawMessage(s)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(v, &inner); err != nil {
		return nil, false, fmt.Sprintf("%q is not a JSON object: %v", key, err)
	}
	_, hasTime = inner[sdk.FieldTimestamp]
	return v, hasTime, ""
}
