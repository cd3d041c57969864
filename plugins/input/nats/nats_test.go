package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	natsclient "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	natsout "github.com/sentinel-audit/sentinel/plugins/output/nats"
	"github.com/sentinel-audit/sentinel/plugins/output/nats/natsconn/natstest"
	"github.com/sentinel-audit/sentinel/sdk"
)

const stream = "AUDIT"

// publish sends n events through the nats output, ids prefix-000..., and
// returns their ids.
func publish(t *testing.T, url, prefix string, n int) []string {
	t.Helper()
	o := natsout.Definition.New()
	raw := fmt.Sprintf(`{"url":%q,"stream":%q,"create_stream":true}`, url, stream)
	if err := o.(sdk.Configurer).Configure(context.Background(), sdk.Config{Name: "pub", Raw: json.RawMessage(raw)}); err != nil {
		t.Fatal(err)
	}
	defer o.(sdk.Closer).Close(context.Background())
	b := &sdk.Batch{}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":%q,"event_type":"mcp_tool_execution","n":%d}`, id, i)))
		if err != nil {
			t.Fatal(err)
		}
		b.Records = append(b.Records, r)
		ids = append(ids, id)
	}
	if _, err := o.Process(context.Background(), b); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return ids
}

func newInput(t *testing.T, url, extra string) *Input {
	t.Helper()
	in := Definition.New().(*Input)
	raw := fmt.Sprintf(`{"url":%q,"stream":%q,"durable":"pool"%s}`, url, stream, extra)
	if err := in.Configure(context.Background(), sdk.Config{Name: "test", Raw: json.RawMessage(raw)}); err != nil {
		t.Fatalf("configure %s: %v", raw, err)
	}
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	return in
}

// poll is one host poll, with the host's poll deadline.
func poll(t *testing.T, in *Input) *sdk.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	b, err := in.Process(ctx, &sdk.Batch{})
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return b
}

func idsOf(b *sdk.Batch) []string {
	var ids []string
	for _, r := range b.Records {
		ids = append(ids, r.ID)
	}
	return ids
}

func consumerInfo(t *testing.T, url string) *jetstream.ConsumerInfo {
	t.Helper()
	nc, err := natsclient.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, "pool")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRoundTripAcknowledgesOnlyWhenTheHostAcks(t *testing.T) {
	srv := natstest.Start(t)
	want := publish(t, srv.URL(), "ev", 20)
	in := newInput(t, srv.URL(), `,"batch":50`)
	b := poll(t, in)
	if got := idsOf(b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	if string(b.Records[3].Body) != `{"event_id":"ev-0003","event_type":"mcp_tool_execution","n":3}` {
		t.Fatalf("body changed: %s", b.Records[3].Body)
	}
	if b.Seq == 0 {
		t.Fatal("batch has no seq")
	}
	if n := consumerInfo(t, srv.URL()).NumAckPending; n != 20 {
		t.Fatalf("before the host acks, %d messages await an ack, want 20", n)
	}
	in.Ack(context.Background(), []uint64{b.Seq})
	eventually(t, "acks to reach JetStream", func() bool { return consumerInfo(t, srv.URL()).NumAckPending == 0 })
	if got := poll(t, in); got.Len() != 0 {
		t.Fatalf("acked messages came again: %v", idsOf(got))
	}
}

func TestUnackedBatchIsRedeliveredAfterAckWait(t *testing.T) {
	srv := natstest.Start(t)
	want := publish(t, srv.URL(), "ev", 5)
	in := newInput(t, srv.URL(), `,"ack_wait":"300ms"`)
	if got := idsOf(poll(t, in)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first delivery %v, want %v", got, want)
	}
	var again []string
	eventually(t, "redelivery", func() bool {
		again = append(again, idsOf(poll(t, in))...)
		return len(again) >= len(want)
	})
	sort.Strings(again)
	if fmt.Sprint(again) != fmt.Sprint(want) {
		t.Fatalf("redelivered %v, want %v", again, want)
	}
	if in.redelivered.Load() != int64(len(want)) {
		t.Fatalf("redelivered counter %d", in.redelivered.Load())
	}
}

func TestHostsSharingTheDurableSplitTheWork(t *testing.T) {
	srv := natstest.Start(t)
	want := publish(t, srv.URL(), "ev", 300)
	hosts := []*Input{newInput(t, srv.URL(), `,"batch":20`), newInput(t, srv.URL(), `,"batch":20`)}
	seen := map[string]int{}
	perHost := make([]int, len(hosts))
	eventually(t, "every event to be consumed", func() bool {
		for i, h := range hosts {
			b := poll(t, h)
			for _, id := range idsOf(b) {
				seen[id]++
			}
			perHost[i] += b.Len()
			if b.Len() > 0 {
				h.Ack(context.Background(), []uint64{b.Seq})
			}
		}
		return len(seen) == len(want)
	})
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s consumed %d times; acked work must not be shared twice", id, n)
		}
	}
	if perHost[0] == 0 || perHost[1] == 0 {
		t.Fatalf("work not spread: per host %v", perHost)
	}
}

func TestMessagesHeldByAHostThatDiesGoToAnotherHost(t *testing.T) {
	srv := natstest.Start(t)
	publish(t, srv.URL(), "ev", 30)
	doomed := newInput(t, srv.URL(), `,"batch":10,"ack_wait":"500ms"`)
	held := idsOf(poll(t, doomed))
	if len(held) != 10 {
		t.Fatalf("doomed host got %d messages, want 10", len(held))
	}
	// A kill -9: the connection drops, nothing is acked or given back.
	doomed.nc.Close()

	survivor := newInput(t, srv.URL(), `,"batch":100,"ack_wait":"500ms"`)
	got := map[string]bool{}
	eventually(t, "the dead host's messages to be redelivered", func() bool {
		b := poll(t, survivor)
		for _, id := range idsOf(b) {
			got[id] = true
		}
		if b.Len() > 0 {
			survivor.Ack(context.Background(), []uint64{b.Seq})
		}
		return len(got) == 30
	})
	for _, id := range held {
		if !got[id] {
			t.Fatalf("%s held by the dead host never reached the survivor", id)
		}
	}
	eventually(t, "every ack", func() bool { return consumerInfo(t, srv.URL()).NumAckPending == 0 })
}

func TestCloseGivesUndeliveredMessagesBackAtOnce(t *testing.T) {
	srv := natstest.Start(t)
	want := publish(t, srv.URL(), "ev", 8)
	leaving := newInput(t, srv.URL(), `,"ack_wait":"1m"`)
	b := poll(t, leaving)
	if b.Len() != 8 {
		t.Fatalf("got %d", b.Len())
	}
	if err := leaving.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	leaving.Ack(context.Background(), []uint64{b.Seq}) // after Close: must not ack
	other := newInput(t, srv.URL(), `,"ack_wait":"1m"`)
	start := time.Now()
	var got []string
	eventually(t, "the given-back messages", func() bool {
		got = append(got, idsOf(poll(t, other))...)
		return len(got) >= 8
	})
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("took %s: a closing host must nak, not wait for ack_wait", time.Since(start))
	}
}

func TestNonEventMessageIsDeadLetteredThenTerminated(t *testing.T) {
	srv := natstest.Start(t)
	publish(t, srv.URL(), "ev", 1) // creates the stream
	nc, err := natsclient.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(context.Background(), "mcp.audit.garbage", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	in := newInput(t, srv.URL(), `,"ack_wait":"300ms"`)
	b := poll(t, in)
	if b.Len() != 1 || len(b.Rejected) != 1 || string(b.Rejected[0].Data) != "not json" || b.Rejected[0].Index != -1 {
		t.Fatalf("batch %v rejected %+v, want one record and the bad message rejected with its data", idsOf(b), b.Rejected)
	}
	in.Ack(context.Background(), []uint64{b.Seq})
	// The host writes the dead letter before its next-but-one poll; then the
	// message is terminated and never comes again, even past ack_wait.
	poll(t, in)
	poll(t, in)
	time.Sleep(400 * time.Millisecond)
	for range 3 {
		if got := poll(t, in); got.Len() > 0 || len(got.Rejected) > 0 {
			t.Fatalf("terminated message came again: %v %+v", idsOf(got), got.Rejected)
		}
	}
	if n := consumerInfo(t, srv.URL()).NumAckPending; n != 0 {
		t.Fatalf("%d messages still await an ack", n)
	}
}

func TestNATSOutageMakesPollsEmptyNotFailingAndConsumptionResumes(t *testing.T) {
	srv := natstest.Start(t)
	publish(t, srv.URL(), "before", 3)
	in := newInput(t, srv.URL(), "")
	b := poll(t, in)
	in.Ack(context.Background(), []uint64{b.Seq})
	srv.Stop()
	for range 3 {
		if b := poll(t, in); b.Len() != 0 {
			t.Fatalf("got records with NATS down")
		}
	}
	if in.Health(context.Background()) == nil {
		t.Fatal("healthy with NATS down")
	}
	srv.Restart()
	want := publish(t, srv.URL(), "after", 4)
	var got []string
	eventually(t, "consumption to resume", func() bool {
		got = append(got, idsOf(poll(t, in))...)
		return len(got) >= 4
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the outage got %v, want %v", got, want)
	}
}

func TestEventWithoutIDGetsTheSameIDOnRedelivery(t *testing.T) {
	srv := natstest.Start(t)
	publish(t, srv.URL(), "ev", 1)
	nc, err := natsclient.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(context.Background(), "mcp.audit.x", []byte(`{"event_type":"x","timestamp":"2026-01-02T03:04:05Z"}`)); err != nil {
		t.Fatal(err)
	}
	in := newInput(t, srv.URL(), `,"ack_wait":"200ms"`)
	first := idsOf(poll(t, in))
	var again []string
	eventually(t, "redelivery", func() bool {
		again = append(again, idsOf(poll(t, in))...)
		return len(again) >= 2
	})
	if first[1] == "" || first[1] != again[1] {
		t.Fatalf("id without event_id changed across redelivery: %q then %q", first[1], again[1])
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		raw, field string
	}{
		{`{}`, ""},
		{`{"filter_subjects":["mcp.audit.*","mcp.>"]}`, ""},
		{`{"durable":"a.b"}`, "durable"},
		{`{"stream":"a b"}`, "stream"},
		{`{"filter_subjects":["mcp.>.x"]}`, "filter_subjects"},
		{`{"filter_subjects":["mcp.a*"]}`, "filter_subjects"},
		{`{"batch":0}`, ""},
		{`{"batch":20000}`, "batch"},
		{`{"max_bytes":10}`, "max_bytes"},
		{`{"ack_wait":"1ms"}`, "ack_wait"},
		{`{"max_ack_pending":10,"batch":100}`, "max_ack_pending"},
		{`{"deliver_policy":"last"}`, "deliver_policy"},
		{`{"url":"http://x"}`, "url"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			err := Definition.New().(*Input).Validate(sdk.Config{Raw: json.RawMessage(tc.raw)})
			var fe *sdk.FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("error %v, want one on %q", err, tc.field)
			}
		})
	}
}
