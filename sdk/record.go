// Package sdk is what a Sentinel plugin author imports: the record model, the
// Process contract, the configuration schema and Serve. It hides gRPC entirely.
package sdk

import (
	"encoding/json"
	"time"
)

// The ten MCP audit event types (DESIGN.md §2).
const (
	EventToolExecution          = "mcp_tool_execution"
	EventResourceAccess         = "mcp_resource_access"
	EventPromptRequest          = "mcp_prompt_request"
	EventAuthentication         = "mcp_authentication_events"
	EventAuthorizationDecisions = "mcp_authorization_decisions"
	EventPolicyViolations       = "mcp_policy_violations"
	EventOAuth2TokenUsage       = "mcp_oauth2_token_usage"
	EventRateLimiting           = "mcp_rate_limiting_events"
	EventSecurityThreats        = "mcp_security_threats"
	EventCompliance             = "mcp_compliance_events"
)

// EventSession is the tap's session start and end, beside the ten types:
// initialize/discover with client and server info, and the session's end.
const EventSession = "mcp_session_events"

// EventTypes lists the ten MCP event types in their canonical order.
var EventTypes = []string{
	EventToolExecution, EventResourceAccess, EventPromptRequest, EventAuthentication,
	EventAuthorizationDecisions, EventPolicyViolations, EventOAuth2TokenUsage,
	EventRateLimiting, EventSecurityThreats, EventCompliance,
}

// Record is one audit event: a typed envelope for routing and classification
// without a JSON parse, plus the event's JSON body. The body is what outputs
// store and what the signer signs, so stages keep its bytes stable unless
// they mean to change the event, and then keep the envelope in step.
type Record struct {
	ID             string // ULID; the body's event_id
	Time           time.Time
	Type           string // one of EventTypes, or a custom type
	Session        string
	Server         string
	Method         string // MCP method, e.g. tools/call
	Direction      string // client_to_server or server_to_client
	Status         string // success, error, cancelled, ...
	Severity       string
	Classification string
	Attributes     map[string]string
	Body           json.RawMessage

	// Memo is what a stage leaves for a later stage of the same process (a
	// fused chain), such as a hash it already computed over the body. It is
	// never encoded: once the record crosses a process boundary it is gone.
	// A stage treats it as a hint it can do without, and checks that it
	// still describes the record, since a stage between may have replaced
	// the body.
	Memo any
}

// Size is the record's approximate wire size, used for byte caps on
// batches. Attributes are estimated, not walked: the host sizes every
// record at every hop, and a map walk there cost more than it told.
func (r *Record) Size() int {
	return len(r.ID) + len(r.Type) + len(r.Session) + len(r.Server) + len(r.Method) +
		len(r.Direction) + len(r.Status) + len(r.Severity) + len(r.Classification) + len(r.Body) +
		32 + 48*len(r.Attributes)
}

// Clone returns a deep copy, for stages that fan a record out and change it.
func (r *Record) Clone() *Record {
	c := *r
	if r.Attributes != nil {
		c.Attributes = make(map[string]string, len(r.Attributes))
		for k, v := range r.Attributes {
			c.Attributes[k] = v
		}
	}
	c.Body = append(json.RawMessage(nil), r.Body...)
	return &c
}

// Batch is the unit every Process call moves.
//
// For a filter, Records of the returned batch are what flows on; for an output
// they are ignored. Rejected names records of the *request* batch that failed
// for good (bad data): the host writes each to the component's dead-letter
// file with its reason and counts it, so nothing is dropped silently.
type Batch struct {
	Seq      uint64
	Records  []*Record
	Rejected []Rejection
	// Final marks the last batch the host sends a filter or output before
	// Close, at shutdown or end of input: emit what you hold (a closing
	// checkpoint) now, while it can still flow downstream. It may be empty.
	Final bool
	// Stages is set only on the answers of filters the host runs fused in
	// one process (see Fuse): what each stage did, in order, so that every
	// stage keeps its own counters. Plugin authors leave it empty.
	Stages []StageStats
}

// StageStats is what one stage of a fused filter did with a batch. The
// answer's Rejected list holds the stages' rejections in stage order; the
// first stage's index its request, later stages' carry the record as Data.
type StageStats struct {
	In, Out, Rejected int
	Duration          time.Duration
}

// Rejection names a record of the request batch, by index, that failed
// permanently. An input, which has no request records, rejects what it could
// not turn into a record (a malformed line) with Index -1 and the raw Data.
type Rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Data   []byte `json:"data,omitempty"`
}

// Reject records that request record i failed for good, with a reason.
func (b *Batch) Reject(i int, reason string) {
	b.Rejected = append(b.Rejected, Rejection{Index: i, Reason: reason})
}

// RejectData records input that could not become a record, for inputs.
func (b *Batch) RejectData(data []byte, reason string) {
	b.Rejected = append(b.Rejected, Rejection{Index: -1, Reason: reason, Data: append([]byte(nil), data...)})
}

// Len is the number of records, safe on a nil batch.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	return len(b.Records)
}

// Bytes is the sum of the records' sizes.
func (b *Batch) Bytes() int {
	n := 0
	if b != nil {
		for _, r := range b.Records {
			n += r.Size()
		}
	}
	return n
}
