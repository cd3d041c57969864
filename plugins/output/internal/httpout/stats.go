package httpout

import (
	"sync/atomic"
)

// Stats are an output's counters, reported by get_status. Records count
// once per outcome of a Process call: a record retried twice then delivered
// counts two retries and one send.
type Stats struct {
	Sent           atomic.Int64 // records the destination confirmed
	Retried        atomic.Int64 // records handed back to the host for a later retry
	DeadLettered   atomic.Int64 // records rejected for good, with the destination's answer
	Requests       atomic.Int64 // HTTP requests made
	RequestRetries atomic.Int64 // in-place resends of the same bytes
	Splits         atomic.Int64 // requests split after a 413
	Bisections     atomic.Int64 // requests halved to isolate a bad record
	BytesRaw       atomic.Int64 // request bodies before compression
	BytesWire      atomic.Int64 // request bodies as sent
}

// Snapshot is the counters as get_status reports them.
func (s *Stats) Snapshot() map[string]any {
	return map[string]any{
		"sent":            s.Sent.Load(),
		"retried":         s.Retried.Load(),
		"dead_lettered":   s.DeadLettered.Load(),
		"requests":        s.Requests.Load(),
		"request_retries": s.RequestRetries.Load(),
		"splits_413":      s.Splits.Load(),
		"bisections":      s.Bisections.Load(),
		"bytes_raw":       s.BytesRaw.Load(),
		"bytes_wire":      s.BytesWire.Load(),
	}
}

// Status is the get_status answer of an output: identity plus counters.
func (s *Stats) Status(plugin, name string) map[string]any {
	return map[string]any{"plugin": plugin, "name": name, "counters": s.Snapshot()}
}
