package fluentbit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/host/pipeline"
	"github.com/sentinel-audit/sentinel/plugins/builtin"
	"github.com/sentinel-audit/sentinel/plugins/filter/encryptor"
	"github.com/sentinel-audit/sentinel/sdk"
)

// InputDefinition is the `input "fluentbit"` of a pipeline file run by the
// Fluent Bit plugin: its records are the ones Fluent Bit flushes.
var InputDefinition = &sdk.Definition{
	Name:    "fluentbit",
	Kind:    sdk.KindInput,
	Version: "1.0.0",
	Summary: "Records handed over by Fluent Bit, when the pipeline runs inside Fluent Bit's sentinel output.",
	Description: "Only the Fluent Bit plugin (dist/out_sentinel.so, key `pipeline`) feeds this input; " +
		"each flush becomes one batch, acknowledged to Fluent Bit once every record is delivered or dead-lettered.",
	New: func() sdk.Plugin { return &feeder{} },
}

// Definitions are the plugins a pipeline file may use inside Fluent Bit.
func Definitions() []*sdk.Definition {
	defs := append([]*sdk.Definition(nil), builtin.All()...)
	seen := map[string]bool{}
	for _, d := range defs {
		seen[d.Name] = true
	}
	for _, d := range []*sdk.Definition{encryptor.Definition, InputDefinition} {
		if !seen[d.Name] {
			defs = append(defs, d)
		}
	}
	return defs
}

// drainTimeout bounds how long closing waits for records still in the pipeline.
const drainTimeout = 30 * time.Second

type pipelineSink struct {
	p    *pipeline.Pipeline
	feed *feeder
	dead *deadLetters
	log  hclog.Logger
}

func openPipeline(ctx context.Context, path string, logger hclog.Logger) (*pipelineSink, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", path, err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	defs := Definitions()
	cat, err := catalog.New(defs, logger)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: catalog: %w", path, err)
	}
	cfg, diags := config.LoadSource(path, src, cat)
	if diags.HasErrors() {
		return nil, fmt.Errorf("pipeline %s: %s", path, diags.Error())
	}
	var inputs []string
	for _, c := range cfg.Components {
		if c.Kind == sdk.KindInput && c.Plugin == InputDefinition.Name {
			inputs = append(inputs, c.ID())
		}
	}
	if len(inputs) != 1 {
		return nil, fmt.Errorf("pipeline %s: needs exactly one `input \"fluentbit\" \"<name>\" {}` block to receive Fluent Bit's records, has %d", path, len(inputs))
	}
	// This section's own feeder: the launcher builds the input from this definition.
	feed := &feeder{subs: make(chan *submission), waiting: map[uint64]*submission{}}
	own := *InputDefinition
	own.New = func() sdk.Plugin { return feed }
	byName := map[string]*sdk.Definition{}
	for _, d := range defs {
		byName[d.Name] = d
	}
	byName[own.Name] = &own
	p, err := pipeline.Start(ctx, cfg, pipeline.LocalLauncher{Defs: byName, Logger: logger},
		pipeline.Options{Logger: logger, InProcess: true})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: start: %w", path, err)
	}
	return &pipelineSink{p: p, feed: feed, log: logger,
		dead: newDeadLetters(cfg.DataDir, inputs[0])}, nil
}

// deliver hands the records to the pipeline and waits until every one is
// delivered or dead-lettered by the pipeline's own rules.
func (s *pipelineSink) deliver(ctx context.Context, recs []*sdk.Record, dead []deadLetter) int {
	if err := s.dead.write(dead); err != nil {
		s.log.Error("cannot write dead letters; asking Fluent Bit to retry", "error", err)
		return FLBRetry
	}
	if len(recs) == 0 {
		return wholeChunk(dead)
	}
	sub := &submission{recs: recs, done: make(chan struct{})}
	select {
	case s.feed.subs <- sub:
	case <-s.p.Done():
		return FLBRetry
	case <-ctx.Done():
		return FLBRetry
	}
	select {
	case <-sub.done:
		return FLBOK
	case <-s.p.Done(): // stopped before delivery: the records were never acknowledged
		return FLBRetry
	}
}

func (s *pipelineSink) close(context.Context) error {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err := s.p.Stop(ctx)
	for _, st := range s.p.Stats() {
		s.log.Info("component finished", "component", st.Component, "in", st.In, "out", st.Out,
			"dead_lettered", st.DeadLettered, "retried", st.Retried)
	}
	if cerr := s.dead.close(); err == nil {
		err = cerr
	}
	return err
}

// submission is one flush's records, waiting for their acknowledgement.
type submission struct {
	recs []*sdk.Record
	done chan struct{}
}

// feeder is the fluentbit input: each poll returns the next flush's records,
// and Ack releases the flush.
type feeder struct {
	subs chan *submission

	mu      sync.Mutex
	seq     uint64
	waiting map[uint64]*submission
}

func (f *feeder) Process(ctx context.Context, _ *sdk.Batch) (*sdk.Batch, error) {
	if f.subs == nil { // validation only: nothing feeds this instance
		<-ctx.Done()
		return nil, ctx.Err()
	}
	select {
	case sub := <-f.subs:
		f.mu.Lock()
		f.seq++
		seq := f.seq
		f.waiting[seq] = sub
		f.mu.Unlock()
		return &sdk.Batch{Seq: seq, Records: sub.recs}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *feeder) Ack(_ context.Context, seqs []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, seq := range seqs {
		if sub, ok := f.waiting[seq]; ok {
			close(sub.done)
			delete(f.waiting, seq)
		}
	}
}

var (
	_ sdk.Plugin = (*feeder)(nil)
	_ sdk.Acker  = (*feeder)(nil)
)
