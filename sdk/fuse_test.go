package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

// stepFilter tags records with its name, rejects the ids it is told to,
// remembers what it was sent, and can fail.
type stepFilter struct {
	name      string
	reject    map[string]bool
	fail      error
	failOnce  bool
	stampBody bool // rewrite each body, as a tokenizer does
	seen      *[]string
	dataDir   string
}

func (s *stepFilter) Configure(_ context.Context, cfg sdk.Config) error {
	var c struct {
		Reject    []string `json:"reject"`
		Fail      string   `json:"fail"`
		FailOnce  bool     `json:"fail_once"`
		StampBody bool     `json:"stamp_body"`
	}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	s.name, s.dataDir, s.reject = cfg.Name, cfg.DataDir, map[string]bool{}
	for _, id := range c.Reject {
		s.reject[id] = true
	}
	if c.Fail != "" {
		s.fail = sdk.Retryable(errors.New(c.Fail))
	}
	s.failOnce, s.stampBody = c.FailOnce, c.StampBody
	return nil
}

func (s *stepFilter) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	*s.seen = append(*s.seen, s.name+":"+s.dataDir+":"+map[bool]string{true: "final", false: "batch"}[in.Final])
	if s.fail != nil {
		return nil, s.fail
	}
	if s.failOnce {
		s.failOnce = false
		return nil, sdk.Retryable(errors.New("not yet"))
	}
	out := &sdk.Batch{}
	for i, r := range in.Records {
		if s.reject[r.ID] {
			out.Reject(i, s.name+" refuses "+r.ID)
			continue
		}
		if r.Attributes == nil {
			r.Attributes = map[string]string{}
		}
		r.Attributes["path"] += "/" + s.name
		if s.stampBody {
			r.Body = append([]byte(`{"stamped_by":"`+s.name+`",`), r.Body[1:]...)
		}
		out.Records = append(out.Records, r)
	}
	return out, nil
}

func stepDef(name string, tick time.Duration, seen *[]string) *sdk.Definition {
	return &sdk.Definition{Name: name, Kind: sdk.KindFilter, Version: "0", Summary: "test stage", Tick: sdk.Duration(tick),
		Config: sdk.Schema{Fields: []sdk.Field{
			{Name: "reject", Type: sdk.TypeStringList, Description: "ids to reject"},
			{Name: "fail", Type: sdk.TypeString, Description: "fail every batch with this error"},
			{Name: "fail_once", Type: sdk.TypeBool, Description: "fail the first batch, retryably"},
			{Name: "stamp_body", Type: sdk.TypeBool, Description: "rewrite each record's body"},
		}},
		New: func() sdk.Plugin { return &stepFilter{seen: seen} }}
}

func fusedConfig(t *testing.T, stages ...sdk.FusedStage) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(stages)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestFusedStagesRunInOrderOverTheWire(t *testing.T) {
	var seen []string
	def, err := sdk.Fuse(stepDef("a", 5*time.Second, &seen), stepDef("b", 0, &seen), stepDef("c", time.Second, &seen))
	if err != nil {
		t.Fatal(err)
	}
	if def.Name != "a+b+c" || def.Tick.Std() != time.Second {
		t.Fatalf("fused definition %q tick %v: want a+b+c and the shortest tick", def.Name, def.Tick)
	}
	conn := sdktest.RPC(t, def)
	raw := fusedConfig(t,
		sdk.FusedStage{Name: "first", DataDir: "/d/a", Config: json.RawMessage(`{"reject":["r1"]}`)},
		sdk.FusedStage{Name: "second", DataDir: "/d/b", Config: json.RawMessage(`{"reject":["r3"]}`)},
		sdk.FusedStage{Name: "third", DataDir: "/d/c", Config: json.RawMessage(`{}`)})
	if err := conn.Configure(context.Background(), def.Name, "", raw, false); err != nil {
		t.Fatal(err)
	}
	recs := sdktest.Records(4)
	for i, id := range []string{"r0", "r1", "r2", "r3"} {
		recs[i].ID = id
	}
	body3 := string(recs[3].Body)
	out, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 2 || out.Records[0].ID != "r0" || out.Records[1].Attributes["path"] != "/first/second/third" {
		t.Fatalf("records: %+v", out.Records)
	}
	want := []sdk.StageStats{{In: 4, Out: 3, Rejected: 1}, {In: 3, Out: 2, Rejected: 1}, {In: 2, Out: 2}}
	if len(out.Stages) != len(want) {
		t.Fatalf("%d stage stats, want %d", len(out.Stages), len(want))
	}
	for i, st := range out.Stages {
		st.Duration = 0
		if st != want[i] {
			t.Fatalf("stage %d: %+v, want %+v", i, st, want[i])
		}
	}
	if len(out.Rejected) != 2 || out.Rejected[0].Index != 1 || out.Rejected[1].Index != -1 ||
		string(out.Rejected[1].Data) != body3 || out.Rejected[1].Reason != "second refuses r3" {
		t.Fatalf("rejections: the first stage's index its request, later ones carry the record: %+v", out.Rejected)
	}
	// Every stage sees the Final batch, even when the one before passed nothing on.
	seen = nil
	if _, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Final: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "first:/d/a:final second:/d/b:final third:/d/c:final" {
		t.Fatalf("stages saw %v", seen)
	}
}

func TestAFusedStageErrorNamesTheStageAndKeepsItsKind(t *testing.T) {
	var seen []string
	def, _ := sdk.Fuse(stepDef("a", 0, &seen), stepDef("b", 0, &seen))
	conn := sdktest.Local(t, def)
	raw := fusedConfig(t, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{}`)},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"fail":"vault sealed"}`)})
	if err := conn.Configure(context.Background(), def.Name, "", raw, false); err != nil {
		t.Fatal(err)
	}
	_, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Records: sdktest.Records(2)})
	var re *sdk.RetryError
	if err == nil || !strings.Contains(err.Error(), "b y: vault sealed") || !errors.As(err, &re) {
		t.Fatalf("error %v: want the stage named and still retryable", err)
	}
	if err := conn.Configure(context.Background(), def.Name, "", fusedConfig(t, sdk.FusedStage{Name: "x"}), false); err == nil {
		t.Fatal("a config with fewer stages than filters must be refused")
	}
	if _, err := sdk.Fuse(stepDef("a", 0, &seen)); err == nil {
		t.Fatal("fusing one filter must be refused")
	}
}

// A retry of a batch a later stage failed resumes at that stage: the stages
// before it do not see the records twice, as when each had its own process.
func TestARetriedBatchResumesAtTheStageThatFailed(t *testing.T) {
	var seen []string
	def, _ := sdk.Fuse(stepDef("a", 0, &seen), stepDef("b", 0, &seen), stepDef("c", 0, &seen))
	conn := sdktest.Local(t, def)
	raw := fusedConfig(t, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{"reject":["r1"]}`)},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{}`)},
		sdk.FusedStage{Name: "z", Config: json.RawMessage(`{"fail_once":true}`)})
	if err := conn.Configure(context.Background(), def.Name, "", raw, false); err != nil {
		t.Fatal(err)
	}
	batch := func() *sdk.Batch {
		recs := sdktest.Records(3)
		for i, id := range []string{"r0", "r1", "r2"} {
			recs[i].ID = id
		}
		return &sdk.Batch{Records: recs}
	}
	first := batch()
	if _, err := sdktest.Process(t, conn, sdk.KindFilter, first); err == nil {
		t.Fatal("the third stage should have failed the first attempt")
	}
	// The host retries the same records under a new sequence number.
	out, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Seq: 9, Records: first.Records})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "x::batch y::batch z::batch z::batch" {
		t.Fatalf("stages saw %v: the retry must start at the stage that failed", seen)
	}
	if len(out.Records) != 2 || out.Records[0].Attributes["path"] != "/x/y/z" || len(out.Rejected) != 1 || out.Rejected[0].Index != 1 ||
		out.Stages[0].In != 3 || out.Stages[0].Rejected != 1 {
		t.Fatalf("the resumed answer must carry the earlier stages' work: %+v %+v %+v", out.Records, out.Rejected, out.Stages)
	}
	// A different batch starts from the first stage.
	seen = nil
	if _, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Records: sdktest.Records(1)}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("a new batch went through %v", seen)
	}
}

func TestPluginNamesCannotLookFused(t *testing.T) {
	def := &sdk.Definition{Name: "a+b", Kind: sdk.KindFilter, New: func() sdk.Plugin { return nil }}
	if err := def.Check(); err == nil {
		t.Fatal("a plugin named a+b would be taken for two fused filters")
	}
}

// An idle tick a later stage fails on is not retried by the host, so it must
// not be resumed either: the next empty batch (a Final one) reaches every stage.
func TestAFailedEmptyBatchIsNotResumed(t *testing.T) {
	var seen []string
	def, _ := sdk.Fuse(stepDef("a", 0, &seen), stepDef("b", 0, &seen))
	conn := sdktest.Local(t, def)
	raw := fusedConfig(t, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{}`)},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"fail_once":true}`)})
	if err := conn.Configure(context.Background(), def.Name, "", raw, false); err != nil {
		t.Fatal(err)
	}
	if _, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{}); err == nil {
		t.Fatal("the second stage should have failed the tick")
	}
	seen = nil
	if _, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Final: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "x::final y::final" {
		t.Fatalf("the Final batch reached %v", seen)
	}
}

// Out of process the host retries with the records as it sent them, while
// the first stage had already rewritten their bodies in the plugin: the
// retry must still be recognised and resume at the stage that failed.
func TestAResumeOverTheWireSurvivesAStageThatRewritesBodies(t *testing.T) {
	resumeAfterRewrite(t, sdktest.RPC)
}

// In the host's process the records are the host's own: a stage replacing
// their bodies must not change what the host retries with.
func TestAResumeInProcessSurvivesAStageThatRewritesBodies(t *testing.T) {
	resumeAfterRewrite(t, sdktest.Local)
}

func resumeAfterRewrite(t *testing.T, connect func(testing.TB, *sdk.Definition) sdk.Conn) {
	var seen []string
	def, _ := sdk.Fuse(stepDef("a", 0, &seen), stepDef("b", 0, &seen))
	conn := connect(t, def)
	raw := fusedConfig(t, sdk.FusedStage{Name: "x", Config: json.RawMessage(`{"stamp_body":true}`)},
		sdk.FusedStage{Name: "y", Config: json.RawMessage(`{"fail_once":true}`)})
	if err := conn.Configure(context.Background(), def.Name, "", raw, false); err != nil {
		t.Fatal(err)
	}
	recs := sdktest.Records(3)
	if _, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Records: recs}); err == nil {
		t.Fatal("the second stage should have failed the first attempt")
	}
	out, err := sdktest.Process(t, conn, sdk.KindFilter, &sdk.Batch{Seq: 2, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "x::batch y::batch y::batch" || !strings.Contains(string(out.Records[0].Body), `"stamped_by":"x"`) {
		t.Fatalf("stages saw %v; body %s", seen, out.Records[0].Body)
	}
}
