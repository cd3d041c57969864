package buffer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

func rec(i int) *sdk.Record {
	loc := time.FixedZone("CET", 3600)
	return &sdk.Record{
		ID: fmt.Sprintf("01JD%04d", i), Time: time.Date(2026, 11, 23, 10, 0, 0, 123456789, loc),
		Type: sdk.EventToolExecution, Session: "s-1", Server: "filesystem", Method: "tools/call",
		Direction: "client_to_server", Status: "success", Severity: "info", Classification: "internal",
		Attributes: map[string]string{"gen_ai.tool.name": "fs.read", "n": fmt.Sprint(i)},
		Body:       json.RawMessage(fmt.Sprintf(`{"event_id":"01JD%04d","n":%d}`, i, i)),
	}
}

func recs(from, n int) []*sdk.Record {
	out := make([]*sdk.Record, n)
	for i := range out {
		out[i] = rec(from + i)
	}
	return out
}

func queues(t *testing.T) map[string]func(max int64) Queue {
	return map[string]func(max int64) Queue{
		"memory": func(max int64) Queue { return NewMemory(max) },
		"disk": func(max int64) Queue {
			q, err := openDisk(t.TempDir(), max, 4096)
			if err != nil {
				t.Fatal(err)
			}
			return q
		},
	}
}

func sameRecords(t *testing.T, got, want []*sdk.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := *got[i], *want[i]
		// The instant and the UTC offset survive; a zone's name cannot (time.MarshalBinary).
		_, goff := g.Time.Zone()
		_, woff := w.Time.Zone()
		if !g.Time.Equal(w.Time) || goff != woff {
			t.Errorf("record %d time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestRecordsRoundTripEveryField(t *testing.T) {
	odd := []*sdk.Record{
		rec(1),
		{ID: "bare"}, // nil attributes, nil body, zero time
		{ID: "empty", Attributes: map[string]string{}, Body: json.RawMessage{}}, // empty, not nil
		{ID: "ünïcode", Body: json.RawMessage(`{"x":"\u0000\n"}`), Time: time.Unix(0, 1).UTC()},
	}
	payload, err := encodeBatch(42, odd)
	if err != nil {
		t.Fatal(err)
	}
	id, got, err := decodeBatch(payload)
	if err != nil || id != 42 {
		t.Fatalf("decode: %d %v", id, err)
	}
	sameRecords(t, got, odd)
	// Truncated payloads fail cleanly, never panic.
	for n := 0; n < len(payload); n++ {
		if _, _, err := decodeBatch(payload[:n]); err == nil && n < len(payload) {
			t.Fatalf("truncated to %d bytes decoded without error", n)
		}
	}
}

func TestQueueIsFIFOWithAck(t *testing.T) {
	for name, mk := range queues(t) {
		t.Run(name, func(t *testing.T) {
			q := mk(1 << 20)
			defer q.Close()
			ctx := context.Background()
			for i := range 5 {
				if err := q.Push(ctx, recs(i*10, 3)); err != nil {
					t.Fatal(err)
				}
			}
			if q.Len() != 5 || q.Bytes() <= 0 {
				t.Fatalf("len %d bytes %d", q.Len(), q.Bytes())
			}
			var ids []uint64
			for i := range 5 {
				id, got, err := q.Pop(ctx)
				if err != nil {
					t.Fatal(err)
				}
				sameRecords(t, got, recs(i*10, 3))
				ids = append(ids, id)
			}
			if q.Len() != 5 {
				t.Fatalf("popped but unacked batches must still count: len %d", q.Len())
			}
			for _, id := range ids {
				if err := q.Ack(id); err != nil {
					t.Fatal(err)
				}
			}
			if q.Len() != 0 || q.Bytes() != 0 {
				t.Fatalf("after acks: len %d bytes %d", q.Len(), q.Bytes())
			}
			if err := q.Ack(ids[0]); err == nil {
				t.Error("double ack accepted")
			}
			cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if _, _, err := q.Pop(cctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Pop on empty queue: %v", err)
			}
		})
	}
}

func TestFullQueueBackPressuresUntilAck(t *testing.T) {
	for name, mk := range queues(t) {
		t.Run(name, func(t *testing.T) {
			one := int64(0)
			for _, r := range recs(0, 10) {
				one += int64(r.Size())
			}
			q := mk(one * 3) // room for about three batches
			defer q.Close()
			ctx := context.Background()
			pushed := 0
			for pushed < 10 {
				c, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
				err := q.Push(c, recs(pushed*10, 10))
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				pushed++
			}
			if pushed < 2 || pushed > 4 {
				t.Fatalf("%d batches fit before Push blocked", pushed)
			}
			done := make(chan error, 1)
			go func() { done <- q.Push(ctx, recs(999, 10)) }()
			select {
			case err := <-done:
				t.Fatalf("Push on a full queue returned %v without blocking", err)
			case <-time.After(50 * time.Millisecond):
			}
			id, _, err := q.Pop(ctx)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
				t.Fatal("Pop alone freed room: room comes only with Ack (the batch may still fail)")
			case <-time.After(30 * time.Millisecond):
			}
			if err := q.Ack(id); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Push still blocked after an Ack made room")
			}
		})
	}
}

func TestOversizedBatchIsTakenWhenEmpty(t *testing.T) {
	for name, mk := range queues(t) {
		t.Run(name, func(t *testing.T) {
			q := mk(10)
			defer q.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := q.Push(ctx, recs(0, 5)); err != nil {
				t.Fatalf("a batch bigger than the queue must still pass when the queue is empty: %v", err)
			}
		})
	}
}

func TestCloseWakesWaiters(t *testing.T) {
	for name, mk := range queues(t) {
		t.Run(name, func(t *testing.T) {
			q := mk(1 << 20)
			errc := make(chan error, 1)
			go func() { _, _, err := q.Pop(context.Background()); errc <- err }()
			time.Sleep(20 * time.Millisecond)
			q.Close()
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Fatalf("Pop after Close: %v", err)
			}
			if err := q.Push(context.Background(), recs(0, 1)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Push after Close: %v", err)
			}
		})
	}
}

func TestDiskRedeliversUnackedAfterCrash(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	q, err := openDisk(dir, 1<<20, 2048) // small segments: the batches span several files
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := q.Push(ctx, recs(i*10, 4)); err != nil {
			t.Fatal(err)
		}
	}
	acked := map[uint64]bool{}
	for i := range 12 {
		id, _, err := q.Pop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i < 8 || i == 10 { // 9, 10 and 12 stay in flight; out-of-order acks
			if err := q.Ack(id); err != nil {
				t.Fatal(err)
			}
			acked[id] = true
		}
	}
	// Crash: no Close, open again as a restarted host would.
	q2, err := openDisk(dir, 1<<20, 2048)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if q2.Len() != 20-len(acked) {
		t.Fatalf("after restart %d batches, want %d", q2.Len(), 20-len(acked))
	}
	var got []uint64
	for range 20 - len(acked) {
		id, rs, err := q2.Pop(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if acked[id] {
			t.Fatalf("acked batch %d delivered again", id)
		}
		sameRecords(t, rs, recs(int(id-1)*10, 4))
		got = append(got, id)
		if err := q2.Ack(id); err != nil {
			t.Fatal(err)
		}
	}
	want := []uint64{9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("redelivered %v, want %v", got, want)
	}
	// New ids continue after the old ones, and fully acked segments are gone.
	if err := q2.Push(ctx, recs(0, 1)); err != nil {
		t.Fatal(err)
	}
	id, _, _ := q2.Pop(ctx)
	if id != 21 {
		t.Errorf("next id %d, want 21", id)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(segs) > 2 {
		t.Errorf("%d segment files remain with one live batch: %v", len(segs), segs)
	}
}

func TestDiskToleratesTornAndCorruptTails(t *testing.T) {
	for _, damage := range []struct {
		name string
		fn   func(path string)
	}{
		{"torn write", func(p string) {
			st, _ := os.Stat(p)
			_ = os.Truncate(p, st.Size()-7)
		}},
		{"garbage appended", func(p string) {
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			_, _ = f.Write([]byte{0x20, 0, 0, 0, 1, 2, 3, 4, 'j', 'u', 'n', 'k'})
			f.Close()
		}},
		{"flipped bit in last entry", func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)-3] ^= 0x40
			_ = os.WriteFile(p, b, 0o600)
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			q, err := openDisk(dir, 1<<20, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := q.Push(ctx, recs(i*10, 2)); err != nil {
					t.Fatal(err)
				}
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
			damage.fn(segs[len(segs)-1])
			q2, err := openDisk(dir, 1<<20, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer q2.Close()
			wantLen := 2
			if damage.name == "garbage appended" {
				wantLen = 3
			}
			if q2.Len() != wantLen {
				t.Fatalf("recovered %d batches, want %d", q2.Len(), wantLen)
			}
			for i := range wantLen {
				_, rs, err := q2.Pop(ctx)
				if err != nil {
					t.Fatal(err)
				}
				sameRecords(t, rs, recs(i*10, 2))
			}
			if err := q2.Push(ctx, recs(77, 1)); err != nil {
				t.Fatal(err)
			}
			_, rs, err := q2.Pop(ctx)
			if err != nil || rs[0].ID != rec(77).ID {
				t.Fatalf("push after recovery: %v", err)
			}
		})
	}
}

func TestDiskTornAckLogOnlyRedelivers(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	q, _ := openDisk(dir, 1<<20, 1<<20)
	for i := range 3 {
		_ = q.Push(ctx, recs(i, 1))
	}
	for range 3 {
		id, _, _ := q.Pop(ctx)
		_ = q.Ack(id)
	}
	st, _ := os.Stat(filepath.Join(dir, ackLogName))
	_ = os.Truncate(filepath.Join(dir, ackLogName), st.Size()-3) // the last ack was torn
	q2, err := openDisk(dir, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if q2.Len() != 1 {
		t.Fatalf("%d batches after a torn ack, want the one whose ack was lost", q2.Len())
	}
}

func TestConcurrentProducersAndConsumer(t *testing.T) {
	for name, mk := range queues(t) {
		t.Run(name, func(t *testing.T) {
			q := mk(8 << 10)
			defer q.Close()
			ctx := context.Background()
			var wg sync.WaitGroup
			for p := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 50 {
						if err := q.Push(ctx, recs(p*1000+i, 2)); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			seen := map[string]bool{}
			for range 200 {
				id, rs, err := q.Pop(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if seen[rs[0].ID] {
					t.Fatalf("batch %s popped twice", rs[0].ID)
				}
				seen[rs[0].ID] = true
				if err := q.Ack(id); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			if q.Len() != 0 || q.Bytes() != 0 {
				t.Fatalf("len %d bytes %d", q.Len(), q.Bytes())
			}
		})
	}
}
