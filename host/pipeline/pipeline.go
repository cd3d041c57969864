// Package pipeline runs a loaded configuration: one supervised plugin process
// per component, batches flowing along the DAG with back-pressure, and
// end-to-end acknowledgement from outputs back to the inputs.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Options tune a run.
type Options struct {
	Logger hclog.Logger
	// PollWait is how long an input may hold a poll open when it has nothing.
	PollWait time.Duration
	// InProcess says plugins share the host's memory (LocalConn), so fanned-out
	// records must be copied before a second branch may change them.
	InProcess bool
}

// Pipeline is a running pipeline.
type Pipeline struct {
	cfg          *config.Config
	logger       hclog.Logger
	launcher     Launcher
	pollWait     time.Duration
	sharedMemory bool
	dead         *deadLetters

	inputs  []*inputNode
	workers []*worker
	stats   map[string]*Stats

	metrics *metrics

	stopOnce sync.Once
	stopCh   chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

// Start launches and configures every plugin, then starts the flow. If any
// plugin fails to start, nothing runs: a bad config never starts half a pipeline.
func Start(ctx context.Context, cfg *config.Config, l Launcher, opts Options) (*Pipeline, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.PollWait == 0 {
		opts.PollWait = 250 * time.Millisecond
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	p := &Pipeline{cfg: cfg, logger: opts.Logger, launcher: l, pollWait: opts.PollWait, sharedMemory: opts.InProcess,
		dead: newDeadLetters(cfg.DataDir), stats: map[string]*Stats{}, stopCh: make(chan struct{}), done: make(chan struct{})}
	p.metrics = newMetrics(p)
	workers := map[string]*worker{}
	var sups []*supervised
	fusedInto := map[string][]*config.Component{} // first member's ID → the chain
	if f, ok := l.(Fuser); ok && cfg.FuseFilters {
		for _, chain := range FusedChains(cfg, f.CanFuse) {
			fusedInto[chain[0].ID()] = chain
			for _, c := range chain[1:] {
				fusedInto[c.ID()] = nil // runs in the first member's process
			}
		}
	}
	for _, comp := range cfg.Components {
		if err := os.MkdirAll(comp.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("%s: data dir: %w", comp.ID(), err)
		}
		p.stats[comp.ID()] = &Stats{}
	}
	for _, comp := range cfg.Components {
		st := p.stats[comp.ID()]
		chain, fused := fusedInto[comp.ID()]
		if fused && chain == nil {
			continue
		}
		var stages []*stage
		if chain != nil {
			fc, err := fuse(chain)
			if err != nil {
				p.closeBuffers()
				return nil, fmt.Errorf("%s: %w", comp.ID(), err)
			}
			for _, c := range chain {
				stages = append(stages, &stage{comp: c, stats: p.stats[c.ID()], latency: p.metrics.observer(c.ID())})
				p.stats[c.ID()].FusedInto = fc.ID()
			}
			comp = fc
		}
		sup := newSupervised(comp, l, p.logger, st)
		for _, s := range stages[min(1, len(stages)):] {
			sup.restartStats = append(sup.restartStats, s.stats)
		}
		sups = append(sups, sup)
		if comp.Kind == sdk.KindInput {
			p.inputs = append(p.inputs, &inputNode{p: p, comp: comp, sup: sup, stats: st, ackSignal: make(chan struct{}, 1), done: make(chan struct{})})
			continue
		}
		w := &worker{p: p, comp: comp, sup: sup, stats: st, inbox: make(chan *envelope, 8), done: make(chan struct{}), stages: stages}
		if stages == nil { // fused stages observe their own latency
			w.latency = p.metrics.observer(comp.ID())
		}
		w.source = w.inbox
		w.upstreams.Store(int32(len(comp.Inputs)))
		if comp.Kind == sdk.KindOutput && comp.Buffer.Type == "disk" {
			disk, err := openDiskBuffer(w)
			if err != nil {
				p.closeBuffers()
				return nil, err
			}
			w.disk, w.source = disk, disk.out
		}
		workers[comp.ID()] = w
		for _, c := range chain {
			workers[c.ID()] = w
		}
		p.workers = append(p.workers, w)
	}
	for _, n := range p.inputs {
		n.downstream = downstreamOf(n.comp.ID(), cfg, workers)
	}
	for _, w := range p.workers {
		w.downstream = downstreamOf(w.lastID(), cfg, workers)
	}
	if err := startAll(ctx, sups); err != nil {
		for _, s := range sups {
			s.stop()
		}
		p.closeBuffers()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, w := range p.workers {
		if w.upstreams.Load() == 0 { // every upstream was bypassed: nothing will come
			close(w.inbox)
		}
		go w.run(runCtx)
	}
	for _, n := range p.inputs {
		go n.run(runCtx, p.stopCh)
	}
	go p.watch()
	p.metrics.ready.Store(true)
	return p, nil
}

// startAll starts plugins concurrently; any failure fails the start.
func startAll(ctx context.Context, sups []*supervised) error {
	errs := make([]error, len(sups))
	var wg sync.WaitGroup
	for i, s := range sups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.start(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *Pipeline) closeBuffers() {
	for _, w := range p.workers {
		if w.disk != nil {
			w.disk.close()
		}
	}
}

func downstreamOf(id string, cfg *config.Config, workers map[string]*worker) []*worker {
	var out []*worker
	for _, c := range cfg.Components {
		for _, in := range c.Inputs {
			if in == id {
				out = append(out, workers[c.ID()])
			}
		}
	}
	return out
}

func (p *Pipeline) watch() {
	for _, w := range p.workers {
		<-w.done
	}
	for _, n := range p.inputs {
		<-n.done
	}
	p.metrics.ready.Store(false)
	p.dead.close()
	close(p.done)
}

// Done is closed when the pipeline has finished: every input ended (or was
// stopped) and everything in flight was delivered, dead-lettered, or abandoned by Stop.
func (p *Pipeline) Done() <-chan struct{} { return p.done }

// Wait blocks until the pipeline has finished.
func (p *Pipeline) Wait() error {
	<-p.done
	return nil
}

// Stop stops the inputs, lets in-flight batches drain until ctx ends, then
// abandons what is left (it was never acknowledged, so inputs replay it).
func (p *Pipeline) Stop(ctx context.Context) error {
	p.metrics.ready.Store(false)
	p.stopOnce.Do(func() { close(p.stopCh) })
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.cancel()
		<-p.done
		return fmt.Errorf("drain timed out: undelivered batches were not acknowledged and will be replayed by inputs that can")
	}
}

func (p *Pipeline) closeTimeout() time.Duration { return 10 * time.Second }

// deadLetter writes entries to the component's dead-letter file. When that
// fails (a full disk), the caller must keep the records: they were never
// written anywhere, so they are retried instead of acknowledged.
func (p *Pipeline) deadLetter(component string, st *Stats, entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	now := time.Now().UTC()
	for i := range entries {
		entries[i].Time, entries[i].Component = now, component
	}
	if err := p.dead.write(component, entries); err != nil {
		p.logger.Error("cannot write dead letters; keeping the records and retrying", "component", component,
			"records", len(entries), "error", err)
		return err
	}
	st.DeadLettered.Add(int64(len(entries)))
	p.logger.Warn("records dead-lettered", "component", component, "records", len(entries),
		"reason", entries[0].Reason, "file", p.dead.Path(component))
	return nil
}

// Stats returns every component's counters, in config order.
func (p *Pipeline) Stats() []StatsSnapshot {
	out := make([]StatsSnapshot, 0, len(p.stats))
	for _, c := range p.cfg.Components {
		out = append(out, p.stats[c.ID()].snapshot(c.ID()))
	}
	return out
}

// DeadLetterPath is where a component's dead letters go.
func (p *Pipeline) DeadLetterPath(component string) string { return p.dead.Path(component) }
