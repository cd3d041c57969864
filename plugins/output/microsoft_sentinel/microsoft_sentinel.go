// Package microsoft_sentinel delivers audit events to Microsoft Sentinel
// through the Azure Monitor Logs Ingestion API (data collection rules). The
// retired HTTP Data Collector API is deliberately not supported.
package microsoft_sentinel

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the microsoft_sentinel output plugin.
var Definition = &sdk.Definition{
	Name:    "microsoft_sentinel",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "Send audit events to Microsoft Sentinel via the Azure Monitor Logs Ingestion API, as ASIM AuditEvent rows.",
	Description: "Rows are shaped after the ASIM AuditEvent schema with TimeGenerated and posted as gzipped JSON arrays " +
		"of at most 1,000,000 bytes to <endpoint>/dataCollectionRules/<dcr>/streams/<stream>. An OAuth2 " +
		"client-credentials token is cached and refreshed before it expires. 204 means accepted; 413 splits; 429 and " +
		"5xx retry honouring Retry-After; a 400 is bisected to dead-letter the offending rows only. " +
		"examples/sentinel holds the ARM template for the DCR and the custom table.",
	Config:     schema(),
	Operations: []sdk.Operation{{Name: sdk.OpGetStatus, Description: "Counters: sent, retried, dead_lettered, requests, splits_413, bisections, bytes, token_fetches."}},
	New:        func() sdk.Plugin { return &Output{} },
}

// Output is one microsoft_sentinel component.
type Output struct {
	cfg       Config
	name      string
	log       hclog.Logger
	client    *httpout.Client
	engine    *httpout.Engine
	stats     httpout.Stats
	tokens    *httpout.TokenCache
	fetches   int64
	fetchMu   sync.Mutex
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

// Configure builds the client and the token cache once.
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
	if o.client, err = httpout.NewClient(o.cfg.Options, &o.stats, o.log); err != nil {
		return err
	}
	o.tokens = &httpout.TokenCache{Fetch: o.fetchToken}
	o.engine = &httpout.Engine{
		Name:        fmt.Sprintf("microsoft_sentinel %q", o.name),
		Framing:     httpout.Framing{Prefix: []byte("["), Sep: []byte(","), Suffix: []byte("]")},
		MaxBytes:    int(o.cfg.MaxRequestBytes),
		MaxEvents:   o.cfg.MaxRequestEvents,
		Concurrency: o.cfg.Concurrency,
		Stats:       &o.stats,
		Send:        o.send,
	}
	return nil
}

func (o *Output) fetchToken(ctx context.Context) (httpout.Token, error) {
	o.fetchMu.Lock()
	o.fetches++
	o.fetchMu.Unlock()
	return httpout.PostTokenForm(ctx, o.client, o.cfg.tokenEndpoint(), url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {o.cfg.ClientID},
		"client_secret": {o.cfg.ClientSecret},
		"scope":         {o.cfg.Scope},
	})
}

// Process delivers a batch as Logs Ingestion calls.
func (o *Output) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	out := &sdk.Batch{Seq: in.Seq}
	items := make([]httpout.Item, 0, len(in.Records))
	for i, r := range in.Records {
		b, err := o.cfg.toRow(r)
		if err != nil {
			out.Reject(i, err.Error())
			continue
		}
		items = append(items, httpout.Item{Index: i, Data: b})
	}
	return out, o.engine.Finish(o.engine.Deliver(ctx, items), out)
}

func (o *Output) send(ctx context.Context, body []byte, _ []httpout.Item) httpout.Result {
	var r httpout.Reply
	for attempt := 0; attempt < 2; attempt++ {
		tok, err := o.tokens.Get(ctx)
		if err != nil {
			return httpout.TokenResult(err)
		}
		h := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
		r = o.client.Do(ctx, http.MethodPost, o.cfg.ingestURL(), h, body)
		if r.Err != nil || r.Status != http.StatusUnauthorized {
			break
		}
		// A token revoked or expired early: fetch a fresh one and try once more.
		o.tokens.Invalidate()
	}
	res := httpout.Classify(r)
	if code := r.Header.Get("x-ms-error-code"); code != "" && res.Verdict != httpout.Delivered {
		res.Reason = code + ": " + res.Reason
	}
	return res
}

// Health fetches a token: it proves the tenant, client id and secret.
func (o *Output) Health(ctx context.Context) error {
	if _, err := o.tokens.Get(ctx); err != nil {
		return fmt.Errorf("microsoft_sentinel health: %w", err)
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
	o.fetchMu.Lock()
	st["counters"].(map[string]any)["token_fetches"] = o.fetches
	o.fetchMu.Unlock()
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
