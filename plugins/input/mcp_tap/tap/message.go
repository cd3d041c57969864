// Package tap observes MCP traffic without changing it: it frames JSON-RPC
// messages out of stdio lines, HTTP bodies and SSE streams, correlates
// requests with responses, and maps them to Sentinel audit events. The stdio
// wrapper (`sentinel wrap`) and the mcp_tap input plugin both build on it.
package tap

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/buger/jsonparser"
)

// Direction is the side that sent a message. Each side numbers its own
// requests, so correlation is always on (direction, id).
type Direction uint8

const (
	ClientToServer Direction = iota
	ServerToClient
)

func (d Direction) String() string {
	if d == ServerToClient {
		return "server_to_client"
	}
	return "client_to_server"
}

// Reverse is the direction answers to d's requests travel in.
func (d Direction) Reverse() Direction { return 1 - d }

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// message is one parsed JSON-RPC message. Raw fields stay undecoded until a
// mapping needs them, so a multi-MB result costs one scan.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *rpcError       `json:"error"`
}

type msgKind uint8

const (
	kindInvalid msgKind = iota
	kindRequest
	kindNotification
	kindResponse
)

func (m *message) kind() msgKind {
	hasID := len(m.ID) > 0 && !bytes.Equal(m.ID, []byte("null"))
	switch {
	case m.Method != "" && hasID:
		return kindRequest
	case m.Method != "":
		return kindNotification
	case m.Result != nil || m.Error != nil:
		return kindResponse
	}
	return kindInvalid
}

// idKey keeps string and number ids apart ("1" and 1 are different ids).
func idKey(raw json.RawMessage) string { return string(bytes.TrimSpace(raw)) }

// idString is the id as the OTel attribute jsonrpc.request.id wants it.
func idString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if s, err := strconv.Unquote(string(raw)); err == nil {
			return s
		}
	}
	return string(raw)
}

// trimSpaceJSON reports the first non-space byte of a message, to tell
// objects from batch arrays without a parse.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// errNotObject and errFieldType mirror what encoding/json would refuse, so
// that the fast envelope parse classifies messages as it did.
var (
	errNotObject = errors.New("not a JSON object")
	errFieldType = errors.New("jsonrpc, method: want strings")
)

// parseMessage reads the JSON-RPC envelope of raw into m without copying:
// m's raw fields alias raw, so whatever outlives the caller's use of raw must
// be cloned (see message.clone). The whole message is validated first
// (encoding/json's pooled scanner: no allocation), then the top-level keys
// are picked out in one pass. This is the observer's hot path: a tools/call
// round trip is two of these.
func parseMessage(raw []byte, m *message) error {
	if !json.Valid(raw) {
		return json.Unmarshal(raw, m) // the error encoding/json gives, for the event
	}
	if firstByte(raw) != '{' {
		return errNotObject
	}
	return jsonparser.ObjectEach(raw, func(key, value []byte, typ jsonparser.ValueType, end int) error {
		full := value
		if typ == jsonparser.String {
			full = raw[end-len(value)-2 : end] // with its quotes
		}
		switch envelopeKey(key) {
		case "jsonrpc":
			if typ != jsonparser.String && typ != jsonparser.Null {
				return errFieldType
			}
			if typ == jsonparser.Null {
				m.JSONRPC = ""
				return nil
			}
			return jsonString(value, full, &m.JSONRPC)
		case "id":
			m.ID = full
		case "method":
			switch typ {
			case jsonparser.Null:
				m.Method = ""
			case jsonparser.String:
				return jsonString(value, full, &m.Method)
			default:
				return errFieldType
			}
		case "params":
			m.Params = full
		case "result":
			m.Result = full
		case "error":
			m.Error = nil
			if typ != jsonparser.Null {
				var e rpcError
				if err := json.Unmarshal(full, &e); err != nil {
					return err
				}
				m.Error = &e
			}
		}
		return nil
	})
}

// envelopeKeys are the fields parseMessage reads.
var envelopeKeys = []string{"jsonrpc", "id", "method", "params", "result", "error"}

// envelopeKey names the envelope field key stands for, matching keys without
// regard to case as encoding/json (and so Go servers) do: a "Method" a Go
// server would act on must not slip past the audit.
func envelopeKey(key []byte) string {
	for _, k := range envelopeKeys {
		if string(key) == k {
			return k
		}
	}
	for _, k := range envelopeKeys {
		if bytes.EqualFold(key, []byte(k)) {
			return k
		}
	}
	return ""
}

// jsonString reads a string value: as is when plain, else (escapes, invalid
// UTF-8) the way encoding/json decodes it.
func jsonString(value, quoted []byte, dst *string) error {
	if bytes.IndexByte(value, '\\') < 0 && utf8.Valid(value) {
		*dst = internName(value)
		return nil
	}
	return json.Unmarshal(quoted, dst)
}

// clone copies what m aliases, for a message kept past its buffer's life.
func (m *message) clone() *message {
	c := *m
	c.ID, c.Params, c.Result = bytes.Clone(m.ID), bytes.Clone(m.Params), bytes.Clone(m.Result)
	return &c
}

// names are the strings envelopes repeat (methods, "2.0"), so that reading
// them does not allocate.
var names = func() map[string]string {
	m := map[string]string{"2.0": "2.0"}
	for k := range knownRequests {
		m[k] = k
	}
	for k := range knownNotifications {
		m[k] = k
	}
	return m
}()

func internName(b []byte) string {
	if s, ok := names[string(b)]; ok {
		return s
	}
	return string(b)
}
