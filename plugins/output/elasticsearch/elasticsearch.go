// Package elasticsearch delivers audit events to Elasticsearch or OpenSearch
// through the _bulk API.
package elasticsearch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the elasticsearch output plugin.
var Definition = &sdk.Definition{
	Name:    "elasticsearch",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "Send audit events to Elasticsearch or OpenSearch with _bulk: ECS fields, idempotent create, per-item retries.",
	Description: "Each event is a `create` with `_id` = event_id, so a resend after a lost answer gives 409 (already stored) " +
		"instead of a duplicate. Per-item results are honoured: only 429/5xx items are retried, other failures are " +
		"dead-lettered with the cluster's error. Events go to one data stream per event type (logs-mcp.tools-default) " +
		"or to monthly indices (mcp-tools-2026-11); `sentinel setup elasticsearch -c FILE` installs the matching index " +
		"templates and lifecycle (ILM or data stream retention on Elasticsearch, ISM on OpenSearch).",
	Config:     schema(),
	Operations: []sdk.Operation{{Name: sdk.OpGetStatus, Description: "Counters: sent, retried, dead_lettered, requests, splits_413, bisections, bytes, conflicts (409 already stored)."}},
	New:        func() sdk.Plugin { return &Output{} },
}

// Output is one elasticsearch component.
type Output struct {
	cfg       Config
	name      string
	log       hclog.Logger
	client    *httpout.Client
	engine    *httpout.Engine
	stats     httpout.Stats
	conflicts atomic.Int64
	next      atomic.Uint64
	auth      string
	closeOnce sync.Once
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

// Configure builds the client once.
func (o *Output) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	o.cfg = *c
	if cfg.DryRun { // validation only: touch no files, no network
		return nil
	}
	o.name, o.log = cfg.Name, cfg.Log()
	if o.client, err = httpout.NewClient(o.cfg.Options, &o.stats, o.log); err != nil {
		return err
	}
	o.auth = o.cfg.authorization()
	o.engine = &httpout.Engine{
		Name:        fmt.Sprintf("elasticsearch %q", o.name),
		MaxBytes:    int(o.cfg.MaxRequestBytes),
		MaxEvents:   o.cfg.MaxRequestEvents,
		Concurrency: o.cfg.Concurrency,
		Stats:       &o.stats,
		Send:        o.send,
	}
	return nil
}

func (c *Config) authorization() string {
	switch {
	case c.APIKey != "":
		return "ApiKey " + c.APIKey
	case c.Username != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))
	}
	return ""
}

// Process delivers a batch as _bulk requests.
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

// encode is one bulk action line and its document, each ending in a newline.
func (o *Output) encode(r *sdk.Record) ([]byte, error) {
	doc, err := o.cfg.toECS(r)
	if err != nil {
		return nil, err
	}
	action, err := json.Marshal(map[string]any{"create": map[string]string{"_index": o.cfg.indexFor(r), "_id": r.ID}})
	if err != nil {
		return nil, err
	}
	src, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	b := make([]byte, 0, len(action)+len(src)+2)
	b = append(append(append(b, action...), '\n'), src...)
	return append(b, '\n'), nil
}

func (o *Output) endpoint() string {
	eps := o.cfg.Endpoints
	return strings.TrimRight(eps[int(o.next.Add(1)-1)%len(eps)], "/")
}

func (o *Output) headers(contentType string) http.Header {
	// Plain media types: the compatible-with vendor types are refused by OpenSearch (406).
	h := http.Header{"Content-Type": {contentType}, "Accept": {"application/json"}}
	if o.auth != "" {
		h.Set("Authorization", o.auth)
	}
	return h
}

// bulkResponse is the part of a _bulk answer we read.
type bulkResponse struct {
	Errors bool                         `json:"errors"`
	Items  []map[string]bulkItemOutcome `json:"items"`
}

type bulkItemOutcome struct {
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error,omitempty"`
}

func (o *Output) send(ctx context.Context, body []byte, items []httpout.Item) httpout.Result {
	url := o.endpoint() + "/_bulk?filter_path=errors,items.*.status,items.*.error"
	r := o.client.Do(ctx, http.MethodPost, url, o.headers("application/x-ndjson"), body)
	res := httpout.Classify(r)
	if res.Verdict != httpout.Delivered {
		return res
	}
	var br bulkResponse
	if err := json.Unmarshal(r.Body, &br); err != nil {
		return httpout.Result{Verdict: httpout.Retry, Reason: "unreadable _bulk answer: " + err.Error()}
	}
	res = httpout.Result{Verdict: httpout.Partial, Items: make([]httpout.ItemResult, 0, len(br.Items)), After: httpout.ParseRetryAfter(r.Header.Get("Retry-After"), timeNow())}
	for _, it := range br.Items {
		var oc bulkItemOutcome
		for _, v := range it { // one key: the action name
			oc = v
		}
		switch s := oc.Status; {
		case s >= 200 && s < 300:
			res.Items = append(res.Items, httpout.ItemResult{Verdict: httpout.Delivered})
		case s == http.StatusConflict:
			// create with our _id found it already there: a resend of a stored event.
			o.conflicts.Add(1)
			res.Items = append(res.Items, httpout.ItemResult{Verdict: httpout.Delivered})
		case s == http.StatusTooManyRequests || s >= 500:
			res.Items = append(res.Items, httpout.ItemResult{Verdict: httpout.Retry, Reason: fmt.Sprintf("item %d: %s", s, oc.Error)})
		default:
			res.Items = append(res.Items, httpout.ItemResult{Verdict: httpout.Refused, Reason: fmt.Sprintf("HTTP %d: %s", s, oc.Error)})
		}
	}
	return res
}

// Health asks the cluster root for its version.
func (o *Output) Health(ctx context.Context) error {
	r := o.client.DoPlain(ctx, http.MethodGet, o.endpoint()+"/", o.headers("application/json"), nil)
	if r.Err != nil || r.Status != http.StatusOK {
		return fmt.Errorf("elasticsearch health: %s", r.Brief())
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
	st["counters"].(map[string]any)["conflicts"] = o.conflicts.Load()
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

var timeNow = time.Now
