package splunk_hec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/host/buffer"
	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// switchable is a HEC on a fixed address that can be taken down (connections
// refused) and brought back.
type switchable struct {
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func (s *switchable) up(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ln, err := net.Listen("tcp", s.addr)
	for i := 0; err != nil && i < 50; i++ { // the port may linger briefly after close
		time.Sleep(20 * time.Millisecond)
		ln, err = net.Listen("tcp", s.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.h}
	go func() { _ = s.srv.Serve(ln) }()
}

func (s *switchable) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.srv.Close()
}

// TestOutageUnderTrafficLosesNothing: events keep coming while the
// destination is down; they wait in the disk buffer (on disk, not in memory),
// and once it is back every event arrives and the counts match.
// The outage lasts SENTINEL_OUTAGE (default 2s; CI runs SENTINEL_OUTAGE=60s).
func TestOutageUnderTrafficLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test: run without -short (SENTINEL_OUTAGE=60s for the full minute)")
	}
	outage := 2 * time.Second
	if v := os.Getenv("SENTINEL_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		outage = d
	}
	hec := newFakeHEC(token)
	hec.light = true
	dest := &switchable{addr: "127.0.0.1:0", h: hec}
	dest.up(t)
	o := newOutput(t, "http://"+dest.addr, map[string]any{"timeout": "1s", "max_request_events": 200})

	dir := t.TempDir()
	q, err := buffer.OpenDisk(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Producer: 50-event batches at about 2,500 events/s.
	var produced atomic.Int64
	prodDone := make(chan struct{})
	stopProducing := make(chan struct{})
	go func() {
		defer close(prodDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stopProducing:
				return
			case <-tick.C:
			}
			b := make([]*sdk.Record, 50)
			for i := range b {
				r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev-%07d","event_type":"mcp_tool_execution",`+
					`"tool_name":"fs.read","user_id":"alice","result":"%0200d"}`, n*50+i, n)))
				if err != nil {
					panic(err)
				}
				b[i] = r
			}
			if err := q.Push(ctx, b); err != nil {
				return
			}
			produced.Add(int64(len(b)))
		}
	}()

	// Consumer: the host's loop, retrying what Process hands back with
	// jittered backoff honouring Retry-After, acking a batch once done.
	var deadLettered atomic.Int64
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		backoff := httpout.Backoff{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond}
		for {
			id, recs, err := q.Pop(ctx)
			if err != nil {
				return
			}
			for attempt := 0; len(recs) > 0; attempt++ {
				out, err := o.Process(ctx, &sdk.Batch{Records: recs})
				deadLettered.Add(int64(len(out.Rejected)))
				var re *sdk.RetryError
				if !errors.As(err, &re) {
					if err != nil && ctx.Err() == nil {
						t.Errorf("permanent error: %v", err)
					}
					break
				}
				next := make([]*sdk.Record, 0, len(re.Indices))
				for _, i := range re.Indices {
					next = append(next, recs[i])
				}
				recs = next
				if backoff.Wait(ctx, attempt, re.After) != nil {
					return
				}
			}
			if err := q.Ack(id); err != nil {
				return
			}
		}
	}()

	// Live heap (what the last GC kept), above what the process held before:
	// garbage left by earlier tests, or not yet collected, is not ours to count.
	liveHeap := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC()
	baseline := liveHeap()
	var peakHeap atomic.Uint64
	sample := func() {
		if h := liveHeap(); h > baseline && h-baseline > peakHeap.Load() {
			peakHeap.Store(h - baseline)
		}
	}
	time.Sleep(300 * time.Millisecond)
	dest.down()
	downAt := time.Now()
	var maxBuffered int64
	for time.Since(downAt) < outage {
		time.Sleep(50 * time.Millisecond)
		sample()
		maxBuffered = max(maxBuffered, q.Bytes())
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	var onDisk int64
	for _, s := range segs {
		if st, err := os.Stat(s); err == nil {
			onDisk += st.Size()
		}
	}
	dest.up(t)
	time.Sleep(300 * time.Millisecond)
	close(stopProducing)
	<-prodDone
	deadline := time.Now().Add(30*time.Second + outage)
	for q.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		sample()
	}
	cancel()
	<-consDone

	n := int(produced.Load())
	stored := hec.stored()
	missing := 0
	for i := range n {
		if stored[fmt.Sprintf("ev-%07d", i)] == 0 {
			missing++
		}
	}
	st, _ := json.Marshal(o.stats.Snapshot())
	t.Logf("outage %v: produced %d, stored %d distinct, buffered peak %d B (%d B in %d segment files), live heap growth peak %d MiB, counters %s",
		outage, n, len(stored), maxBuffered, onDisk, len(segs), peakHeap.Load()>>20, st)
	if missing != 0 || deadLettered.Load() != 0 || q.Len() != 0 {
		t.Fatalf("%d of %d events missing, %d dead-lettered, %d batches left", missing, n, deadLettered.Load(), q.Len())
	}
	if o.stats.Sent.Load() < int64(n) {
		t.Errorf("sent counter %d < produced %d", o.stats.Sent.Load(), n)
	}
	expectBuffered := int64(outage.Seconds() * 2500 * 300 / 2) // at least half the traffic of the outage
	if onDisk < expectBuffered || maxBuffered < expectBuffered {
		t.Errorf("only %d B on disk / %d B buffered during the outage, want ≥ %d", onDisk, maxBuffered, expectBuffered)
	}
	if peakHeap.Load() > 64<<20 {
		t.Errorf("live heap grew by %d MiB: the outage's traffic is held in memory", peakHeap.Load()>>20)
	}
}
