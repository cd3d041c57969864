package splunk_hec

import (
	"net/http/httptest"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/outputtest"
	"github.com/sentinel-audit/sentinel/sdk"
)

// BenchmarkProcess measures events/s through Process against the local HEC
// (which gunzips and parses every event) and bytes per event on the wire.
func BenchmarkProcess(b *testing.B) {
	hec := newFakeHEC(token)
	srv := httptest.NewServer(hec)
	defer srv.Close()
	o := newOutput(b, srv.URL, nil)
	outputtest.Bench(b, o.Process, &o.stats, func(int, *sdk.Batch) {
		hec.mu.Lock()
		hec.events, hec.bodies, hec.headers = hec.events[:0], hec.bodies[:0], hec.headers[:0]
		hec.mu.Unlock()
	})
}
