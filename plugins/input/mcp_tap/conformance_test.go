package mcp_tap_test

import (
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, mcp_tap.Definition, sdktest.Options{
		// the README's example listens on 7070; the runtime checks take any port
		Config: []byte(`{"listen":"127.0.0.1:0","upstream":"http://127.0.0.1:1/mcp","ingest":"off"}`),
	})
}
