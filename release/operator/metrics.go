package operator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the operator's Prometheus metrics.
type Metrics struct {
	reconciles *prometheus.CounterVec
	duration   prometheus.Histogram
}

// NewMetrics registers the operator's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taowa_operator_reconciles_total",
			Help: "Reconciles of Clusters, by result (success, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "taowa_operator_reconcile_duration_seconds",
			Help: "Time of a reconcile of one Cluster; an install or a one-minor upgrade takes minutes.",
			// From a status refresh (milliseconds) to an upgrade with its hooks (minutes).
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 9),
		}),
	}
	reg.MustRegister(m.reconciles, m.duration)
	return m
}

func (m *Metrics) observe(start time.Time, err error) {
	if m == nil {
		return
	}
	m.duration.Observe(time.Since(start).Seconds())
	result := "success"
	if err != nil {
		result = "error"
	}
	m.reconciles.WithLabelValues(result).Inc()
}
