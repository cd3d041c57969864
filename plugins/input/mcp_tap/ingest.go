package mcp_tap

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/deliver"
	"github.com/sentinel-audit/sentinel/sdk"
)

// maxIngestBody bounds one posted batch.
const maxIngestBody = 256 << 20

// ingestYield is how many events the ingest decodes between yields.
const ingestYield = 32

// wrapperBatch is one POST from a wrapper, held until the host acks it.
type wrapperBatch struct {
	records  []*sdk.Record
	rejected []sdk.Rejection
	done     chan error
	once     sync.Once
}

func (wb *wrapperBatch) finish(err error) {
	wb.once.Do(func() { wb.done <- err })
}

// ingest is the endpoint wrappers post events to. A POST is answered only
// when the host has delivered its events, so the wrapper keeps its spool
// entries until then.
type ingest struct {
	addr    string
	token   string
	ln      net.Listener
	srv     *http.Server
	batches chan *wrapperBatch
	closing chan struct{}
	log     hclog.Logger

	received, events atomic.Uint64
}

func startIngest(addr, token string, log hclog.Logger) (*ingest, error) {
	ep, err := deliver.ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	if ep.Socket != "" {
		// a socket left by a crashed run refuses connections: replace it
		if c, err := net.DialTimeout("unix", ep.Socket, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("ingest socket %s is in use by another process", ep.Socket)
		}
		_ = os.Remove(ep.Socket)
		if ln, err = net.Listen("unix", ep.Socket); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		_ = os.Chmod(ep.Socket, 0o600)
	} else {
		host := strings.TrimPrefix(strings.TrimPrefix(ep.URL, "http://"), "https://")
		host = strings.TrimSuffix(host, deliver.IngestPath)
		if ln, err = net.Listen("tcp", host); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	in := &ingest{addr: ln.Addr().String(), token: token, ln: ln, batches: make(chan *wrapperBatch),
		closing: make(chan struct{}), log: log}
	if ep.Socket != "" {
		in.addr = ep.Socket
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+deliver.IngestPath, in.post)
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := in.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ingest server stopped", "error", err)
		}
	}()
	return in, nil
}

func (in *ingest) post(w http.ResponseWriter, r *http.Request) {
	if in.token != "" {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(in.token)) != 1 {
			http.Error(w, "bad ingest token", http.StatusUnauthorized)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxIngestBody+1))
	if err != nil {
		http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxIngestBody {
		http.Error(w, "batch too large", http.StatusRequestEntityTooLarge)
		return
	}
	wb := &wrapperBatch{done: make(chan error, 1)}
	// records are cut out of the body, which they keep alive: no copy per event
	for i, rest := 0, body; len(rest) > 0; i++ {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j:j], rest[j+1:]
		} else {
			rest = nil
		}
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		if i%ingestYield == ingestYield-1 {
			// with the pipeline in the wrapper's process (wrap -c), a large
			// batch must not hold a P while the session's bytes wait for one
			runtime.Gosched()
		}
		rec, err := sdk.NewRecord(line)
		if err != nil {
			// the host dead-letters it: counted and explained, not lost
			wb.rejected = append(wb.rejected, sdk.Rejection{Index: -1, Reason: "ingest: " + err.Error(), Data: line})
			continue
		}
		wb.records = append(wb.records, rec)
	}
	in.received.Add(1)
	in.events.Add(uint64(len(wb.records)))
	select {
	case in.batches <- wb:
	case <-r.Context().Done():
		return
	case <-in.closing:
		http.Error(w, "mcp_tap is shutting down", http.StatusServiceUnavailable)
		return
	}
	select {
	case err := <-wb.done:
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "{\"accepted\":%d,\"rejected\":%d}\n", len(wb.records), len(wb.rejected))
	case <-r.Context().Done():
	case <-in.closing:
		http.Error(w, "mcp_tap is shutting down", http.StatusServiceUnavailable)
	}
}

func (in *ingest) close(ctx context.Context) error {
	close(in.closing)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := in.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = in.srv.Close()
	}
	if strings.HasPrefix(in.addr, "/") {
		os.Remove(in.addr)
	}
	return err
}
