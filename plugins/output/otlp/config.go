package otlp

import (
	"net"
	"os"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the otlp block; the schema in otlp.go documents it.
type Config struct {
	Endpoint         string            `json:"endpoint"`
	Insecure         bool              `json:"insecure"`
	CAFile           string            `json:"ca_file"`
	Headers          map[string]string `json:"headers"`
	ServiceName      string            `json:"service_name"`
	SpanKind         string            `json:"span_kind"`
	IncludeArguments bool              `json:"include_arguments"`
	Metrics          *bool             `json:"metrics"`
	MetricsInterval  sdk.Duration      `json:"metrics_interval"`
	Timeout          sdk.Duration      `json:"timeout"`
	Compression      string            `json:"compression"`
	Protocol         string            `json:"protocol"`
	TracesPath       string            `json:"traces_path"`
	MetricsPath      string            `json:"metrics_path"`
}

const (
	protoGRPC = "grpc"
	protoHTTP = "http/protobuf"
)

const (
	kindClient = "client"
	kindServer = "server"
)

func (c *Config) applyDefaults() {
	if c.ServiceName == "" {
		c.ServiceName = "sentinel"
	}
	if c.SpanKind == "" {
		c.SpanKind = kindClient
	}
	if c.Metrics == nil {
		t := true
		c.Metrics = &t
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = sdk.Duration(10 * time.Second)
	}
	if c.Timeout == 0 {
		c.Timeout = sdk.Duration(10 * time.Second)
	}
	if c.Compression == "" {
		c.Compression = "gzip"
	}
	if c.Protocol == "" {
		c.Protocol = protoGRPC
	}
	if c.TracesPath == "" {
		c.TracesPath = "/v1/traces"
	}
	if c.MetricsPath == "" {
		c.MetricsPath = "/v1/metrics"
	}
}

// Validate checks the block without side effects (the CA file is only stat'ed).
func (c *Config) Validate() error {
	if c.Endpoint == "" {
		return sdk.Fieldf("endpoint", "required: the OTLP receiver as host:port, e.g. \"otel-collector:4317\"")
	}
	if strings.Contains(c.Endpoint, "://") {
		return sdk.Fieldf("endpoint", "give host:port without a scheme (TLS is the default; insecure = true for plaintext), got %q", c.Endpoint)
	}
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		return sdk.Fieldf("endpoint", "must be host:port: %v", err)
	}
	switch c.SpanKind {
	case "", kindClient, kindServer:
	default:
		return sdk.Fieldf("span_kind", "must be \"client\" or \"server\", got %q", c.SpanKind)
	}
	switch c.Protocol {
	case "", protoGRPC, protoHTTP:
	default:
		return sdk.Fieldf("protocol", "must be \"grpc\" or \"http/protobuf\", got %q", c.Protocol)
	}
	for _, p := range []struct{ name, v string }{{"traces_path", c.TracesPath}, {"metrics_path", c.MetricsPath}} {
		if p.v != "" && !strings.HasPrefix(p.v, "/") {
			return sdk.Fieldf(p.name, "must start with /, got %q", p.v)
		}
	}
	switch c.Compression {
	case "", "gzip", "none":
	default:
		return sdk.Fieldf("compression", "must be \"gzip\" or \"none\", got %q", c.Compression)
	}
	if c.Insecure && c.CAFile != "" {
		return sdk.Fieldf("ca_file", "makes no sense with insecure = true")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			return sdk.Fieldf("ca_file", "%v", err)
		}
	}
	if c.MetricsInterval < 0 || c.Timeout < 0 {
		return sdk.Fieldf("timeout", "durations must be positive")
	}
	return nil
}
