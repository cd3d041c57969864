package http

import (
	"encoding/json"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	// A free port: the README's 0.0.0.0:8088 may be taken on a test machine.
	sdktest.Conformance(t, Definition, sdktest.Options{Config: json.RawMessage(`{"listen":"127.0.0.1:0"}`)})
}
