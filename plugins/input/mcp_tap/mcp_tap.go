// Package mcp_tap is the MCP tap input: a Streamable HTTP (and legacy
// HTTP+SSE) reverse proxy that audits the traffic it forwards, and the ingest
// endpoint where `sentinel wrap` processes deliver the events of stdio
// sessions. The observation itself lives in package tap, shared with the wrapper.
package mcp_tap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/tap"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition registers the plugin.
var Definition = &sdk.Definition{
	Name:    "mcp_tap",
	Kind:    sdk.KindInput,
	Version: "0.1.0",
	Summary: "Audit MCP traffic: Streamable HTTP reverse proxy and ingest for `sentinel wrap` stdio taps",
	Description: "Turns MCP traffic into audit events (tool executions, resource and prompt access, auth, " +
		"policy, rate limits, tool-definition drift) for both protocol generations (2025-11-25 sessions and " +
		"2026-07-28 stateless). Bytes are forwarded unchanged and the session never waits on the pipeline.",
	Config: schema,
	Operations: []sdk.Operation{
		{Name: "get_status", Description: "Counters of messages, malformed traffic, events per type, queue and ingest state."},
	},
	New: func() sdk.Plugin { return &Tap{} },
}

// Tap is one mcp_tap component.
type Tap struct {
	cfg   Config
	log   hclog.Logger
	tap   *tap.Tap
	proxy *proxy
	ing   *ingest

	events *eventQueue

	mu      sync.Mutex
	seq     uint64
	waiters map[uint64]*wrapperBatch // batches from wrappers, by our Seq, until acked

	closeOnce sync.Once
	polled    atomic.Uint64
}

var (
	_ sdk.Configurer = (*Tap)(nil)
	_ sdk.Validator  = (*Tap)(nil)
	_ sdk.Acker      = (*Tap)(nil)
	_ sdk.Closer     = (*Tap)(nil)
	_ sdk.Invoker    = (*Tap)(nil)
)

// Validate checks the configuration without side effects.
func (t *Tap) Validate(cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	return c.validate()
}

// Configure starts the proxy and the ingest endpoint.
func (t *Tap) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(&t.cfg); err != nil {
		return err
	}
	if err := t.cfg.validate(); err != nil {
		return err
	}
	t.log = cfg.Log()
	if t.cfg.BatchSize <= 0 {
		t.cfg.BatchSize = 500
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("mcp_tap %q: data dir: %w", cfg.Name, err)
		}
	}
	var pol *tap.Policy
	if t.cfg.Policy != nil {
		var err error
		if pol, err = tap.NewPolicy(*t.cfg.Policy); err != nil {
			return err
		}
	}
	t.waiters = map[uint64]*wrapperBatch{}
	var err error
	if t.events, err = newEventQueue(cfg.DataDir, 1<<16); err != nil {
		return fmt.Errorf("mcp_tap %q: %w", cfg.Name, err)
	}
	inventory := ""
	if cfg.DataDir != "" {
		inventory = filepath.Join(cfg.DataDir, "tools.json")
	}
	server := t.cfg.Server
	if server == "" {
		server = t.cfg.Upstream
	}
	t.tap = tap.New(tap.Config{
		Transport: "tcp", Protocol: "http", Server: server, Endpoint: t.cfg.Upstream,
		MaxMessage: int(t.cfg.MaxMessageSize), MaxPayload: int(t.cfg.MaxPayload),
		Policy: pol, Inventory: tap.OpenInventory(inventory), Emit: t.events.push,
	})
	if t.cfg.Ingest != "off" {
		addr := t.cfg.Ingest
		if addr == "" {
			if cfg.DataDir == "" {
				return fmt.Errorf("mcp_tap %q: no data dir for the ingest socket; set ingest", cfg.Name)
			}
			addr = filepath.Join(cfg.DataDir, IngestSocket)
		}
		if t.ing, err = startIngest(addr, t.cfg.IngestToken, t.log); err != nil {
			return fmt.Errorf("mcp_tap %q: %w", cfg.Name, err)
		}
	}
	if t.cfg.Listen != "" {
		key, err := t.hashKey(cfg.DataDir)
		if err != nil {
			t.Close(ctx)
			return fmt.Errorf("mcp_tap %q: %w", cfg.Name, err)
		}
		if t.proxy, err = startProxy(t.cfg, t.tap, key, t.log); err != nil {
			t.Close(ctx)
			return fmt.Errorf("mcp_tap %q: %w", cfg.Name, err)
		}
	}
	return nil
}

// hashKey is the token fingerprint key: configured, or random and kept in the
// data dir so fingerprints stay comparable across restarts.
func (t *Tap) hashKey(dir string) ([]byte, error) {
	if t.cfg.TokenHashKey != "" {
		return []byte(t.cfg.TokenHashKey), nil
	}
	if dir == "" {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	}
	p := filepath.Join(dir, "token_hash.key")
	if b, err := os.ReadFile(p); err == nil {
		if k, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil && len(k) >= 16 {
			return k, nil
		}
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, []byte(hex.EncodeToString(k)), 0o600); err != nil {
		return nil, fmt.Errorf("token hash key: %w", err)
	}
	return k, nil
}

// Process returns the next events: a batch a wrapper posted (acknowledged to
// it once the host acks), or events the proxy observed.
func (t *Tap) Process(ctx context.Context, _ *sdk.Batch) (*sdk.Batch, error) {
	t.polled.Add(1)
	var wrapped <-chan *wrapperBatch
	if t.ing != nil {
		wrapped = t.ing.batches
	}
	// proxy events already waiting go first; they cannot be pushed back
	if out := t.proxyBatch(); out != nil {
		return out, nil
	}
	select {
	case wb := <-wrapped:
		out := &sdk.Batch{Records: wb.records, Rejected: wb.rejected}
		t.mu.Lock()
		t.seq++
		out.Seq = t.seq
		t.waiters[out.Seq] = wb
		t.mu.Unlock()
		if len(out.Records) == 0 && len(out.Rejected) == 0 {
			t.Ack(ctx, []uint64{out.Seq})
		}
		return out, nil
	case <-t.events.ready:
		if out := t.proxyBatch(); out != nil {
			return out, nil
		}
		return &sdk.Batch{}, nil
	case <-ctx.Done():
		return &sdk.Batch{}, nil
	}
}

func (t *Tap) proxyBatch() *sdk.Batch {
	evs, bad := t.events.take(t.cfg.BatchSize)
	if len(evs) == 0 && len(bad) == 0 {
		return nil
	}
	out := &sdk.Batch{}
	for _, e := range evs {
		r, err := sdk.NewRecord(e)
		if err != nil {
			out.RejectData(e, err.Error())
			continue
		}
		out.Records = append(out.Records, r)
	}
	for _, b := range bad {
		out.RejectData(b, "unreadable overflow spool line")
	}
	t.mu.Lock()
	t.seq++
	out.Seq = t.seq
	t.mu.Unlock()
	return out
}

// Ack tells wrappers their batches are delivered.
func (t *Tap) Ack(_ context.Context, seqs []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range seqs {
		if wb := t.waiters[s]; wb != nil {
			delete(t.waiters, s)
			wb.finish(nil)
		}
	}
}

// Close stops the proxy and the ingest endpoint; wrappers whose batches were
// not yet acknowledged get an error and keep them in their spool.
func (t *Tap) Close(ctx context.Context) error {
	var errs []error
	t.closeOnce.Do(func() {
		if t.proxy != nil {
			errs = append(errs, t.proxy.close(ctx))
		}
		if t.ing != nil {
			errs = append(errs, t.ing.close(ctx))
		}
		t.mu.Lock()
		for s, wb := range t.waiters {
			delete(t.waiters, s)
			wb.finish(errors.New("mcp_tap closed before delivery"))
		}
		t.mu.Unlock()
		if t.events != nil {
			errs = append(errs, t.events.close())
		}
	})
	return errors.Join(errs...)
}

// Invoke answers get_status.
func (t *Tap) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	st := map[string]any{"plugin": "mcp_tap", "healthy": true, "polls": t.polled.Load()}
	if t.tap != nil {
		st["proxy"] = t.tap.Stats().Snapshot()
		st["queued_events"] = t.events.len()
		st["overflowed_events"] = t.events.overflowed.Load()
	}
	if t.ing != nil {
		st["ingest"] = map[string]any{"address": t.ing.addr, "batches": t.ing.received.Load(), "events": t.ing.events.Load()}
	}
	if t.proxy != nil {
		st["listen"] = t.proxy.addr
	}
	t.mu.Lock()
	st["awaiting_ack"] = len(t.waiters)
	t.mu.Unlock()
	return st, nil
}
