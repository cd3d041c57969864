// Command pipebench measures the host's pipeline: records/s, CPU-µs per
// record and memory for jsonl → [passthrough] → file, with every plugin out of
// process and, as a baseline in the same run, in process. It re-executes
// itself as the plugin server, like the sentinel binary does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/host/pipeline"
	"github.com/sentinel-audit/sentinel/plugins/builtin"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() {
	if len(os.Args) >= 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		var kind sdk.Kind
		if len(os.Args) >= 5 {
			kind = sdk.Kind(os.Args[4])
		}
		def, err := builtin.Definition(os.Args[3], kind) // the host may ask for fused chains too
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sdk.Serve(def)
		return
	}
	sdk.ProfileFromEnv("pipebench-host")
	records := flag.Int("records", 200000, "events per run")
	batches := flag.String("batch", "1,128,1024", "batch sizes (max_records)")
	mode := flag.String("mode", "hops", "hops: the host's per-hop cost; chain: the full audit chain driven over HTTP")
	sentinel := flag.String("sentinel", "bin/sentinel", "the sentinel binary, for -mode chain")
	rate := flag.Int("rate", 150000, "events/s offered, for -mode chain")
	duration := flag.Duration("duration", 20*time.Second, "measured phase, for -mode chain")
	reqBatch := flag.Int("request-events", 100, "events per HTTP request, for -mode chain")
	clients := flag.Int("clients", 32, "concurrent HTTP clients, for -mode chain")
	outage := flag.Duration("outage", 0, "for -mode chain: also fan out to a Splunk HEC receiver that is down this long")
	fuse := flag.Bool("fuse", true, "for -mode chain: let the host run the four filters in one process (fuse_filters)")
	latLog := flag.String("latency-log", "", "for -mode chain: write each measured request's send time and latency (ms) to this file")
	flag.Parse()
	if *mode == "chain" {
		fmt.Printf("| pipeline | events/request | offered | events/s | p50 | p99 | CPU-µs/event | peak memory (PSS) sentinel+plugins |\n|---|---|---|---|---|---|---|---|\n")
		d := *duration
		if *outage > 0 {
			d = *outage
		}
		if err := (chainBench{sentinel: *sentinel, rate: *rate, duration: d, batch: *reqBatch, clients: *clients, outage: *outage, fuse: *fuse, latLog: *latLog}).run(); err != nil {
			fail(err)
		}
		return
	}
	dir, err := os.MkdirTemp("", "pipebench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	inputs := map[int]string{} // an input file per record count
	input := func(n int) string {
		if p, ok := inputs[n]; ok {
			return p
		}
		p := filepath.Join(dir, fmt.Sprintf("events-%d.jsonl", n))
		if err := writeEvents(p, n); err != nil {
			fail(err)
		}
		inputs[n] = p
		return p
	}
	fmt.Printf("| pipeline | plugins | batch | records | records/s | CPU-µs/record | peak memory (PSS) host+plugins |\n|---|---|---|---|---|---|---|\n")
	for _, b := range strings.Split(*batches, ",") {
		batch, _ := strconv.Atoi(b)
		n := *records
		if batch == 1 { // one record per round trip is slow by design; keep the run short
			n = min(n, 20000)
		}
		var direct, hop result
		for _, r := range []struct {
			chain string
			oop   bool
			out   *result
		}{{"jsonl → file", true, &direct}, {"jsonl → passthrough → file", true, &hop}, {"jsonl → passthrough → file", false, nil}} {
			res := run(dir, input(n), n, batch, r.chain, r.oop)
			if r.out != nil {
				*r.out = res
			}
			where := "out of process"
			if !r.oop {
				where = "in process (baseline)"
			}
			fmt.Printf("| %s | %s | %d | %d | %.0f | %.2f | %.0f MB |\n", r.chain, where, batch, res.records,
				float64(res.records)/res.wall.Seconds(), res.cpuPerRecord(), float64(res.peakRSS)/1e6)
		}
		fmt.Printf("| one out-of-process hop (difference of the two rows above) | | %d | | | %.2f | |\n", batch, hop.cpuPerRecord()-direct.cpuPerRecord())
	}
}

type result struct {
	records int
	wall    time.Duration
	cpu     time.Duration
	peakRSS int64
}

func (r result) cpuPerRecord() float64 { return float64(r.cpu.Microseconds()) / float64(r.records) }

func run(dir, input string, n, batch int, chain string, outOfProcess bool) result {
	work, _ := os.MkdirTemp(dir, "run-")
	filters := ""
	next := "input.jsonl.in"
	if strings.Contains(chain, "passthrough") {
		filters = fmt.Sprintf("filter \"passthrough\" \"p\" {\n  inputs = [input.jsonl.in]\n  batch {\n    max_records = %d\n    max_bytes   = \"16MiB\"\n  }\n}\n", batch)
		next = "filter.passthrough.p"
	}
	// fuse_filters off: the passthrough must keep its own process, or there is no hop to measure.
	src := fmt.Sprintf(`sentinel {
  data_dir     = %q
  fuse_filters = false
}
input "jsonl" "in" {
  paths = [%q]
}
%s
output "file" "out" {
  inputs = [%s]
  path   = %q
  format = "jsonl"
  fsync  = "never"
  batch {
    max_records = %d
    max_bytes   = "16MiB"
  }
}
`, filepath.Join(work, "data"), input, filters, next, filepath.Join(work, "store"), batch)
	cat, err := catalog.New(builtin.All(), hclog.NewNullLogger())
	if err != nil {
		fail(err)
	}
	cfg, diags := config.LoadSource(filepath.Join(work, "p.hcl"), []byte(src), cat)
	if diags.HasErrors() {
		fail(diags)
	}
	var l pipeline.Launcher = pipeline.CatalogLauncher{Catalog: cat, Config: cfg}
	if !outOfProcess {
		defs := map[string]*sdk.Definition{}
		for _, d := range builtin.All() {
			defs[d.Name] = d
		}
		l = pipeline.LocalLauncher{Defs: defs}
	}
	runtime.GC()
	before := cpuTime()
	start := time.Now()
	p, err := pipeline.Start(context.Background(), cfg, l, pipeline.Options{InProcess: !outOfProcess})
	if err != nil {
		fail(err)
	}
	peak := int64(0)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-p.Done():
			break wait
		case <-tick.C:
			peak = max(peak, treeRSS(os.Getpid()))
		}
	}
	wall := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let go-plugin reap the plugin processes into RUSAGE_CHILDREN
	cpu := cpuTime() - before
	for _, s := range p.Stats() {
		if s.Component == "output.file.out" && s.Out != int64(n) {
			fail(fmt.Errorf("%s delivered %d of %d records", chain, s.Out, n))
		}
	}
	return result{records: n, wall: wall, cpu: cpu, peakRSS: peak}
}

func writeEvents(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 0, 1<<20)
	for i := 0; i < n; i++ {
		// ~500 bytes: a realistic tool-execution event.
		buf = fmt.Appendf(buf, `{"event_id":"01JBENCH%018d","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md","encoding":"utf-8"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent; the platform team shipped the audit pipeline.","duration_ms":12,"success":true}`+"\n", i)
		if len(buf) > 900<<10 {
			if _, err := f.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err = f.Write(buf)
	return err
}

// cpuTime is user+system time of this process and its reaped children.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// treeRSS sums the memory of pid and its children (the plugins) as
// proportional set size: every plugin process maps the same sentinel binary,
// and plain RSS would count those shared pages once per process.
func treeRSS(pid int) int64 {
	total := pss(pid)
	for _, c := range children(pid) {
		total += pss(c)
	}
	return total
}

func pss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func fail(v any) {
	fmt.Fprintln(os.Stderr, "pipebench:", v)
	os.Exit(1)
}
