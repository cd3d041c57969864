// Package nats is the "nats" output: it publishes audit events to NATS
// JetStream, one subject per event type, with the event id as Nats-Msg-Id so
// that retried publishes are stored once. Hosts on other machines consume the
// stream with the nats input: the scale-out path of DESIGN.md §9.
package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	natsclient "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sentinel-audit/sentinel/plugins/output/nats/natsconn"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the nats output plugin.
var Definition = &sdk.Definition{
	Name:    "nats",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "Publishes audit events to NATS JetStream, one subject per event type, de-duplicated by event id.",
	Description: "Each event body is published on <subject_prefix>.<event_type> with the Nats-Msg-Id header set " +
		"to the event id, asynchronously with at most max_pending PubAcks outstanding. A batch counts as " +
		"delivered only when JetStream acknowledged every event (stored on a quorum of replicas). NATS " +
		"unreachable, a timed-out PubAck or a full stream are handed back to the host as retryable; the " +
		"stream's duplicate window drops the copies a retry makes. An event larger than the server's " +
		"max_payload is dead-lettered. Hosts elsewhere consume the stream with the nats input.",
	Config: configSchema,
	New:    func() sdk.Plugin { return &Output{} },
}

// Output is one nats output instance.
type Output struct {
	cfg  Config
	name string
	log  hclog.Logger
	nc   *natsclient.Conn
	js   jetstream.JetStream

	streamMu    sync.Mutex
	streamReady bool

	published, duplicates, retried, rejected atomic.Int64
	closeOnce                                sync.Once
}

var (
	_ sdk.Configurer    = (*Output)(nil)
	_ sdk.Validator     = (*Output)(nil)
	_ sdk.HealthChecker = (*Output)(nil)
	_ sdk.Invoker       = (*Output)(nil)
	_ sdk.Closer        = (*Output)(nil)
)

// Validate checks a configuration without touching the network.
func (o *Output) Validate(cfg sdk.Config) error {
	_, err := sdk.DecodeSettings[Config](cfg)
	return err
}

// Configure connects and, when NATS answers, checks or creates the stream.
// An unreachable NATS does not fail the start: Process retries until it is back.
func (o *Output) Configure(ctx context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	o.cfg = *c
	if cfg.DryRun {
		return nil
	}
	o.name, o.log = cfg.Name, cfg.Log()
	nc, err := natsconn.Connect(o.cfg.Config, "sentinel output "+cfg.Name, o.log)
	if err != nil {
		return fmt.Errorf("nats output %q: %w", cfg.Name, err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(o.cfg.MaxPending),
		jetstream.WithPublishAsyncTimeout(o.cfg.PublishTimeout.Std()),
		jetstream.WithDefaultTimeout(o.cfg.PublishTimeout.Std()))
	if err != nil {
		nc.Close()
		return fmt.Errorf("nats output %q: jetstream: %w", cfg.Name, err)
	}
	o.nc, o.js = nc, js
	if !o.connected() {
		o.log.Warn("nats is not reachable yet; events are retried until it is", "servers", o.cfg.ServerURLs())
		return nil
	}
	if err := o.ensureStream(ctx); err != nil {
		if o.connected() && !isTransient(err) {
			nc.Close()
			return fmt.Errorf("nats output %q: %w", cfg.Name, err)
		}
		o.log.Warn("stream not checked yet; retrying on first publish", "stream", o.cfg.Stream, "error", err)
	}
	return nil
}

func (o *Output) connected() bool { return o.nc != nil && o.nc.IsConnected() }

// ensureStream checks once that the stream exists and captures our
// subjects, creating it when create_stream asks for that.
func (o *Output) ensureStream(ctx context.Context) error {
	o.streamMu.Lock()
	defer o.streamMu.Unlock()
	if o.streamReady {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.PublishTimeout.Std())
	defer cancel()
	want := o.cfg.SubjectPrefix + ".>"
	s, err := o.js.Stream(ctx, o.cfg.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && o.cfg.CreateStream:
		if _, err := o.js.CreateStream(ctx, o.streamConfig()); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", o.cfg.Stream, err)
		}
		o.log.Info("created stream", "stream", o.cfg.Stream, "subjects", want, "replicas", o.cfg.Replicas, "retention", o.cfg.Retention)
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("stream %s does not exist: create it (see the README) or set create_stream = true", o.cfg.Stream)
	case err != nil:
		return fmt.Errorf("look up stream %s: %w", o.cfg.Stream, err)
	default:
		info := s.CachedInfo()
		if !anyCovers(info.Config.Subjects, want) {
			return fmt.Errorf("stream %s captures %v, not %s: events would not be stored", o.cfg.Stream, info.Config.Subjects, want)
		}
	}
	o.streamReady = true
	return nil
}

func (o *Output) streamConfig() jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:        o.cfg.Stream,
		Description: "Sentinel MCP audit events",
		Subjects:    []string{o.cfg.SubjectPrefix + ".>"},
		Replicas:    o.cfg.Replicas,
		MaxAge:      o.cfg.MaxAge.Std(),
		MaxBytes:    int64(o.cfg.MaxBytes),
		Duplicates:  o.cfg.DuplicateWindow.Std(),
		// With limits retention the stream also holds what was consumed, so
		// a full one must drop its oldest events or refuse everything for
		// good. Under workqueue and interest it holds only what is not yet
		// acknowledged: a full one refuses publishes, the edges retry and
		// buffer, and no unread event is ever dropped.
		Discard: jetstream.DiscardNew,
	}
	if o.cfg.Retention == "limits" {
		sc.Discard = jetstream.DiscardOld
	}
	if sc.MaxBytes == 0 {
		sc.MaxBytes = -1
	}
	switch o.cfg.Retention {
	case "workqueue":
		sc.Retention = jetstream.WorkQueuePolicy
	case "interest":
		sc.Retention = jetstream.InterestPolicy
	default:
		sc.Retention = jetstream.LimitsPolicy
	}
	if o.cfg.Storage == "memory" {
		sc.Storage = jetstream.MemoryStorage
	}
	return sc
}

// Process publishes every record and waits for every PubAck. Records whose
// publish failed transiently go back to the host by index; the others count
// as delivered (a duplicate PubAck means JetStream already had the event).
func (o *Output) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	out := &sdk.Batch{}
	if len(in.Records) == 0 {
		return out, nil
	}
	if o.js == nil {
		return out, errors.New("nats output: not configured")
	}
	if !o.connected() {
		return out, sdk.RetryAfter(fmt.Errorf("nats: not connected (%s)", o.nc.Status()), time.Second)
	}
	if err := o.ensureStream(ctx); err != nil {
		return out, sdk.Retryable(err)
	}
	maxPayload := o.nc.MaxPayload()
	futures := make([]jetstream.PubAckFuture, len(in.Records))
	var retry []int
	var firstErr error
	fail := func(i int, err error) {
		retry = append(retry, i)
		if firstErr == nil {
			firstErr = err
		}
	}
	for i, r := range in.Records {
		if maxPayload > 0 && int64(len(r.Body)) > maxPayload {
			out.Reject(i, fmt.Sprintf("event of %d bytes exceeds the NATS server's max_payload of %d bytes", len(r.Body), maxPayload))
			continue
		}
		if ctx.Err() != nil {
			fail(i, ctx.Err())
			continue
		}
		msg := &natsclient.Msg{Subject: o.subject(r.Type), Data: r.Body, Header: natsclient.Header{}}
		if r.ID != "" {
			msg.Header.Set(jetstream.MsgIDHeader, r.ID)
		}
		f, err := o.js.PublishMsgAsync(msg, jetstream.WithStallWait(o.cfg.PublishTimeout.Std()))
		if err != nil {
			if errors.Is(err, natsclient.ErrMaxPayload) {
				out.Reject(i, "event exceeds the NATS server's max_payload")
				continue
			}
			fail(i, fmt.Errorf("publish: %w", err))
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			o.published.Add(1)
			if ack != nil && ack.Duplicate {
				o.duplicates.Add(1)
			}
		case err := <-f.Err():
			if permanent(err) {
				out.Reject(i, fmt.Sprintf("jetstream refused the event: %v", err))
				continue
			}
			fail(i, fmt.Errorf("publish to %s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			fail(i, ctx.Err())
		}
	}
	o.rejected.Add(int64(len(out.Rejected)))
	if len(retry) > 0 {
		o.retried.Add(int64(len(retry)))
		return out, &sdk.RetryError{Err: fmt.Errorf("nats: %d of %d events not acknowledged: %w", len(retry), len(in.Records), firstErr), Indices: retry}
	}
	return out, nil
}

// subject is <prefix>.<event type>, the type made a valid subject token.
func (o *Output) subject(eventType string) string {
	if eventType == "" {
		return o.cfg.SubjectPrefix + ".unknown"
	}
	return o.cfg.SubjectPrefix + "." + strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, eventType)
}

// permanent reports PubAck errors that no retry can fix.
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
	}
	return errors.Is(err, natsclient.ErrMaxPayload)
}

// isTransient reports errors that say NATS or JetStream is not answering,
// rather than that the stream is wrong.
func isTransient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsclient.ErrTimeout) ||
		errors.Is(err, natsclient.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, natsclient.ErrConnectionClosed) || errors.Is(err, natsclient.ErrDisconnected)
}

// anyCovers reports whether one of the stream's subject filters captures subject.
func anyCovers(filters []string, subject string) bool {
	for _, f := range filters {
		if covers(f, subject) {
			return true
		}
	}
	return false
}

// covers reports whether every subject matching pattern also matches filter.
func covers(filter, pattern string) bool {
	ft, pt := strings.Split(filter, "."), strings.Split(pattern, ".")
	for i, f := range ft {
		if f == ">" {
			return true
		}
		if i >= len(pt) || pt[i] == ">" {
			return false
		}
		if f != "*" && (f != pt[i] || pt[i] == "*") {
			return false
		}
	}
	return len(ft) == len(pt)
}

// Health reports whether NATS is connected.
func (o *Output) Health(context.Context) error {
	if !o.connected() {
		return fmt.Errorf("nats: not connected")
	}
	return nil
}

// Invoke answers get_status with the counters and the connection state.
func (o *Output) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	st := map[string]any{
		"plugin": Definition.Name, "name": o.name, "healthy": o.connected(), "stream": o.cfg.Stream,
		"counters": map[string]int64{
			"published": o.published.Load(), "duplicates": o.duplicates.Load(),
			"retried": o.retried.Load(), "rejected": o.rejected.Load(),
		},
	}
	if o.nc != nil {
		st["connection"] = o.nc.Status().String()
		st["server"] = o.nc.ConnectedUrlRedacted()
	}
	return st, nil
}

// Close waits briefly for publishes still in flight and closes the connection.
// Process waits for its PubAcks, so normally nothing is left.
func (o *Output) Close(ctx context.Context) error {
	o.closeOnce.Do(func() {
		if o.js != nil {
			select {
			case <-o.js.PublishAsyncComplete():
			case <-ctx.Done():
			case <-time.After(o.cfg.PublishTimeout.Std()):
			}
		}
		if o.nc != nil {
			o.nc.Close()
		}
	})
	return nil
}
