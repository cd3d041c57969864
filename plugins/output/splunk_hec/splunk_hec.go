// Package splunk_hec delivers audit events to Splunk's HTTP Event Collector.
package splunk_hec

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the splunk_hec output plugin.
var Definition = &sdk.Definition{
	Name:    "splunk_hec",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "Send audit events to Splunk HTTP Event Collector (/services/collector/event), optionally with indexer acknowledgement.",
	Description: "Events are sent as concatenated JSON envelopes (time in epoch seconds, indexed fields flattened), " +
		"gzipped, in requests capped by bytes before compression. A 413 splits the request; an event Splunk refuses " +
		"(400 code 6 with invalid-event-number, or found by bisection) is dead-lettered with Splunk's answer while the " +
		"rest is delivered; 429/5xx are retried honouring Retry-After. With ack = true a record counts as delivered only " +
		"after Splunk's indexer acknowledged it.",
	Config:     schema(),
	Operations: []sdk.Operation{{Name: sdk.OpGetStatus, Description: "Counters: sent, retried, dead_lettered, requests, splits_413, bisections, bytes, acks."}},
	New:        func() sdk.Plugin { return &Output{} },
}

// Output is one splunk_hec component.
type Output struct {
	cfg     Config
	name    string
	log     hclog.Logger
	client  *httpout.Client
	engine  *httpout.Engine
	enc     *encoder
	stats   httpout.Stats
	channel string
	auth    string
	acks    ackStats
	closeMu sync.Once
}

var (
	_ sdk.Plugin        = (*Output)(nil)
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

// Configure builds the client once and, unless disabled, probes HEC health.
func (o *Output) Configure(ctx context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	o.cfg = *c
	if cfg.DryRun { // validation only: touch no files, no network
		return nil
	}
	o.name, o.log = cfg.Name, cfg.Log()
	if o.cfg.Hostname == "" {
		o.cfg.Hostname, _ = os.Hostname()
	}
	if o.client, err = httpout.NewClient(o.cfg.Options, &o.stats, o.log); err != nil {
		return err
	}
	o.auth = "Splunk " + o.cfg.Token
	o.channel = newGUID()
	o.enc = &encoder{host: o.cfg.Hostname, source: o.cfg.Source, sourcetype: o.cfg.Sourcetype, index: o.cfg.Index, fields: o.cfg.IndexedFields}
	o.engine = &httpout.Engine{
		Name:        fmt.Sprintf("splunk_hec %q", o.name),
		Framing:     httpout.Framing{Sep: []byte("\n")},
		MaxBytes:    int(o.cfg.MaxRequestBytes),
		MaxEvents:   o.cfg.MaxRequestEvents,
		Concurrency: o.cfg.Concurrency,
		Stats:       &o.stats,
	}
	if !*o.cfg.HealthCheck {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := o.Health(hctx); err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			return fmt.Errorf("splunk_hec %q: %w", o.name, err)
		}
		o.log.Warn("HEC not healthy at start; events stay buffered until it is", "error", err)
	}
	return nil
}

// Process delivers a batch; see the package documentation for the rules.
func (o *Output) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	out := &sdk.Batch{Seq: in.Seq}
	items := make([]httpout.Item, 0, len(in.Records))
	for i, r := range in.Records {
		b, err := o.enc.encode(r)
		if err != nil {
			out.Reject(i, err.Error())
			continue
		}
		items = append(items, httpout.Item{Index: i, Data: b})
	}
	var pending *pendingAcks
	engine := *o.engine
	engine.Send = func(ctx context.Context, body []byte, its []httpout.Item) httpout.Result {
		res, ackID := o.send(ctx, body)
		if res.Verdict == httpout.Delivered && o.cfg.Ack {
			pending.add(ackID, its)
		}
		return res
	}
	if o.cfg.Ack {
		pending = &pendingAcks{byID: map[int64][]httpout.Item{}}
	}
	outcome := engine.Deliver(ctx, items)
	if o.cfg.Ack {
		o.awaitAcks(ctx, pending, outcome)
	}
	return out, engine.Finish(outcome, out)
}

func (o *Output) headers() http.Header {
	h := http.Header{"Authorization": {o.auth}, "Content-Type": {"application/json"}}
	if o.cfg.Ack {
		h.Set("X-Splunk-Request-Channel", o.channel)
	}
	return h
}

// hecReply is HEC's JSON answer.
type hecReply struct {
	Text         string `json:"text"`
	Code         *int   `json:"code"`
	AckID        *int64 `json:"ackId"`
	InvalidEvent *int   `json:"invalid-event-number"`
}

// send posts one request and reads HEC's code table into a verdict.
func (o *Output) send(ctx context.Context, body []byte) (httpout.Result, int64) {
	r := o.client.Do(ctx, http.MethodPost, o.cfg.baseURL()+"/services/collector/event", o.headers(), body)
	res := httpout.Classify(r)
	if r.Err != nil {
		return res, -1
	}
	var hr hecReply
	_ = json.Unmarshal(r.Body, &hr)
	code := -1
	if hr.Code != nil {
		code = *hr.Code
	}
	switch {
	case res.Verdict == httpout.Delivered:
		if o.cfg.Ack {
			if hr.AckID == nil {
				// Token without useACK: a 200 is all the confirmation there is.
				o.acks.noAckID.Add(1)
				return res, -1
			}
			return res, *hr.AckID
		}
	case r.Status == http.StatusBadRequest:
		switch code {
		case 6, 7, 12, 13, 15: // the data: isolate the event(s) at fault
			res.Verdict = httpout.Poison
			if hr.InvalidEvent != nil {
				res.Culprit, res.CulpritKnown = *hr.InvalidEvent, true
			}
		default: // 5 no data, 10/11 channel, 14 ack disabled, 16 query auth: configuration
			res.Verdict = httpout.Refused
		}
	}
	return res, -1
}

// Health asks /services/collector/health with the token.
func (o *Output) Health(ctx context.Context) error {
	url := o.cfg.baseURL() + "/services/collector/health/1.0"
	if o.cfg.Ack {
		url += "?ack=true"
	}
	r := o.client.Do(ctx, http.MethodGet, url, http.Header{"Authorization": {o.auth}}, nil)
	if r.Err != nil {
		return fmt.Errorf("health: %w", r.Err)
	}
	switch {
	case r.Status == http.StatusOK:
		return nil
	case r.Status == http.StatusBadRequest || r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return &refusedError{fmt.Errorf("health: token refused: %s", r.Brief())}
	default:
		return fmt.Errorf("health: %s", r.Brief())
	}
}

type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// Invoke answers get_status with the counters.
func (o *Output) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	st := o.stats.Status(Definition.Name, o.name)
	st["healthy"] = true
	c := st["counters"].(map[string]any)
	c["acks_confirmed"], c["acks_timed_out"], c["acks_without_id"] = o.acks.confirmed.Load(), o.acks.timedOut.Load(), o.acks.noAckID.Load()
	return st, nil
}

// Close releases connections; nothing is held back between Process calls.
func (o *Output) Close(context.Context) error {
	o.closeMu.Do(func() {
		if o.client != nil {
			o.client.Close()
		}
	})
	return nil
}

// newGUID is a random UUIDv4, the form HEC requires of a channel.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
