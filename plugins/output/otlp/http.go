package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sentinel-audit/sentinel/sdk"
)

// httpTraces is an OTLP/HTTP (binary protobuf) trace client for the SDK's
// exporter. It is ours rather than otlptracehttp's so that its answers map
// onto the host's retry semantics exactly: 429, 502, 503 and 504 (and
// transport errors) are retried, honouring Retry-After; any other status
// fails the batch for good, with the receiver's message.
type httpTraces struct {
	url     string
	headers map[string]string
	gzip    bool
	client  *http.Client
}

func newHTTPTraces(cfg *Config, tc *tls.Config) *httpTraces {
	scheme := "https"
	if cfg.Insecure {
		scheme = "http"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &httpTraces{
		url:     scheme + "://" + cfg.Endpoint + cfg.TracesPath,
		headers: cfg.Headers,
		gzip:    cfg.Compression == "gzip",
		client:  &http.Client{Transport: tr, Timeout: cfg.Timeout.Std()},
	}
}

func (h *httpTraces) Start(context.Context) error { return nil }

func (h *httpTraces) Stop(context.Context) error {
	h.client.CloseIdleConnections()
	return nil
}

func (h *httpTraces) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	body, err := proto.Marshal(&coltrace.ExportTraceServiceRequest{ResourceSpans: spans})
	if err != nil {
		return fmt.Errorf("encode export request: %w", err)
	}
	if h.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compress export request: %w", err)
		}
		body = buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build export request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if h.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("POST %s: %w", h.url, err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("POST %s: %s: %s", h.url, resp.Status, strings.TrimSpace(string(msg)))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if d := retryAfter(resp.Header.Get("Retry-After")); d > 0 {
			return sdk.RetryAfter(err, d)
		}
		return sdk.Retryable(err)
	}
	return err
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
