package fluentbit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/output/chronicle"
	"github.com/sentinel-audit/sentinel/plugins/output/elasticsearch"
	"github.com/sentinel-audit/sentinel/plugins/output/file"
	"github.com/sentinel-audit/sentinel/plugins/output/microsoft_sentinel"
	"github.com/sentinel-audit/sentinel/plugins/output/splunk_hec"
	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/fluentbit/flbconfig"
)

// Backends are the outputs a section can select with `backend`.
var Backends = map[string]*sdk.Definition{
	file.Definition.Name:               file.Definition,
	splunk_hec.Definition.Name:         splunk_hec.Definition,
	elasticsearch.Definition.Name:      elasticsearch.Definition,
	microsoft_sentinel.Definition.Name: microsoft_sentinel.Definition,
	chronicle.Definition.Name:          chronicle.Definition,
}

func backendNames() []string {
	names := make([]string, 0, len(Backends))
	for n := range Backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func encodeChunk(chunk []byte) string { return base64.StdEncoding.EncodeToString(chunk) }

// backendSink drives one output plugin in process, through the same
// LocalConn the host uses: one stream, batches in order, results matched to
// the flush that sent them by sequence number, so concurrent flushes overlap
// their decoding while the plugin sees one batch at a time.
type backendSink struct {
	component string
	log       hclog.Logger
	conn      sdk.Conn
	stream    sdk.Stream
	dead      *deadLetters

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]chan *sdk.Frame
	broken  error
	recvEnd chan struct{}
}

func openBackend(ctx context.Context, backend string, get func(string) string, logger hclog.Logger) (*backendSink, string, error) {
	def, ok := Backends[backend]
	if !ok {
		return nil, "", fmt.Errorf("backend %q: not one of %v", backend, backendNames())
	}
	for _, k := range flbconfig.Keys(def.Config) {
		if flbconfig.IsReserved(k.Name) { // a schema change that would make a key unreachable
			return nil, "", fmt.Errorf("backend %s: key %q is reserved by Fluent Bit", backend, k.Name)
		}
	}
	raw, err := flbconfig.Decode(def.Config, get)
	if err != nil {
		return nil, "", fmt.Errorf("backend %s: %w", backend, err)
	}
	name := get(KeyID)
	if name == "" {
		name = backend
	}
	dataDir := get(KeyDataDir)
	if dataDir == "" {
		dataDir = "sentinel-data"
	}
	component := "output." + backend + "." + name
	conn := sdk.LocalConn(def, logger)
	if err := conn.Configure(ctx, name, filepath.Join(dataDir, component), raw, false); err != nil {
		_ = conn.Close(ctx)
		return nil, "", fmt.Errorf("%s: configure: %w", component, err)
	}
	stream, err := conn.Stream(ctx)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, "", fmt.Errorf("%s: open stream: %w", component, err)
	}
	s := &backendSink{component: component, log: logger.Named(component), conn: conn, stream: stream,
		dead: newDeadLetters(dataDir, component), pending: map[uint64]chan *sdk.Frame{}, recvEnd: make(chan struct{})}
	go s.receive()
	return s, component, nil
}

// receive hands each result to the flush waiting for it.
func (s *backendSink) receive() {
	defer close(s.recvEnd)
	for {
		f, err := s.stream.Recv()
		s.mu.Lock()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("output closed")
			}
			s.broken = err
			for seq, ch := range s.pending {
				ch <- &sdk.Frame{Kind: sdk.FrameResult, Seq: seq, Err: sdk.Retryable(err)}
				delete(s.pending, seq)
			}
			s.mu.Unlock()
			return
		}
		ch := s.pending[f.Seq]
		delete(s.pending, f.Seq)
		s.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	}
}

// process sends one batch and waits for its result.
func (s *backendSink) process(batch *sdk.Batch) *sdk.Frame {
	ch := make(chan *sdk.Frame, 1)
	s.mu.Lock()
	if s.broken != nil {
		s.mu.Unlock()
		return &sdk.Frame{Err: sdk.Retryable(s.broken)}
	}
	s.seq++
	seq := s.seq
	batch.Seq = seq
	s.pending[seq] = ch
	// Sending under the lock keeps sequence order equal to stream order.
	err := s.stream.Send(&sdk.Frame{Kind: sdk.FrameProcess, Seq: seq, Batch: batch})
	if err != nil {
		delete(s.pending, seq)
	}
	s.mu.Unlock()
	if err != nil {
		return &sdk.Frame{Err: sdk.Retryable(fmt.Errorf("send batch: %w", err))}
	}
	return <-ch
}

func (s *backendSink) deliver(_ context.Context, recs []*sdk.Record, dead []deadLetter) int {
	if len(recs) == 0 {
		return s.finish(dead, wholeChunk(dead))
	}
	res := s.process(&sdk.Batch{Records: recs})
	rejected := map[int]bool{}
	if res.Batch != nil {
		for _, rj := range res.Batch.Rejected {
			if rj.Index >= 0 && rj.Index < len(recs) && !rejected[rj.Index] {
				rejected[rj.Index] = true
				dead = append(dead, recordLetter(recs[rj.Index], rj.Reason))
			}
		}
	}
	var pe *sdk.PanicError
	switch err := res.Err; {
	case err == nil && len(rejected) == len(recs): // refused for good as a whole (bad token)
		s.log.Error("every record of the chunk was refused; dead-lettered", "records", len(recs),
			"reason", dead[len(dead)-1].Reason, "file", s.dead.path)
		return s.finish(dead, FLBError)
	case err == nil:
		return s.finish(dead, FLBOK)
	case sdk.IsRetryable(err), errors.As(err, &pe):
		s.log.Warn("delivery failed; Fluent Bit will retry the chunk", "records", len(recs), "error", err)
		return s.finish(dead, FLBRetry)
	default:
		for i, r := range recs {
			if !rejected[i] {
				dead = append(dead, recordLetter(r, err.Error()))
			}
		}
		s.log.Error("delivery failed for good; records dead-lettered", "records", len(recs)-len(rejected),
			"error", err, "file", s.dead.path)
		return s.finish(dead, FLBError)
	}
}

// wholeChunk is the code of a chunk none of whose events became records:
// FLB_ERROR when it held any (they are dead-lettered), so Fluent Bit counts the
// failure; FLB_OK for an empty chunk.
func wholeChunk(dead []deadLetter) int {
	if len(dead) > 0 {
		return FLBError
	}
	return FLBOK
}

// finish writes dead letters before answering: a chunk is never dropped
// unrecorded. If the dead letters cannot be written, Fluent Bit keeps the chunk.
func (s *backendSink) finish(dead []deadLetter, code int) int {
	if err := s.dead.write(dead); err != nil {
		s.log.Error("cannot write dead letters; asking Fluent Bit to retry", "records", len(dead), "error", err)
		return FLBRetry
	}
	if len(dead) > 0 && code == FLBOK {
		s.log.Warn("records dead-lettered", "records", len(dead), "reason", dead[0].Reason, "file", s.dead.path)
	}
	return code
}

func (s *backendSink) close(ctx context.Context) error {
	// The Final batch lets the output emit what it holds before Close.
	res := s.process(&sdk.Batch{Final: true})
	_ = s.stream.CloseSend()
	<-s.recvEnd
	err := s.conn.Close(ctx)
	if res.Err != nil && err == nil && !errors.Is(res.Err, s.broken) {
		err = fmt.Errorf("final batch: %w", res.Err)
	}
	return errors.Join(err, s.dead.close())
}
