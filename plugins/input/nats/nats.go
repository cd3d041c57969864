// Package nats is the "nats" input: it consumes audit events from a NATS
// JetStream stream through a durable pull consumer that several hosts share,
// and acknowledges a message only once the host reports that every output
// it routes to delivered it (or dead-lettered it).
package nats

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	natsclient "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sentinel-audit/sentinel/plugins/output/nats/natsconn"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the nats input plugin.
var Definition = &sdk.Definition{
	Name:    "nats",
	Kind:    sdk.KindInput,
	Version: "0.1.0",
	Summary: "Consumes audit events from NATS JetStream through a durable pull consumer shared by a pool of hosts.",
	Description: "Each poll fetches up to batch messages from the durable consumer; each message body is one " +
		"event. A message is acknowledged to JetStream only when the host reports its batch delivered by every " +
		"output (or dead-lettered). Hosts that share the durable share the work; a message a host does not " +
		"acknowledge within ack_wait (it died, or was stopped) is redelivered to another. Bodies that are " +
		"not JSON objects are dead-lettered, then terminated so they are not redelivered.",
	Config: configSchema,
	New:    func() sdk.Plugin { return &Input{} },
}

// Input is one nats input instance. Process runs on one goroutine; Ack runs
// on another, so what both touch is under mu.
type Input struct {
	cfg  Config
	name string
	log  hclog.Logger
	nc   *natsclient.Conn
	js   jetstream.JetStream

	// Owned by the Process goroutine; bound is cons for other goroutines.
	cons     jetstream.Consumer
	bound    atomic.Pointer[jetstream.Consumer]
	polls    uint64
	lastWarn string

	mu      sync.Mutex
	seq     uint64
	pending map[uint64][]jetstream.Msg // emitted batches not yet acknowledged, by seq
	held    []heldReject               // rejected messages awaiting their dead letter
	closed  bool

	acked, rejected, redelivered, ackErrors atomic.Int64
	closeOnce                               sync.Once
}

// heldReject is a message the input rejected in the answer to poll number
// poll. The host writes the dead letter when it handles that answer, before
// it sends the poll after next (it keeps two polls in flight), so the
// message can be terminated once poll+2 has come.
type heldReject struct {
	poll uint64
	msg  jetstream.Msg
}

var (
	_ sdk.Configurer    = (*Input)(nil)
	_ sdk.Validator     = (*Input)(nil)
	_ sdk.Acker         = (*Input)(nil)
	_ sdk.HealthChecker = (*Input)(nil)
	_ sdk.Invoker       = (*Input)(nil)
	_ sdk.Closer        = (*Input)(nil)
)

// Validate checks a configuration without touching the network.
func (in *Input) Validate(cfg sdk.Config) error {
	_, err := sdk.DecodeSettings[Config](cfg)
	return err
}

// Configure connects and, when NATS answers, binds the consumer. A NATS or
// stream that is not there yet does not fail the start: polls keep trying.
func (in *Input) Configure(ctx context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	in.cfg = *c
	if cfg.DryRun {
		return nil
	}
	in.name, in.log = cfg.Name, cfg.Log()
	in.pending = map[uint64][]jetstream.Msg{}
	nc, err := natsconn.Connect(in.cfg.Config, "sentinel input "+cfg.Name, in.log)
	if err != nil {
		return fmt.Errorf("nats input %q: %w", cfg.Name, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("nats input %q: jetstream: %w", cfg.Name, err)
	}
	in.nc, in.js = nc, js
	if nc.IsConnected() {
		if err := in.bind(ctx); err != nil {
			in.warnOnce("consumer not bound yet; polls keep trying", err)
		}
	}
	return nil
}

// bind creates (or updates) and binds the durable consumer.
func (in *Input) bind(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var (
		cons jetstream.Consumer
		err  error
	)
	if *in.cfg.CreateConsumer {
		cons, err = in.js.CreateOrUpdateConsumer(ctx, in.cfg.Stream, in.consumerConfig())
	} else {
		cons, err = in.js.Consumer(ctx, in.cfg.Stream, in.cfg.Durable)
	}
	if err != nil {
		return fmt.Errorf("bind consumer %s on stream %s: %w", in.cfg.Durable, in.cfg.Stream, err)
	}
	in.cons = cons
	in.bound.Store(&cons)
	in.log.Info("consuming", "stream", in.cfg.Stream, "durable", in.cfg.Durable, "filter_subjects", in.cfg.FilterSubjects)
	return nil
}

func (in *Input) consumerConfig() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       in.cfg.Durable,
		Description:   "Sentinel hosts consuming MCP audit events",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       in.cfg.AckWait.Std(),
		MaxAckPending: in.cfg.MaxAckPending,
		// MaxDeliver stays unlimited: a message must never be dropped for being slow to deliver.
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if in.cfg.DeliverPolicy == deliverNew {
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	switch len(in.cfg.FilterSubjects) {
	case 0:
	case 1:
		cc.FilterSubject = in.cfg.FilterSubjects[0]
	default:
		cc.FilterSubjects = in.cfg.FilterSubjects
	}
	return cc
}

// warnOnce logs a problem when it changes, not at every poll.
func (in *Input) warnOnce(msg string, err error) {
	if s := msg + err.Error(); s != in.lastWarn {
		in.lastWarn = s
		in.log.Warn(msg, "stream", in.cfg.Stream, "durable", in.cfg.Durable, "error", err)
	}
}

// Process fetches the next batch: it waits up to max_wait (or the poll's
// deadline) for messages and returns what came, possibly nothing.
func (in *Input) Process(ctx context.Context, _ *sdk.Batch) (*sdk.Batch, error) {
	out := &sdk.Batch{}
	if in.js == nil {
		return out, errors.New("nats input: not configured")
	}
	in.polls++
	in.terminateDeadLettered()
	wait := in.cfg.MaxWait.Std()
	if dl, ok := ctx.Deadline(); ok {
		// Leave time to answer before the poll's deadline.
		wait = min(wait, time.Until(dl)-20*time.Millisecond)
	}
	if wait < 10*time.Millisecond {
		return out, nil
	}
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if !in.nc.IsConnected() {
		in.warnOnce("nats not connected; waiting", fmt.Errorf("connection %s", in.nc.Status()))
		<-fctx.Done()
		return out, nil
	}
	if in.cons == nil {
		if err := in.bind(fctx); err != nil {
			in.warnOnce("cannot bind consumer; retrying", err)
			<-fctx.Done()
			return out, nil
		}
	}
	mb, err := in.cons.Fetch(in.cfg.Batch, jetstream.FetchContext(fctx), jetstream.FetchMaxBytes(int(in.cfg.MaxBytes)))
	if err != nil {
		in.warnOnce("fetch failed", err)
		<-fctx.Done()
		return out, nil
	}
	var msgs []jetstream.Msg
	for m := range mb.Messages() {
		in.add(out, m, &msgs)
	}
	if err := mb.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		in.warnOnce("fetch ended with an error", err)
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			in.cons = nil // someone removed it: create or find it again
			in.bound.Store(nil)
		}
	}
	if len(out.Records) == 0 && len(out.Rejected) == 0 {
		return out, nil
	}
	in.mu.Lock()
	in.seq++
	out.Seq = in.seq
	if len(msgs) > 0 {
		in.pending[out.Seq] = msgs
	}
	in.mu.Unlock()
	return out, nil
}

// add turns one message into a record, or a rejection held until its dead
// letter is written.
func (in *Input) add(out *sdk.Batch, m jetstream.Msg, msgs *[]jetstream.Msg) {
	meta, _ := m.Metadata()
	if meta != nil && meta.NumDelivered > 1 {
		in.redelivered.Add(1)
	}
	r, err := sdk.NewRecordWithID(m.Data(), func(t time.Time) string { return in.idFor(m, meta, t) })
	if err != nil {
		out.RejectData(m.Data(), fmt.Sprintf("nats message on %s is not an event: %v", m.Subject(), err))
		in.rejected.Add(1)
		in.mu.Lock()
		in.held = append(in.held, heldReject{poll: in.polls, msg: m})
		in.mu.Unlock()
		return
	}
	out.Records = append(out.Records, r)
	*msgs = append(*msgs, m)
}

// idFor gives an event without event_id a stable id: its Nats-Msg-Id, or
// one derived from its place in the stream, so a redelivery keeps the id.
func (in *Input) idFor(m jetstream.Msg, meta *jetstream.MsgMetadata, t time.Time) string {
	if id := m.Headers().Get(jetstream.MsgIDHeader); id != "" {
		return id
	}
	h := sha256.New()
	h.Write([]byte(in.cfg.Stream))
	if meta != nil {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], meta.Sequence.Stream)
		h.Write(b[:])
	} else {
		h.Write(m.Data())
	}
	var key [10]byte
	copy(key[:], h.Sum(nil))
	return sdk.DeterministicID(t, key)
}

// terminateDeadLettered terminates rejected messages whose dead letters the
// host has written by now, so JetStream does not redeliver them.
func (in *Input) terminateDeadLettered() {
	in.mu.Lock()
	var due []jetstream.Msg
	keep := in.held[:0]
	for _, h := range in.held {
		if h.poll+2 <= in.polls {
			due = append(due, h.msg)
		} else {
			keep = append(keep, h)
		}
	}
	in.held = keep
	in.mu.Unlock()
	for _, m := range due {
		if err := m.TermWithReason("dead-lettered by sentinel: not an event"); err != nil {
			in.log.Warn("cannot terminate a dead-lettered message; it will be redelivered", "error", err)
		}
	}
}

// Ack acknowledges the messages of delivered batches. An ack that is lost
// (NATS down, process killed) only means JetStream redelivers: a duplicate,
// never a loss.
func (in *Input) Ack(_ context.Context, seqs []uint64) {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	var msgs []jetstream.Msg
	for _, s := range seqs {
		msgs = append(msgs, in.pending[s]...)
		delete(in.pending, s)
	}
	in.mu.Unlock()
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			in.ackErrors.Add(1)
			in.log.Warn("ack failed; JetStream will redeliver the message", "subject", m.Subject(), "error", err)
			continue
		}
		in.acked.Add(1)
	}
}

// Health reports whether NATS is connected and the consumer bound.
func (in *Input) Health(context.Context) error {
	switch {
	case in.nc == nil || !in.nc.IsConnected():
		return errors.New("nats: not connected")
	case in.bound.Load() == nil:
		return fmt.Errorf("nats: consumer %s on stream %s not bound", in.cfg.Durable, in.cfg.Stream)
	}
	return nil
}

// Invoke answers get_status with the counters and the consumer's state.
func (in *Input) Invoke(ctx context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	in.mu.Lock()
	batches, msgs := len(in.pending), 0
	for _, m := range in.pending {
		msgs += len(m)
	}
	in.mu.Unlock()
	st := map[string]any{
		"plugin": Definition.Name, "name": in.name, "healthy": in.Health(ctx) == nil,
		"stream": in.cfg.Stream, "durable": in.cfg.Durable,
		"counters": map[string]int64{
			"acked": in.acked.Load(), "rejected": in.rejected.Load(), "redelivered": in.redelivered.Load(),
			"ack_errors": in.ackErrors.Load(), "pending_batches": int64(batches), "pending_messages": int64(msgs),
		},
	}
	if cons := in.bound.Load(); cons != nil {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if info, err := (*cons).Info(ictx); err == nil {
			st["consumer"] = map[string]any{
				"num_pending": info.NumPending, "num_ack_pending": info.NumAckPending,
				"num_redelivered": info.NumRedelivered, "num_waiting": info.NumWaiting,
			}
		}
	}
	return st, nil
}

// Close gives back every message not delivered yet, acknowledging none: a
// negative ack makes JetStream hand them to another host at once instead of
// after ack_wait. Acks already sent are flushed first.
func (in *Input) Close(ctx context.Context) error {
	in.closeOnce.Do(func() {
		in.mu.Lock()
		in.closed = true
		var back []jetstream.Msg
		for _, msgs := range in.pending {
			back = append(back, msgs...)
		}
		for _, h := range in.held {
			back = append(back, h.msg) // its dead letter may not be written: let it come again
		}
		in.pending, in.held = nil, nil
		in.mu.Unlock()
		if in.nc == nil {
			return
		}
		for _, m := range back {
			_ = m.Nak()
		}
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := in.nc.FlushWithContext(fctx); err != nil && len(back) > 0 {
			in.log.Warn("could not flush on close; un-acked messages come back after ack_wait", "error", err)
		}
		in.nc.Close()
	})
	return nil
}
