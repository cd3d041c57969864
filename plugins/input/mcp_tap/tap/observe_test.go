package tap

import (
	"runtime"
	"strings"
	"testing"
)

// TestObserverNeverBlocksAndRecordsGaps: with observation stalled, the
// writer goes on; bytes beyond the backlog bound are not observed, the gap is
// recorded with its size, and observation resumes at the next whole line.
func TestObserverNeverBlocksAndRecordsGaps(t *testing.T) {
	tp, rec := newTestTap(t, nil)
	stall := make(chan struct{})
	emit := tp.cfg.Emit
	first := true
	tp.cfg.Emit = func(b []byte) {
		if first { // the first event holds the observer until released
			first = false
			<-stall
		}
		emit(b)
	}
	s := tp.NewSession(SessionInfo{})
	o := NewObserver(s, ClientToServer)
	o.max = 512

	o.Write([]byte("not json: stalls the observer in its event\n"))
	call := `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"t%d"}}` + "\n"
	var lost int
	for i := range 20 { // well past 512 bytes while the observer is stalled
		line := strings.NewReplacer("%d", string(rune('a'+i))).Replace(call)
		before := o.lost.Load()
		o.Write([]byte(line))
		if o.lost.Load() > before {
			lost += len(line)
		}
	}
	if lost == 0 {
		t.Fatal("nothing went beyond the backlog bound")
	}
	o.Write([]byte(`{"jsonrpc":"2.0","id":"cut`)) // a line the next gap would cut...
	close(stall)
	for o.backlog.Load() > 0 {
		runtime.Gosched()
	}
	o.Write([]byte("\n" + `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"after"}}` + "\n"))
	o.Close()
	o.Wait()
	s.Close(false, "", nil)

	gaps := rec.ofType("mcp_compliance_events")
	if len(gaps) == 0 || gaps[0]["reason"] != "observation_gap" || gaps[0]["severity"] != "high" {
		t.Fatalf("gap events %v", gaps)
	}
	var gapBytes float64
	for _, g := range gaps {
		gapBytes += g["details"].(map[string]any)["bytes"].(float64)
	}
	if tp.stats.GapBytes.Load() != uint64(gapBytes) || gapBytes < float64(lost) {
		t.Fatalf("gap bytes %v (stats %d), lost at least %d", gapBytes, tp.stats.GapBytes.Load(), lost)
	}
	// the call after the gap was observed whole (closed as no_response at the end)
	var after bool
	for _, e := range rec.ofType("mcp_tool_execution") {
		if e["tool_name"] == "after" {
			after = true
		}
	}
	if !after {
		t.Fatalf("observation did not resume after the gap: %v", rec.evs)
	}
}
