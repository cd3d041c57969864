package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// inputNode polls an input plugin, hands its batches downstream, and tells
// it, batch by batch, when every record was delivered or dead-lettered.
type inputNode struct {
	p          *Pipeline
	comp       *config.Component
	sup        *supervised
	stats      *Stats
	downstream []*worker

	ackMu       sync.Mutex
	ackQueue    []*token
	ackSignal   chan struct{}
	outstanding atomic.Int64 // tokens not yet fully released

	polls   int // polls on the stream, unanswered
	nextSeq uint64
	ended   bool // end of input reached
	stopped bool // no more polls: end of input, Stop, or a fatal error
	handed  bool // downstream told there is no more
	done    chan struct{}
}

const pollsInFlight = 2

// acked is called (from any goroutine) when a token's last reference is released.
func (n *inputNode) acked(t *token) {
	n.ackMu.Lock()
	n.ackQueue = append(n.ackQueue, t)
	n.ackMu.Unlock()
	select {
	case n.ackSignal <- struct{}{}:
	default:
	}
}

func (n *inputNode) run(ctx context.Context, stop <-chan struct{}) {
	defer close(n.done)
	for {
		n.poll()
		if n.stopped && n.polls == 0 && !n.handed {
			n.handed = true
			for _, d := range n.downstream {
				d.upstreamDone()
			}
		}
		if n.handed && n.outstanding.Load() == 0 {
			n.sendAcks()
			n.sup.shutdown(n.p.closeTimeout())
			return
		}
		select {
		case ev := <-n.sup.events:
			if ev.gen == n.sup.gen {
				n.handle(ctx, ev)
			}
		case <-n.ackSignal:
			n.sendAcks()
		case <-stop:
			stop = nil
			n.stopped = true
		case <-ctx.Done():
			n.sup.stop()
			return
		}
	}
}

func (n *inputNode) poll() {
	for !n.stopped && n.polls < pollsInFlight && n.sup.writer != nil {
		n.nextSeq++
		n.polls++
		n.sup.send(&sdk.Frame{Kind: sdk.FramePoll, Seq: n.nextSeq, MaxWait: n.p.pollWait})
	}
}

func (n *inputNode) handle(ctx context.Context, ev streamEvent) {
	if ev.err != nil {
		n.polls = 0
		if n.ended {
			return // a finished input that exits has nothing left to poll
		}
		// Batches of the dead process still flow; their acks are dropped (gen
		// differs) and the input re-reads from its last committed position.
		if err := n.sup.restart(ctx, ev.err); err != nil {
			n.stopped = true
		}
		return
	}
	n.polls--
	out, err := ev.frame.Batch, ev.frame.Err
	if out != nil && (len(out.Records) > 0 || len(out.Rejected) > 0) {
		// Input that could not become a record goes to the dead letters; if
		// even they cannot be written, the batch is never acknowledged, so the
		// input keeps it (and reads it again after a restart).
		pinned := false
		if len(out.Rejected) > 0 {
			entries := make([]deadLetter, 0, len(out.Rejected))
			for _, rj := range out.Rejected {
				entries = append(entries, deadLetter{Reason: rj.Reason, Data: string(rj.Data)})
			}
			pinned = n.p.deadLetter(n.comp.ID(), n.stats, entries) != nil
		}
		n.emit(ctx, out, pinned)
	}
	var pe *sdk.PanicError
	switch {
	case err == nil:
	case errors.Is(err, sdk.ErrEndOfInput):
		n.ended, n.stopped = true, true
		n.p.logger.Info("input reached its end", "component", n.comp.ID(), "records", n.stats.Out.Load())
	case errors.As(err, &pe):
		n.p.logger.Error("input panicked; restarting it", "component", n.comp.ID(), "panic", pe.Value)
		n.polls = 0
		_ = n.sup.restart(ctx, err)
	default:
		n.p.logger.Warn("input poll failed", "component", n.comp.ID(), "error", err)
		select {
		case <-time.After(backoff(100*time.Millisecond, 5*time.Second, 3)):
		case <-ctx.Done():
		}
	}
}

// emit wraps a batch in a token and hands it to every downstream component.
// A batch with no records (all of it dead-lettered) is acknowledged at once.
func (n *inputNode) emit(ctx context.Context, out *sdk.Batch, pinned bool) {
	n.stats.Out.Add(int64(len(out.Records)))
	n.stats.Batches.Add(1)
	t := &token{owner: n, gen: n.sup.gen, seq: out.Seq, noAck: pinned}
	t.refs.Store(1) // held while handing out, so fast deliveries cannot ack early
	n.outstanding.Add(1)
	env := newEnvelope(out.Records, []*token{t})
	fanOut(ctx, env, out.Records, n.downstream, n.p.sharedMemory)
	release(env)
}

func (n *inputNode) sendAcks() {
	n.ackMu.Lock()
	q := n.ackQueue
	n.ackQueue = nil
	n.ackMu.Unlock()
	if len(q) == 0 {
		return
	}
	var seqs []uint64
	for _, t := range q {
		if t.gen == n.sup.gen && !t.noAck {
			seqs = append(seqs, t.seq)
		}
	}
	n.outstanding.Add(-int64(len(q)))
	if len(seqs) > 0 && n.sup.writer != nil {
		n.sup.send(&sdk.Frame{Kind: sdk.FrameAck, Acks: seqs})
	}
}
