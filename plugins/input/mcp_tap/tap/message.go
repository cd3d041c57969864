// Package tap observes MCP traffic without changing it: it frames JSON-RPC
// messages out of stdio lines, HTTP bodies and SSE streams, correlates
// requests with responses, and maps them to Sentinel audit events. The stdio
// wrapper (`sentinel wrap`) and the mcp_tap input plugin both build on it.
package tap

import (
	"bytes"
	"encoding/json"
	"strconv"
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
