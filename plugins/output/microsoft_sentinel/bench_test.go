package microsoft_sentinel

import (
	"net/http/httptest"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/outputtest"
	"github.com/sentinel-audit/sentinel/sdk"
)

// BenchmarkProcess measures events/s through Process against the local Logs
// Ingestion receiver (which gunzips and parses every row) and bytes per event.
func BenchmarkProcess(b *testing.B) {
	az := newFakeAzure()
	srv := httptest.NewServer(az)
	defer srv.Close()
	o := newOutput(b, az, srv.URL, nil)
	outputtest.Bench(b, o.Process, &o.stats, func(int, *sdk.Batch) {
		az.mu.Lock()
		az.rows = az.rows[:0]
		az.mu.Unlock()
	})
}
