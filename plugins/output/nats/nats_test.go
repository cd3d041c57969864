package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	natsclient "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sentinel-audit/sentinel/plugins/output/nats/natsconn/natstest"
	"github.com/sentinel-audit/sentinel/sdk"
)

func configured(t *testing.T, raw string) *Output {
	t.Helper()
	o := Definition.New().(*Output)
	if err := o.Configure(context.Background(), sdk.Config{Name: "test", DataDir: t.TempDir(), Raw: json.RawMessage(raw)}); err != nil {
		t.Fatalf("configure %s: %v", raw, err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

func event(id, typ string) *sdk.Record {
	body := fmt.Sprintf(`{"event_id":%q,"event_type":%q,"timestamp":"2026-01-02T03:04:05Z","tool_name":"search"}`, id, typ)
	r, err := sdk.NewRecord([]byte(body))
	if err != nil {
		panic(err)
	}
	return r
}

// streamMessages reads every message of the stream, in order.
func streamMessages(t *testing.T, url, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	nc, err := natsclient.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

func TestPublishesEachEventOnItsTypeSubjectWithItsIDAsMsgID(t *testing.T) {
	srv := natstest.Start(t)
	o := configured(t, fmt.Sprintf(`{"url":%q,"create_stream":true,"stream":"AUDIT","subject_prefix":"mcp.audit"}`, srv.URL()))
	in := &sdk.Batch{Records: []*sdk.Record{
		event("01J00000000000000000000001", sdk.EventToolExecution),
		event("01J00000000000000000000002", sdk.EventPolicyViolations),
		event("01J00000000000000000000003", "custom.type with space"),
		event("01J00000000000000000000004", ""),
	}}
	out, err := o.Process(context.Background(), in)
	if err != nil || len(out.Rejected) > 0 {
		t.Fatalf("process: %v, rejected %v", err, out.Rejected)
	}
	msgs := streamMessages(t, srv.URL(), "AUDIT")
	wantSubjects := []string{"mcp.audit.mcp_tool_execution", "mcp.audit.mcp_policy_violations", "mcp.audit.custom_type_with_space", "mcp.audit.unknown"}
	if len(msgs) != len(wantSubjects) {
		t.Fatalf("stream holds %d messages, want %d", len(msgs), len(wantSubjects))
	}
	for i, m := range msgs {
		if m.Subject != wantSubjects[i] {
			t.Errorf("message %d subject %q, want %q", i, m.Subject, wantSubjects[i])
		}
		if got := m.Header.Get(jetstream.MsgIDHeader); got != in.Records[i].ID {
			t.Errorf("message %d Nats-Msg-Id %q, want %q", i, got, in.Records[i].ID)
		}
		if string(m.Data) != string(in.Records[i].Body) {
			t.Errorf("message %d body changed:\n%s\nwant\n%s", i, m.Data, in.Records[i].Body)
		}
	}
}

func TestRetriedBatchIsStoredOnceThanksToMsgID(t *testing.T) {
	srv := natstest.Start(t)
	o := configured(t, fmt.Sprintf(`{"url":%q,"create_stream":true}`, srv.URL()))
	batch := &sdk.Batch{}
	for i := range 50 {
		batch.Records = append(batch.Records, event(fmt.Sprintf("01J000000000000000000000%02d", i), sdk.EventToolExecution))
	}
	for attempt := range 3 {
		if _, err := o.Process(context.Background(), batch); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	if n := len(streamMessages(t, srv.URL(), defaultStream)); n != 50 {
		t.Fatalf("stream holds %d messages after 3 publishes of the same 50 events, want 50", n)
	}
	if d := o.duplicates.Load(); d != 100 {
		t.Fatalf("duplicates counter %d, want 100", d)
	}
}

func TestNATSDownIsRetryableAndDeliveryResumesWhenItIsBack(t *testing.T) {
	srv := natstest.Start(t)
	o := configured(t, fmt.Sprintf(`{"url":%q,"create_stream":true,"publish_timeout":"500ms"}`, srv.URL()))
	if _, err := o.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{event("01J0000000000000000000000A", "a")}}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	batch := &sdk.Batch{Records: []*sdk.Record{event("01J0000000000000000000000B", "b"), event("01J0000000000000000000000C", "c")}}
	_, err := o.Process(context.Background(), batch)
	var re *sdk.RetryError
	if !errors.As(err, &re) {
		t.Fatalf("with NATS down Process returned %v, want a RetryError", err)
	}
	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err = o.Process(context.Background(), batch)
		if err == nil {
			break
		}
		if !sdk.IsRetryable(err) || time.Now().After(deadline) {
			t.Fatalf("after NATS came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := len(streamMessages(t, srv.URL(), defaultStream)); n != 3 {
		t.Fatalf("stream holds %d messages, want 3", n)
	}
}

func TestNATSUnreachableAtStartDoesNotFailConfigure(t *testing.T) {
	srv := natstest.Start(t)
	url := srv.URL()
	srv.Stop()
	o := configured(t, fmt.Sprintf(`{"url":%q,"create_stream":true,"connect_timeout":"200ms"}`, url))
	_, err := o.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{event("01J0000000000000000000000D", "d")}})
	if !sdk.IsRetryable(err) {
		t.Fatalf("Process with NATS down: %v, want retryable", err)
	}
	if o.Health(context.Background()) == nil {
		t.Fatal("Health reports healthy with NATS down")
	}
}

func TestOversizedEventIsRejectedAndTheRestDelivered(t *testing.T) {
	srv := natstest.Start(t)
	o := configured(t, fmt.Sprintf(`{"url":%q,"create_stream":true}`, srv.URL()))
	big := event("01J0000000000000000000000E", "big")
	big.Body = json.RawMessage(`{"event_id":"01J0000000000000000000000E","pad":"` + strings.Repeat("x", 2<<20) + `"}`)
	batch := &sdk.Batch{Records: []*sdk.Record{event("01J0000000000000000000000F", "ok"), big, event("01J0000000000000000000000G", "ok")}}
	out, err := o.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rejected) != 1 || out.Rejected[0].Index != 1 || !strings.Contains(out.Rejected[0].Reason, "max_payload") {
		t.Fatalf("rejected %+v, want record 1 for max_payload", out.Rejected)
	}
	if n := len(streamMessages(t, srv.URL(), defaultStream)); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
}

func TestFullWorkqueueStreamRefusesInsteadOfDroppingUnread(t *testing.T) {
	srv := natstest.Start(t)
	o := configured(t, fmt.Sprintf(`{"url":%q,"create_stream":true,"retention":"workqueue","max_bytes":"4KiB"}`, srv.URL()))
	var first []*sdk.Record
	for i := range 40 {
		first = append(first, event(fmt.Sprintf("01J000000000000000000000%02d", i), sdk.EventToolExecution))
	}
	_, err := o.Process(context.Background(), &sdk.Batch{Records: first})
	var retry *sdk.RetryError
	if !errors.As(err, &retry) || len(retry.Indices) == 0 {
		t.Fatalf("publishing past max_bytes: %v, want a retry of what did not fit", err)
	}
	stored := streamMessages(t, srv.URL(), defaultStream)
	if len(stored) == 0 || stored[0].Header.Get(jetstream.MsgIDHeader) != first[0].ID {
		t.Fatalf("the stream dropped its oldest unread event to make room (%d stored)", len(stored))
	}
	if len(stored)+len(retry.Indices) != len(first) {
		t.Fatalf("%d stored + %d to retry, want all %d accounted for", len(stored), len(retry.Indices), len(first))
	}
}

func TestStreamChecks(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := natsclient.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "WIDE", Subjects: []string{"mcp.*.>"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw, wantErr string
	}{
		{"missing stream without create_stream", `"stream":"NOPE"`, "does not exist"},
		{"stream that does not capture the prefix", `"stream":"OTHER"`, "not mcp.audit.>"},
		{"stream with a wider wildcard", `"stream":"WIDE"`, ""},
		{"existing stream with create_stream is checked, not replaced", `"stream":"WIDE","create_stream":true`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Definition.New().(*Output)
			raw := fmt.Sprintf(`{"url":%q,%s}`, srv.URL(), tc.raw)
			err := o.Configure(context.Background(), sdk.Config{Name: "t", Raw: json.RawMessage(raw)})
			defer o.Close(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("configure: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("configure error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		raw, field string
	}{
		{`{}`, ""},
		{`{"url":"http://x:4222"}`, "url"},
		{`{"token":"t","user":"u"}`, "creds_file"},
		{`{"password":"p"}`, "password"},
		{`{"tls":{"cert_file":"c.pem"}}`, "tls.cert_file"},
		{`{"stream":"a.b"}`, "stream"},
		{`{"subject_prefix":"mcp.*"}`, "subject_prefix"},
		{`{"subject_prefix":"mcp..audit"}`, "subject_prefix"},
		{`{"replicas":7}`, "replicas"},
		{`{"retention":"forever"}`, "retention"},
		{`{"storage":"tape"}`, "storage"},
		{`{"duplicate_window":"100ms"}`, "duplicate_window"},
		{`{"max_age":"1m","duplicate_window":"2m"}`, "duplicate_window"},
		{`{"max_pending":-1}`, "max_pending"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			err := Definition.New().(*Output).Validate(sdk.Config{Raw: json.RawMessage(tc.raw)})
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

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"mcp.audit.>", "mcp.audit.>", true},
		{">", "mcp.audit.>", true},
		{"mcp.>", "mcp.audit.>", true},
		{"mcp.*.>", "mcp.audit.>", true},
		{"mcp.audit.*", "mcp.audit.>", false},
		{"mcp.audit", "mcp.audit.>", false},
		{"mcp.audit.x.>", "mcp.audit.>", false},
		{"other.>", "mcp.audit.>", false},
	} {
		if got := covers(tc.filter, tc.subject); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.filter, tc.subject, got, tc.want)
		}
	}
}
