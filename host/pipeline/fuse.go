package pipeline

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Fuser is a Launcher that can run several filters in one process.
type Fuser interface {
	CanFuse(comp *config.Component) bool
}

// stage is one filter of a fused chain, with its own counters.
type stage struct {
	comp    *config.Component
	stats   *Stats
	latency prometheus.Observer
}

// FusedChains finds the runs of filters that can share one process: every
// member after the first has the one before as its only input, and that one
// feeds nothing else. Fan-in and fan-out points stay process boundaries, so
// fusing never changes which records reach which component. An output the
// chain alone feeds ends it, unless it has a disk buffer: that buffer holds
// what the output is given, and fused, it would hold what the filters were
// given instead (PII before the tokenizer, fields before the encryptor).
func FusedChains(cfg *config.Config, fusable func(*config.Component) bool) [][]*config.Component {
	canFuse := func(c *config.Component) bool {
		return !c.Isolate && fusable(c) && (c.Kind == sdk.KindFilter || c.Kind == sdk.KindOutput && c.Buffer.Type != "disk")
	}
	consumers := map[string][]*config.Component{}
	for _, c := range cfg.Components {
		for _, in := range c.Inputs {
			consumers[in] = append(consumers[in], c)
		}
	}
	joinsPrevious := func(c *config.Component) bool {
		if len(c.Inputs) != 1 || !canFuse(c) {
			return false
		}
		prev := cfg.Component(c.Inputs[0])
		return prev != nil && prev.Kind == sdk.KindFilter && canFuse(prev) && len(consumers[prev.ID()]) == 1
	}
	var chains [][]*config.Component
	for _, head := range cfg.Components {
		if head.Kind != sdk.KindFilter || !canFuse(head) || joinsPrevious(head) {
			continue
		}
		chain := []*config.Component{head}
		for {
			next := consumers[chain[len(chain)-1].ID()]
			if len(next) != 1 || !joinsPrevious(next[0]) {
				break
			}
			chain = append(chain, next[0])
		}
		if len(chain) > 1 {
			chains = append(chains, chain)
		}
	}
	return chains
}

// fuse builds the one component that runs chain in a single process, of the
// kind of its last member. It takes the first member's inputs, the
// smallest of the members' batch limits (every member then gets batches
// within its own), the sum of their deadlines, and the most patient
// filter's retry settings: a failed batch is retried as a whole, and a
// filter told to wait out an outage (max_attempts = 0) must not have its
// records dead-lettered because of the company it keeps. Each member's own
// budget travels with its configuration: the fused process gives up at the
// member that keeps failing a batch, and dead-letters it there. The host's
// budget is then for what the process cannot attribute (a crash, a missed
// deadline, a panic): a filter's, so that a record that kills the process
// every time is dead-lettered, even behind an output that would wait forever.
func fuse(chain []*config.Component) (*config.Component, error) {
	defs := make([]*sdk.Definition, len(chain))
	names := make([]string, len(chain))
	stages := make([]sdk.FusedStage, len(chain))
	var timeout sdk.Duration
	retry := chain[0].Retry
	for i, c := range chain {
		defs[i], names[i] = c.Def, c.Name
		stages[i] = sdk.FusedStage{Name: c.Name, DataDir: c.DataDir, Config: c.Config,
			MaxAttempts: c.Retry.MaxAttempts, MaxElapsed: c.Retry.MaxElapsed}
		timeout += c.Timeout
		if c.Kind == sdk.KindFilter && morePatient(c.Retry, retry) {
			retry = c.Retry
		}
	}
	def, err := sdk.Fuse(defs...)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(stages)
	if err != nil {
		return nil, err
	}
	fused := *chain[0]
	fused.Kind, fused.Plugin, fused.Name, fused.Def, fused.Config = def.Kind, def.Name, strings.Join(names, sdk.FuseSeparator), def, raw
	fused.Timeout, fused.Retry, fused.Batch = timeout, retry, tightestBatch(chain)
	return &fused, nil
}

// tightestBatch is the smallest of each batch limit over chain.
func tightestBatch(chain []*config.Component) config.Batch {
	b := chain[0].Batch
	for _, c := range chain[1:] {
		b.MaxRecords = min(b.MaxRecords, c.Batch.MaxRecords)
		b.MaxBytes = min(b.MaxBytes, c.Batch.MaxBytes)
		b.MaxAge = min(b.MaxAge, c.Batch.MaxAge)
		b.InFlight = min(b.InFlight, c.Batch.InFlight)
	}
	return b
}

// morePatient says whether a gives up later than b: no attempt limit beats
// any, then more attempts, then a longer elapsed-time limit (0: none).
func morePatient(a, b config.Retry) bool {
	switch {
	case a.MaxAttempts == 0 || b.MaxAttempts == 0:
		if (a.MaxAttempts == 0) != (b.MaxAttempts == 0) {
			return a.MaxAttempts == 0
		}
	case a.MaxAttempts != b.MaxAttempts:
		return a.MaxAttempts > b.MaxAttempts
	}
	return b.MaxElapsed != 0 && (a.MaxElapsed == 0 || a.MaxElapsed > b.MaxElapsed)
}

// accountStages writes each fused stage's rejections to its own dead-letter
// file, then credits each stage with what it did. It returns false only when
// the pipeline stops before the dead letters could be written.
func (w *worker) accountStages(ctx context.Context, env *envelope, out *sdk.Batch) bool {
	if len(out.Stages) != len(w.stages) {
		w.p.logger.Error("fused filter answered without its stages' counts", "component", w.comp.ID())
		_, ok := w.deadLetterRejected(ctx, env, out.Rejected)
		return ok
	}
	rejected := out.Rejected
	for i, st := range out.Stages {
		mine := rejected[:min(st.Rejected, len(rejected))]
		rejected = rejected[len(mine):]
		if i == 0 {
			if _, ok := w.deadLetterRejected(ctx, env, mine); !ok {
				return false
			}
			continue
		}
		entries := make([]deadLetter, len(mine))
		for j, rj := range mine {
			entries[j] = deadLetter{Reason: rj.Reason, Record: rj.Data}
			if r, err := sdk.NewRecord(rj.Data); err == nil {
				entries[j].EventID = r.ID
			}
		}
		if !w.deadLetterUntilWritten(ctx, w.stages[i].comp.ID(), w.stages[i].stats, entries) {
			return false
		}
	}
	for i, st := range out.Stages {
		s := w.stages[i]
		if i > 0 {
			s.stats.In.Add(int64(st.In))
		}
		s.stats.Out.Add(int64(st.Out))
		if dropped := st.In - st.Rejected - st.Out; dropped > 0 {
			s.stats.Dropped.Add(int64(dropped))
		}
		s.latency.Observe(st.Duration.Seconds())
	}
	return true
}

// lastID is the component whose consumers this worker feeds: the last stage
// of a fused chain.
func (w *worker) lastID() string {
	if len(w.stages) > 0 {
		return w.stages[len(w.stages)-1].comp.ID()
	}
	return w.comp.ID()
}

// label is the component ID the worker's own gauges are reported under.
func (w *worker) label() string {
	if len(w.stages) > 0 {
		return w.stages[0].comp.ID()
	}
	return w.comp.ID()
}
