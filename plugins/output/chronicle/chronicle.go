// Package chronicle delivers audit events to Google Security Operations
// (Chronicle) through the Ingestion API, as unstructured log entries or UDM events.
package chronicle

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the chronicle output plugin.
var Definition = &sdk.Definition{
	Name:    "chronicle",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "Send audit events to Google SecOps (Chronicle) via the Ingestion API: unstructured log entries or UDM events.",
	Description: "Requests of at most 1 MB go to the regional ingestion endpoint with a service-account OAuth token " +
		"(the key file's token_uri is honoured). Retries resend byte-identical requests, so SecOps' batch-id " +
		"deduplication drops a batch that did arrive. 429 waits at least throttle_wait; 5xx retry; a 400 is bisected " +
		"to dead-letter only the offending events (UDM import is all-or-nothing).",
	Config:     schema(),
	Operations: []sdk.Operation{{Name: sdk.OpGetStatus, Description: "Counters: sent, retried, dead_lettered, requests, request_retries, splits_413, bisections, bytes, token_fetches."}},
	New:        func() sdk.Plugin { return &Output{} },
}

// Output is one chronicle component.
type Output struct {
	cfg          Config
	name         string
	log          hclog.Logger
	sa           *serviceAccount
	client       *httpout.Client
	engine       *httpout.Engine
	stats        httpout.Stats
	tokens       *httpout.TokenCache
	tokenFetches atomic.Int64
	closeOnce    sync.Once
}

var (
	_ sdk.Plugin        = (*Output)(nil)
	_ sdk.Configurer    = (*Output)(nil)
	_ sdk.Validator     = (*Output)(nil)
	_ sdk.HealthChecker = (*Output)(nil)
	_ sdk.Invoker       = (*Output)(nil)
	_ sdk.Closer        = (*Output)(nil)
)

// Validate checks a configuration without touching files or the network.
func (o *Output) Validate(cfg sdk.Config) error {
	_, err := sdk.DecodeSettings[Config](cfg)
	return err
}

// Configure loads the service account and builds the client once.
func (o *Output) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	o.cfg = *c
	if cfg.DryRun {
		return nil
	}
	o.name, o.log = cfg.Name, cfg.Log()
	if o.sa, err = loadServiceAccount(o.cfg.CredentialsFile); err != nil {
		return err
	}
	if o.client, err = httpout.NewClient(o.cfg.Options, &o.stats, o.log); err != nil {
		return err
	}
	o.tokens = &httpout.TokenCache{Fetch: o.fetchToken}
	framing, err := o.cfg.framing()
	if err != nil {
		return err
	}
	o.engine = &httpout.Engine{
		Name:        fmt.Sprintf("chronicle %q", o.name),
		Framing:     framing,
		MaxBytes:    int(o.cfg.MaxRequestBytes),
		MaxEvents:   o.cfg.MaxRequestEvents,
		Concurrency: o.cfg.Concurrency,
		Stats:       &o.stats,
		Send:        o.send,
		// Resend the very same bytes first: SecOps dedups identical batches.
		InPlaceRetries: 2,
		Backoff:        httpout.Backoff{Initial: time.Second, Max: 10 * time.Second},
	}
	return nil
}

// framing wraps entries in the batch object. Labels are sorted so that the
// same entries always make the same bytes.
func (c *Config) framing() (httpout.Framing, error) {
	head := map[string]any{"customer_id": c.CustomerID}
	key := "events"
	if c.Mode == ModeUnstructured {
		key = "entries"
		head["log_type"] = c.LogType
		if c.Namespace != "" {
			head["namespace"] = c.Namespace
		}
		if len(c.Labels) > 0 {
			keys := make([]string, 0, len(c.Labels))
			for k := range c.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			labels := make([]map[string]string, 0, len(keys))
			for _, k := range keys {
				labels = append(labels, map[string]string{"key": k, "value": c.Labels[k]})
			}
			head["labels"] = labels
		}
	}
	b, err := json.Marshal(head) // encoding/json sorts map keys: stable bytes
	if err != nil {
		return httpout.Framing{}, err
	}
	prefix := append(b[:len(b)-1:len(b)-1], fmt.Sprintf(`,%q:[`, key)...)
	return httpout.Framing{Prefix: prefix, Sep: []byte(","), Suffix: []byte("]}")}, nil
}

// Process delivers a batch.
func (o *Output) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	out := &sdk.Batch{Seq: in.Seq}
	items := make([]httpout.Item, 0, len(in.Records))
	for i, r := range in.Records {
		b, err := o.encode(r)
		if err != nil {
			out.Reject(i, err.Error())
			continue
		}
		items = append(items, httpout.Item{Index: i, Data: b})
	}
	return out, o.engine.Finish(o.engine.Deliver(ctx, items), out)
}

func (o *Output) encode(r *sdk.Record) ([]byte, error) {
	if o.cfg.Mode == ModeUDM {
		return o.cfg.toUDM(r)
	}
	if !json.Valid(r.Body) {
		return nil, fmt.Errorf("record %s: body is not JSON", r.ID)
	}
	return json.Marshal(struct {
		LogText string `json:"log_text"`
		TS      string `json:"ts_rfc3339"`
	}{string(r.Body), r.Time.UTC().Format(time.RFC3339Nano)})
}

func (o *Output) send(ctx context.Context, body []byte, _ []httpout.Item) httpout.Result {
	var r httpout.Reply
	for attempt := 0; attempt < 2; attempt++ {
		tok, err := o.tokens.Get(ctx)
		if err != nil {
			return httpout.TokenResult(err)
		}
		h := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
		r = o.client.Do(ctx, http.MethodPost, o.cfg.path(), h, body)
		if r.Err != nil || r.Status != http.StatusUnauthorized {
			break
		}
		o.tokens.Invalidate() // expired or revoked early: one fresh try
	}
	res := httpout.Classify(r)
	switch {
	case r.Err != nil:
	case r.Status == http.StatusTooManyRequests:
		res.After = max(res.After, o.cfg.ThrottleWait.Std())
	case r.Status == http.StatusBadRequest && mentionsConfig(r.Body):
		// An unknown log type or customer fails every event alike; bisecting would only multiply requests.
		res.Verdict = httpout.Refused
	}
	return res
}

func mentionsConfig(body []byte) bool {
	b := strings.ToLower(string(body))
	return strings.Contains(b, "log type") || strings.Contains(b, "log_type") || strings.Contains(b, "customer")
}

// Health fetches a token: it proves the key file and the token endpoint.
func (o *Output) Health(ctx context.Context) error {
	if _, err := o.tokens.Get(ctx); err != nil {
		return fmt.Errorf("chronicle health: %w", err)
	}
	return nil
}

// Invoke answers get_status with the counters.
func (o *Output) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	st := o.stats.Status(Definition.Name, o.name)
	st["healthy"] = true
	st["counters"].(map[string]any)["token_fetches"] = o.tokenFetches.Load()
	return st, nil
}

// Close releases connections.
func (o *Output) Close(context.Context) error {
	o.closeOnce.Do(func() {
		if o.client != nil {
			o.client.Close()
		}
	})
	return nil
}
