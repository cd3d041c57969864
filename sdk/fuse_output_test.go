package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

// sinkOutput delivers records into got, and can refuse ids, ask for some
// records again once, be down for a number of attempts, or fail for good.
type sinkOutput struct {
	got     *[]string
	refuse  map[string]bool
	again   []int
	outage  int
	failFor string
}

func (s *sinkOutput) Configure(_ context.Context, cfg sdk.Config) error {
	var c struct {
		Refuse  []string `json:"refuse"`
		Again   []string `json:"again"`
		Outage  int      `json:"outage"`
		FailFor string   `json:"fail"`
	}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	s.refuse = map[string]bool{}
	for _, id := range c.Refuse {
		s.refuse[id] = true
	}
	s.again, s.outage, s.failFor = nil, c.Outage, c.FailFor
	for _, a := range c.Again {
		i, err := strconv.Atoi(a)
		if err != nil {
			return err
		}
		s.again = append(s.again, i)
	}
	return nil
}

func (s *sinkOutput) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if len(in.Records) == 0 {
		return nil, nil
	}
	if s.outage > 0 {
		s.outage--
		return nil, sdk.Retryable(errors.New("503 service unavailable"))
	}
	if s.failFor != "" {
		return nil, errors.New(s.failFor)
	}
	out := &sdk.Batch{}
	retry := map[int]bool{}
	for _, i := range s.again {
		retry[i] = true
	}
	for i, r := range in.Records {
		switch {
		case s.refuse[r.ID]:
			out.Reject(i, "sink refuses "+r.ID)
		case retry[i]:
		default:
			*s.got = append(*s.got, r.ID+"="+string(r.Body))
		}
	}
	if len(s.again) > 0 {
		idx := s.again
		s.again = nil
		return out, &sdk.RetryError{Err: errors.New("429 slow down"), Indices: idx}
	}
	return out, nil
}

func sinkDef(got *[]string) *sdk.Definition {
	return &sdk.Definition{Name: "sink", Kind: sdk.KindOutput, Version: "0", Summary: "test output",
		Config: sdk.Schema{Fields: []sdk.Field{
			{Name: "refuse", Type: sdk.TypeStringList, Description: "ids to refuse"},
			{Name: "again", Type: sdk.TypeStringList, Description: "request indices to ask for once more, once"},
			{Name: "outage", Type: sdk.TypeInt, Description: "attempts answered 503"},
			{Name: "fail", Type: sdk.TypeString, Description: "fail every batch for good with this error"},
		}},
		New: func() sdk.Plugin { return &sinkOutput{got: got} }}
}

func idRecords(ids ...string) []*sdk.Record {
	recs := sdktest.Records(len(ids))
	for i, id := range ids {
		recs[i].ID = id
	}
	return recs
}

func configured(t *testing.T, conn sdk.Conn, def *sdk.Definition, stages ...sdk.FusedStage) {
	t.Helper()
	if err := conn.Configure(context.Background(), def.Name, "", fusedConfig(t, stages...), false); err != nil {
		t.Fatal(err)
	}
}

// A chain ending in an output is that output: nothing travels back but the
// answer, and what the output refuses comes back with the body it was given.
func TestAChainEndingInAnOutputDeliversAndAnswersAsTheOutput(t *testing.T) {
	var seen, got []string
	def, err := sdk.Fuse(stepDef("a", 0, &seen), sinkDef(&got))
	if err != nil {
		t.Fatal(err)
	}
	if def.Kind != sdk.KindOutput || def.Name != "a+sink" {
		t.Fatalf("fused %s %q: want an output named a+sink", def.Kind, def.Name)
	}
	if _, err := sdk.Fuse(sinkDef(&got), stepDef("a", 0, &seen)); err == nil {
		t.Fatal("an output before a filter must be refused")
	}
	conn := sdktest.RPC(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{"stamp_body":true}`)},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"refuse":["r1"]}`)})
	out, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: idRecords("r0", "r1", "r2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 0 || len(got) != 2 || !strings.HasPrefix(got[0], `r0={"stamped_by":"x"`) || !strings.HasPrefix(got[1], "r2=") {
		t.Fatalf("delivered %v, answered %d records", got, len(out.Records))
	}
	if len(out.Rejected) != 1 || out.Rejected[0].Index != -1 || out.Rejected[0].Reason != "sink refuses r1" ||
		!strings.HasPrefix(string(out.Rejected[0].Data), `{"stamped_by":"x"`) {
		t.Fatalf("rejections: %+v", out.Rejected)
	}
	if st := out.Stages[1]; st.In != 3 || st.Out != 2 || st.Rejected != 1 {
		t.Fatalf("output stage %+v: want 3 in, 2 delivered, 1 refused", st)
	}
}

// An output asking for some records again gets those, and only those, when
// the host retries the batch; the filters do not see it twice.
func TestAnOutputsPartialRetryResumesWithItsRecordsOnly(t *testing.T) {
	var seen, got []string
	def, _ := sdk.Fuse(stepDef("a", 0, &seen), sinkDef(&got))
	conn := sdktest.RPC(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{}`)},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"again":["1","1"]}`)})
	recs := idRecords("r0", "r1", "r2")
	_, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: recs})
	var re *sdk.RetryError
	if !errors.As(err, &re) || re.Indices != nil || !strings.Contains(err.Error(), "sink y: 429 slow down") {
		t.Fatalf("error %v: want a retry of the whole chain's batch, naming the output", err)
	}
	out, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Seq: 7, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "x::batch" || len(got) != 3 || !strings.HasPrefix(got[2], "r1=") {
		t.Fatalf("filters saw %v; delivered %v", seen, got)
	}
	if st := out.Stages[1]; st.In != 3 || st.Out != 3 || st.Rejected != 0 {
		t.Fatalf("output stage %+v: want 3 in, 3 delivered over both attempts", st)
	}
}

// A batch the output fails for good is dead-lettered as the output saw it
// (tokenized, encrypted, signed), not as the chain received it.
func TestABatchTheOutputCannotTakeIsDeadLetteredAsItWasGiven(t *testing.T) {
	var seen, got []string
	def, _ := sdk.Fuse(stepDef("a", 0, &seen), sinkDef(&got))
	conn := sdktest.RPC(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{"stamp_body":true}`)},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"fail":"400 invalid event"}`)})
	out, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: idRecords("r0", "r1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rejected) != 2 || out.Rejected[1].Index != -1 || out.Rejected[1].Reason != "400 invalid event" ||
		!strings.HasPrefix(string(out.Rejected[1].Data), `{"stamped_by":"x"`) || out.Stages[1].Rejected != 2 {
		t.Fatalf("rejections %+v, stages %+v", out.Rejected, out.Stages)
	}
}

// Each stage keeps its own retry budget: a filter that keeps failing a batch
// gives it up after its max_attempts, while an output waiting out an outage
// with no limit loses nothing to the filter's budget.
func TestEachFusedStageGivesUpOnItsOwnBudget(t *testing.T) {
	var seen, got []string
	def, _ := sdk.Fuse(stepDef("a", 0, &seen), sinkDef(&got))
	conn := sdktest.Local(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{"fail":"vault sealed"}`), MaxAttempts: 2},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{}`)})
	recs := idRecords("r0", "r1")
	_, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: recs})
	if !sdk.IsRetryable(err) {
		t.Fatalf("a filter's failure in a chain ending in an output must be retried, not dead-lettered: %v", err)
	}
	out, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rejected) != 2 || out.Rejected[1].Index != 1 || !strings.HasPrefix(out.Rejected[1].Reason, "gave up after 2 attempts: a x: vault sealed") ||
		len(got) != 0 || out.Stages[0].Rejected != 2 {
		t.Fatalf("second attempt: rejections %+v, delivered %v, stages %+v", out.Rejected, got, out.Stages)
	}

	seen = nil
	conn = sdktest.Local(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{}`), MaxAttempts: 2},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"outage":3}`)})
	for attempt := 1; attempt <= 3; attempt++ {
		if _, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: recs}); !sdk.IsRetryable(err) {
			t.Fatalf("attempt %d during the outage: %v", attempt, err)
		}
	}
	out, err = sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: recs})
	if err != nil || len(out.Rejected) != 0 || len(got) != 2 || len(seen) != 1 {
		t.Fatalf("after the outage: err %v, rejections %+v, delivered %v, filter ran %d times", err, out.Rejected, got, len(seen))
	}
}

// tickEmitter emits one record on every empty batch, as the signer emits a
// checkpoint on the idle tick.
type tickEmitter struct{ n int }

func (e *tickEmitter) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if len(in.Records) > 0 {
		return &sdk.Batch{Records: in.Records}, nil
	}
	e.n++
	return &sdk.Batch{Records: idRecords(fmt.Sprintf("tick-%d", e.n))}, nil
}

// What the filters make of an empty batch is not lost when the output is
// down: the host never retries an empty batch, so it goes out ahead of the
// next one, in the order it was made.
func TestRecordsMadeOnATickReachAnOutputThatWasDown(t *testing.T) {
	var got []string
	def, _ := sdk.Fuse(&sdk.Definition{Name: "ticker", Kind: sdk.KindFilter, Version: "0", Summary: "tick records",
		New: func() sdk.Plugin { return &tickEmitter{} }}, sinkDef(&got))
	conn := sdktest.RPC(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x"}, sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"outage":2}`)})
	for tick := 1; tick <= 2; tick++ {
		if _, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{}); !sdk.IsRetryable(err) {
			t.Fatalf("tick %d while the output is down: %v", tick, err)
		}
	}
	out, err := sdktest.Process(t, conn, sdk.KindOutput, &sdk.Batch{Records: idRecords("r0")})
	if err != nil {
		t.Fatal(err)
	}
	if st := out.Stages[1]; st.In != 3 || st.Out != 3 {
		t.Fatalf("output stage %+v: the carried records count as arrived and delivered", st)
	}
	var ids []string
	for _, g := range got {
		ids = append(ids, g[:strings.IndexByte(g, '=')])
	}
	if strings.Join(ids, " ") != "tick-1 tick-2 r0" {
		t.Fatalf("delivered %v: want both ticks' records, then the batch", ids)
	}
}

// A tick's records carried into the retry of a batch the output failed are
// counted as arrived with it.
func TestTickRecordsCarriedIntoARetryAreCounted(t *testing.T) {
	var got []string
	def, _ := sdk.Fuse(&sdk.Definition{Name: "ticker", Kind: sdk.KindFilter, Version: "0", Summary: "tick records",
		New: func() sdk.Plugin { return &tickEmitter{} }}, sinkDef(&got))
	conn := sdktest.RPC(t, def)
	configured(t, conn, def, sdk.FusedStage{Name: "x"}, sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"outage":2}`)})
	batch := &sdk.Batch{Records: idRecords("r0")}
	for _, b := range []*sdk.Batch{batch, {}} {
		if _, err := sdktest.Process(t, conn, sdk.KindOutput, b); !sdk.IsRetryable(err) {
			t.Fatalf("while the output is down: %v", err)
		}
	}
	out, err := sdktest.Process(t, conn, sdk.KindOutput, batch)
	if err != nil {
		t.Fatal(err)
	}
	if st := out.Stages[1]; st.In != 2 || st.Out != 2 || len(got) != 2 {
		t.Fatalf("output stage %+v, delivered %v: want the batch and the tick's record in and out", st, got)
	}
}
