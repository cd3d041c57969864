// Package file is the output that writes Sentinel's write-once audit store:
// append-only JSONL segments rotated by size and age, sealed on rotation and
// at shutdown, with torn-tail recovery and retention. Behind filter "signer"
// the store is tamper-evident and `sentinel verify` checks it; without one it
// is a plain rotated JSONL store, one record body per line.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition describes the file output.
var Definition = &sdk.Definition{
	Name:    "file",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "Write-once audit store: append-only sealed JSONL segments with rotation, fsync policy and retention",
	Description: `Records signed by filter "signer" are stored verbatim as entry and
checkpoint lines; other records are stored as their body, one line each. Each
segment starts with a header chained to the previous segment's seal and ends
with a seal (segment hash, chain point, and a final checkpoint when keys is
set), after which the file is made read-only. Check a store with
` + "`sentinel verify --keys DIR PATH`" + `.`,
	Operations: []sdk.Operation{
		{Name: "rotate", Description: "Seal the active segment now; the next record starts a new one."},
	},
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Example: `"./data/audit"`,
			Description: "Store directory; created if missing. Default: `store` in the component's data directory (<data_dir>/output.file.<name>/store)."},
		{Name: "format", Type: sdk.TypeString, Default: formatSealed, Enum: []string{formatSealed, formatJSONL}, Example: `"sealed"`,
			Description: "sealed: segments with header and seal lines (the WORM store); jsonl: bare JSONL segments, one record body per line."},
		{Name: "segment_size", Type: sdk.TypeSize, Default: "256MiB", Example: `"256MiB"`,
			Description: "Seal the active segment and start a new one before it would exceed this size."},
		{Name: "segment_age", Type: sdk.TypeDuration, Example: `"1h"`,
			Description: "Seal the active segment once it is this old (checked when records arrive). Default: no age limit."},
		{Name: "fsync", Type: sdk.TypeString, Default: store.FsyncInterval, Enum: []string{store.FsyncAlways, store.FsyncInterval, store.FsyncNever}, Example: `"interval"`,
			Description: "always: fsync after every batch, before it is answered; interval: every fsync_interval, in the background (batches never wait for it); never: leave it to the OS (seals still fsync)."},
		{Name: "fsync_interval", Type: sdk.TypeDuration, Default: "1s", Example: `"1s"`,
			Description: "About the longest time written records wait for an fsync with fsync = \"interval\" (the interval, plus an fsync in progress)."},
		{Name: "retention", Type: sdk.TypeDuration, Example: `"365d"`,
			Description: "Delete sealed segments sealed longer ago than this, oldest first; each deletion is recorded in retention.log as an mcp_compliance_events event. Default: keep forever."},
		{Name: "keys", Type: sdk.TypeString, Example: `"./keys"`,
			Description: "Key directory (from `sentinel keygen`); when set, each seal carries a final checkpoint signed with signing.key."},
	}},
	New: func() sdk.Plugin { return &File{} },
}

// File is one file output instance.
type File struct {
	cfg        Config
	st         *store.Store
	log        hclog.Logger
	mu         sync.Mutex
	lines      [][]byte
	leaves     []*[32]byte
	lastRetain time.Time
}

// Validate checks the configuration.
func (f *File) Validate(cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	c.defaults(cfg.DataDir)
	return c.Validate()
}

// Configure opens the store, recovering a torn tail left by a crash.
func (f *File) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(&f.cfg); err != nil {
		return err
	}
	f.cfg.defaults(cfg.DataDir)
	if err := f.cfg.Validate(); err != nil {
		return err
	}
	f.log = cfg.Log()
	opts := store.Options{
		Dir: f.cfg.Path, SegmentSize: int64(f.cfg.SegmentSize), SegmentAge: f.cfg.SegmentAge.Std(),
		Fsync: f.cfg.Fsync, FsyncInterval: f.cfg.FsyncInterval.Std(), Framed: f.cfg.Format == formatSealed,
		OnWriteError: func(err error) {
			f.log.Error("cannot write the store; retrying (free disk space to resume, nothing is dropped)", "path", f.cfg.Path, "error", err)
		},
		OnSyncError: func(err error) {
			f.log.Error("background fsync of the store failed; the next batch fails, and records written since the last good fsync may not be on disk", "path", f.cfg.Path, "error", err)
		},
	}
	if f.cfg.Keys != "" {
		s, err := integrity.LoadSigner(f.cfg.Keys)
		if err != nil {
			return fmt.Errorf("file: %w", err)
		}
		opts.Signer = s
	}
	st, err := store.Open(opts)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if st.Recovery != nil {
		f.log.Warn("cut a torn tail left by a crash", "segment", st.Recovery.Seg, "bytes", st.Recovery.Bytes)
	}
	f.st = st
	return f.retain()
}

// Process appends the batch in order. Disk errors are retried inside the
// store (order must hold, so the host never replays a later batch first).
func (f *File) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st == nil {
		return nil, errors.New("file: not configured")
	}
	out := &sdk.Batch{}
	lines, leaves, known := f.lines[:0], f.leaves[:0], false
	for i, r := range in.Records {
		body := r.Body
		if len(body) == 0 {
			out.Reject(i, "file: empty record body")
			continue
		}
		if bytes.IndexByte(body, '\n') >= 0 {
			var buf bytes.Buffer
			if err := json.Compact(&buf, body); err != nil {
				out.Reject(i, "file: body spans lines and is not JSON")
				continue
			}
			body = buf.Bytes()
		}
		lines = append(lines, body)
		memo, _ := r.Memo.(*integrity.LeafMemo) // left by a signer of this process
		leaf, ok := memo.For(body)
		leaves = append(leaves, leaf)
		known = known || ok
	}
	f.lines, f.leaves = lines[:0], leaves[:0]
	// Kept for the next batch, the two buffers must not hold this batch's
	// lines (and the signer's slabs behind them) alive meanwhile.
	defer clear(lines)
	defer clear(leaves)
	if !known {
		leaves = nil
	}
	if err := f.st.AppendLeaves(lines, leaves); err != nil {
		return nil, fmt.Errorf("file %s: %w", f.cfg.Path, err)
	}
	if err := f.retain(); err != nil {
		f.log.Error("retention failed", "error", err)
	}
	return out, nil
}

// retain enforces retention at most once a minute.
func (f *File) retain() error {
	if f.cfg.Retention == 0 || time.Since(f.lastRetain) < time.Minute {
		return nil
	}
	f.lastRetain = time.Now()
	events, err := f.st.EnforceRetention(f.cfg.Retention.Std())
	for _, ev := range events {
		f.log.Info("retention removed a sealed segment", "event", string(ev))
	}
	return err
}

// Invoke answers get_status with the store's counters.
func (f *File) Invoke(ctx context.Context, op string, args json.RawMessage) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case sdk.OpGetStatus:
		if f.st == nil {
			return map[string]any{"configured": false}, nil
		}
		return f.st.Status(), nil
	case "rotate":
		if f.st == nil {
			return nil, errors.New("file: not configured")
		}
		return map[string]any{"rotated": true}, f.st.Rotate("requested")
	}
	return nil, sdk.ErrUnknownOperation(op)
}

// Close seals the active segment.
func (f *File) Close(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st == nil {
		return nil
	}
	return f.st.Close()
}

var (
	_ sdk.Configurer = (*File)(nil)
	_ sdk.Validator  = (*File)(nil)
	_ sdk.Invoker    = (*File)(nil)
	_ sdk.Closer     = (*File)(nil)
)
