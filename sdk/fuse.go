package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"time"
)

// FuseSeparator joins the plugin names of fused stages: "pii_tokenizer+classifier".
const FuseSeparator = "+"

// FusedStage is one stage's share of a fused filter's configuration: what
// Configure would have received had the stage run in its own process.
type FusedStage struct {
	Name    string          `json:"name"`
	DataDir string          `json:"data_dir"`
	Config  json.RawMessage `json:"config"`
}

// Fuse returns one filter that runs defs one after another in a single
// process. The host fuses a chain of bundled filters where each feeds only
// the next: a hop between processes costs an encode, a trip through the
// kernel and a decode on either side (a few CPU-µs per record, more than
// most filters spend on the record itself), while fused stages hand records
// over in memory. Every stage keeps its own configuration, data directory
// and counters (Batch.Stages); what is shared is the process, so a crash or
// a missed deadline restarts the whole chain and replays its batch.
//
// The fused filter's configuration is the JSON array of FusedStage, one per def.
func Fuse(defs ...*Definition) (*Definition, error) {
	if len(defs) < 2 {
		return nil, errors.New("fuse: at least two filters")
	}
	names := make([]string, len(defs))
	var tick Duration
	for i, d := range defs {
		if d.Kind != KindFilter {
			return nil, fmt.Errorf("fuse: %s is a %s, only filters fuse", d.Name, d.Kind)
		}
		names[i] = d.Name
		if d.Tick > 0 && (tick == 0 || d.Tick < tick) {
			tick = d.Tick // the idle tick reaches every stage, so the most frequent wins
		}
	}
	return &Definition{
		Name:    strings.Join(names, FuseSeparator),
		Kind:    KindFilter,
		Version: "fused",
		Summary: "The filters " + strings.Join(names, ", ") + " in one process.",
		Tick:    tick,
		New: func() Plugin {
			f := &fused{defs: defs, stages: make([]Plugin, len(defs))}
			for i, d := range defs {
				f.stages[i] = d.New()
			}
			return f
		},
		fusedFrom: defs,
	}, nil
}

// FusedFrom returns the filters a Fuse definition runs, nil for any other.
func (d *Definition) FusedFrom() []*Definition { return d.fusedFrom }

type fused struct {
	defs   []*Definition
	stages []Plugin
	labels []string // "classifier cls", for errors
	// failed holds batches a later stage failed on, so that the host's
	// retry resumes at that stage: the stages before it have done their
	// part (a tokenizer's counters, a detector's alerts) and must not see
	// the records twice, just as when each ran in its own process.
	failed []failedBatch
}

// failedBatch is where a batch stopped: the stage that failed, its request,
// and what the stages before it reported.
type failedBatch struct {
	key   uint64
	stage int
	req   []*Record
	out   *Batch
}

// keepFailed bounds the failed batches remembered: the host retries a
// failed batch before the ones it sent after it.
const keepFailed = 16

func (f *fused) stageConfigs(cfg Config) ([]Config, error) {
	var st []FusedStage
	if err := json.Unmarshal(cfg.Raw, &st); err != nil {
		return nil, fmt.Errorf("fused filter config: %w", err)
	}
	if len(st) != len(f.stages) {
		return nil, fmt.Errorf("fused filter config: %d stages for %d filters", len(st), len(f.stages))
	}
	out := make([]Config, len(st))
	f.labels = make([]string, len(st))
	for i, s := range st {
		out[i] = Config{Name: s.Name, DataDir: s.DataDir, Raw: s.Config, DryRun: cfg.DryRun, Logger: cfg.Log().ResetNamed(s.Name)}
		f.labels[i] = f.defs[i].Name + " " + s.Name
	}
	return out, nil
}

func (f *fused) Validate(cfg Config) error {
	cfgs, err := f.stageConfigs(cfg)
	if err != nil {
		return err
	}
	return f.validate(cfgs)
}

func (f *fused) validate(cfgs []Config) error {
	for i, p := range f.stages {
		if v, ok := p.(Validator); ok {
			if err := v.Validate(cfgs[i]); err != nil {
				return fmt.Errorf("%s: %w", f.labels[i], err)
			}
		}
	}
	return nil
}

func (f *fused) Configure(ctx context.Context, cfg Config) error {
	cfgs, err := f.stageConfigs(cfg)
	if err != nil {
		return err
	}
	if err := f.validate(cfgs); err != nil {
		return err
	}
	for i, p := range f.stages {
		if c, ok := p.(Configurer); ok {
			if err := c.Configure(ctx, cfgs[i]); err != nil {
				return fmt.Errorf("%s: %w", f.labels[i], err)
			}
		}
	}
	return nil
}

// Process runs the batch through every stage, even when a stage passes
// nothing on: an empty batch is how the idle tick and the Final batch reach
// the stages that act on time or at the end (the signer's checkpoints).
func (f *fused) Process(ctx context.Context, in *Batch) (*Batch, error) {
	// The key is taken before any stage runs: stages may rewrite the
	// records' bodies, and the host's retry brings them as they were.
	key := batchKey(in.Records)
	out, req, first := &Batch{Stages: make([]StageStats, len(f.stages))}, in, 0
	if fb, ok := f.resume(key); ok {
		out, first = fb.out, fb.stage
		req = &Batch{Seq: in.Seq, Records: fb.req, Final: in.Final}
	}
	for i := first; i < len(f.stages); i++ {
		p := f.stages[i]
		start := time.Now()
		res, err := p.Process(ctx, req)
		if err != nil {
			if i > 0 && len(in.Records) > 0 { // empty batches (ticks, Final) are not retried
				f.remember(failedBatch{key: key, stage: i, req: req.Records, out: out})
			}
			return nil, fmt.Errorf("%s: %w", f.label(i), err)
		}
		if res == nil {
			res = &Batch{}
		}
		st := &out.Stages[i]
		st.In, st.Out, st.Duration = len(req.Records), len(res.Records), time.Since(start)
		for _, rj := range res.Rejected {
			if i > 0 { // the host knows only the first stage's request: carry the record itself
				if rj.Index < 0 || rj.Index >= len(req.Records) {
					continue
				}
				rj = Rejection{Index: -1, Reason: rj.Reason, Data: req.Records[rj.Index].Body}
			}
			out.Rejected = append(out.Rejected, rj)
			st.Rejected++
		}
		req = &Batch{Seq: in.Seq, Records: res.Records, Final: in.Final}
	}
	out.Records = req.Records
	return out, nil
}

// resume takes the failed batch with key, if there is one.
func (f *fused) resume(key uint64) (failedBatch, bool) {
	for i, fb := range f.failed {
		if fb.key == key {
			f.failed = append(f.failed[:i], f.failed[i+1:]...)
			return fb, true
		}
	}
	return failedBatch{}, false
}

func (f *fused) remember(fb failedBatch) {
	if len(f.failed) == keepFailed {
		f.failed = f.failed[1:]
	}
	f.failed = append(f.failed, fb)
}

// batchKey identifies a batch by its records' ids and bodies: the host
// retries a batch with the same records under a new sequence number.
// maphash costs some tens of nanoseconds per record, next to microseconds
// of filtering.
func batchKey(recs []*Record) uint64 {
	var h maphash.Hash
	h.SetSeed(keySeed)
	for _, r := range recs {
		h.WriteString(r.ID)
		h.WriteByte(0)
		h.Write(r.Body)
		h.WriteByte(0)
	}
	return h.Sum64()
}

var keySeed = maphash.MakeSeed()

func (f *fused) label(i int) string {
	if i < len(f.labels) {
		return f.labels[i]
	}
	return f.defs[i].Name
}

func (f *fused) Health(ctx context.Context) error {
	for i, p := range f.stages {
		if h, ok := p.(HealthChecker); ok {
			if err := h.Health(ctx); err != nil {
				return fmt.Errorf("%s: %w", f.label(i), err)
			}
		}
	}
	return nil
}

// Close closes every stage, first to last, and reports every failure.
func (f *fused) Close(ctx context.Context) error {
	var errs []error
	for i, p := range f.stages {
		if c, ok := p.(Closer); ok {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.label(i), err))
			}
		}
	}
	return errors.Join(errs...)
}
