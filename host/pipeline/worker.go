package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// worker runs one filter or output: it batches what arrives on its inbox,
// keeps up to in_flight batches on the plugin's stream, forwards a filter's
// results downstream, retries, dead-letters, and restarts the plugin when it
// dies or hangs, replaying every batch it had not answered.
type worker struct {
	p       *Pipeline
	comp    *config.Component
	sup     *supervised
	stats   *Stats
	latency prometheus.Observer

	stages []*stage // the filters this worker runs fused in one process, if more than one

	inbox      chan *envelope
	source     <-chan *envelope // what the loop reads: the inbox, or the disk buffer behind it
	disk       *diskBuffer
	upstreams  atomic.Int32 // open upstreams; the inbox closes when the last one finishes
	downstream []*worker

	pending  *envelope // filling up
	since    time.Time // when pending got its first record
	ready    []*envelope
	inflight []*inflightBatch
	nextSeq  uint64
	blocked  time.Time // no sends before this (retry backoff)
	lastSend time.Time
	closing  bool // inbox closed: flush, send Final, finish
	sentFin  bool
	done     chan struct{}
}

type inflightBatch struct {
	seq  uint64
	env  *envelope
	sent time.Time
}

func (w *worker) maxRecords() int { return w.comp.Batch.MaxRecords }
func (w *worker) maxBytes() int   { return int(w.comp.Batch.MaxBytes) }

// upstreamDone is called once by each upstream when it will send no more.
func (w *worker) upstreamDone() {
	if w.upstreams.Add(-1) == 0 {
		close(w.inbox)
	}
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	if w.disk != nil {
		go w.disk.run(ctx)
	}
	tick := 50 * time.Millisecond
	if age := w.comp.Batch.MaxAge.Std(); age > 0 && age/2 < tick {
		tick = age / 2
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		var inbox <-chan *envelope
		if !w.closing && len(w.ready) < 2 {
			inbox = w.source
		}
		select {
		case env, ok := <-inbox:
			if !ok {
				w.closing = true
				w.flush()
			} else {
				w.add(env)
			}
		case ev := <-w.sup.events:
			if ev.gen == w.sup.gen {
				w.handle(ctx, ev)
			}
		case now := <-ticker.C:
			w.onTick(now)
		case <-ctx.Done():
			w.sup.stop()
			if w.disk != nil {
				w.disk.close()
			}
			return
		}
		w.pump()
		if w.closing && w.pending == nil && len(w.ready) == 0 && len(w.inflight) == 0 {
			if w.sentFin {
				w.finish()
				return
			}
			w.sentFin = true // one Final batch lets a filter emit what it holds
			w.ready = append(w.ready, &envelope{final: true})
			w.pump()
		}
	}
}

func (w *worker) finish() {
	w.sup.shutdown(w.p.closeTimeout())
	if w.disk != nil {
		w.disk.close()
	}
	for _, d := range w.downstream {
		d.upstreamDone()
	}
}

// add batches env with what is pending, within the caps.
func (w *worker) add(env *envelope) {
	w.stats.In.Add(int64(len(env.records)))
	for _, part := range split(env, w.maxRecords(), w.maxBytes()) {
		if w.pending != nil && (len(w.pending.records)+len(part.records) > w.maxRecords() || w.pending.bytes+part.bytes > w.maxBytes()) {
			w.flush()
		}
		if w.pending == nil {
			w.pending, w.since = part, time.Now()
		} else {
			merge(w.pending, part)
		}
		if len(w.pending.records) >= w.maxRecords() || w.pending.bytes >= w.maxBytes() {
			w.flush()
		}
	}
}

func (w *worker) flush() {
	if w.pending != nil {
		w.ready = append(w.ready, w.pending)
		w.pending = nil
	}
}

func (w *worker) onTick(now time.Time) {
	if w.pending != nil && now.Sub(w.since) >= w.comp.Batch.MaxAge.Std() {
		w.flush()
	}
	if len(w.inflight) > 0 && now.Sub(w.inflight[0].sent) > w.comp.Timeout.Std() {
		w.p.logger.Error("plugin missed its batch deadline; restarting it", "component", w.comp.ID(), "timeout", w.comp.Timeout.Std())
		// A batch that hangs its plugin every time must not loop forever,
		// unless an output fused behind filters may be what waits (a full
		// disk, a slow indexer): giving up would dead-letter the batch as
		// the filters received it, before tokenizing and encryption.
		if w.stages == nil || w.comp.Kind != sdk.KindOutput {
			w.inflight[0].env.attempts++
		}
		w.sup.kill()
		w.inflight[0].sent = now // one kill per deadline
	}
	if tick := w.comp.Def.Tick.Std(); tick > 0 && !w.closing && w.pending == nil && len(w.ready) == 0 &&
		len(w.inflight) == 0 && now.Sub(w.lastSend) >= tick {
		w.ready = append(w.ready, &envelope{})
	}
}

// pump sends ready batches while the window and the backoff allow. A plugin
// with nothing in flight gets what is pending at once: batches then grow only
// while the plugin is busy, so light traffic is not held back by max_age
// while heavy traffic still travels in full batches.
func (w *worker) pump() {
	now := time.Now()
	if w.pending != nil && len(w.ready) == 0 && len(w.inflight) == 0 {
		w.flush()
	}
	for len(w.ready) > 0 && len(w.inflight) < w.comp.Batch.InFlight && w.sup.writer != nil && !now.Before(w.blocked) {
		env := w.ready[0]
		w.ready = w.ready[1:]
		w.sendEnv(env, now)
	}
}

func (w *worker) sendEnv(env *envelope, now time.Time) {
	w.nextSeq++
	if env.order == 0 {
		env.order = w.nextSeq
	}
	w.inflight = append(w.inflight, &inflightBatch{seq: w.nextSeq, env: env, sent: now})
	w.lastSend = now
	if w.stages == nil {
		w.stats.Batches.Add(1)
	}
	for _, s := range w.stages { // each stage sees every batch
		s.stats.Batches.Add(1)
	}
	w.sup.send(&sdk.Frame{Kind: sdk.FrameProcess, Seq: w.nextSeq, Batch: &sdk.Batch{Records: env.records, Final: env.final}})
}

func (w *worker) handle(ctx context.Context, ev streamEvent) {
	if ev.err != nil {
		w.restart(ctx, ev.err)
		return
	}
	if len(w.inflight) == 0 || w.inflight[0].seq != ev.frame.Seq {
		w.restart(ctx, fmt.Errorf("protocol error: result for batch %d out of order", ev.frame.Seq))
		return
	}
	head := w.inflight[0]
	w.inflight = w.inflight[1:]
	if w.stages == nil { // fused stages report their own durations
		w.latency.Observe(time.Since(head.sent).Seconds())
	}
	w.result(ctx, head.env, ev.frame.Batch, ev.frame.Err)
}

// restart replaces the plugin and replays every unanswered batch in order.
func (w *worker) restart(ctx context.Context, why error) {
	if w.closing && w.sentFin && len(w.inflight) == 0 {
		return
	}
	if err := w.sup.restart(ctx, why); err != nil {
		return
	}
	replay := w.inflight
	w.inflight = nil
	now := time.Now()
	for _, b := range replay {
		if max := w.comp.Retry.MaxAttempts; max > 0 && b.env.attempts >= max {
			w.fail(b.env, fmt.Errorf("gave up after %d attempts: %w", b.env.attempts, why))
			continue
		}
		w.sendEnv(b.env, now)
	}
}

func (w *worker) result(ctx context.Context, env *envelope, out *sdk.Batch, err error) {
	if out == nil {
		out = &sdk.Batch{}
	}
	if err == nil && w.stages != nil {
		if w.accountStages(ctx, env, out) {
			w.forward(ctx, env, out.Records)
			release(env)
		}
		return
	}
	rejected, written := w.deadLetterRejected(ctx, env, out.Rejected)
	if !written {
		return // stopping: never acknowledged, so inputs replay it
	}
	var re *sdk.RetryError
	var pe *sdk.PanicError
	switch {
	case err == nil:
		if w.comp.Kind == sdk.KindFilter {
			if dropped := len(env.records) - len(rejected) - len(out.Records); dropped > 0 {
				w.stats.Dropped.Add(int64(dropped))
			}
			w.stats.Out.Add(int64(len(out.Records)))
			w.forward(ctx, env, out.Records)
		} else {
			w.stats.Out.Add(int64(len(env.records) - len(rejected)))
		}
		release(env)
	case errors.As(err, &pe):
		w.p.logger.Error("plugin panicked; restarting it", "component", w.comp.ID(), "panic", pe.Value)
		w.retry(without(env, rejected), err, 0)
		w.restart(ctx, err)
	case errors.As(err, &re) && w.comp.Kind == sdk.KindOutput:
		keep := without(env, rejected)
		if re.Indices != nil {
			keep = pick(env, re.Indices, rejected)
		}
		w.stats.Out.Add(int64(len(env.records) - len(rejected) - len(keep.records)))
		w.retry(keep, err, re.After)
	case w.comp.Kind == sdk.KindFilter || errors.Is(err, sdk.ErrBatchTooLarge):
		if errors.Is(err, sdk.ErrBatchTooLarge) {
			w.fail(without(env, rejected), err)
			return
		}
		w.retry(without(env, rejected), err, 0) // a whole-batch filter error is a plugin failure
	default:
		w.fail(without(env, rejected), err)
	}
}

// retry queues env again at the front after backoff, or dead-letters it when
// the retry budget is spent.
func (w *worker) retry(env *envelope, err error, after time.Duration) {
	if len(env.records) == 0 && !env.final {
		release(env)
		return
	}
	now := time.Now()
	env.attempts++
	if env.firstFail == 0 {
		env.firstFail = now.UnixNano()
	}
	r := w.comp.Retry
	// A fused chain ending in an output answers a retry only for a stage
	// still within its own budget (sdk.Fuse): the host's would cut short an
	// output waiting out an outage.
	stageBudgets := w.stages != nil && w.comp.Kind == sdk.KindOutput && sdk.IsRetryable(err)
	if !stageBudgets && ((r.MaxAttempts > 0 && env.attempts >= r.MaxAttempts) ||
		(r.MaxElapsed > 0 && now.Sub(time.Unix(0, env.firstFail)) > r.MaxElapsed.Std())) {
		w.fail(env, fmt.Errorf("gave up after %d attempts: %w", env.attempts, err))
		return
	}
	w.stats.Retried.Add(int64(len(env.records)))
	wait := max(backoff(r.Initial.Std(), r.Max.Std(), env.attempts), after)
	w.p.logger.Warn("batch failed; retrying", "component", w.comp.ID(), "records", len(env.records), "attempt", env.attempts, "in", wait, "error", err)
	w.blocked = now.Add(wait)
	w.requeue(env)
}

// requeue puts a batch that was sent before back in front of the ready
// queue, in the order batches were first sent: the in-flight batches behind
// a failed one fail too, and must not overtake it when they are retried.
func (w *worker) requeue(env *envelope) {
	i := 0
	for i < len(w.ready) && w.ready[i].order != 0 && w.ready[i].order < env.order {
		i++
	}
	w.ready = append(w.ready[:i], append([]*envelope{env}, w.ready[i:]...)...)
}

// fail dead-letters every record of env with err as the reason; if even the
// dead-letter file cannot be written, the batch is kept and retried later.
func (w *worker) fail(env *envelope, err error) {
	if derr := w.p.deadLetter(w.label(), w.stats, lettersOf(env, err)); derr != nil {
		w.blocked = time.Now().Add(w.comp.Retry.Max.Std())
		w.requeue(env)
		return
	}
	release(env)
}

// deadLetterRejected writes the records of env a plugin rejected to the
// dead-letter file and returns their indices. It returns false only when
// the pipeline stops before they could be written.
func (w *worker) deadLetterRejected(ctx context.Context, env *envelope, rejected []sdk.Rejection) (map[int]bool, bool) {
	if len(rejected) == 0 {
		return nil, true
	}
	set := make(map[int]bool, len(rejected))
	entries := make([]deadLetter, 0, len(rejected))
	for _, rj := range rejected {
		if rj.Index < 0 || rj.Index >= len(env.records) || set[rj.Index] {
			continue
		}
		set[rj.Index] = true
		r := env.records[rj.Index]
		entries = append(entries, deadLetter{Reason: rj.Reason, EventID: r.ID, Record: r.Body})
	}
	return set, w.deadLetterUntilWritten(ctx, w.label(), w.stats, entries)
}

// deadLetterUntilWritten writes entries, waiting out a failing disk: a
// rejected record exists nowhere else once its batch is answered, so the
// answer is held (and with it this worker, which back-pressures its
// upstreams) until the records are written, or the pipeline stops.
func (w *worker) deadLetterUntilWritten(ctx context.Context, component string, st *Stats, entries []deadLetter) bool {
	wait := 100 * time.Millisecond
	waited := false
	for w.p.deadLetter(component, st, entries) != nil {
		waited = true
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	if waited { // the plugin was not slow meanwhile: its deadlines start now
		now := time.Now()
		for _, b := range w.inflight {
			b.sent = now
		}
	}
	return true
}

// forward hands a filter's output to every downstream component.
func (w *worker) forward(ctx context.Context, env *envelope, recs []*sdk.Record) {
	fanOut(ctx, env, recs, w.downstream, w.p.sharedMemory)
}

// fanOut hands recs to every downstream component. In shared memory each
// branch after the first gets its own copy, made before any branch has the
// records: the first may start changing them at once.
func fanOut(ctx context.Context, env *envelope, recs []*sdk.Record, downstream []*worker, shared bool) {
	if len(recs) == 0 {
		return
	}
	copies := make([][]*sdk.Record, len(downstream))
	for i := range downstream {
		copies[i] = recs
		if i > 0 && shared {
			copies[i] = cloneAll(recs)
		}
	}
	for i, d := range downstream {
		select {
		case d.inbox <- derive(env, copies[i]):
		case <-ctx.Done():
		}
	}
}

// without returns env minus the rejected records (env itself when none were).
func without(env *envelope, rejected map[int]bool) *envelope {
	if len(rejected) == 0 {
		return env
	}
	return pick(env, nil, rejected)
}

// pick keeps the records at idx (all when idx is nil) that were not rejected,
// moving env's token references to the result.
func pick(env *envelope, idx []int, rejected map[int]bool) *envelope {
	var keep []*sdk.Record
	if idx == nil {
		for i, r := range env.records {
			if !rejected[i] {
				keep = append(keep, r)
			}
		}
	} else {
		for _, i := range idx {
			if i >= 0 && i < len(env.records) && !rejected[i] {
				keep = append(keep, env.records[i])
			}
		}
	}
	out := newEnvelope(keep, env.tokens)
	out.attempts, out.firstFail, out.final, out.order = env.attempts, env.firstFail, env.final, env.order
	env.tokens = nil
	return out
}

func cloneAll(recs []*sdk.Record) []*sdk.Record {
	out := make([]*sdk.Record, len(recs))
	for i, r := range recs {
		out[i] = r.Clone()
	}
	return out
}
