package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// serveFused serves test filters fused, as `sentinel plugin serve a+b` does.
func serveFused(names []string) {
	var defs []*sdk.Definition
	for _, n := range names {
		for _, d := range testDefs {
			if d.Name == n {
				defs = append(defs, d)
			}
		}
	}
	def, err := sdk.Fuse(defs...)
	if err != nil || len(defs) != len(names) {
		os.Exit(1)
	}
	sdk.Serve(def)
	os.Exit(0)
}

func TestOnlyChainsWhereEachFilterFeedsTheNextAreFused(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 10
}
filter "tag" "a" {
  inputs = [input.gen.in]
}
filter "tag" "b" {
  inputs = [filter.tag.a]
}
filter "tag" "c" {
  inputs = [filter.tag.b]
}
filter "tag" "d" {
  inputs = [filter.tag.b]
}
filter "tag" "e" {
  inputs = [filter.tag.d]
}
filter "tag" "f" {
  inputs = [filter.tag.e, input.gen.in]
}
output "collect" "out" {
  inputs = [filter.tag.c, filter.tag.f]
  path   = "OUT"
}
`)
	got := chainNames(h.cfg, func(c *config.Component) bool { return c.Kind == sdk.KindFilter })
	// b fans out to c and d, so neither joins it; f has two inputs.
	if got != "a b|d e" {
		t.Fatalf("fused chains %q, want %q", got, "a b|d e")
	}
}

// An output joins the chain that alone feeds it, unless it keeps a disk
// buffer (which would then hold what the filters were given) or is isolated.
func TestAnOutputTheChainAloneFeedsEndsIt(t *testing.T) {
	const tail = `
input "gen" "in" {
  count = 10
}
filter "tag" "a" {
  inputs = [input.gen.in]
}
filter "tag" "b" {
  inputs = [filter.tag.a]
}
output "collect" "out" {
  inputs = [filter.tag.b]
  path   = "OUT"
%s
}
%s`
	cases := []struct{ name, output, more, want string }{
		{"alone", "", "", "a b out"},
		{"disk buffer", "  buffer {\n    type = \"disk\"\n  }", "", "a b"},
		{"isolated", "  isolate = true", "", "a b"},
		{"fan-out", "", "output \"collect\" \"copy\" {\n  inputs = [filter.tag.b]\n  path = \"COPY\"\n}", "a b"},
		{"fed by an input", "", "output \"collect\" \"raw\" {\n  inputs = [input.gen.in]\n  path = \"RAW\"\n}", "a b out"},
	}
	for _, c := range cases {
		h := load(t, fmt.Sprintf(tail, c.output, c.more))
		got := chainNames(h.cfg, func(*config.Component) bool { return true })
		if got != c.want {
			t.Errorf("%s: fused %q, want %q", c.name, got, c.want)
		}
	}
}

// chainNames lists the members of each fused chain: "a b|d e".
func chainNames(cfg *config.Config, fusable func(*config.Component) bool) string {
	var chains []string
	for _, chain := range FusedChains(cfg, fusable) {
		var names []string
		for _, c := range chain {
			names = append(names, c.Name)
		}
		chains = append(chains, strings.Join(names, " "))
	}
	return strings.Join(chains, "|")
}

func TestAnIsolatedFilterKeepsItsOwnProcess(t *testing.T) {
	h := load(t, strings.Replace(fusedPipeline, `  label        = "second"`, `  label        = "second"
  isolate      = true`, 1))
	if !h.cfg.Component("filter.tag.second").Isolate {
		t.Fatal("isolate = true was not decoded")
	}
	if chains := FusedChains(h.cfg, func(c *config.Component) bool { return c.Kind == sdk.KindFilter }); len(chains) != 0 {
		t.Fatalf("an isolated filter was fused: %v", chains)
	}
	p := h.run(true)
	for _, s := range p.Stats() {
		if s.FusedInto != "" {
			t.Fatalf("%s ran fused", s.Component)
		}
	}
	if n := len(h.lines("out")); n != 1372 {
		t.Fatalf("delivered %d, want 1372", n)
	}
}

const fusedPipeline = `
input "gen" "in" {
  count = 2000
  batch = 50
}
filter "tag" "first" {
  inputs       = [input.gen.in]
  label        = "first"
  reject_every = 7
}
filter "tag" "second" {
  inputs       = [filter.tag.first]
  label        = "second"
  reject_every = 5
}
output "collect" "out" {
  inputs = [filter.tag.second]
  path   = "OUT"
}
`

func TestFusedFiltersKeepTheirOwnCountersAndDeadLetters(t *testing.T) {
	for _, oop := range []bool{false, true} {
		t.Run(map[bool]string{false: "in process", true: "out of process"}[oop], func(t *testing.T) {
			h := load(t, fusedPipeline)
			p := h.run(oop)
			stats := map[string]StatsSnapshot{}
			for _, s := range p.Stats() {
				stats[s.Component] = s
			}
			first, second, out := stats["filter.tag.first"], stats["filter.tag.second"], stats["output.collect.out"]
			if first.FusedInto == "" || first.FusedInto != second.FusedInto || out.FusedInto != first.FusedInto {
				t.Fatalf("the two filters and the output were not fused: %+v %+v %+v", first, second, out)
			}
			if out.In != 1372 || out.Out != 1372 || out.DeadLettered != 0 {
				t.Fatalf("the output's own counters: %+v", out)
			}
			// 2000 in; the first rejects every 7th, the second every 5th of what is left.
			if first.In != 2000 || first.DeadLettered != 285 || first.Out != 1715 {
				t.Fatalf("first stage: %+v", first)
			}
			if second.In != 1715 || second.DeadLettered != 343 || second.Out != 1372 {
				t.Fatalf("second stage: %+v", second)
			}
			lines := h.lines("out")
			if len(lines) != 1372 || !strings.HasSuffix(lines[0], " second") {
				t.Fatalf("delivered %d records (%q...), want 1372 through both filters", len(lines), lines[0])
			}
			dead := h.lines("data/deadletter/filter.tag.second.jsonl")
			if len(dead) != 343 {
				t.Fatalf("second stage dead letters: %d, want 343", len(dead))
			}
			var dl struct {
				Component, Reason string
				Record            json.RawMessage
			}
			if err := json.Unmarshal([]byte(dead[0]), &dl); err != nil || dl.Component != "filter.tag.second" ||
				dl.Reason != "rejected by test rule" || !strings.Contains(string(dl.Record), "ev-") {
				t.Fatalf("a later stage's dead letter must name it and keep the record: %s (%v)", dead[0], err)
			}
			if n := len(h.lines("data/deadletter/filter.tag.first.jsonl")); n != 285 {
				t.Fatalf("first stage dead letters: %d, want 285", n)
			}
		})
	}
}

func TestFusingCanBeTurnedOff(t *testing.T) {
	h := load(t, fusedPipeline)
	h.cfg.FuseFilters = false
	p := h.run(true)
	for _, s := range p.Stats() {
		if s.FusedInto != "" {
			t.Fatalf("fuse_filters = false, yet %s ran fused", s.Component)
		}
	}
	if n := len(h.lines("out")); n != 1372 {
		t.Fatalf("delivered %d, want 1372", n)
	}
}

func TestACrashInAFusedChainRestartsItAndReplaysTheBatch(t *testing.T) {
	cfg := strings.Replace(fusedPipeline, `reject_every = 7`, ``, 1)
	h := load(t, strings.Replace(cfg, `reject_every = 5`, `panic_once_at = "ev-001000"`, 1))
	p := h.run(true)
	requireAll(t, ids(h.lines("out")), 2000, nil)
	for _, s := range p.Stats() {
		if s.Component == "filter.tag.first" || s.Component == "filter.tag.second" {
			if s.FusedInto == "" || s.Restarts == 0 {
				t.Fatalf("%s: fused into %q, %d restarts: the panic must restart the shared process and count on every member", s.Component, s.FusedInto, s.Restarts)
			}
		}
	}
}

// A later stage's rejections that cannot be written are not lost, and the
// batch is not run again (which would re-sign or double-count it): the
// answer waits until the dead-letter file can be written.
func TestAFusedStagesDeadLettersWaitOutAnUnwritableFile(t *testing.T) {
	h := load(t, fusedPipeline)
	blocker := filepath.Join(h.cfg.DataDir, "deadletter", "filter.tag.second.jsonl")
	if err := os.MkdirAll(blocker, 0o755); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	p, err := Start(context.Background(), h.cfg, CatalogLauncher{Catalog: h.cat, Config: h.cfg}, Options{PollWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case <-p.Done():
		t.Fatal("the pipeline finished although a stage's dead letters could not be written")
	default:
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the pipeline did not finish once the dead-letter file could be written")
	}
	stats := map[string]StatsSnapshot{}
	for _, s := range p.Stats() {
		stats[s.Component] = s
	}
	if f, s := stats["filter.tag.first"], stats["filter.tag.second"]; f.Out != 1715 || s.In != 1715 || s.DeadLettered != 343 || s.Out != 1372 {
		t.Fatalf("counters after the wait: first %+v second %+v", f, s)
	}
	if n := len(h.lines("data/deadletter/filter.tag.second.jsonl")); n != 343 {
		t.Fatalf("%d dead letters, want 343", n)
	}
	if n := len(ids(h.lines("out"))); n != 1372 {
		t.Fatalf("delivered %d, want 1372", n)
	}
}

// The fused chain's settings: the most patient member's retry, the sum of
// the members' timeouts (one call does all their work), the smallest of
// their batch limits, and each member's own retry budget for its stage.
func TestFusedChainTakesTheMostPatientRetryAndTheSummedTimeout(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 10
}
filter "tag" "a" {
  inputs = [input.gen.in]
}
filter "tag" "b" {
  inputs = [filter.tag.a]
  retry {
    max_attempts = 0
  }
}
filter "tag" "c" {
  inputs = [filter.tag.b]
  batch {
    max_records = 100
  }
}
output "collect" "out" {
  inputs = [filter.tag.c]
  path   = "OUT"
}
`)
	chains := FusedChains(h.cfg, func(c *config.Component) bool { return c.Kind == sdk.KindFilter })
	if len(chains) != 1 || len(chains[0]) != 3 {
		t.Fatalf("chains: %v", chains)
	}
	fc, err := fuse(chains[0])
	if err != nil {
		t.Fatal(err)
	}
	want := chains[0][0].Batch
	want.MaxRecords = 100
	if fc.Retry.MaxAttempts != 0 || fc.Timeout != chains[0][0].Timeout*3 || fc.Batch != want {
		t.Fatalf("fused settings: retry %+v timeout %v batch %+v", fc.Retry, fc.Timeout, fc.Batch)
	}
	var stages []sdk.FusedStage
	if err := json.Unmarshal(fc.Config, &stages); err != nil || len(stages) != 3 || stages[0].MaxAttempts != 5 || stages[1].MaxAttempts != 0 {
		t.Fatalf("each stage's own budget: %+v (%v)", stages, err)
	}
	if !morePatient(config.Retry{MaxAttempts: 5, MaxElapsed: 0}, config.Retry{MaxAttempts: 5, MaxElapsed: 60e9}) ||
		morePatient(config.Retry{MaxAttempts: 3}, config.Retry{MaxAttempts: 5}) {
		t.Fatal("morePatient ordering")
	}
}

// An output fused behind filters waits out its destination's outage with its
// own patience: the filters' smaller retry budget does not dead-letter
// records the output has yet to deliver.
func TestAFusedOutputWaitsOutAnOutageWithItsOwnBudget(t *testing.T) {
	cfg := strings.Replace(fusedPipeline, `  path   = "OUT"`, `  path   = "OUT"
  fail_first = 3
  retry {
    initial = "10ms"
  }`, 1)
	const budget = `
  retry {
    initial      = "10ms"
    max_attempts = 2
  }`
	cfg = strings.Replace(cfg, `reject_every = 7`, `reject_every = 7`+budget, 1)
	h := load(t, strings.Replace(cfg, `reject_every = 5`, `reject_every = 5`+budget, 1))
	p := h.run(true)
	if n := len(h.lines("out")); n != 1372 {
		t.Fatalf("delivered %d, want 1372", n)
	}
	var retried, dead int64
	for _, s := range p.Stats() {
		if s.Component == "output.collect.out" && s.FusedInto == "" {
			t.Fatal("the output was not fused")
		}
		retried += s.Retried // a fused chain's retries are counted on its first member
		if s.Component != "filter.tag.second" {
			dead += s.DeadLettered
		}
	}
	if retried == 0 || dead != 285 {
		t.Fatalf("%d retried, %d dead letters besides the second filter's rejections: want retries and only the first's 285", retried, dead)
	}
}

// A record that panics a filter every time is dead-lettered after the
// filters' attempts, even though the output fused behind it would wait
// forever: the host cannot tell which member a panic came from, so it
// retries with the most patient filter's budget, not the output's.
func TestARecordThatAlwaysPanicsAFusedFilterIsDeadLettered(t *testing.T) {
	const budget = `
  retry {
    initial      = "10ms"
    max_attempts = 3
  }`
	cfg := strings.Replace(fusedPipeline, `reject_every = 7`, `panic_at = "ev-001000"`+budget, 1)
	h := load(t, strings.Replace(cfg, `  reject_every = 5`, budget, 1))
	done := make(chan *Pipeline, 1)
	go func() { done <- h.run(true) }()
	var p *Pipeline
	select {
	case p = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the pipeline never finished: the poisoned batch was retried forever")
	}
	dead := h.lines("data/deadletter/filter.tag.first.jsonl")
	delivered := ids(h.lines("out")) // at least once: batches in flight behind the panic are replayed
	poisoned := strings.Contains(strings.Join(dead, "\n"), `"event_id":"ev-001000"`)
	if len(dead) == 0 || len(dead)+len(delivered) != 2000 || !poisoned || !strings.Contains(dead[0], "gave up after 3 attempts") {
		t.Fatalf("%d dead letters (first %.300s), %d delivered: want the poisoned batch dead-lettered after 3 attempts and the rest delivered", len(dead), dead[0], len(delivered))
	}
	for _, s := range p.Stats() {
		if s.Component == "output.collect.out" && s.FusedInto == "" {
			t.Fatal("the output was not fused")
		}
	}
}

// A chain ending in an output that misses its deadline is restarted without
// counting against any budget: the output may be waiting out a full disk,
// and giving up would dead-letter what the filters had not yet tokenized.
func TestAMissedDeadlineOfAFusedOutputChainIsNotCounted(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 20
}
filter "tag" "slow" {
  inputs  = [input.gen.in]
  stall   = "300ms"
  timeout = "50ms"
  retry {
    initial      = "10ms"
    max_attempts = 2
  }
}
output "collect" "out" {
  inputs  = [filter.tag.slow]
  path    = "OUT"
  timeout = "50ms"
}
`)
	p, err := Start(context.Background(), h.cfg, CatalogLauncher{Catalog: h.cat, Config: h.cfg}, Options{PollWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	restarts := func() int64 {
		for _, s := range p.Stats() {
			if s.Component == "filter.tag.slow" {
				return s.Restarts
			}
		}
		return 0
	}
	for restarts() < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // nothing can drain
	defer cancel()
	_ = p.Stop(ctx)
	if n := restarts(); n < 4 {
		t.Fatalf("%d restarts: the chain should keep being restarted", n)
	}
	if _, err := os.Stat(filepath.Join(h.cfg.DataDir, "deadletter", "filter.tag.slow.jsonl")); err == nil {
		t.Fatal("a missed deadline dead-lettered the batch past the filter's two attempts")
	}
}
