// Package buffer holds an output's queue of batches between the pipeline and
// the output plugin: bounded in bytes, blocking producers when full (back-
// pressure, never loss), and, on disk, durable across restarts and crashes,
// so that a batch leaves the queue only once the destination confirmed it
// or it was dead-lettered (at least once).
package buffer

import (
	"context"
	"errors"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Queue is a FIFO of batches with acknowledgement.
//
// Push blocks while the queue is full. Pop returns the oldest batch not yet
// popped, blocking while there is none. Ack removes a popped batch for good.
// A batch popped but not acked is returned by Pop again after a restart (disk).
type Queue interface {
	Push(ctx context.Context, recs []*sdk.Record) error
	Pop(ctx context.Context) (id uint64, recs []*sdk.Record, err error)
	Ack(id uint64) error
	// Bytes is the size of every batch pushed and not yet acked.
	Bytes() int64
	// Len is the number of batches pushed and not yet acked.
	Len() int
	Close() error
}

// ErrClosed is returned by a closed queue.
var ErrClosed = errors.New("buffer: queue closed")

// ErrUnencodable is a batch the queue can never take, however often it is
// pushed: a record whose fields do not serialise.
var ErrUnencodable = errors.New("buffer: batch cannot be encoded")

// signal is a broadcast: waiters take the channel, and a change closes it.
type signal struct{ ch chan struct{} }

func newSignal() signal { return signal{ch: make(chan struct{})} }

func (s *signal) broadcast() {
	close(s.ch)
	s.ch = make(chan struct{})
}

// wait blocks until the channel taken under the lock closes or ctx ends.
func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
