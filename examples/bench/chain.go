package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// chainBench runs the real sentinel binary on the full audit chain
// (http → pii_tokenizer → classifier → encryptor → signer → file, every plugin
// out of process) and drives it over HTTP at a target rate. A request's
// latency is end to end: the http input answers 202 only once its events are
// in the store. CPU and memory (PSS) are the sentinel process tree's, read from /proc,
// so the driver's own cost is not counted.
type chainBench struct {
	sentinel string
	rate     int           // events/s to offer
	duration time.Duration // of the measured phase
	batch    int           // events per request
	clients  int
	outage   time.Duration // also fan out to a HEC receiver that is down this long
	fuse     bool          // fuse_filters: the four filters share one process
	latLog   string        // when set, each measured request's send time and latency go here
}

func (b chainBench) run() error {
	abs, err := filepath.Abs(b.sentinel)
	if err != nil {
		return err
	}
	b.sentinel = abs
	dir, err := os.MkdirTemp("", "chainbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if out, err := exec.Command(b.sentinel, "keygen", "--out", filepath.Join(dir, "keys")).CombinedOutput(); err != nil {
		return fmt.Errorf("keygen: %v\n%s", err, out)
	}
	port, metricsPort := freePort(), freePort()
	var hec *hecReceiver
	extra := ""
	if b.outage > 0 {
		hec = newHECReceiver()
		defer hec.close()
		extra = fmt.Sprintf(`
output "splunk_hec" "siem" {
  inputs       = [filter.signer.chain]
  endpoint     = %q
  token        = "bench"
  health_check = false
  buffer {
    type     = "disk"
    max_size = "16GiB"
  }
  retry {
    max = "2s"
  }
}
`, hec.url)
	}
	cfg := fmt.Sprintf(`sentinel {
  data_dir     = "data"
  metrics      = "127.0.0.1:%d"
  fuse_filters = %v
}
input "http" "in" {
  listen = "127.0.0.1:%d"
}
filter "pii_tokenizer" "pii" {
  inputs = [input.http.in]
}
filter "classifier" "cls" {
  inputs      = [filter.pii_tokenizer.pii]
  audit_level = "enterprise"
  frameworks  = ["sox", "gdpr"]
}
filter "encryptor" "enc" {
  inputs = [filter.classifier.cls]
  keys   = "keys"
  fields = ["arguments.path"]
}
filter "signer" "chain" {
  inputs = [filter.encryptor.enc]
  keys   = "keys"
}
output "file" "store" {
  inputs = [filter.signer.chain]
  path   = "data/store"
  keys   = "keys"
  fsync  = "interval"
}
%s`, metricsPort, b.fuse, port, extra)
	if err := os.WriteFile(filepath.Join(dir, "chain.hcl"), []byte(cfg), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(b.sentinel, "run", "-c", "chain.hcl")
	cmd.Dir = dir
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitFor(url+"/healthz", 30*time.Second); err != nil {
		return fmt.Errorf("sentinel did not come up: %v\n%s", err, logs.String())
	}
	d := newDriver(url+"/v1/events:batch", b.batch)
	d.drive(b.clients, b.rate, 2*time.Second) // warm up
	if hec != nil {
		hec.setDown(true)
	}
	cpu0 := treeCPU(cmd.Process.Pid)
	per0 := perProcessCPU(cmd.Process.Pid)
	rssDuring := &peak{}
	stopSampling := sampleRSS(cmd.Process.Pid, rssDuring, time.Second)
	start := time.Now()
	lat, sent := d.drive(b.clients, b.rate, b.duration)
	wall := time.Since(start)
	if b.latLog != "" {
		if err := writeLatencyLog(b.latLog, start, sent, lat); err != nil {
			return err
		}
	}
	cpu := treeCPU(cmd.Process.Pid) - cpu0
	stopSampling()
	n := len(lat) * b.batch
	if verbose {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(line, "sentinel_batch_duration_seconds_sum") || strings.HasPrefix(line, "sentinel_batch_duration_seconds_count") ||
					strings.HasPrefix(line, "sentinel_component_batches_total") {
					fmt.Fprintln(os.Stderr, "  "+line)
				}
			}
		}
		for name, c := range perProcessCPU(cmd.Process.Pid) {
			fmt.Fprintf(os.Stderr, "  %-40s %.2f CPU-µs/event\n", name, float64((c-per0[name]).Microseconds())/float64(max(n, 1)))
		}
	}
	processes := "filters and store fused in one process"
	switch {
	case !b.fuse:
		processes = "a process per filter and the store"
	case b.outage > 0: // the signer fans out to the store and the HEC output: neither joins the filters
		processes = "filters fused in one process, the store and the HEC output apart"
	}
	fmt.Printf("| full audit chain, %s | %d | %d/s | %.0f | %.2f ms | %.2f ms | %.2f | %.0f MB |\n",
		processes, b.batch, b.rate, float64(n)/wall.Seconds(), pct(lat, 50), pct(lat, 99),
		float64(cpu.Microseconds())/float64(n), float64(rssDuring.max())/1e6)
	if hec != nil {
		buffered := metric(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), `sentinel_output_buffer_bytes{component="output.splunk_hec.siem"}`)
		hec.setDown(false)
		t0 := time.Now()
		for time.Since(t0) < 15*time.Minute && hec.events.Load() < int64(n+d.warm) {
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Printf("\nOutage: the HEC destination answered 503 for the whole measured phase (%s).\n"+
			"- memory (PSS) of sentinel and its plugins during the outage: first sample %.0f MB, peak %.0f MB, last %.0f MB\n"+
			"- disk buffer at the end of the outage: %.1f MB; after the destination returned, it received %d events in %s (all accepted: %v)\n",
			b.duration, float64(rssDuring.first())/1e6, float64(rssDuring.max())/1e6, float64(rssDuring.last())/1e6,
			buffered/1e6, hec.events.Load(), time.Since(t0).Round(time.Second), hec.events.Load() >= int64(n+d.warm))
	}
	return nil
}

// driver posts NDJSON batches of realistic MCP events at a target rate.
type driver struct {
	url   string
	batch int
	body  []byte
	seq   atomic.Int64
	warm  int
}

func newDriver(url string, batch int) *driver {
	var buf bytes.Buffer
	for i := 0; i < batch; i++ {
		// event_id left out: the http input assigns one, so every request is new.
		fmt.Fprintf(&buf, `{"timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-%d","server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md","contact":"ops-%d@example.com"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.","duration_ms":12,"success":true}`+"\n", i%50, i)
	}
	return &driver{url: url, batch: batch, body: buf.Bytes()}
}

// drive sends for d at rate events/s from clients goroutines and returns
// each accepted request's latency and when it was sent.
func (dr *driver) drive(clients, rate int, d time.Duration) (lat []time.Duration, sent []time.Time) {
	interval := time.Duration(float64(time.Second) * float64(dr.batch) / float64(rate))
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	next := make(chan time.Time, clients)
	go func() {
		// Offer load on the wall clock: when every client is still waiting
		// (the pipeline back-pressures), the tick is not offered, rather than
		// queued for later; what was not offered shows as the shortfall.
		for t := time.Now(); t.Before(end); t = t.Add(interval) {
			if wait := time.Until(t); wait > 0 {
				time.Sleep(wait)
			}
			select {
			case next <- t:
			default:
			}
		}
		close(next)
	}()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := newPoster(dr.url, "application/x-ndjson", dr.body)
			if err != nil {
				panic(err) // the url is ours
			}
			defer p.close()
			var mine []time.Duration
			var at []time.Time
			for range next {
				t0 := time.Now()
				status, err := p.post()
				if err == nil && status == http.StatusAccepted {
					mine = append(mine, time.Since(t0))
					at = append(at, t0)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			sent = append(sent, at...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if dr.warm == 0 {
		dr.warm = len(lat) * dr.batch
	}
	return lat, sent
}

// writeLatencyLog writes one line per request, in the order sent: its send
// time in ms from start, and its latency in ms. Periodic stalls (an fsync, a
// segment rotation, a GC) show up as regular spikes that a percentile hides.
func writeLatencyLog(path string, start time.Time, sent []time.Time, lat []time.Duration) error {
	order := make([]int, len(sent))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return sent[order[a]].Before(sent[order[b]]) })
	var buf bytes.Buffer
	buf.WriteString("# sent_ms latency_ms\n")
	for _, i := range order {
		fmt.Fprintf(&buf, "%.3f %.3f\n", float64(sent[i].Sub(start).Microseconds())/1000, float64(lat[i].Microseconds())/1000)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func pct(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(float64(len(s)-1)*p/100)].Microseconds()) / 1000
}

// treeCPU is the user+system time of pid and its children, from /proc.
func treeCPU(pid int) time.Duration {
	total := procCPU(pid)
	for _, c := range children(pid) {
		total += procCPU(c)
	}
	return total
}

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ
}

func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

type peak struct {
	mu      sync.Mutex
	samples []int64
}

func (p *peak) add(v int64) { p.mu.Lock(); p.samples = append(p.samples, v); p.mu.Unlock() }
func (p *peak) max() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := int64(0)
	for _, v := range p.samples {
		m = max(m, v)
	}
	return m
}
func (p *peak) first() int64 { p.mu.Lock(); defer p.mu.Unlock(); return at(p.samples, 0) }
func (p *peak) last() int64  { p.mu.Lock(); defer p.mu.Unlock(); return at(p.samples, len(p.samples)-1) }

func at(s []int64, i int) int64 {
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

func sampleRSS(pid int, p *peak, every time.Duration) func() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			p.add(treeRSS(pid))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return cancel
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(url string, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", url, d)
}

// metric reads one sample's value from a Prometheus text page.
func metric(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimPrefix(line, name+" "), 64)
			return v
		}
	}
	return -1
}

// hecReceiver is a Splunk HEC endpoint that can be switched off (503).
type hecReceiver struct {
	srv    *http.Server
	url    string
	down   atomic.Bool
	events atomic.Int64
}

func newHECReceiver() *hecReceiver {
	h := &hecReceiver{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	h.url = "http://" + l.Addr().String()
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.down.Load() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"text":"Server is busy","code":9}`, http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			body = gunzip(body)
		}
		h.events.Add(int64(bytes.Count(body, []byte(`"event":`))))
		_, _ = w.Write([]byte(`{"text":"Success","code":0}`))
	})}
	go func() { _ = h.srv.Serve(l) }()
	return h
}

func (h *hecReceiver) setDown(v bool) { h.down.Store(v) }
func (h *hecReceiver) close()         { _ = h.srv.Close() }

func gunzip(b []byte) []byte {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	out, _ := io.ReadAll(r)
	return out
}

// verbose prints each process's share of the CPU.
var verbose = os.Getenv("PIPEBENCH_VERBOSE") != ""

func perProcessCPU(pid int) map[string]time.Duration {
	out := map[string]time.Duration{"host": procCPU(pid)}
	for _, c := range children(pid) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		out[strings.ReplaceAll(string(cmdline), "\x00", " ")] = procCPU(c)
	}
	return out
}
