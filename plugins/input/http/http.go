// Package http is the "http" input: an HTTP server that takes audit events
// as JSON or NDJSON and answers 202 only once the pipeline has delivered them.
package http

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the http input plugin.
var Definition = &sdk.Definition{
	Name:    "http",
	Kind:    sdk.KindInput,
	Version: "0.1.0",
	Summary: "HTTP server receiving audit events (JSON or NDJSON, PlugPipe log_audit_event too).",
	Description: "POST /v1/events takes one JSON event (also PlugPipe's " +
		"{\"operation\":\"log_audit_event\",\"event\":{...}} or the event fields next to \"operation\"); " +
		"POST /v1/events:batch takes NDJSON. A request is validated whole: any bad line gets 400 naming the " +
		"line, and nothing of it is accepted. The answer 202 {\"accepted\":N,\"ids\":[...]} comes only once " +
		"the pipeline has delivered the events; after ack_timeout the answer is 503 with Retry-After. " +
		"GET /healthz answers 200.",
	Config: configSchema,
	New:    func() sdk.Plugin { return &Input{} },
}

const (
	maxBatchRecords = 512
	maxBatchBytes   = 1 << 20
	// retryAfter is what a client is told to wait after a 503.
	retryAfter = 5 * time.Second
	// shutdownGrace bounds how long Close waits for in-flight requests to be answered.
	shutdownGrace = 5 * time.Second
	// maxPrealloc bounds the body buffer reserved from a request's Content-Length.
	maxPrealloc = 1 << 20
)

// Input is one http input instance. Handlers, Process and Ack run on
// different goroutines; the queue and the in-flight table are under mu.
type Input struct {
	cfg      Config
	log      hclog.Logger
	srv      *nethttp.Server
	ln       net.Listener
	maxQueue int // bytes of accepted, not yet emitted events

	mu       sync.Mutex
	queue    []*request // validated requests not yet fully emitted, oldest first
	queued   int        // bytes in queue
	seq      uint64
	inflight map[uint64][]*request // emitted batch → the requests it carries
	notify   chan struct{}         // a request was queued
	closing  chan struct{}         // closed by Close
	closed   bool
	failed   error // the server stopped on its own
}

// request is one HTTP request's events on their way through the pipeline.
type request struct {
	records   []*sdk.Record
	bytes     int
	emitted   int  // records handed to the host so far
	waiting   int  // emitted batches carrying it that are not yet acknowledged
	abandoned bool // answered already (timeout, client gone): emit no more of it
	done      chan struct{}
}

// Validate checks the arguments without binding anything.
func (in *Input) Validate(cfg sdk.Config) error {
	_, err := sdk.DecodeSettings[Config](cfg)
	return err
}

// Configure binds the listener (so a busy port fails the start) and serves.
func (in *Input) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	in.cfg = *c
	in.log = cfg.Log()
	in.maxQueue = max(64<<20, 4*int(in.cfg.MaxBody))
	in.inflight = map[uint64][]*request{}
	in.notify = make(chan struct{}, 1)
	in.closing = make(chan struct{})

	var tlsConfig *tls.Config
	if in.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(in.cfg.TLSCert, in.cfg.TLSKey)
		if err != nil {
			return sdk.Fieldf("tls_cert", "load certificate: %v", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", in.cfg.Listen)
	if err != nil {
		return sdk.Fieldf("listen", "%v", err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	in.ln = ln
	mux := nethttp.NewServeMux()
	mux.HandleFunc("POST /v1/events", func(w nethttp.ResponseWriter, r *nethttp.Request) { in.receive(w, r, parseOne) })
	mux.HandleFunc("POST /v1/events:batch", func(w nethttp.ResponseWriter, r *nethttp.Request) { in.receive(w, r, parseBatch) })
	mux.HandleFunc("GET /healthz", func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		writeJSON(w, nethttp.StatusOK, map[string]string{"status": "ok"})
	})
	in.srv = &nethttp.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          in.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	go func() {
		if err := in.srv.Serve(ln); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
			in.log.Error("server stopped", "error", err)
			in.mu.Lock()
			in.failed = err
			in.mu.Unlock()
		}
	}()
	in.log.Info("listening", "addr", ln.Addr().String(), "tls", tlsConfig != nil)
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (in *Input) Addr() net.Addr { return in.ln.Addr() }

// receive authenticates, reads and validates a request, queues its events
// and answers once they are delivered or the wait ends.
func (in *Input) receive(w nethttp.ResponseWriter, r *nethttp.Request, parse func([]byte) ([]*sdk.Record, []lineError)) {
	if in.cfg.Token != "" && !in.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sentinel"`)
		writeJSON(w, nethttp.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
		return
	}
	buf := bodyBuffers.Get().(*[]byte)
	body, err := readBody(*buf, nethttp.MaxBytesReader(w, r.Body, int64(in.cfg.MaxBody)), r.ContentLength, int64(in.cfg.MaxBody))
	var records []*sdk.Record
	var bad []lineError
	if err == nil {
		records, bad = parse(body) // the records never point into body, so its buffer serves the next request
	}
	size := len(body)
	if cap(body) <= maxPooledBody {
		*buf = body[:0]
		bodyBuffers.Put(buf)
	}
	if err != nil {
		var tooBig *nethttp.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, nethttp.StatusRequestEntityTooLarge, map[string]any{
				"error": fmt.Sprintf("request body exceeds max_body (%d bytes)", in.cfg.MaxBody)})
			return
		}
		writeJSON(w, nethttp.StatusBadRequest, map[string]string{"error": "read body: " + err.Error()})
		return
	}
	if len(bad) > 0 {
		writeJSON(w, nethttp.StatusBadRequest, map[string]any{
			"error":  fmt.Sprintf("line %d: %s; nothing of this request was accepted", bad[0].Line, bad[0].Reason),
			"line":   bad[0].Line,
			"reason": bad[0].Reason,
			"errors": bad,
		})
		return
	}
	ids := make([]string, len(records))
	for i, rec := range records {
		ids[i] = rec.ID
	}
	if len(records) == 0 {
		writeAccepted(w, ids)
		return
	}
	req := &request{records: records, bytes: size, done: make(chan struct{})}
	if reason := in.enqueue(req); reason != "" {
		unavailable(w, reason)
		return
	}
	timer := time.NewTimer(in.cfg.AckTimeout.Std())
	defer timer.Stop()
	select {
	case <-req.done:
		writeAccepted(w, ids)
	case <-timer.C:
		in.abandon(req)
		unavailable(w, fmt.Sprintf("events not delivered within ack_timeout (%s); retry later", in.cfg.AckTimeout.Std()))
	case <-in.closing:
		in.abandon(req)
		unavailable(w, "shutting down; retry later")
	case <-r.Context().Done():
		in.abandon(req) // the client left; it will retry
	}
}

func (in *Input) authorized(r *nethttp.Request) bool {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(prefix) || !equalFoldASCII(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(in.cfg.Token)) == 1
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// enqueue hands a request to Process, or says why it cannot.
func (in *Input) enqueue(req *request) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case in.closed:
		return "shutting down; retry later"
	case in.queued+req.bytes > in.maxQueue && len(in.queue) > 0:
		return "too many events waiting for the pipeline; retry later"
	}
	in.queue = append(in.queue, req)
	in.queued += req.bytes
	select {
	case in.notify <- struct{}{}:
	default:
	}
	return ""
}

// abandon stops emitting a request that has been answered without a 202.
// What was already emitted still flows (the client's retry may duplicate it:
// at least once).
func (in *Input) abandon(req *request) {
	in.mu.Lock()
	req.abandoned = true
	in.mu.Unlock()
}

// Process hands the queued events to the host: whole requests merged, or a
// large request split, up to maxBatchRecords records or maxBatchBytes.
func (in *Input) Process(ctx context.Context, _ *sdk.Batch) (*sdk.Batch, error) {
	for {
		in.mu.Lock()
		b := in.takeLocked()
		in.mu.Unlock()
		if b != nil {
			return b, nil
		}
		select {
		case <-in.notify:
		case <-ctx.Done():
			return &sdk.Batch{}, nil
		case <-in.closing:
			return &sdk.Batch{}, nil
		}
	}
}

func (in *Input) takeLocked() *sdk.Batch {
	// Size the batch's lists first: growing them by appends cost a handful
	// of allocations per batch.
	records, reqs := 0, 0
	for _, req := range in.queue {
		if records >= maxBatchRecords {
			break
		}
		if !req.abandoned {
			records += len(req.records) - req.emitted
			reqs++
		}
	}
	var out *sdk.Batch
	var carried []*request
	size := 0
	for len(in.queue) > 0 {
		req := in.queue[0]
		if !req.abandoned {
			before := req.emitted
			for req.emitted < len(req.records) && (out == nil || (out.Len() < maxBatchRecords && size < maxBatchBytes)) {
				if out == nil {
					out = &sdk.Batch{Records: make([]*sdk.Record, 0, min(records, maxBatchRecords))}
					carried = make([]*request, 0, reqs)
				}
				rec := req.records[req.emitted]
				out.Records = append(out.Records, rec)
				size += rec.Size()
				req.emitted++
			}
			if req.emitted > before {
				carried = append(carried, req)
				req.waiting++
			}
			if req.emitted < len(req.records) {
				break // batch full; the rest of this request goes in the next one
			}
		}
		in.queue[0] = nil
		in.queue = in.queue[1:]
		in.queued -= req.bytes
	}
	if out == nil {
		return nil
	}
	in.seq++
	out.Seq = in.seq
	in.inflight[out.Seq] = carried
	return out
}

// Ack answers the requests whose every record is now delivered.
func (in *Input) Ack(_ context.Context, seqs []uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, seq := range seqs {
		for _, req := range in.inflight[seq] {
			req.waiting--
			if req.waiting == 0 && req.emitted == len(req.records) {
				close(req.done)
			}
		}
		delete(in.inflight, seq)
	}
}

// Health reports a server that stopped serving.
func (in *Input) Health(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failed != nil {
		return fmt.Errorf("http input: server stopped: %w", in.failed)
	}
	return nil
}

// Close stops accepting, answers waiting requests 503 and shuts the server
// down gracefully.
func (in *Input) Close(ctx context.Context) error {
	in.mu.Lock()
	if in.closed || in.srv == nil {
		in.mu.Unlock()
		return nil
	}
	in.closed = true
	close(in.closing)
	in.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	if err := in.srv.Shutdown(ctx); err != nil {
		_ = in.srv.Close()
		return fmt.Errorf("http input: shutdown: %w", err)
	}
	return nil
}

func unavailable(w nethttp.ResponseWriter, reason string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	writeJSON(w, nethttp.StatusServiceUnavailable, map[string]string{"error": reason})
}

// bodyBuffers holds request bodies' buffers between requests: a batch
// request is tens of KiB, and a fresh buffer for each was cleared, filled
// once and left to the collector.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody bounds the buffers kept in bodyBuffers.
const maxPooledBody = maxPrealloc + 1

// readBody reads a request body into buf's memory, in one piece when the
// client sent its length (io.ReadAll would grow and copy its buffer a dozen
// times for a large batch).
func readBody(buf []byte, r io.Reader, contentLength, limit int64) ([]byte, error) {
	size := int64(512)
	if contentLength > 0 {
		// +1: the read that sees EOF needs no growth. A client's claim
		// reserves at most maxPrealloc; beyond that the buffer grows as data
		// actually arrives.
		size = min(contentLength, limit, maxPrealloc) + 1
	}
	b := buf[:0]
	if int64(cap(b)) < size {
		b = make([]byte, 0, size)
	}
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// writeAccepted answers 202 {"accepted":N,"ids":[...]}, the bytes
// json.Marshal would write for that map, without reflection: a large batch
// lists thousands of ids. The length is sent, so that a large answer is not
// chunked, and the buffer is reused: the writer has copied it on return.
func writeAccepted(w nethttp.ResponseWriter, ids []string) {
	bp := answerBuffers.Get().(*[]byte)
	b := append((*bp)[:0], `{"accepted":`...)
	b = strconv.AppendInt(b, int64(len(ids)), 10)
	b = append(b, `,"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = sdk.AppendJSONString(b, id)
	}
	b = append(b, "]}\n"...)
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(nethttp.StatusAccepted)
	_, _ = w.Write(b)
	if cap(b) <= maxPooledAnswer {
		*bp = b
		answerBuffers.Put(bp)
	}
}

var (
	answerBuffers   = sync.Pool{New: func() any { b := make([]byte, 0, 32+maxBatchRecords*(ulidLen+3)); return &b }}
	contentTypeJSON = []string{"application/json"} // never changed: shared by every answer
)

// maxPooledAnswer bounds the buffers kept in answerBuffers.
const maxPooledAnswer = 64 << 10

func writeJSON(w nethttp.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = nethttp.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

var (
	_ sdk.Plugin        = (*Input)(nil)
	_ sdk.Configurer    = (*Input)(nil)
	_ sdk.Validator     = (*Input)(nil)
	_ sdk.Acker         = (*Input)(nil)
	_ sdk.HealthChecker = (*Input)(nil)
	_ sdk.Closer        = (*Input)(nil)
)
