package serve

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of a Repository, labelled by model and
// version. Create them with NewMetrics and pass them to NewRepository.
type Metrics struct {
	requests   *prometheus.CounterVec
	failures   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	batchSize  *prometheus.HistogramVec
	queueDepth *prometheus.GaugeVec
}

// NewMetrics creates the serving metrics and registers them with reg. It
// panics if reg already holds metrics of the same names (a programmer
// error: one Metrics per registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"model", "version"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlenv_serve_requests_total",
			Help: "Inference requests received, per model version.",
		}, labels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlenv_serve_request_errors_total",
			Help: "Inference requests that failed, per model version and HTTP-equivalent status code.",
		}, append(labels, "code")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mlenv_serve_request_duration_seconds",
			Help:    "Inference request latency from admission to result, queueing included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, labels),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mlenv_serve_batch_size",
			Help:    "Rows per model Infer call after dynamic batching.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, labels),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mlenv_serve_queue_depth",
			Help: "Requests waiting in a model version's batching queue.",
		}, labels),
	}
	reg.MustRegister(m.requests, m.failures, m.latency, m.batchSize, m.queueDepth)
	return m
}

// versionMetrics are the metrics of one model version, with labels bound.
type versionMetrics struct {
	m              *Metrics
	model, version string
	requests       prometheus.Counter
	latency        prometheus.Observer
	batchSize      prometheus.Observer
	queueDepth     prometheus.Gauge
}

func (m *Metrics) forVersion(model, version string) *versionMetrics {
	return &versionMetrics{
		m:          m,
		model:      model,
		version:    version,
		requests:   m.requests.WithLabelValues(model, version),
		latency:    m.latency.WithLabelValues(model, version),
		batchSize:  m.batchSize.WithLabelValues(model, version),
		queueDepth: m.queueDepth.WithLabelValues(model, version),
	}
}

// failed counts one failed request with the HTTP-equivalent status code.
func (v *versionMetrics) failed(code int) {
	v.m.failures.WithLabelValues(v.model, v.version, strconv.Itoa(code)).Inc()
}

// remove deletes the version's series once it is unloaded.
func (v *versionMetrics) remove() {
	labels := prometheus.Labels{"model": v.model, "version": v.version}
	v.m.requests.Delete(labels)
	v.m.failures.DeletePartialMatch(labels)
	v.m.latency.Delete(labels)
	v.m.batchSize.Delete(labels)
	v.m.queueDepth.Delete(labels)
}
