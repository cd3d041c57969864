package chronicle

import (
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/outputtest"
	"github.com/sentinel-audit/sentinel/sdk"
)

// BenchmarkProcess measures events/s through Process against the local
// Ingestion API receiver and bytes per event, in both modes.
func BenchmarkProcess(b *testing.B) {
	for _, mode := range []string{"unstructured", "udm"} {
		b.Run(mode, func(b *testing.B) {
			sec, o := setup(b, map[string]any{"mode": mode})
			outputtest.Bench(b, o.Process, &o.stats, func(i int, batch *sdk.Batch) {
				// Distinct bytes each round, or SecOps' batch dedup would make this a no-op.
				for _, r := range batch.Records {
					r.Time = r.Time.Add(time.Duration(i+1) * time.Millisecond)
				}
				sec.mu.Lock()
				sec.entries, sec.events, sec.bodies = sec.entries[:0], sec.events[:0], sec.bodies[:0]
				sec.mu.Unlock()
			})
		})
	}
}
