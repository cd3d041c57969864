package jsonl

import (
	"encoding/json"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Definition, sdktest.Options{
		Config: json.RawMessage(`{"paths":["testdata/events.jsonl"]}`),
	})
}
