package buffer

import (
	"context"
	"fmt"
	"sync"

	"github.com/sentinel-audit/sentinel/sdk"
)

// memQueue is the default buffer: bounded in bytes, lost on restart.
type memQueue struct {
	mu       sync.Mutex
	max      int64
	bytes    int64
	nextID   uint64
	pending  []memEntry
	inflight map[uint64]memEntry
	changed  signal
	closed   bool
}

type memEntry struct {
	id   uint64
	recs []*sdk.Record
	size int64
}

// NewMemory returns a queue holding at most maxBytes of batches in memory
// (one batch larger than that is still taken when the queue is empty).
func NewMemory(maxBytes int64) Queue {
	return &memQueue{max: maxBytes, nextID: 1, inflight: map[uint64]memEntry{}, changed: newSignal()}
}

func batchSize(recs []*sdk.Record) int64 {
	var n int64
	for _, r := range recs {
		n += int64(r.Size())
	}
	return n
}

func (q *memQueue) Push(ctx context.Context, recs []*sdk.Record) error {
	size := batchSize(recs)
	q.mu.Lock()
	for !q.closed && q.bytes > 0 && q.bytes+size > q.max {
		ch := q.changed.ch
		q.mu.Unlock()
		if err := wait(ctx, ch); err != nil {
			return err
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.pending = append(q.pending, memEntry{id: q.nextID, recs: recs, size: size})
	q.nextID++
	q.bytes += size
	q.changed.broadcast()
	return nil
}

func (q *memQueue) Pop(ctx context.Context) (uint64, []*sdk.Record, error) {
	q.mu.Lock()
	for !q.closed && len(q.pending) == 0 {
		ch := q.changed.ch
		q.mu.Unlock()
		if err := wait(ctx, ch); err != nil {
			return 0, nil, err
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	if q.closed {
		return 0, nil, ErrClosed
	}
	e := q.pending[0]
	q.pending[0] = memEntry{}
	q.pending = q.pending[1:]
	q.inflight[e.id] = e
	return e.id, e.recs, nil
}

func (q *memQueue) Ack(id uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.inflight[id]
	if !ok {
		return fmt.Errorf("buffer: ack of unknown or unpopped batch %d", id)
	}
	delete(q.inflight, id)
	q.bytes -= e.size
	q.changed.broadcast()
	return nil
}

func (q *memQueue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *memQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) + len(q.inflight)
}

func (q *memQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.changed.broadcast()
	}
	return nil
}
