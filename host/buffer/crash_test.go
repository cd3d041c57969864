package buffer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestKill9LosesNothingPushed runs a producer in a child process, kills it
// with SIGKILL mid-stream, and checks that every batch whose Push returned
// is in the queue when it is opened again, intact and in order.
func TestKill9LosesNothingPushed(t *testing.T) {
	if dir := os.Getenv("SENTINEL_BUFFER_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9LosesNothingPushed$")
	cmd.Env = append(os.Environ(), "SENTINEL_BUFFER_CRASH_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	confirmed := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "pushed "); ok {
			confirmed, _ = strconv.Atoi(n)
			if confirmed >= 150 {
				break
			}
		}
	}
	_ = cmd.Process.Kill() // SIGKILL: no deferred Close, no flush
	_ = cmd.Wait()
	if confirmed < 150 {
		t.Fatalf("child confirmed only %d pushes", confirmed)
	}
	q, err := OpenDisk(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Len() < confirmed+1 {
		t.Fatalf("%d batches after SIGKILL, but %d pushes had returned", q.Len(), confirmed+1)
	}
	for i := 0; i <= confirmed; i++ {
		_, rs, err := q.Pop(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sameRecords(t, rs, recs(i*3, 3))
	}
}

func crashChild(dir string) {
	q, err := openDisk(dir, 1<<30, 64<<10)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		if err := q.Push(context.Background(), recs(i*3, 3)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("pushed %d\n", i) // stdout is unbuffered: the parent sees it only after Push returned
	}
}
