package operator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taowa/taowa/release/tenants"
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

// TenantMetrics are the per-Cluster series: what a dashboard of the fleet shows and alerts on.
type TenantMetrics struct {
	ready, upgrading, certificateExpiry *prometheus.GaugeVec
	healthy, restarts                   *prometheus.GaugeVec
	etcdSize, etcdQuota, etcdAlarms     *prometheus.GaugeVec
	lastSnapshot, snapshotFailed        *prometheus.GaugeVec
}

// NewTenantMetrics registers the per-Cluster metrics with reg.
func NewTenantMetrics(reg prometheus.Registerer) *TenantMetrics {
	cluster := []string{"namespace", "cluster"}
	component := []string{"namespace", "cluster", "component"}
	m := &TenantMetrics{
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_ready", Help: "1 when the Cluster's apiserver serves (its Ready condition), else 0.",
		}, cluster),
		upgrading: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_upgrading", Help: "1 while the operator installs, upgrades or deletes the Cluster's release.",
		}, cluster),
		certificateExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_certificate_expiry_timestamp_seconds", Help: "When the earliest of the tenant's certificates expires (Unix time).",
		}, cluster),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_component_healthy", Help: "1 when every Pod of the component is Ready and none crash-loops or waits to be scheduled.",
		}, component),
		restarts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_component_restarts", Help: "Container restarts of the component's current Pods.",
		}, component),
		etcdSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_etcd_database_size_bytes", Help: "Size of the tenant's etcd database file, the largest of its members'.",
		}, cluster),
		etcdQuota: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_etcd_database_quota_bytes", Help: "The tenant's etcd backend quota (--quota-backend-bytes), at which it raises NOSPACE.",
		}, cluster),
		etcdAlarms: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_etcd_alarms", Help: "Members of the tenant's etcd that report an active alarm (NOSPACE, CORRUPT).",
		}, cluster),
		lastSnapshot: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_last_scheduled_snapshot_timestamp_seconds", Help: "When a scheduled etcd snapshot of the tenant last succeeded (Unix time).",
		}, cluster),
		snapshotFailed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taowa_cluster_snapshot_failed", Help: "1 when the tenant's newest scheduled etcd snapshot failed.",
		}, cluster),
	}
	for _, v := range m.all() {
		reg.MustRegister(v)
	}
	return m
}

func (m *TenantMetrics) all() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{m.ready, m.upgrading, m.certificateExpiry, m.healthy, m.restarts, m.etcdSize, m.etcdQuota, m.etcdAlarms,
		m.lastSnapshot, m.snapshotFailed}
}

// observe records what the Cluster's status and its components' health say.
func (m *TenantMetrics) observe(namespace, name string, ready, upgrading bool, h tenants.Health) {
	if m == nil {
		return
	}
	m.ready.WithLabelValues(namespace, name).Set(gauge(ready))
	m.upgrading.WithLabelValues(namespace, name).Set(gauge(upgrading))
	if h.Certificates != nil {
		m.certificateExpiry.WithLabelValues(namespace, name).Set(float64(h.Certificates.NotAfter.Unix()))
	}
	if s := h.Snapshots; s != nil {
		m.snapshotFailed.WithLabelValues(namespace, name).Set(gauge(s.Failed))
		if s.LastSuccess != nil {
			m.lastSnapshot.WithLabelValues(namespace, name).Set(float64(s.LastSuccess.Unix()))
		}
	}
	for _, c := range h.Components {
		m.healthy.WithLabelValues(namespace, name, c.Component).Set(gauge(c.Healthy))
		m.restarts.WithLabelValues(namespace, name, c.Component).Set(float64(c.Restarts))
	}
	// Only what the members said: a hibernated or unreachable etcd keeps its last values.
	var size, quota int64
	alarms, read := 0, false
	for _, e := range h.Etcd {
		if e.Unreadable != "" {
			continue
		}
		read = true
		size = max(size, e.DBSize)
		if quota == 0 || e.Quota < quota {
			quota = e.Quota
		}
		if len(e.Alarms) > 0 {
			alarms++
		}
	}
	if read {
		m.etcdSize.WithLabelValues(namespace, name).Set(float64(size))
		m.etcdQuota.WithLabelValues(namespace, name).Set(float64(quota))
		m.etcdAlarms.WithLabelValues(namespace, name).Set(float64(alarms))
	}
}

// forget drops a deleted Cluster's series.
func (m *TenantMetrics) forget(namespace, name string) {
	if m == nil {
		return
	}
	labels := prometheus.Labels{"namespace": namespace, "cluster": name}
	for _, v := range m.all() {
		v.DeletePartialMatch(labels)
	}
}

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
