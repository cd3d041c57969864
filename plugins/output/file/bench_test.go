package file

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/filter/encryptor"
	"github.com/sentinel-audit/sentinel/plugins/filter/signer"
	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
	"github.com/sentinel-audit/sentinel/sdk"
)

// A realistic ~600-byte tool-call event.
func benchEvent(i int) []byte {
	return []byte(fmt.Sprintf(`{"event_id":"01JBENCH%018d","timestamp":"2026-11-23T10:00:00.123456Z","event_type":"mcp_tool_execution","severity":"info","user_id":"user-%d","session_id":"3f2a9c1e-5b7d-4e2f-9a1c-7d3e5f9b2a4c","client_id":"claude-desktop","agent_id":"agent-7","source_ip":"10.1.2.3","server":"filesystem","mcp_endpoint":"stdio","tool_name":"read_file","arguments":{"path":"/home/alice/projects/report-q3.md","password":"correct horse battery staple"},"result":"# Q3 report\nRevenue grew 12%% quarter over quarter; churn fell to 2.1%%. See appendix for cohort tables.","duration_ms":42,"success":true,"classification":"internal","compliance":["sox"],"retention_days":365}`, i, i%1000))
}

// BenchmarkEncryptSignStore runs encryptor -> signer -> file in process on
// batches of 512 events (fsync = "never": CPU cost, not disk latency; the
// signer's state log is fdatasynced per batch, as in production).
func BenchmarkEncryptSignStore(b *testing.B) { benchEncryptSignStore(b, b.TempDir()) }

func benchEncryptSignStore(b *testing.B, storeDir string) {
	keys := filepath.Join(b.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	enc, sig, out := &encryptor.Encryptor{}, &signer.Signer{}, &File{}
	if err := enc.Configure(ctx, sdk.Config{Raw: raw(map[string]any{"keys": keys, "fields": []string{"arguments.password", "result"}})}); err != nil {
		b.Fatal(err)
	}
	if err := sig.Configure(ctx, sdk.Config{DataDir: b.TempDir(), Raw: raw(map[string]any{"keys": keys})}); err != nil {
		b.Fatal(err)
	}
	if err := out.Configure(ctx, sdk.Config{Raw: raw(map[string]any{"path": storeDir, "fsync": "never"})}); err != nil {
		b.Fatal(err)
	}
	const batch = 512
	bodies, ids := make([][]byte, batch), make([]string, batch)
	for i := range bodies {
		bodies[i], ids[i] = benchEvent(i), fmt.Sprint(i)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for done := 0; done < b.N; done += batch {
		// What an input hands over: fresh records (the filters replace bodies).
		bt := &sdk.Batch{Records: make([]*sdk.Record, batch)}
		recs := make([]sdk.Record, batch)
		for i := range bt.Records {
			recs[i] = sdk.Record{ID: ids[i], Body: bodies[i]}
			bt.Records[i] = &recs[i]
		}
		bt, _ = enc.Process(ctx, bt)
		bt, _ = sig.Process(ctx, bt)
		if _, err := out.Process(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
	out.Close(ctx)
}

// BenchmarkVerify checks a 100k-entry store with the seed and the public key.
func BenchmarkVerify(b *testing.B) {
	keys := filepath.Join(b.TempDir(), "keys")
	if _, err := integrity.Keygen(keys, ""); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	sig, out := &signer.Signer{}, &File{}
	sig.Configure(ctx, sdk.Config{DataDir: b.TempDir(), Raw: raw(map[string]any{"keys": keys})})
	dir := b.TempDir()
	out.Configure(ctx, sdk.Config{Raw: raw(map[string]any{"path": dir, "fsync": "never", "segment_size": "64MiB"})})
	const n = 100_000
	for done := 0; done < n; done += 1000 {
		bt := &sdk.Batch{}
		for i := 0; i < 1000; i++ {
			bt.Records = append(bt.Records, &sdk.Record{Body: benchEvent(done + i)})
		}
		bt, _ = sig.Process(ctx, bt)
		out.Process(ctx, bt)
	}
	out.Close(ctx)
	seed, _ := integrity.LoadSeed(keys)
	pub, _ := integrity.LoadVerifier(keys)
	b.ResetTimer()
	cpu0 := cpuTime()
	var entries uint64
	for i := 0; i < b.N; i++ {
		rep, err := store.Verify(dir, store.VerifyOptions{Seed: seed, Pub: pub})
		if err != nil || !rep.Intact() {
			b.Fatal(err, rep.Findings)
		}
		entries += rep.Entries
	}
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(entries)/(cpuTime()-cpu0).Seconds(), "entries/cpu-s")
}

// cpuTime is the process's user+system CPU time: on a shared, loaded machine
// it measures the cost per event where wall time measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
