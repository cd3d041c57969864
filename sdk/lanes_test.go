package sdk_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

// laneStage logs the batches it runs; "slow" holds its first batch until the
// stage before it has started the next one, which only happens when the
// stages run side by side.
type laneStage struct {
	name    string
	log     *laneLog
	waitFor chan struct{} // closed by the stage before when it starts its second batch
	started chan struct{} // closed when this stage starts its second batch
	panicAt string
}

type laneLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *laneLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (s *laneStage) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if len(in.Records) == 0 {
		return nil, nil
	}
	id := in.Records[0].ID
	if id == s.panicAt {
		panic("bad record " + id)
	}
	s.log.add(s.name + ":" + id)
	if id == "b1" && s.started != nil {
		close(s.started)
	}
	if id == "b0" && s.waitFor != nil {
		select {
		case <-s.waitFor:
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("%s ran alone: the stage before never started the next batch", s.name)
		}
	}
	return &sdk.Batch{Records: in.Records}, nil
}

// Served, each stage runs on its own goroutine: the first stage takes batch
// b1 while the second still holds b0, every stage sees the batches in the
// order they came, and the answers come back in that order.
func TestServedStagesRunSideBySideInOrder(t *testing.T) {
	log := &laneLog{}
	aStarted := make(chan struct{})
	def, err := sdk.Fuse(
		&sdk.Definition{Name: "a", Kind: sdk.KindFilter, Version: "0", Summary: "first",
			New: func() sdk.Plugin { return &laneStage{name: "a", log: log, started: aStarted} }},
		&sdk.Definition{Name: "b", Kind: sdk.KindFilter, Version: "0", Summary: "second",
			New: func() sdk.Plugin { return &laneStage{name: "b", log: log, waitFor: aStarted, panicAt: "b3"} }})
	if err != nil {
		t.Fatal(err)
	}
	conn := sdktest.RPC(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x"}, sdk.FusedStage{Name: "y"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := conn.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseSend()
	for i := 0; i < 4; i++ {
		recs := idRecords(fmt.Sprintf("b%d", i))
		if err := s.Send(&sdk.Frame{Kind: sdk.FrameProcess, Seq: uint64(10 + i), Batch: &sdk.Batch{Records: recs}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		res, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if res.Seq != uint64(10+i) {
			t.Fatalf("answer %d has seq %d: answers must come in the order of the requests", i, res.Seq)
		}
		if i < 3 && (res.Err != nil || len(res.Batch.Records) != 1 || res.Batch.Records[0].ID != fmt.Sprintf("b%d", i)) {
			t.Fatalf("answer %d: %+v %v", i, res.Batch, res.Err)
		}
		if i == 3 {
			if pe, ok := res.Err.(*sdk.PanicError); !ok || !strings.Contains(pe.Value, "b y: bad record b3") {
				t.Fatalf("a stage's panic must answer its batch as a panic naming the stage: %v", res.Err)
			}
		}
	}
	var a, b []string
	for _, line := range log.lines {
		if strings.HasPrefix(line, "a:") {
			a = append(a, line[2:])
		} else {
			b = append(b, line[2:])
		}
	}
	if strings.Join(a, " ") != "b0 b1 b2 b3" || strings.Join(b, " ") != "b0 b1 b2" {
		t.Fatalf("stage a ran %v, stage b ran %v: each must see every batch once, in order", a, b)
	}
}
