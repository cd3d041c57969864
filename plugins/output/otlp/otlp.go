// Package otlp is the otlp output: it turns audit events into OpenTelemetry
// spans and metrics that follow the MCP semantic conventions and sends them
// to an OTLP receiver over gRPC or HTTP/protobuf (an OpenTelemetry Collector,
// Jaeger, Tempo, a vendor's intake, ...).
package otlp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/mcpconv"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/sentinel-audit/sentinel/sdk"
)

// durationBuckets are the conventions' histogram boundaries, in seconds.
var durationBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// Definition describes the otlp output to the host.
var Definition = &sdk.Definition{
	Name:    "otlp",
	Kind:    sdk.KindOutput,
	Version: "0.1.0",
	Summary: "MCP spans and metrics over OTLP (gRPC or HTTP/protobuf), following the OpenTelemetry MCP semantic conventions",
	Description: "Each MCP operation event (a method with a duration) becomes a span named \"{mcp.method.name} {tool or prompt}\" " +
		"(e.g. \"tools/call get-weather\") of kind CLIENT (or SERVER with span_kind = \"server\"), spanning the observed " +
		"duration, parented on the caller's trace context when the event carries trace_id/span_id, with mcp.method.name, " +
		"gen_ai.tool.name, gen_ai.prompt.name, mcp.resource.uri, mcp.session.id, mcp.protocol.version, jsonrpc.request.id, " +
		"error.type, rpc.response.status_code, network.* and client/server.address, and ERROR status with the JSON-RPC " +
		"message on failure; its duration is recorded in the mcp.client.operation.duration (or mcp.server.operation.duration) " +
		"histogram with the conventions' buckets. Other events (threats, violations, token use) become INTERNAL spans named by " +
		"event type. Sentinel's own fields travel as sentinel.* attributes. Span ids derive from event ids, so a retried batch " +
		"sends the same spans. Spans are exported synchronously per batch (the batch is delivered when the receiver accepts " +
		"them); metrics are exported every metrics_interval and at shutdown.",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "endpoint", Type: sdk.TypeString, Required: true,
			Description: "OTLP receiver as host:port (no scheme): 4317 for gRPC, 4318 for HTTP.", Example: `"otel-collector:4317"`},
		{Name: "protocol", Type: sdk.TypeString, Default: protoGRPC, Enum: []string{protoGRPC, protoHTTP},
			Description: "OTLP transport: grpc, or http/protobuf (POST of binary protobuf to traces_path and metrics_path)."},
		{Name: "traces_path", Type: sdk.TypeString, Default: "/v1/traces",
			Description: "URL path of trace exports with protocol = \"http/protobuf\".", Example: `"/otlp/v1/traces"`},
		{Name: "metrics_path", Type: sdk.TypeString, Default: "/v1/metrics",
			Description: "URL path of metric exports with protocol = \"http/protobuf\".", Example: `"/otlp/v1/metrics"`},
		{Name: "insecure", Type: sdk.TypeBool, Default: false,
			Description: "Plaintext gRPC instead of TLS (a collector on localhost or inside a mesh)."},
		{Name: "ca_file", Type: sdk.TypeString,
			Description: "PEM CA bundle to verify the receiver's TLS certificate; default the system roots.", Example: `"/etc/ssl/otel-ca.pem"`},
		{Name: "headers", Type: sdk.TypeStringMap, Sensitive: true,
			Description: "gRPC metadata sent with every export, e.g. an API key.", Example: `{ "x-api-key" = env("OTEL_API_KEY") }`},
		{Name: "service_name", Type: sdk.TypeString, Default: "sentinel",
			Description: "service.name of the resource the spans and metrics belong to.", Example: `"mcp-gateway-audit"`},
		{Name: "span_kind", Type: sdk.TypeString, Default: kindClient, Enum: []string{kindClient, kindServer},
			Description: "How the tap's view is reported: client (CLIENT spans and mcp.client.operation.duration: the tap as the caller of the server) or server (SERVER spans and mcp.server.operation.duration: the tap as the receiver of the client)."},
		{Name: "include_arguments", Type: sdk.TypeBool, Default: false,
			Description: "Add gen_ai.tool.call.arguments and gen_ai.tool.call.result (opt-in in the conventions: they may hold sensitive data; put pii_tokenizer in front)."},
		{Name: "metrics", Type: sdk.TypeBool, Default: true,
			Description: "Export the operation-duration histogram and the sentinel.events counter."},
		{Name: "metrics_interval", Type: sdk.TypeDuration, Default: "10s",
			Description: "How often metrics are exported (cumulative, so a failed export is caught up by the next).", Example: `"30s"`},
		{Name: "timeout", Type: sdk.TypeDuration, Default: "10s",
			Description: "Deadline of one export call.", Example: `"5s"`},
		{Name: "compression", Type: sdk.TypeString, Default: "gzip", Enum: []string{"gzip", "none"},
			Description: "gRPC compression of export requests."},
	}},
	New: func() sdk.Plugin { return &Output{} },
}

// Output is one configured otlp output.
type Output struct {
	cfg       Config
	spans     sdktrace.SpanExporter
	collected *collector
	tp        *sdktrace.TracerProvider
	tracer    trace.Tracer
	kind      trace.SpanKind

	metricExp   sdkmetric.Exporter
	reader      *sdkmetric.ManualReader
	mp          *sdkmetric.MeterProvider
	duration    metric.Float64Histogram
	events      metric.Int64Counter
	lastMetrics time.Time

	mu        sync.Mutex
	exported  uint64
	failed    uint64
	metricErr string
	closed    bool
}

// Validate checks the block without side effects.
func (o *Output) Validate(sc sdk.Config) error {
	var cfg Config
	if err := sc.Decode(&cfg); err != nil {
		return err
	}
	return cfg.Validate()
}

// Configure builds the exporters and the providers once.
func (o *Output) Configure(ctx context.Context, sc sdk.Config) error {
	var cfg Config
	if err := sc.Decode(&cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.applyDefaults()
	o.cfg = cfg
	if sc.DryRun {
		return nil
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	// the host retries whole batches; the exporters' own retry loops would
	// hide failures from it and hold Process past its deadline
	if cfg.Protocol == protoHTTP {
		o.spans, err = otlptrace.New(ctx, newHTTPTraces(&cfg, tc))
	} else {
		topts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint), otlptracegrpc.WithTimeout(cfg.Timeout.Std()),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}), otlptracegrpc.WithHeaders(cfg.Headers)}
		if tc == nil {
			topts = append(topts, otlptracegrpc.WithInsecure())
		} else {
			topts = append(topts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc)))
		}
		if cfg.Compression == "gzip" {
			topts = append(topts, otlptracegrpc.WithCompressor("gzip"))
		}
		o.spans, err = otlptracegrpc.New(ctx, topts...)
	}
	if err != nil {
		return fmt.Errorf("otlp %q: trace exporter: %w", sc.Name, err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cfg.ServiceName),
		attribute.String("service.component", "sentinel-otlp-output"))
	o.collected = &collector{}
	o.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithIDGenerator(eventIDs{}),
		sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(o.collected))
	o.tracer = o.tp.Tracer("github.com/sentinel-audit/sentinel/plugins/output/otlp")
	o.kind = trace.SpanKindClient
	if cfg.SpanKind == kindServer {
		o.kind = trace.SpanKindServer
	}
	if *cfg.Metrics {
		if o.metricExp, err = cfg.metricExporter(ctx, tc); err != nil {
			return fmt.Errorf("otlp %q: metric exporter: %w", sc.Name, err)
		}
		o.reader = sdkmetric.NewManualReader()
		o.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(o.reader))
		meter := o.mp.Meter("github.com/sentinel-audit/sentinel/plugins/output/otlp")
		buckets := metric.WithExplicitBucketBoundaries(durationBuckets...)
		if cfg.SpanKind == kindServer {
			h, err := mcpconv.NewServerOperationDuration(meter, buckets)
			if err != nil {
				return fmt.Errorf("otlp %q: %w", sc.Name, err)
			}
			o.duration = h.Inst()
		} else {
			h, err := mcpconv.NewClientOperationDuration(meter, buckets)
			if err != nil {
				return fmt.Errorf("otlp %q: %w", sc.Name, err)
			}
			o.duration = h.Inst()
		}
		if o.events, err = meter.Int64Counter("sentinel.events", metric.WithUnit("{event}"),
			metric.WithDescription("Audit events exported, by event type and severity.")); err != nil {
			return fmt.Errorf("otlp %q: %w", sc.Name, err)
		}
		o.lastMetrics = time.Now()
	}
	return nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.Insecure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := sdk.CertPool(c.CAFile)
		if err != nil {
			return nil, sdk.Fieldf("ca_file", "%v", err)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// metricExporter builds the metrics exporter for the protocol. Metric export
// failures only delay metrics (they are cumulative), so the SDK's exporters
// serve as they are.
func (c *Config) metricExporter(ctx context.Context, tc *tls.Config) (sdkmetric.Exporter, error) {
	if c.Protocol == protoHTTP {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(c.Endpoint), otlpmetrichttp.WithURLPath(c.MetricsPath),
			otlpmetrichttp.WithTimeout(c.Timeout.Std()), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
			otlpmetrichttp.WithHeaders(c.Headers)}
		if tc == nil {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		} else {
			opts = append(opts, otlpmetrichttp.WithTLSClientConfig(tc))
		}
		if c.Compression == "gzip" {
			opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(c.Endpoint), otlpmetricgrpc.WithTimeout(c.Timeout.Std()),
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}), otlpmetricgrpc.WithHeaders(c.Headers)}
	if tc == nil {
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	} else {
		opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tc)))
	}
	if c.Compression == "gzip" {
		opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
	}
	return otlpmetricgrpc.New(ctx, opts...)
}

// Process exports one span per record, synchronously.
func (o *Output) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	out := &sdk.Batch{Seq: in.Seq}
	if o.tp == nil {
		return out, errors.New("otlp: not configured")
	}
	type measured struct {
		ev   *event
		attr []attribute.KeyValue
	}
	var done []measured
	for i, r := range in.Records {
		ev := &event{}
		if err := json.Unmarshal(r.Body, ev); err != nil {
			out.Reject(i, "otlp: body is not a JSON object: "+err.Error())
			continue
		}
		if ev.Type == "" {
			ev.Type = r.Type
		}
		if ev.Severity == "" {
			ev.Severity = r.Severity
		}
		ev.normalize()
		start, end := ev.window(r)
		kind := trace.SpanKindInternal
		if ev.operation() {
			kind = o.kind
		}
		sctx := ev.parent(context.WithValue(ctx, eventIDKey{}, r.ID))
		_, span := o.tracer.Start(sctx, ev.spanName(), trace.WithTimestamp(start), trace.WithSpanKind(kind),
			trace.WithAttributes(ev.attributes(r, o.cfg.IncludeArguments)...))
		if code, msg := ev.status(); code != 0 {
			span.SetStatus(code, msg)
		}
		span.End(trace.WithTimestamp(end))
		done = append(done, measured{ev: ev})
	}
	spans := o.collected.take()
	if len(spans) > 0 {
		ectx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.Std())
		err := o.spans.ExportSpans(ectx, spans)
		cancel()
		if err != nil {
			o.mu.Lock()
			o.failed += uint64(len(spans))
			o.mu.Unlock()
			if o.cfg.Protocol == protoHTTP {
				if !sdk.IsRetryable(err) {
					err = fmt.Errorf("otlp: export: %w", err) // a 4xx: the receiver refuses these spans
				}
				return out, err
			}
			return out, classify(err)
		}
	}
	o.mu.Lock()
	o.exported += uint64(len(spans))
	o.mu.Unlock()
	if o.mp != nil {
		for _, m := range done {
			o.measure(ctx, m.ev)
		}
		if in.Final || time.Since(o.lastMetrics) >= o.cfg.MetricsInterval.Std() {
			o.flushMetrics(ctx)
		}
	}
	return out, nil
}

// measure records the event in the metrics, after its span was delivered so a
// retried batch is not counted twice.
func (o *Output) measure(ctx context.Context, e *event) {
	o.events.Add(ctx, 1, metric.WithAttributes(attribute.String("sentinel.event.type", e.Type),
		attribute.String("sentinel.severity", e.Severity)))
	if !e.operation() {
		return
	}
	kv := []attribute.KeyValue{semconv.McpMethodNameKey.String(e.MethodName)}
	add := func(k attribute.Key, v string) {
		if v != "" {
			kv = append(kv, k.String(v))
		}
	}
	add(semconv.ErrorTypeKey, e.ErrorType)
	add(semconv.GenAIToolNameKey, e.ToolNameAttr)
	add(semconv.GenAIPromptNameKey, e.PromptAttr)
	add(semconv.RPCResponseStatusCodeKey, e.RPCStatus)
	add(semconv.GenAIOperationNameKey, e.OperationName)
	add(semconv.McpProtocolVersionKey, e.Protocol)
	add(semconv.NetworkTransportKey, e.Transport)
	add(semconv.NetworkProtocolNameKey, e.NetProtocol)
	add(semconv.ServerAddressKey, e.ServerAddress)
	o.duration.Record(ctx, *e.DurationMS/1000, metric.WithAttributes(kv...))
}

// flushMetrics exports the cumulative metrics. A failure is logged in
// get_status and made good by the next export: the values are cumulative.
func (o *Output) flushMetrics(ctx context.Context) {
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(ctx, &rm); err != nil {
		o.setMetricErr(err)
		return
	}
	ectx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.Std())
	defer cancel()
	if err := o.metricExp.Export(ectx, &rm); err != nil {
		o.setMetricErr(err)
		return
	}
	o.lastMetrics = time.Now()
	o.setMetricErr(nil)
}

func (o *Output) setMetricErr(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.metricErr = ""
		return
	}
	o.metricErr = err.Error()
}

// classify maps an export error to the host's retry semantics, following the
// OTLP specification's list of retryable gRPC codes and honouring RetryInfo.
func classify(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return sdk.Retryable(fmt.Errorf("otlp: export: %w", err)) // transport trouble, deadline
	}
	wrapped := fmt.Errorf("otlp: export: %s: %s", st.Code(), st.Message())
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss,
		codes.ResourceExhausted:
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay != nil {
				return sdk.RetryAfter(wrapped, ri.RetryDelay.AsDuration())
			}
		}
		return sdk.Retryable(wrapped)
	}
	return wrapped
}

// Invoke answers get_status.
func (o *Output) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	st := map[string]any{"plugin": Definition.Name, "healthy": true, "endpoint": o.cfg.Endpoint,
		"spans_exported": o.exported, "spans_failed": o.failed, "span_kind": o.cfg.SpanKind}
	if o.metricErr != "" {
		st["metrics_error"] = o.metricErr
	}
	return st, nil
}

// Close exports the last metrics and shuts the exporters down; it may be called twice.
func (o *Output) Close(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	var errs []error
	if o.mp != nil {
		o.flushMetrics(ctx)
		errs = append(errs, o.mp.Shutdown(ctx), o.metricExp.Shutdown(ctx))
	}
	if o.tp != nil {
		errs = append(errs, o.tp.Shutdown(ctx), o.spans.Shutdown(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("otlp: close: %w", err)
	}
	return nil
}

var (
	_ sdk.Plugin     = (*Output)(nil)
	_ sdk.Configurer = (*Output)(nil)
	_ sdk.Validator  = (*Output)(nil)
	_ sdk.Invoker    = (*Output)(nil)
	_ sdk.Closer     = (*Output)(nil)
)
