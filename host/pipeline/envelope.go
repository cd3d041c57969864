package pipeline

import (
	"sync/atomic"

	"github.com/sentinel-audit/sentinel/sdk"
)

// token ties records back to where they must be acknowledged: the input
// batch they came from, or the disk-buffer entry they were read from. Every
// envelope holding the token holds one reference; when the last is released
// every record was delivered (or dead-lettered) and the owner is told.
type token struct {
	owner acker
	gen   uint64 // the input process generation that produced the batch
	seq   uint64
	refs  atomic.Int64
	noAck bool // its input data could not be kept anywhere: never acknowledge it
}

// acker is told when a token's records are all done.
type acker interface{ acked(*token) }

// envelope is a host-side batch on its way through the graph.
type envelope struct {
	records   []*sdk.Record
	bytes     int
	tokens    []*token
	attempts  int
	order     uint64 // when the batch was first sent, to keep retries in order
	firstFail int64  // unix nanos of the first failed attempt, for retry.max_elapsed
	final     bool   // the Final batch of a closing stream
}

func newEnvelope(recs []*sdk.Record, tokens []*token) *envelope {
	env := &envelope{records: recs, tokens: tokens}
	for _, r := range recs {
		env.bytes += r.Size()
	}
	return env
}

// derive makes a new envelope for recs that shares env's tokens (each gets a
// reference of its own); env is left untouched.
func derive(env *envelope, recs []*sdk.Record) *envelope {
	for _, t := range env.tokens {
		t.refs.Add(1)
	}
	return newEnvelope(recs, append([]*token(nil), env.tokens...))
}

// release ends an envelope: its records are delivered, dead-lettered, or
// handed on in other envelopes.
func release(env *envelope) {
	for _, t := range env.tokens {
		if t.refs.Add(-1) == 0 {
			t.owner.acked(t)
		}
	}
	env.tokens = nil
}

// merge moves b's records and token references into a.
func merge(a, b *envelope) {
	a.records = append(a.records, b.records...)
	a.bytes += b.bytes
	a.tokens = append(a.tokens, b.tokens...)
	b.tokens = nil
}

// split cuts env into envelopes within the caps; each shares env's tokens.
func split(env *envelope, maxRecords, maxBytes int) []*envelope {
	if len(env.records) <= maxRecords && env.bytes <= maxBytes {
		return []*envelope{env}
	}
	var out []*envelope
	start, bytes := 0, 0
	for i, r := range env.records {
		sz := r.Size()
		if i > start && (i-start >= maxRecords || bytes+sz > maxBytes) {
			out = append(out, derive(env, env.records[start:i:i]))
			start, bytes = i, 0
		}
		bytes += sz
	}
	out = append(out, derive(env, env.records[start:]))
	release(env)
	return out
}
