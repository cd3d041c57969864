package pipeline

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sentinel-audit/sentinel/host/buffer"
	"github.com/sentinel-audit/sentinel/sdk"
)

// failingQueue is a real disk queue whose first pushes fail with err.
type failingQueue struct {
	buffer.Queue
	fails  atomic.Int32
	pushes atomic.Int32
	err    error
}

func (q *failingQueue) Push(ctx context.Context, recs []*sdk.Record) error {
	q.pushes.Add(1)
	if q.fails.Add(-1) >= 0 {
		return q.err
	}
	return q.Queue.Push(ctx, recs)
}

// withFailingDisk makes the next disk buffer opened fail its first n pushes.
func withFailingDisk(t *testing.T, n int, err error) *failingQueue {
	fq := &failingQueue{err: err}
	fq.fails.Store(int32(n))
	open := openDiskQueue
	openDiskQueue = func(dir string, max int64) (buffer.Queue, error) {
		q, err := open(dir, max)
		fq.Queue = q
		return fq, err
	}
	t.Cleanup(func() { openDiskQueue = open })
	return fq
}

const bufferedOutput = `
input "gen" "in" {
  count = 400
  batch = 40
}
output "collect" "out" {
  inputs = [input.gen.in]
  path   = "OUT"
  buffer {
    type = "disk"
  }
}
`

func TestDiskBufferWaitsOutAFailingDisk(t *testing.T) {
	fq := withFailingDisk(t, 3, fmt.Errorf("buffer: write: %w", syscall.ENOSPC))
	h := load(t, bufferedOutput)
	h.run(false)
	got := ids(h.lines("out"))
	requireAll(t, got, 400, nil)
	if acks := h.lines("data/input.gen.in/acks.log"); len(acks) != 10 {
		t.Fatalf("%d of 10 input batches acknowledged", len(acks))
	}
	if n := fq.pushes.Load(); n != 13 {
		t.Fatalf("%d pushes, want 10 batches and the 3 that failed again", n)
	}
}

func TestDiskBufferDeadLettersABatchItCanNeverTake(t *testing.T) {
	withFailingDisk(t, 1, fmt.Errorf("%w: record ev-000001: time: bad zone", buffer.ErrUnencodable))
	h := load(t, bufferedOutput)
	p := h.run(false)
	got := ids(h.lines("out"))
	requireAll(t, got, 400, func(i int) bool { return i <= 40 })
	dead, err := os.ReadFile(p.DeadLetterPath("output.collect.out"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(dead), `"reason":"buffer: batch cannot be encoded`); n != 40 {
		t.Fatalf("%d dead letters for the batch the buffer refused, want 40:\n%s", n, dead)
	}
	if acks := h.lines("data/input.gen.in/acks.log"); len(acks) != 10 {
		t.Fatalf("%d of 10 input batches acknowledged", len(acks))
	}
}
