package receivertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/splunkhecreceiver"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/sentinel-audit/sentinel/plugins/output/splunk_hec"
	"github.com/sentinel-audit/sentinel/sdk"
)

// startHEC runs the OpenTelemetry Collector's Splunk HEC receiver on loopback.
func startHEC(t *testing.T, next consumer.Logs) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := splunkhecreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*splunkhecreceiver.Config)
	cfg.Endpoint = addr
	rcv, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rcv.Shutdown(context.Background()) })
	return "http://" + addr
}

func hecOutput(t *testing.T, url string, extra map[string]any) sdk.Plugin {
	t.Helper()
	cfg := map[string]any{"endpoint": url, "token": "00000000-0000-0000-0000-000000000000", "index": "mcp_audit",
		"sourcetype": "mcp:audit", "source": "sentinel-test", "hostname": "gw-1", "timeout": "5s"}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	p := splunk_hec.Definition.New()
	// health_check is on: Configure probes the receiver's /services/collector/health.
	if err := p.(sdk.Configurer).Configure(context.Background(), sdk.Config{Name: "otel", Raw: raw}); err != nil {
		t.Fatalf("Configure against the OTel receiver: %v", err)
	}
	t.Cleanup(func() { _ = p.(sdk.Closer).Close(context.Background()) })
	return p
}

func records(n int) *sdk.Batch {
	b := &sdk.Batch{}
	for i := range n {
		r, err := sdk.NewRecord([]byte(fmt.Sprintf(`{"event_id":"ev-%04d","timestamp":"2026-11-23T10:00:00.123Z",`+
			`"event_type":"mcp_tool_execution","severity":"info","server":"filesystem","tool_name":"fs.read",`+
			`"user_id":"alice","success":true,"arguments":{"path":"/srv/%d"}}`, i, i)))
		if err != nil {
			panic(err)
		}
		b.Records = append(b.Records, r)
	}
	return b
}

func TestSplunkHECAgainstOTelReceiver(t *testing.T) {
	sink := new(consumertest.LogsSink)
	url := startHEC(t, sink)
	p := hecOutput(t, url, map[string]any{"max_request_bytes": "8KB"}) // several gzipped requests
	out, err := p.Process(context.Background(), records(200))
	if err != nil || len(out.Rejected) != 0 {
		t.Fatalf("Process = %v %+v", err, out.Rejected)
	}
	var got []plog.LogRecord
	var attrs []map[string]any
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					got = append(got, lrs.At(k))
					attrs = append(attrs, rl.Resource().Attributes().AsRaw())
				}
			}
		}
	}
	if len(got) != 200 || len(sink.AllLogs()) < 2 {
		t.Fatalf("receiver got %d events in %d requests", len(got), len(sink.AllLogs()))
	}
	// Requests run concurrently, so arrival order is not batch order.
	idx := -1
	for i, lr := range got {
		if lr.Body().Map().AsRaw()["event_id"] == "ev-0000" {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatal("ev-0000 not received")
	}
	first := got[idx]
	// The receiver reads "time" as a float64, so .123 arrives as .122999808:
	// its rounding, not ours (we send exactly 1795428000.123).
	want := time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC)
	if d := first.Timestamp().AsTime().Sub(want); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("time %v, want %v", first.Timestamp().AsTime(), want)
	}
	body := first.Body().Map().AsRaw()
	if body["tool_name"] != "fs.read" || body["user_id"] != "alice" {
		t.Errorf("event body %v", body)
	}
	a := first.Attributes().AsRaw()
	if a["tool_name"] != "fs.read" || a["event_type"] != "mcp_tool_execution" || a["success"] != "true" {
		t.Errorf("indexed fields not seen as attributes: %v", a)
	}
	r := attrs[idx]
	if r["com.splunk.index"] != "mcp_audit" || r["com.splunk.sourcetype"] != "mcp:audit" || r["com.splunk.source"] != "sentinel-test" || r["host.name"] != "gw-1" {
		t.Errorf("metadata %v", r)
	}
}

func TestSplunkHECRetriesWhenTheReceiverFails(t *testing.T) {
	url := startHEC(t, consumertest.NewErr(errors.New("pipeline full")))
	p := hecOutput(t, url, nil)
	_, err := p.Process(context.Background(), records(10))
	var re *sdk.RetryError
	if !errors.As(err, &re) || len(re.Indices) != 10 {
		t.Fatalf("a 5xx from the receiver must be retried: %v", err)
	}
}
