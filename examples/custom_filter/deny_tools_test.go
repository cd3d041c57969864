package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Definition, sdktest.Options{Config: json.RawMessage(`{"deny":["shell_*"]}`)})
}

func TestDeniedToolsAreDroppedAndTheRestTagged(t *testing.T) {
	conn := sdktest.Local(t, Definition)
	if err := conn.Configure(context.Background(), "t", t.TempDir(), json.RawMessage(`{"deny":["shell_*","delete_file"],"tags":{"team":"sec"}}`), false); err != nil {
		t.Fatal(err)
	}
	var in sdk.Batch
	for _, tool := range []string{"read_file", "shell_exec", "delete_file", "search"} {
		r, _ := sdk.NewRecord([]byte(`{"event_type":"mcp_tool_execution","tool_name":"` + tool + `"}`))
		in.Records = append(in.Records, r)
	}
	out, err := sdktest.Process(t, conn, sdk.KindFilter, &in)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, r := range out.Records {
		var ev struct{ Tool, Team string }
		_ = json.Unmarshal(r.Body, &struct {
			Tool *string `json:"tool_name"`
			Team *string `json:"team"`
		}{&ev.Tool, &ev.Team})
		if ev.Team != "sec" {
			t.Errorf("%s not tagged: %s", ev.Tool, r.Body)
		}
		kept = append(kept, ev.Tool)
	}
	if len(kept) != 2 || kept[0] != "read_file" || kept[1] != "search" {
		t.Fatalf("kept %v, want [read_file search]", kept)
	}
}

func TestBadGlobIsAConfigErrorOnTheDenyArgument(t *testing.T) {
	err := (&DenyTools{}).Validate(sdk.Config{Raw: json.RawMessage(`{"deny":["[a-"]}`)})
	fe, ok := err.(*sdk.FieldError)
	if !ok || fe.Field != "deny" {
		t.Fatalf("got %v, want a FieldError on deny", err)
	}
}
