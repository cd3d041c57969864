package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sentinel-audit/sentinel/host/buffer"
)

// diskBuffer puts a durable queue in front of an output: what arrives is
// written to disk and acknowledged upstream at once, so inputs commit and a
// dead destination no longer holds them back until the buffer is full;
// the output then reads from the queue, and an entry leaves the disk only when
// every record of it was delivered or dead-lettered. Un-acked entries are
// delivered again after a restart.
type diskBuffer struct {
	w   *worker
	q   buffer.Queue
	out chan *envelope // popped entries: the worker's source
}

// openDiskQueue opens an output's queue; tests wrap it to make the disk fail.
var openDiskQueue = buffer.OpenDisk

func openDiskBuffer(w *worker) (*diskBuffer, error) {
	q, err := openDiskQueue(w.comp.DataDir+"/buffer", int64(w.comp.Buffer.MaxSize))
	if err != nil {
		return nil, fmt.Errorf("%s: disk buffer: %w", w.comp.ID(), err)
	}
	return &diskBuffer{w: w, q: q, out: make(chan *envelope, 2)}, nil
}

func (b *diskBuffer) acked(t *token) {
	if err := b.q.Ack(t.seq); err != nil {
		b.w.p.logger.Error("disk buffer ack failed; the entry will be delivered again", "component", b.w.comp.ID(), "error", err)
	}
}

// run moves the inbox into the queue and the queue into the worker. Once the
// inbox is closed and written, Pop's context ends: Pop still returns what is
// pending, then reports that nothing more will come.
func (b *diskBuffer) run(ctx context.Context) {
	popCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		b.fill(ctx)
		cancel()
	}()
	defer close(b.out)
	for {
		id, recs, err := b.q.Pop(popCtx)
		switch {
		case err == nil:
		case popCtx.Err() != nil || errors.Is(err, buffer.ErrClosed):
			return
		default:
			b.w.p.deadLetter(b.w.comp.ID(), b.w.stats, []deadLetter{{Reason: "unreadable disk-buffer entry: " + err.Error()}})
			_ = b.q.Ack(id)
			continue
		}
		t := &token{owner: b, seq: id}
		t.refs.Store(1)
		select {
		case b.out <- newEnvelope(recs, []*token{t}):
		case <-ctx.Done():
			return
		}
	}
}

// fill writes what arrives to the queue (blocking while it is full, which
// back-pressures the inputs) and then releases it upstream.
func (b *diskBuffer) fill(ctx context.Context) {
	for env := range b.w.inbox {
		if !b.push(ctx, env) {
			return
		}
	}
}

// push writes env to the queue, waiting out a disk that fails (a full disk,
// an fsync error) with the inputs un-acknowledged meanwhile, as while the
// buffer is full. A batch the queue can never take is dead-lettered. It
// returns false when the pipeline stops first.
func (b *diskBuffer) push(ctx context.Context, env *envelope) bool {
	var logged time.Time
	for attempt := 0; ; attempt++ {
		err := b.q.Push(ctx, env.records)
		switch {
		case err == nil:
			release(env)
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, buffer.ErrUnencodable):
			if b.deadLetter(env, err) {
				release(env)
				return true
			} // else the dead-letter file failed too: retried below
		}
		if time.Since(logged) >= 5*time.Second {
			b.w.p.logger.Error("disk buffer write failed; retrying with the inputs held back", "component", b.w.comp.ID(),
				"records", len(env.records), "error", err)
			logged = time.Now()
		}
		select {
		case <-time.After(min(10*time.Millisecond<<min(attempt, 9), 2*time.Second)):
		case <-ctx.Done():
			return false
		}
	}
}

// deadLetter writes env's records to the dead-letter file with err as the
// reason, reporting whether it could.
func (b *diskBuffer) deadLetter(env *envelope, err error) bool {
	return b.w.p.deadLetter(b.w.comp.ID(), b.w.stats, lettersOf(env, err)) == nil
}

func (b *diskBuffer) close() {
	if err := b.q.Close(); err != nil {
		b.w.p.logger.Warn("disk buffer close", "component", b.w.comp.ID(), "error", err)
	}
}
