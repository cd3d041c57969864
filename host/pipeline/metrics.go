package pipeline

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics exposes the components' counters to Prometheus. Counters are read
// from the Stats atomics at scrape time, so the hot path pays nothing for them.
type metrics struct {
	registry     *prometheus.Registry
	batchLatency *prometheus.HistogramVec
	ready        atomic.Bool
}

var (
	descRecords = prometheus.NewDesc("sentinel_component_records_total",
		"Records a component received (direction=in) or passed on or delivered (direction=out).", []string{"component", "direction"}, nil)
	descDead = prometheus.NewDesc("sentinel_component_dead_lettered_total",
		"Records written to the component's dead-letter file.", []string{"component"}, nil)
	descDropped = prometheus.NewDesc("sentinel_component_dropped_total",
		"Records a filter chose not to pass on (by its own rules, not errors).", []string{"component"}, nil)
	descRetried = prometheus.NewDesc("sentinel_component_retried_total",
		"Records sent again after a retryable failure.", []string{"component"}, nil)
	descRestarts = prometheus.NewDesc("sentinel_plugin_restarts_total",
		"Times the component's plugin process was restarted.", []string{"component"}, nil)
	descBatches = prometheus.NewDesc("sentinel_component_batches_total",
		"Batches sent to (or, for inputs, received from) the plugin.", []string{"component"}, nil)
	descBuffer = prometheus.NewDesc("sentinel_output_buffer_bytes",
		"Bytes in an output's disk buffer not yet delivered.", []string{"component"}, nil)
	descQueued = prometheus.NewDesc("sentinel_component_queued_batches",
		"Batches waiting in the component's inbox.", []string{"component"}, nil)
)

func newMetrics(p *Pipeline) *metrics {
	m := &metrics{registry: prometheus.NewRegistry(), batchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sentinel_batch_duration_seconds",
		Help:    "Time from sending a batch to a plugin to its answer.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"component"})}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.batchLatency, collector{p})
	return m
}

type collector struct{ p *Pipeline }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descDead, descDropped, descRetried, descRestarts, descBatches, descBuffer, descQueued} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, comp := range c.p.cfg.Components {
		id, s := comp.ID(), c.p.stats[comp.ID()]
		counter(descRecords, s.In.Load(), id, "in")
		counter(descRecords, s.Out.Load(), id, "out")
		counter(descDead, s.DeadLettered.Load(), id)
		counter(descDropped, s.Dropped.Load(), id)
		counter(descRetried, s.Retried.Load(), id)
		counter(descRestarts, s.Restarts.Load(), id)
		counter(descBatches, s.Batches.Load(), id)
	}
	for _, w := range c.p.workers {
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(len(w.inbox)), w.label())
		if w.disk != nil {
			ch <- prometheus.MustNewConstMetric(descBuffer, prometheus.GaugeValue, float64(w.disk.q.Bytes()), w.comp.ID())
		}
	}
}

// observer returns the batch-latency observer of one component.
func (m *metrics) observer(id string) prometheus.Observer { return m.batchLatency.WithLabelValues(id) }

// Handler serves /metrics (Prometheus), /healthz (the host is alive) and
// /readyz (every plugin started and the pipeline is flowing; 503 before and
// after), plus /status with the components' counters as JSON.
func (p *Pipeline) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(p.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.metrics.ready.Load() {
			http.Error(w, "not ready: the pipeline is starting or has stopped", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": p.metrics.ready.Load(), "time": time.Now().UTC(), "components": p.Stats()})
	})
	return mux
}
