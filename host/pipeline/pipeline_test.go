package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/sdk"
)

// TestMain lets the test binary serve the test plugins when the catalog
// re-executes it as `<binary> plugin serve NAME`, as it does the sentinel binary.
func TestMain(m *testing.M) {
	if len(os.Args) >= 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		if names := strings.Split(os.Args[3], sdk.FuseSeparator); len(names) > 1 {
			serveFused(names)
		}
		for _, d := range testDefs {
			if d.Name == os.Args[3] {
				sdk.Serve(d)
				os.Exit(0)
			}
		}
		os.Exit(1)
	}
	os.Exit(m.Run())
}

type harness struct {
	t   *testing.T
	dir string
	cfg *config.Config
	cat *catalog.Catalog
}

func load(t *testing.T, hcl string) *harness {
	t.Helper()
	dir := t.TempDir()
	cat, err := catalog.New(testDefs, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	src := "sentinel { data_dir = \"data\" }\n" + strings.ReplaceAll(hcl, "OUT", filepath.Join(dir, "out"))
	cfg, diags := config.LoadSource(filepath.Join(dir, "pipeline.hcl"), []byte(src), cat)
	if diags.HasErrors() {
		t.Fatalf("config: %s", diags.Error())
	}
	return &harness{t: t, dir: dir, cfg: cfg, cat: cat}
}

// run starts the pipeline in process or out of process and waits for it to finish.
func (h *harness) run(outOfProcess bool) *Pipeline {
	h.t.Helper()
	var l Launcher = LocalLauncher{Defs: map[string]*sdk.Definition{"gen": genDef, "tag": tagDef, "collect": collectDef}}
	if outOfProcess {
		l = CatalogLauncher{Catalog: h.cat, Config: h.cfg}
	}
	p, err := Start(context.Background(), h.cfg, l, Options{InProcess: !outOfProcess, PollWait: 20 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = p.Stop(ctx)
		h.t.Fatalf("pipeline did not finish; stats %+v", p.Stats())
	}
	return p
}

// lines returns the lines of a file under the harness dir.
func (h *harness) lines(name string) []string {
	h.t.Helper()
	f, err := os.Open(filepath.Join(h.dir, name))
	if err != nil {
		h.t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// ids counts how often each event id was delivered.
func ids(lines []string) map[string]int {
	out := map[string]int{}
	for _, l := range lines {
		out[strings.Fields(l)[0]]++
	}
	return out
}

func requireAll(t *testing.T, got map[string]int, n int, skip func(int) bool) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if skip != nil && skip(i) {
			continue
		}
		if id := fmt.Sprintf("ev-%06d", i); got[id] == 0 {
			t.Fatalf("%s was never delivered (%d distinct delivered)", id, len(got))
		}
	}
}

const chain = `
input "gen" "in" {
  count = 2000
  batch = 50
}
filter "tag" "t" {
  inputs = [input.gen.in]
  batch { max_records = 128 }
}
output "collect" "out" {
  inputs = [filter.tag.t]
  path   = "OUT"
}
`

func TestFiniteChainDeliversEverythingAndAcksEveryBatch(t *testing.T) {
	for _, oop := range []bool{false, true} {
		t.Run(map[bool]string{false: "in process", true: "out of process"}[oop], func(t *testing.T) {
			h := load(t, chain)
			h.run(oop)
			got := ids(h.lines("out"))
			if len(got) != 2000 {
				t.Fatalf("delivered %d distinct events, want 2000", len(got))
			}
			for _, l := range h.lines("out") {
				if !strings.HasSuffix(l, " tagged") {
					t.Fatalf("record skipped the filter: %q", l)
				}
			}
			acks := h.lines("data/input.gen.in/acks.log")
			if len(acks) != 40 {
				t.Fatalf("input got %d acks, want 40 (one per batch)", len(acks))
			}
		})
	}
}

func TestFanOutAndFanIn(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 500
}
filter "tag" "a" {
  inputs = [input.gen.in]
  label  = "a"
}
filter "tag" "b" {
  inputs = [input.gen.in]
  label  = "b"
}
output "collect" "out" {
  inputs = [filter.tag.a, filter.tag.b]
  path   = "OUT"
}
`)
	h.run(false)
	lines := h.lines("out")
	if len(lines) != 1000 {
		t.Fatalf("fan-in got %d records, want 1000", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if !seen["ev-000001 a"] || !seen["ev-000001 b"] {
		t.Fatal("each branch must see its own copy of every record")
	}
}

func TestRejectedRecordsAreDeadLetteredWithReason(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count     = 100
  bad_every = 25
}
filter "tag" "t" {
  inputs       = [input.gen.in]
  reject_every = 10
}
output "collect" "out" {
  inputs    = [filter.tag.t]
  path      = "OUT"
  reject_id = "ev-000001"
}
`)
	p := h.run(false)
	delivered := len(h.lines("out"))
	inputDead := h.lines("data/deadletter/input.gen.in.jsonl")
	filterDead := h.lines("data/deadletter/filter.tag.t.jsonl")
	outputDead := h.lines("data/deadletter/output.collect.out.jsonl")
	if len(inputDead) != 4 || !strings.Contains(inputDead[0], "not a JSON object") {
		t.Fatalf("input dead letters: %v", inputDead)
	}
	if len(filterDead) != 9 || !strings.Contains(filterDead[0], "rejected by test rule") {
		t.Fatalf("filter dead letters: %d %v", len(filterDead), filterDead)
	}
	if len(outputDead) != 1 || !strings.Contains(outputDead[0], "mapper_parsing_exception") || !strings.Contains(outputDead[0], "ev-000001") {
		t.Fatalf("output dead letters: %v", outputDead)
	}
	if total := delivered + len(inputDead) + len(filterDead) + len(outputDead); total != 100 {
		t.Fatalf("delivered %d + dead %d/%d/%d != 100: something was dropped silently", delivered, len(inputDead), len(filterDead), len(outputDead))
	}
	for _, s := range p.Stats() {
		if s.Component == "output.collect.out" && s.DeadLettered != 1 {
			t.Fatalf("stats: %+v", s)
		}
	}
}

func TestRetryableFailuresAreRetriedUntilDelivered(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 300
}
output "collect" "out" {
  inputs     = [input.gen.in]
  path       = "OUT"
  fail_first = 4
  retry {
    initial = "5ms"
    max     = "20ms"
  }
}
`)
	p := h.run(false)
	requireAll(t, ids(h.lines("out")), 300, nil)
	for _, s := range p.Stats() {
		if s.Component == "output.collect.out" && s.Retried == 0 {
			t.Fatalf("no retries counted: %+v", s)
		}
	}
}

func TestCrashedPluginIsRestartedAndUnansweredBatchesReplayed(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 3000
  batch = 100
}
filter "tag" "t" {
  inputs        = [input.gen.in]
  panic_once_at = "ev-001234"
}
output "collect" "out" {
  inputs         = [filter.tag.t]
  path           = "OUT"
  crash_at_batch = 5
}
`)
	p := h.run(true)
	requireAll(t, ids(h.lines("out")), 3000, nil)
	restarts := map[string]int64{}
	for _, s := range p.Stats() {
		restarts[s.Component] = s.Restarts
	}
	if restarts["output.collect.out"] == 0 || restarts["filter.tag.t"] == 0 {
		t.Fatalf("expected restarts of the crashed output and the panicked filter: %v", restarts)
	}
}

func TestHungFilterIsRestartedThenDeadLettered(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 20
}
filter "tag" "t" {
  inputs  = [input.gen.in]
  stall   = "10s"
  timeout = "100ms"
  isolate = true # fused with the output, the deadline would be the sum of both
  retry {
    max_attempts = 2
  }
}
output "collect" "out" {
  inputs = [filter.tag.t]
  path   = "OUT"
}
`)
	h.run(true) // a real kill: in process, a cancelled plugin may still answer
	dead := h.lines("data/deadletter/filter.tag.t.jsonl")
	if len(dead) != 20 || !strings.Contains(dead[0], "gave up after 2 attempts") {
		t.Fatalf("dead letters: %d %v", len(dead), dead)
	}
}

func TestStopDrainsInFlightBatchesAndAcksWhatWasDelivered(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  forever = true
  batch   = 20
}
filter "tag" "t" {
  inputs = [input.gen.in]
}
output "collect" "out" {
  inputs = [filter.tag.t]
  path   = "OUT"
}
`)
	p, err := Start(context.Background(), h.cfg, CatalogLauncher{Catalog: h.cat, Config: h.cfg}, Options{PollWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var emitted, delivered int64
	for _, s := range p.Stats() {
		switch s.Component {
		case "input.gen.in":
			emitted = s.Out
		case "output.collect.out":
			delivered = s.Out
		}
	}
	if emitted == 0 || delivered != emitted {
		t.Fatalf("emitted %d, delivered %d: stop must drain everything already emitted", emitted, delivered)
	}
	if got := len(h.lines("out")); int64(got) != delivered {
		t.Fatalf("store has %d lines, stats say %d", got, delivered)
	}
	if acks := len(h.lines("data/input.gen.in/acks.log")); int64(acks*20) != emitted {
		t.Fatalf("%d acks for %d records: every delivered batch must be acknowledged before the input closes", acks, emitted)
	}
}

func TestDiskBufferAcksInputsAtOnceAndSurvivesARestart(t *testing.T) {
	h := load(t, `
input "gen" "in" {
  count = 400
  batch = 40
}
output "collect" "out" {
  inputs     = [input.gen.in]
  path       = "OUT"
  fail_first = 1000000
  buffer {
    type = "disk"
  }
  retry {
    initial = "5ms"
    max     = "10ms"
  }
}
`)
	p, err := Start(context.Background(), h.cfg, CatalogLauncher{Catalog: h.cat, Config: h.cfg}, Options{PollWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The destination is down, yet every input batch is acknowledged once it is on disk.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(filepath.Join(h.dir, "data/input.gen.in/acks.log")); strings.Count(string(b), "\n") == 10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if acks := h.lines("data/input.gen.in/acks.log"); len(acks) != 10 {
		t.Fatalf("%d of 10 input batches acknowledged with the records safe on disk", len(acks))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = p.Stop(ctx) // times out: the destination is still down
	if _, err := os.Stat(filepath.Join(h.dir, "out")); err == nil {
		t.Fatal("nothing can have been delivered yet")
	}

	// Restart with the destination back and no new input: the buffer delivers everything.
	src := strings.Replace(`
input "gen" "in" {
  count = 0
}
output "collect" "out" {
  inputs = [input.gen.in]
  path   = "OUT"
  buffer {
    type = "disk"
  }
}
`, "OUT", filepath.Join(h.dir, "out"), 1)
	cfg, diags := config.LoadSource(filepath.Join(h.dir, "pipeline.hcl"), []byte("sentinel { data_dir = \"data\" }\n"+src), h.cat)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	h.cfg = cfg
	h.run(true)
	got := ids(h.lines("out"))
	requireAll(t, got, 400, nil)
	if len(got) != 400 {
		t.Fatalf("delivered %d distinct, want 400", len(got))
	}
}

func TestMetricsReadinessAndStatusEndpoints(t *testing.T) {
	h := load(t, chain)
	p, err := Start(context.Background(), h.cfg, LocalLauncher{Defs: map[string]*sdk.Definition{"gen": genDef, "tag": tagDef, "collect": collectDef}},
		Options{InProcess: true, PollWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	<-p.Done()
	body := get(t, srv.URL+"/metrics", 200)
	for _, want := range []string{
		`sentinel_component_records_total{component="output.collect.out",direction="out"} 2000`,
		`sentinel_component_records_total{component="filter.tag.t",direction="in"} 2000`,
		`sentinel_batch_duration_seconds_count{component="filter.tag.t"}`,
		`sentinel_plugin_restarts_total{component="input.gen.in"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	get(t, srv.URL+"/healthz", 200)
	get(t, srv.URL+"/readyz", 503) // finished: no longer ready
	if !strings.Contains(get(t, srv.URL+"/status", 200), `"component":"output.collect.out"`) {
		t.Error("/status lacks the components")
	}
}

func get(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, status, b)
	}
	return string(b)
}
