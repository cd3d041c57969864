// Package fluentbit runs Sentinel's outputs, and optionally a whole Sentinel
// pipeline (PII tokenizer, classifier, signer, encryptor before the output),
// inside Fluent Bit as one Go output plugin named `sentinel`.
//
// This package holds everything but the cgo glue: reading an output section's
// keys, turning Fluent Bit chunks into records, delivering them, and mapping
// the outcome to FLB_OK / FLB_RETRY / FLB_ERROR. The FLBPlugin* exports live in
// cmd/out_sentinel, built with -buildmode=c-shared (`make fluentbit`).
//
// Two modes, chosen per output section:
//
//   - backend: one of Sentinel's outputs (file, splunk_hec, elasticsearch,
//     microsoft_sentinel, chronicle), configured by Fluent Bit keys derived from
//     its schema (see flbconfig). Fluent Bit owns buffering and retries: a
//     retryable failure returns FLB_RETRY; a permanent one dead-letters the
//     records and returns FLB_ERROR.
//   - pipeline: a Sentinel HCL file whose `input "fluentbit"` block receives the
//     records; the filters and outputs run in this process with the pipeline's
//     own buffer, retry and dead-letter rules. A flush returns FLB_OK once its
//     records are delivered or dead-lettered, FLB_RETRY when the plugin shuts
//     down first. Retries happen after the signer, so a retried record is never
//     signed twice.
package fluentbit

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Fluent Bit's flush return codes (flb_plugin.h).
const (
	FLBError = 0
	FLBOK    = 1
	FLBRetry = 2
)

// PluginName is the name Fluent Bit knows the plugin by (`Name sentinel`).
const PluginName = "sentinel"

// The keys of the plugin itself; each backend adds the keys of its schema.
const (
	KeyBackend  = "backend"
	KeyPipeline = "pipeline"
	KeyID       = "id"
	KeyDataDir  = "data_dir"
	KeyEventKey = "event_key"
)

// Keys documents the plugin's own keys, for the README and error hints.
var Keys = sdk.Schema{Fields: []sdk.Field{
	{Name: KeyBackend, Type: sdk.TypeString, Enum: backendNames(),
		Description: "The Sentinel output to run. Its settings are further keys of the same section, named as in HCL; nested block fields as <block>_<field> (tls_ca_file)."},
	{Name: KeyPipeline, Type: sdk.TypeString, Example: `"/etc/sentinel/fluent-bit.hcl"`,
		Description: "Instead of backend: a Sentinel HCL pipeline whose `input \"fluentbit\"` block receives the records; its filters and outputs run inside Fluent Bit."},
	{Name: KeyID, Type: sdk.TypeString,
		Description: "Names this output (component output.<backend>.<id>, its state directory and dead-letter file). Default: the backend name. Distinct per section when two sections use one backend."},
	{Name: KeyDataDir, Type: sdk.TypeString, Default: "sentinel-data",
		Description: "Backend mode: where outputs keep state and dead letters (<data_dir>/deadletter/<component>.jsonl). Pipeline mode uses the HCL file's data_dir."},
	{Name: KeyEventKey, Type: sdk.TypeString, Example: `"log"`,
		Description: "Take the event from this key of the record (a map, or a string holding a JSON object: tail without a parser) instead of the whole record."},
}}

// sink is what a mode delivers a flush's records to.
type sink interface {
	deliver(ctx context.Context, recs []*sdk.Record, dead []deadLetter) int
	close(ctx context.Context) error
}

// Output is one Fluent Bit output section (one FLBPluginFlushCtx context).
// Flush is safe to call from several Fluent Bit workers at once.
type Output struct {
	id     string // output.<backend>.<id>, or pipeline:<path>
	log    hclog.Logger
	conv   *converter
	sink   sink
	dead   *deadLetters // for chunks that could not be decoded
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

var (
	registryMu sync.Mutex
	registry   = map[string]*Output{}
)

// Logger is what every instance logs to: Fluent Bit's stderr, at
// SENTINEL_LOG_LEVEL (default info).
func Logger() hclog.Logger {
	level := hclog.LevelFromString(os.Getenv("SENTINEL_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{Name: "out_sentinel", Level: level, Output: os.Stderr})
}

// Open configures one output section from its keys (get returns "" for an
// unset key, as FLBPluginConfigKey does).
func Open(get func(key string) string, logger hclog.Logger) (*Output, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	get = trimmed(get)
	backend, pipelinePath := get(KeyBackend), get(KeyPipeline)
	ctx, cancel := context.WithCancel(context.Background())
	o := &Output{log: logger, conv: newConverter(get(KeyEventKey)), ctx: ctx, cancel: cancel}
	var err error
	switch {
	case backend != "" && pipelinePath != "":
		err = fmt.Errorf("set either %q or %q, not both", KeyBackend, KeyPipeline)
	case backend != "":
		o.sink, o.id, err = openBackend(ctx, backend, get, logger)
		if err == nil {
			o.dead = o.sink.(*backendSink).dead
		}
	case pipelinePath != "":
		var ps *pipelineSink
		ps, err = openPipeline(ctx, pipelinePath, logger)
		if err == nil {
			o.sink, o.id, o.dead = ps, "pipeline:"+pipelinePath, ps.dead
		}
	default:
		err = fmt.Errorf("set %q (one of %s) or %q (a Sentinel HCL file)", KeyBackend, strings.Join(backendNames(), ", "), KeyPipeline)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	registryMu.Lock()
	if _, dup := registry[o.id]; dup {
		registryMu.Unlock()
		_ = o.sink.close(ctx)
		cancel()
		return nil, fmt.Errorf("%s is already used by another [OUTPUT] section; give each a distinct %q", o.id, KeyID)
	}
	registry[o.id] = o
	registryMu.Unlock()
	logger.Info("output ready", "component", o.id)
	return o, nil
}

func trimmed(get func(string) string) func(string) string {
	return func(k string) string { return strings.TrimSpace(get(k)) }
}

// Flush delivers one chunk and returns FLB_OK, FLB_RETRY or FLB_ERROR.
func (o *Output) Flush(chunk []byte, tag string) (code int) {
	defer func() {
		if v := recover(); v != nil {
			o.log.Error("flush panicked", "component", o.id, "panic", fmt.Sprint(v))
			code = o.deadLetterChunk(chunk, fmt.Sprintf("flush panicked: %v", v))
		}
	}()
	if o.ctx.Err() != nil {
		return FLBRetry
	}
	recs, dead, err := o.conv.records(chunk, tag)
	if err != nil {
		// Whatever followed the damage cannot be framed: keep the bytes.
		o.log.Error("chunk is damaged; its undecodable part is dead-lettered", "component", o.id, "error", err)
		dead = append(dead, deadLetter{Reason: err.Error(), Data: "chunk-msgpack:" + encodeChunk(chunk)})
	}
	return o.sink.deliver(o.ctx, recs, dead)
}

// deadLetterChunk keeps a whole chunk when nothing else can be done with it.
func (o *Output) deadLetterChunk(chunk []byte, reason string) int {
	if err := o.dead.write([]deadLetter{{Reason: reason, Data: "chunk-msgpack:" + encodeChunk(chunk)}}); err != nil {
		o.log.Error("cannot dead-letter chunk; asking Fluent Bit to retry", "component", o.id, "error", err)
		return FLBRetry
	}
	return FLBError
}

// Close flushes and stops the output; later flushes return FLB_RETRY.
func (o *Output) Close() error {
	o.closeOnce.Do(func() {
		o.closeErr = o.sink.close(context.Background())
		o.cancel()
		registryMu.Lock()
		delete(registry, o.id)
		registryMu.Unlock()
		o.log.Info("output closed", "component", o.id, "error", o.closeErr)
	})
	return o.closeErr
}

// CloseAll closes every open output (FLBPluginExit).
func CloseAll() error {
	registryMu.Lock()
	outs := make([]*Output, 0, len(registry))
	for _, o := range registry {
		outs = append(outs, o)
	}
	registryMu.Unlock()
	var errs []string
	for _, o := range outs {
		if err := o.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("close outputs: %s", strings.Join(errs, "; "))
	}
	return nil
}
