package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Test plugins: small, but real plugins that run in process or, through the
// test binary re-executed as `plugin serve NAME`, in their own processes.

var testDefs = []*sdk.Definition{genDef, tagDef, collectDef}

// gen emits count events in batches, then ends; it logs acknowledged
// sequence numbers to acks.log in its data dir.
var genDef = &sdk.Definition{
	Name: "gen", Kind: sdk.KindInput, Version: "0", Summary: "test generator",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "count", Type: sdk.TypeInt, Default: 100, Description: "events"},
		{Name: "batch", Type: sdk.TypeInt, Default: 10, Description: "events per batch"},
		{Name: "bad_every", Type: sdk.TypeInt, Default: 0, Description: "emit unparseable data every n events"},
		{Name: "forever", Type: sdk.TypeBool, Default: false, Description: "never end; one batch per poll"},
	}},
	New: func() sdk.Plugin { return &gen{} },
}

type gen struct {
	cfg struct {
		Count, Batch, BadEvery int
		Forever                bool
	}
	dir  string
	next int
	seq  uint64
	mu   sync.Mutex
}

func (g *gen) Configure(_ context.Context, c sdk.Config) error {
	var raw struct {
		Count    int  `json:"count"`
		Batch    int  `json:"batch"`
		BadEvery int  `json:"bad_every"`
		Forever  bool `json:"forever"`
	}
	if err := c.Decode(&raw); err != nil {
		return err
	}
	g.cfg.Count, g.cfg.Batch, g.cfg.BadEvery, g.cfg.Forever, g.dir = raw.Count, raw.Batch, raw.BadEvery, raw.Forever, c.DataDir
	return nil
}

func (g *gen) Process(ctx context.Context, _ *sdk.Batch) (*sdk.Batch, error) {
	if g.next >= g.cfg.Count && !g.cfg.Forever {
		return nil, sdk.ErrEndOfInput
	}
	if g.cfg.Forever {
		time.Sleep(2 * time.Millisecond)
	}
	g.seq++
	out := &sdk.Batch{Seq: g.seq}
	for i := 0; i < g.cfg.Batch && (g.next < g.cfg.Count || g.cfg.Forever); i++ {
		g.next++
		if g.cfg.BadEvery > 0 && g.next%g.cfg.BadEvery == 0 {
			out.RejectData([]byte("not json "+strconv.Itoa(g.next)), "not a JSON object")
			continue
		}
		id := fmt.Sprintf("ev-%06d", g.next)
		r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":%q,"event_type":"mcp_tool_execution","n":%d}`, id, g.next)))
		if err != nil {
			return nil, err
		}
		out.Records = append(out.Records, r)
	}
	return out, nil
}

func (g *gen) Ack(_ context.Context, seqs []uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(g.dir, "acks.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	for _, s := range seqs {
		fmt.Fprintln(f, s)
	}
}

// tag adds an attribute; it can reject, panic or stall on request.
var tagDef = &sdk.Definition{
	Name: "tag", Kind: sdk.KindFilter, Version: "0", Summary: "test filter",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "label", Type: sdk.TypeString, Default: "tagged", Description: "attribute value"},
		{Name: "reject_every", Type: sdk.TypeInt, Default: 0, Description: "reject every n-th record"},
		{Name: "panic_once_at", Type: sdk.TypeString, Default: "", Description: "panic (once per data dir) on this event id"},
		{Name: "panic_at", Type: sdk.TypeString, Default: "", Description: "panic every time on this event id"},
		{Name: "stall", Type: sdk.TypeDuration, Default: "0s", Description: "sleep per batch"},
	}},
	New: func() sdk.Plugin { return &tag{} },
}

type tag struct {
	Label       string       `json:"label"`
	RejectEvery int          `json:"reject_every"`
	PanicOnceAt string       `json:"panic_once_at"`
	PanicAt     string       `json:"panic_at"`
	Stall       sdk.Duration `json:"stall"`
	dir         string
	n           int
}

func (t *tag) Configure(_ context.Context, c sdk.Config) error {
	t.dir = c.DataDir
	return c.Decode(t)
}

func (t *tag) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if t.Stall > 0 {
		select {
		case <-time.After(t.Stall.Std()):
		case <-ctx.Done():
		}
	}
	out := &sdk.Batch{}
	for i, r := range in.Records {
		t.n++
		if r.ID == t.PanicAt || r.ID == t.PanicOnceAt && once(t.dir, "panicked") {
			panic("test panic at " + r.ID)
		}
		if t.RejectEvery > 0 && t.n%t.RejectEvery == 0 {
			out.Reject(i, "rejected by test rule")
			continue
		}
		if r.Attributes == nil {
			r.Attributes = map[string]string{}
		}
		r.Attributes["tag"] = t.Label
		out.Records = append(out.Records, r)
	}
	return out, nil
}

// collect appends "<id> <tag>" lines to a file; it can fail, crash or reject on request.
var collectDef = &sdk.Definition{
	Name: "collect", Kind: sdk.KindOutput, Version: "0", Summary: "test output",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "path", Type: sdk.TypeString, Required: true, Description: "file"},
		{Name: "fail_first", Type: sdk.TypeInt, Default: 0, Description: "retryable failures before success (per data dir)"},
		{Name: "crash_at_batch", Type: sdk.TypeInt, Default: 0, Description: "exit the process at this batch (once per data dir)"},
		{Name: "reject_id", Type: sdk.TypeString, Default: "", Description: "reject this event id"},
	}},
	New: func() sdk.Plugin { return &collect{} },
}

type collect struct {
	Path         string `json:"path"`
	FailFirst    int    `json:"fail_first"`
	CrashAtBatch int    `json:"crash_at_batch"`
	RejectID     string `json:"reject_id"`
	dir          string
	batches      int
}

func (c *collect) Configure(_ context.Context, cfg sdk.Config) error {
	c.dir = cfg.DataDir
	return cfg.Decode(c)
}

func (c *collect) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if len(in.Records) == 0 {
		return nil, nil
	}
	c.batches++
	if c.CrashAtBatch > 0 && c.batches == c.CrashAtBatch && once(c.dir, "crashed") {
		os.Exit(3)
	}
	if c.FailFirst > 0 && bump(c.dir, "failures") <= c.FailFirst {
		return nil, sdk.RetryAfter(fmt.Errorf("destination unavailable"), 10*time.Millisecond)
	}
	out := &sdk.Batch{}
	f, err := os.OpenFile(c.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, sdk.Retryable(err)
	}
	defer f.Close()
	var buf []byte
	for i, r := range in.Records {
		if r.ID == c.RejectID {
			out.Reject(i, "destination said: mapper_parsing_exception")
			continue
		}
		buf = fmt.Appendf(buf, "%s %s\n", r.ID, r.Attributes["tag"])
	}
	_, err = f.Write(buf)
	return out, err
}

// once reports true the first time it is called for name in dir, across processes.
func once(dir, name string) bool {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// bump increments a counter file in dir and returns the new value.
func bump(dir, name string) int {
	p := filepath.Join(dir, name)
	b, _ := os.ReadFile(p)
	n, _ := strconv.Atoi(string(b))
	n++
	_ = os.WriteFile(p, []byte(strconv.Itoa(n)), 0o644)
	return n
}

var _ = json.Marshal
