package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
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
	// The stage's own retry budget (0: none). The fused process gives up on
	// a batch at the stage that keeps failing it, as the host would give up
	// on that stage alone: the host retries the whole chain with its most
	// patient member's budget, so that an output waiting out an outage does
	// not lose records to a filter's smaller one, or the other way round.
	MaxAttempts int      `json:"max_attempts,omitempty"`
	MaxElapsed  Duration `json:"max_elapsed,omitempty"`
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
// The last def may be an output, the one the chain alone feeds: the chain
// is then an output itself, and its records never travel back to the host
// only to be sent out again. The fused plugin keeps the kind of its last
// stage, and the host treats it as it treats that kind (see Process for
// how a failure keeps each stage's meaning).
//
// The fused plugin's configuration is the JSON array of FusedStage, one per def.
func Fuse(defs ...*Definition) (*Definition, error) {
	if len(defs) < 2 {
		return nil, errors.New("fuse: at least two stages")
	}
	names := make([]string, len(defs))
	var tick Duration
	for i, d := range defs {
		last := i == len(defs)-1
		if d.Kind != KindFilter && !(last && d.Kind == KindOutput) {
			return nil, fmt.Errorf("fuse: %s is a %s; only filters fuse, and an output after them", d.Name, d.Kind)
		}
		names[i] = d.Name
		if d.Tick > 0 && (tick == 0 || d.Tick < tick) {
			tick = d.Tick // the idle tick reaches every stage, so the most frequent wins
		}
	}
	kind := defs[len(defs)-1].Kind
	summary := "The filters " + strings.Join(names, ", ") + " in one process."
	if kind == KindOutput {
		summary = "The filters " + strings.Join(names[:len(names)-1], ", ") + " and the output " + names[len(names)-1] + " in one process."
	}
	return &Definition{
		Name:    strings.Join(names, FuseSeparator),
		Kind:    kind,
		Version: "fused",
		Summary: summary,
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
	labels []string     // "classifier cls", for errors
	limits []FusedStage // each stage's retry budget
	// failed holds batches a later stage failed on, so that the host's
	// retry resumes at that stage: the stages before it have done their
	// part (a tokenizer's counters, a detector's alerts) and must not see
	// the records twice, just as when each ran in its own process.
	mu     sync.Mutex // guards failed: stages in lanes remember, arrivals resume
	failed []failedBatch
	lanes  lanes
	// carry holds what the filters made of an empty batch (a signer's
	// checkpoint on the idle tick) that the output could not take yet: the
	// host does not retry an empty batch, so it goes out ahead of the next.
	// Only the output's stage touches it.
	carry []*Record
}

// failedBatch is where a batch stopped: the stage that failed, its request,
// what the stages before it reported, and how often and since when that
// stage has failed it.
type failedBatch struct {
	key      uint64
	stage    int
	req      []*Record
	out      *Batch
	attempts int
	since    time.Time
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
	f.labels, f.limits = make([]string, len(st)), st
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
// Served, a fused chain runs its stages side by side instead (lanes.go);
// Process is the same work on the caller's goroutine.
//
// When the chain ends in an output, the host treats the whole chain as that
// output, so a failure is translated to keep each stage's meaning: a failed
// filter asks for a retry (a filter's error is a plugin failure, not a
// reason to dead-letter), and the output's answer is handled by deliver.
func (f *fused) Process(ctx context.Context, in *Batch) (*Batch, error) {
	j := f.begin(ctx, in)
	for i := j.first; i < len(f.stages); i++ {
		if f.step(j, i) {
			break
		}
	}
	return j.out, j.err
}

// job is one batch on its way through the stages: the host's request, what
// the next stage gets, and the answer once there is one.
type job struct {
	ctx     context.Context
	in      *Batch
	key     uint64
	req     *Batch
	out     *Batch
	err     error
	first   int         // the stage it starts at (a resumed retry skips the ones before)
	prev    failedBatch // where it stopped before, when resumed
	resumed bool
	done    chan struct{} // closed once out and err are set, when the stages run in lanes
}

// begin makes the job for in, resuming it where a failed attempt stopped.
func (f *fused) begin(ctx context.Context, in *Batch) *job {
	// The key is taken before any stage runs: stages may rewrite the
	// records' bodies, and the host's retry brings them as they were.
	j := &job{ctx: ctx, in: in, key: batchKey(in.Records), out: &Batch{Stages: make([]StageStats, len(f.stages))}}
	if j.prev, j.resumed = f.resume(j.key); j.resumed {
		j.out, j.first = j.prev.out, j.prev.stage
		j.req = &Batch{Seq: in.Seq, Records: j.prev.req, Final: in.Final}
		return j
	}
	// The stages work on copies of the records: in the host's process the
	// originals are the host's, and a stage replacing a body would change
	// the key of the host's retry, which would then run every stage again.
	j.req = &Batch{Seq: in.Seq, Records: shallowCopies(in.Records), Final: in.Final}
	return j
}

func shallowCopies(recs []*Record) []*Record {
	if len(recs) == 0 {
		return nil
	}
	slab, out := make([]Record, len(recs)), make([]*Record, len(recs))
	for i, r := range recs {
		slab[i] = *r
		out[i] = &slab[i]
	}
	return out
}

// step runs stage i on j and says whether j is answered (j.out, j.err set).
func (f *fused) step(j *job, i int) bool {
	again := failedBatch{key: j.key, stage: i, req: j.req.Records, out: j.out, attempts: 1, since: time.Now()}
	if j.resumed && i == j.first {
		again.attempts, again.since = j.prev.attempts+1, j.prev.since
	}
	if f.defs[i].Kind == KindOutput {
		j.out, j.err = f.deliver(j.ctx, j.in, j.req, again, j.resumed && i == j.first)
		return true
	}
	start := time.Now()
	res, err := f.stages[i].Process(j.ctx, j.req)
	if err != nil {
		err = fmt.Errorf("%s: %w", f.label(i), err)
		if len(j.in.Records) > 0 { // empty batches (ticks, Final) are not retried
			if f.spent(again) {
				f.giveUp(again, nil, gaveUp(again, err))
				return true
			}
			f.remember(again)
		}
		if f.endsInOutput() {
			err = &RetryError{Err: err}
		}
		j.out, j.err = nil, err
		return true
	}
	if res == nil {
		res = &Batch{}
	}
	st := &j.out.Stages[i]
	st.In, st.Out, st.Duration = len(j.req.Records), len(res.Records), time.Since(start)
	for _, rj := range res.Rejected {
		if i > 0 { // the host knows only the first stage's request: carry the record itself
			if rj.Index < 0 || rj.Index >= len(j.req.Records) {
				continue
			}
			rj = Rejection{Index: -1, Reason: rj.Reason, Data: j.req.Records[rj.Index].Body}
		}
		j.out.Rejected = append(j.out.Rejected, rj)
		st.Rejected++
	}
	j.req = &Batch{Seq: j.in.Seq, Records: res.Records, Final: j.in.Final}
	if i == len(f.stages)-1 {
		j.out.Records = j.req.Records
		return true
	}
	return false
}

func (f *fused) endsInOutput() bool { return f.defs[len(f.defs)-1].Kind == KindOutput }

// deliver runs the output at stage fb.stage on req and answers for the
// chain. The host knows only the chain's request, so what the output
// refuses, and all it was given when it fails for good, comes back as
// rejections carrying the bodies the output saw: the dead-letter file gets
// what it would have got with the output in a process of its own. A retry
// keeps the records still to deliver, and the host's retry of the batch
// resumes with them; resumed says this call is such a retry, whose records
// were counted in.
func (f *fused) deliver(ctx context.Context, in, req *Batch, fb failedBatch, resumed bool) (*Batch, error) {
	i, out := fb.stage, fb.out
	arrived := len(f.carry) // the carried records were counted only in an answer never given
	if !resumed {
		arrived += len(req.Records)
	}
	if len(f.carry) > 0 {
		req = &Batch{Seq: req.Seq, Records: append(f.carry, req.Records...), Final: req.Final}
		fb.req, f.carry = req.Records, nil
	}
	start := time.Now()
	res, err := f.stages[i].Process(ctx, req)
	if res == nil {
		res = &Batch{}
	}
	st := &out.Stages[i]
	st.In += arrived
	st.Duration += time.Since(start)
	refused := map[int]bool{}
	for _, rj := range res.Rejected {
		if rj.Index < 0 || rj.Index >= len(req.Records) || refused[rj.Index] {
			continue
		}
		refused[rj.Index] = true
		out.Rejected = append(out.Rejected, Rejection{Index: -1, Reason: rj.Reason, Data: req.Records[rj.Index].Body})
		st.Rejected++
	}
	var re *RetryError
	switch {
	case err == nil:
		st.Out += len(req.Records) - len(refused)
		return out, nil
	case errors.As(err, &re) || ctx.Err() != nil:
		after := time.Duration(0)
		if re != nil {
			after = re.After
		}
		fb.req = retryRecords(req.Records, re, refused)
		st.Out += len(req.Records) - len(refused) - len(fb.req)
		err = fmt.Errorf("%s: %w", f.label(i), err)
		switch {
		case len(in.Records) == 0:
			f.carry = fb.req
		case f.spent(fb):
			f.giveUp(fb, nil, gaveUp(fb, err))
			return out, nil
		default:
			f.remember(fb)
		}
		return nil, &RetryError{Err: err, After: after}
	default:
		f.giveUp(fb, refused, err.Error())
		return out, nil
	}
}

// spent says whether fb's stage has used up its retry budget on the batch.
func (f *fused) spent(fb failedBatch) bool {
	if fb.stage >= len(f.limits) {
		return false
	}
	l := f.limits[fb.stage]
	return (l.MaxAttempts > 0 && fb.attempts >= l.MaxAttempts) ||
		(l.MaxElapsed > 0 && time.Since(fb.since) > l.MaxElapsed.Std())
}

func gaveUp(fb failedBatch, err error) string {
	return fmt.Sprintf("gave up after %d attempts: %v", fb.attempts, err)
}

// giveUp ends the batch at fb's stage: every record of its request not
// already refused is rejected for reason, to be dead-lettered under that
// stage. The first stage's request is the host's own, so its records are
// named by index; later ones carry their bodies.
func (f *fused) giveUp(fb failedBatch, refused map[int]bool, reason string) {
	st := &fb.out.Stages[fb.stage]
	if f.defs[fb.stage].Kind == KindFilter {
		st.In = len(fb.req)
	}
	for j, r := range fb.req {
		if refused[j] {
			continue
		}
		rj := Rejection{Index: j, Reason: reason}
		if fb.stage > 0 {
			rj = Rejection{Index: -1, Reason: reason, Data: r.Body}
		}
		fb.out.Rejected = append(fb.out.Rejected, rj)
		st.Rejected++
	}
}

// retryRecords picks the records an output's retry names (every one it did
// not refuse when it names none), each once.
func retryRecords(recs []*Record, re *RetryError, refused map[int]bool) []*Record {
	var again []*Record
	if re == nil || re.Indices == nil {
		for j, r := range recs {
			if !refused[j] {
				again = append(again, r)
			}
		}
		return again
	}
	picked := map[int]bool{}
	for _, j := range re.Indices {
		if j >= 0 && j < len(recs) && !refused[j] && !picked[j] {
			picked[j] = true
			again = append(again, recs[j])
		}
	}
	return again
}

// resume takes the failed batch with key, if there is one.
func (f *fused) resume(key uint64) (failedBatch, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, fb := range f.failed {
		if fb.key == key {
			f.failed = append(f.failed[:i], f.failed[i+1:]...)
			return fb, true
		}
	}
	return failedBatch{}, false
}

func (f *fused) remember(fb failedBatch) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
	f.stopLanes(ctx)
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
