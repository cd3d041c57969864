package elasticsearch

import (
	"net/http/httptest"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/outputtest"
	"github.com/sentinel-audit/sentinel/sdk"
)

// BenchmarkProcess measures events/s through Process against the local _bulk
// receiver (which gunzips and parses every document) and bytes per event.
func BenchmarkProcess(b *testing.B) {
	es := newFakeES("")
	srv := httptest.NewServer(es)
	defer srv.Close()
	o := newOutput(b, srv.URL, map[string]any{"api_key": ""})
	outputtest.Bench(b, o.Process, &o.stats, func(int, *sdk.Batch) {
		es.mu.Lock()
		clear(es.docs) // each round stores anew instead of answering 409
		clear(es.attempts)
		es.mu.Unlock()
	})
}
