package splunk_hec

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/buger/jsonparser"

	"github.com/sentinel-audit/sentinel/sdk"
)

// encoder turns records into HEC event envelopes.
type encoder struct {
	host, source, sourcetype, index string
	fields                          []string
}

// envelope is one HEC event. time is pre-formatted so that it keeps exactly
// millisecond precision (a float64 would round 1757000000.123 to ...122999).
type envelope struct {
	Time       json.RawMessage `json:"time"`
	Host       string          `json:"host,omitempty"`
	Source     string          `json:"source,omitempty"`
	Sourcetype string          `json:"sourcetype,omitempty"`
	Index      string          `json:"index,omitempty"`
	Event      json.RawMessage `json:"event"`
	Fields     map[string]any  `json:"fields,omitempty"`
}

func (e *encoder) encode(r *sdk.Record) ([]byte, error) {
	if len(r.Body) == 0 || !json.Valid(r.Body) {
		return nil, fmt.Errorf("record %s: body is not JSON", r.ID)
	}
	env := envelope{
		Time: epochSeconds(r.Time), Host: e.host, Source: e.source, Sourcetype: e.sourcetype,
		Index: e.index, Event: r.Body,
	}
	if idx, err := jsonparser.GetString(r.Body, "index"); err == nil && idx != "" {
		env.Index = idx
	}
	if len(e.fields) > 0 {
		env.Fields = map[string]any{}
		for _, name := range e.fields {
			v, vt, _, err := jsonparser.Get(r.Body, name)
			if err != nil || vt == jsonparser.Null {
				continue
			}
			flattenInto(env.Fields, name, v, vt)
		}
		if len(env.Fields) == 0 {
			env.Fields = nil
		}
	}
	return json.Marshal(env)
}

// epochSeconds formats t as seconds with exactly three decimals.
func epochSeconds(t time.Time) json.RawMessage {
	if t.IsZero() {
		t = time.Now()
	}
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	return json.RawMessage(strconv.FormatInt(sec, 10) + "." + fmt.Sprintf("%03d", frac))
}

// flattenInto stores a JSON value as HEC indexed fields, which must be flat:
// strings or arrays of strings. Objects become dotted names.
func flattenInto(dst map[string]any, name string, v []byte, vt jsonparser.ValueType) {
	switch vt {
	case jsonparser.Object:
		var keys []string
		vals := map[string][]byte{}
		types := map[string]jsonparser.ValueType{}
		_ = jsonparser.ObjectEach(v, func(k, val []byte, t jsonparser.ValueType, _ int) error {
			key := string(k)
			keys = append(keys, key)
			vals[key], types[key] = val, t
			return nil
		})
		sort.Strings(keys)
		for _, k := range keys {
			flattenInto(dst, name+"."+k, vals[k], types[k])
		}
	case jsonparser.Array:
		var list []string
		_, _ = jsonparser.ArrayEach(v, func(el []byte, t jsonparser.ValueType, _ int, _ error) {
			if t != jsonparser.Null {
				list = append(list, scalar(el, t))
			}
		})
		if len(list) > 0 {
			dst[name] = list
		}
	case jsonparser.Null, jsonparser.NotExist:
	default:
		dst[name] = scalar(v, vt)
	}
}

// scalar renders a JSON value as a string; nested structures keep their JSON text.
func scalar(v []byte, t jsonparser.ValueType) string {
	if t == jsonparser.String {
		if s, err := jsonparser.ParseString(v); err == nil {
			return s
		}
	}
	return string(v)
}
