package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// SetupOptions tune Setup.
type SetupOptions struct {
	// RetentionDays per event type from elsewhere in the pipeline (the
	// classifier), used where the output sets no retention_by_type.
	RetentionDays map[string]int
	// DryRun prints what would be installed without sending it.
	DryRun bool
}

// Setup installs, for the output configured by raw, one index template per
// event type with ECS mappings and the lifecycle that enforces its
// retention: data stream lifecycle (data_stream mode) or an ILM policy
// (monthly) on Elasticsearch, an ISM policy on OpenSearch. It is idempotent.
func Setup(ctx context.Context, name string, raw json.RawMessage, opts SetupOptions, w io.Writer) error {
	o := &Output{}
	if err := o.Configure(ctx, sdk.Config{Name: name, Raw: raw}); err != nil {
		return fmt.Errorf("elasticsearch %q: %w", name, err)
	}
	defer o.Close(ctx)
	flavor := o.cfg.Flavor
	if flavor == "auto" {
		var err error
		if flavor, err = o.detectFlavor(ctx); err != nil {
			return fmt.Errorf("elasticsearch %q: %w", name, err)
		}
	}
	fmt.Fprintf(w, "elasticsearch %q: %s, index_mode %s\n", name, flavor, o.cfg.IndexMode)
	types := append(append([]string(nil), sdk.EventTypes...), "other")
	for _, t := range types {
		days := o.cfg.retentionDays(t, opts.RetentionDays)
		s := short(t)
		for _, req := range o.cfg.setupRequests(flavor, s, days) {
			if opts.DryRun {
				fmt.Fprintf(w, "  would %s %s\n", req.method, req.path)
				continue
			}
			if err := o.install(ctx, req); err != nil {
				return fmt.Errorf("elasticsearch %q: %s %s: %w", name, req.method, req.path, err)
			}
			fmt.Fprintf(w, "  %s %s (retention %dd)\n", req.method, req.path, days)
		}
	}
	return nil
}

type setupRequest struct {
	method, path string
	body         any
	ism          bool // OpenSearch ISM policy: updating needs seq_no/primary_term
}

func (c *Config) retentionDays(eventType string, fromPipeline map[string]int) int {
	if v, ok := c.RetentionByType[eventType]; ok {
		if d, err := sdk.ParseDuration(v); err == nil {
			return int((d + 24*time.Hour - 1) / (24 * time.Hour))
		}
	}
	if d, ok := fromPipeline[eventType]; ok && d > 0 {
		return d
	}
	return int((c.Retention.Std() + 24*time.Hour - 1) / (24 * time.Hour))
}

// setupRequests lists what one event type needs on a flavor of cluster.
func (c *Config) setupRequests(flavor, s string, days int) []setupRequest {
	name := "sentinel-mcp-" + s
	pattern := "logs-mcp." + s + "-*"
	if c.IndexMode == ModeMonthly {
		pattern = c.IndexPrefix + "-" + s + "-*"
	}
	tmpl := map[string]any{"index_patterns": []string{pattern}, "priority": 500,
		"_meta": map[string]any{"managed_by": "sentinel", "retention_days": days}}
	settings := map[string]any{}
	template := map[string]any{"mappings": mappings(flavor), "settings": settings}
	tmpl["template"] = template
	if c.IndexMode == ModeDataStream {
		tmpl["data_stream"] = map[string]any{}
	}
	var reqs []setupRequest
	switch {
	case flavor == "opensearch":
		// ISM has no rollover-free age for data streams: roll monthly and
		// delete a backing index once its newest event is past retention.
		rollover := 30
		minAge := days + rollover
		hot := map[string]any{"name": "hot", "actions": []any{},
			"transitions": []any{map[string]any{"state_name": "delete", "conditions": map[string]any{"min_index_age": fmt.Sprintf("%dd", minAge)}}}}
		ismPattern := pattern
		if c.IndexMode == ModeDataStream {
			hot["actions"] = []any{map[string]any{"rollover": map[string]any{"min_index_age": fmt.Sprintf("%dd", rollover)}}}
			ismPattern = ".ds-" + pattern
		} else {
			hot["transitions"].([]any)[0].(map[string]any)["conditions"] = map[string]any{"min_index_age": fmt.Sprintf("%dd", days+31)}
		}
		reqs = append(reqs, setupRequest{method: http.MethodPut, path: "/_plugins/_ism/policies/" + name, ism: true, body: map[string]any{
			"policy": map[string]any{
				"description":   fmt.Sprintf("Sentinel MCP %s events: keep %d days", s, days),
				"default_state": "hot",
				"states": []any{hot,
					map[string]any{"name": "delete", "actions": []any{map[string]any{"delete": map[string]any{}}}, "transitions": []any{}}},
				"ism_template": []any{map[string]any{"index_patterns": []string{ismPattern}, "priority": 100}},
			}}})
	case c.IndexMode == ModeDataStream:
		template["lifecycle"] = map[string]any{"data_retention": fmt.Sprintf("%dd", days)}
		// logsdb (the default for logs-*-* on 9.x) rebuilds _source; audit
		// records must come back as they were stored.
		settings["index.mode"] = "standard"
	default:
		// Monthly indices are never rolled over, so age counts from the
		// month's first event: keep a month longer than the retention.
		reqs = append(reqs, setupRequest{method: http.MethodPut, path: "/_ilm/policy/" + name, body: map[string]any{
			"policy": map[string]any{"phases": map[string]any{
				"hot":    map[string]any{"actions": map[string]any{}},
				"delete": map[string]any{"min_age": fmt.Sprintf("%dd", days+31), "actions": map[string]any{"delete": map[string]any{}}},
			}, "_meta": map[string]any{"managed_by": "sentinel"}}}})
		settings["index.lifecycle.name"] = name
	}
	return append(reqs, setupRequest{method: http.MethodPut, path: "/_index_template/" + name, body: tmpl})
}

// mappings are the ECS fields Sentinel writes. Tool arguments and results
// vary per tool; they are kept in _source but not indexed, so that one
// tool's shapes cannot break another's mapping.
func mappings(flavor string) map[string]any {
	kw := map[string]any{"type": "keyword", "ignore_above": 1024}
	props := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"properties": m}
	}
	return map[string]any{
		"dynamic_templates": []any{map[string]any{"strings_as_keyword": map[string]any{
			"match_mapping_type": "string", "mapping": kw}}},
		"properties": map[string]any{
			"@timestamp": map[string]any{"type": "date_nanos"},
			"message":    map[string]any{"type": "text"},
			"event": props("id", kw, "kind", kw, "module", kw, "action", kw, "dataset", kw, "category", kw,
				"outcome", kw, "duration", map[string]any{"type": "long"}),
			"log":     props("level", kw),
			"user":    props("id", kw),
			"source":  props("ip", map[string]any{"type": "ip", "ignore_malformed": true}),
			"service": props("name", kw),
			"url":     props("original", kw),
			"trace":   props("id", kw),
			"span":    props("id", kw),
			"error":   props("message", map[string]any{"type": "text"}),
			"labels":  map[string]any{"type": "object", "dynamic": true},
			"mcp": props("session_id", kw, "client_id", kw, "agent_id", kw, "tool_name", kw, "method", kw,
				"classification", kw, "correlation_id", kw, "event_type", kw, "cost", map[string]any{"type": "double"},
				"retention_days", map[string]any{"type": "integer"},
				"arguments", map[string]any{"type": "object", "enabled": false},
				"result", map[string]any{"type": "object", "enabled": false}),
		},
	}
}

func (o *Output) detectFlavor(ctx context.Context) (string, error) {
	r := o.client.DoPlain(ctx, http.MethodGet, o.endpoint()+"/", o.headers("application/json"), nil)
	if r.Err != nil || r.Status != http.StatusOK {
		return "", fmt.Errorf("ask the cluster its version: %s", r.Brief())
	}
	var info struct {
		Version struct {
			Distribution string `json:"distribution"`
			Number       string `json:"number"`
		} `json:"version"`
	}
	if err := json.Unmarshal(r.Body, &info); err != nil {
		return "", fmt.Errorf("read cluster info: %w", err)
	}
	if strings.EqualFold(info.Version.Distribution, "opensearch") {
		return "opensearch", nil
	}
	return "elasticsearch", nil
}

func (o *Output) install(ctx context.Context, req setupRequest) error {
	body, err := json.Marshal(req.body)
	if err != nil {
		return err
	}
	url := o.endpoint() + req.path
	r := o.client.DoPlain(ctx, req.method, url, o.headers("application/json"), body)
	if req.ism && r.Err == nil && r.Status == http.StatusConflict {
		// The policy exists: ISM updates need its current seq_no/primary_term.
		g := o.client.DoPlain(ctx, http.MethodGet, url, o.headers("application/json"), nil)
		var cur struct {
			SeqNo       int64 `json:"_seq_no"`
			PrimaryTerm int64 `json:"_primary_term"`
		}
		if g.Err != nil || g.Status != http.StatusOK || json.Unmarshal(g.Body, &cur) != nil {
			return fmt.Errorf("read existing policy: %s", g.Brief())
		}
		url = fmt.Sprintf("%s?if_seq_no=%d&if_primary_term=%d", url, cur.SeqNo, cur.PrimaryTerm)
		r = o.client.DoPlain(ctx, req.method, url, o.headers("application/json"), body)
	}
	if r.Err != nil || r.Status/100 != 2 {
		return fmt.Errorf("%s", r.Brief())
	}
	return nil
}
