package nats

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/host/pipeline"
	"github.com/sentinel-audit/sentinel/plugins/output/nats/natsconn/natstest"
	"github.com/sentinel-audit/sentinel/sdk"
)

// delivered is what the test outputs of one pipeline received, by output name.
type delivered struct {
	mu  sync.Mutex
	ids map[string]map[string]bool
}

func (d *delivered) add(output string, recs []*sdk.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids[output] == nil {
		d.ids[output] = map[string]bool{}
	}
	for _, r := range recs {
		d.ids[output][r.ID] = true
	}
}

func (d *delivered) count(output string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ids[output])
}

var sink = &delivered{ids: map[string]map[string]bool{}}

// sinkDef is an output that keeps what it gets; with fail_for set it answers
// every batch with a retryable error until that much time has passed since it
// was configured (a destination outage).
var sinkDef = &sdk.Definition{
	Name: "sink", Kind: sdk.KindOutput, Version: "0", Summary: "test output",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "fail_for", Type: sdk.TypeDuration, Default: "0s", Description: "outage length"},
	}},
	New: func() sdk.Plugin { return &sinkOut{} },
}

type sinkOut struct {
	FailFor sdk.Duration `json:"fail_for"`
	name    string
	until   time.Time
}

func (s *sinkOut) Configure(_ context.Context, c sdk.Config) error {
	s.name = c.Name
	if err := c.Decode(s); err != nil {
		return err
	}
	s.until = time.Now().Add(s.FailFor.Std())
	return nil
}

func (s *sinkOut) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if len(in.Records) > 0 && time.Now().Before(s.until) {
		return nil, sdk.Retryable(fmt.Errorf("destination down"))
	}
	sink.add(s.name, in.Records)
	return &sdk.Batch{}, nil
}

// TestPipelineAcksOnlyAfterEveryOutputDelivered runs the real host pipeline:
// nats input fanned out to two outputs, one of them down for a while. The
// messages stay un-acked in JetStream until the slow output has them too.
func TestPipelineAcksOnlyAfterEveryOutputDelivered(t *testing.T) {
	srv := natstest.Start(t)
	want := publish(t, srv.URL(), "ev", 40)
	defs := []*sdk.Definition{Definition, sinkDef}
	cat, err := catalog.New(defs, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := fmt.Sprintf(`
sentinel { data_dir = "data" }
input "nats" "bus" {
  url      = %q
  stream   = %q
  durable  = "pool"
  ack_wait = "30s"
}
output "sink" "fast" {
  inputs = [input.nats.bus]
}
output "sink" "slow" {
  inputs   = [input.nats.bus]
  fail_for = "1500ms"
  retry {
    initial = "100ms"
    max     = "200ms"
  }
}
`, srv.URL(), stream)
	cfg, diags := config.LoadSource(filepath.Join(dir, "pipeline.hcl"), []byte(src), cat)
	if diags.HasErrors() {
		t.Fatalf("config: %s", diags.Error())
	}
	p, err := pipeline.Start(context.Background(), cfg,
		pipeline.LocalLauncher{Defs: map[string]*sdk.Definition{"nats": Definition, "sink": sinkDef}},
		pipeline.Options{InProcess: true, PollWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	}()
	eventually(t, "the fast output to have every event", func() bool { return sink.count("fast") == len(want) })
	if sink.count("slow") != 0 {
		t.Fatal("the slow output delivered during its outage")
	}
	if n := consumerInfo(t, srv.URL()).NumAckPending; n != len(want) {
		t.Fatalf("with one output still down, %d messages await an ack, want all %d", n, len(want))
	}
	eventually(t, "the slow output to catch up", func() bool { return sink.count("slow") == len(want) })
	eventually(t, "every message acked", func() bool {
		info := consumerInfo(t, srv.URL())
		return info.NumAckPending == 0 && info.NumPending == 0
	})
}
