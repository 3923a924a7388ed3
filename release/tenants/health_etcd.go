package tenants

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// EtcdMember is what one etcd member says of its database: its size against the backend quota
// and its active alarms. It is read through the meta apiserver's Pod proxy from the member's
// plain-HTTP metrics port (--listen-metrics-urls), which serves /metrics and /health without a
// client certificate; the chart's NetworkPolicy keeps that port open for scrapers.
type EtcdMember struct {
	Pod string `json:"pod"`
	// DBSize is the backend's file size, DBSizeInUse what is left after compaction: the
	// difference comes back with a defragmentation.
	DBSize      int64 `json:"dbSize"`
	DBSizeInUse int64 `json:"dbSizeInUse"`
	// Quota is --quota-backend-bytes; at it etcd raises NOSPACE and takes only reads and deletes.
	Quota int64 `json:"quota"`
	// Alarms are the cluster's active alarms (NOSPACE, CORRUPT), as /health reports them.
	Alarms []string `json:"alarms,omitempty"`
	// Unreadable says why the member could not be asked; the fields above are then zero.
	Unreadable string `json:"unreadable,omitempty"`
}

// QuotaUsed is the share of the quota the database file takes, 0 when unknown.
func (m EtcdMember) QuotaUsed() float64 {
	if m.Quota <= 0 {
		return 0
	}
	return float64(m.DBSize) / float64(m.Quota)
}

// EtcdQuotaWarning is the share of its quota past which a member's database makes etcd
// unhealthy: close enough that a burst of writes raises NOSPACE, early enough to compact and
// defragment, or raise etcd.extraArgs.quota-backend-bytes, before it does.
const EtcdQuotaWarning = 0.9

// etcdMetricsPort is the chart's etcd --listen-metrics-urls port.
const etcdMetricsPort = "2381"

// Reasons of an etcd whose Pods are fine but whose database is not.
const (
	ReasonEtcdAlarm     = "EtcdAlarm"
	ReasonEtcdNearQuota = "EtcdNearQuota"
)

// etcdMembers asks each running etcd Pod for its database's state.
func etcdMembers(ctx context.Context, client kubernetes.Interface, namespace string, pods []*corev1.Pod) []EtcdMember {
	var members []EtcdMember
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || !alive(p) {
			continue // nothing listens yet
		}
		m := EtcdMember{Pod: p.Name}
		if err := m.read(ctx, client, namespace); err != nil {
			m = EtcdMember{Pod: p.Name, Unreadable: err.Error()}
		}
		members = append(members, m)
	}
	return members
}

// alive: the Pod's containers all run, whether or not Ready (an alarm makes etcd not ready).
func alive(p *corev1.Pod) bool {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running == nil {
			return false
		}
	}
	return len(p.Status.ContainerStatuses) > 0
}

func (m *EtcdMember) read(ctx context.Context, client kubernetes.Interface, namespace string) error {
	proxy := func(path string, params map[string]string) ([]byte, error) {
		body, err := client.CoreV1().Pods(namespace).ProxyGet("http", m.Pod, etcdMetricsPort, path, params).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("GET %s of pod %s through the apiserver's proxy: %w", path, m.Pod, err)
		}
		return body, nil
	}
	metrics, err := proxy("/metrics", nil)
	if err != nil {
		return err
	}
	if err := m.parseMetrics(metrics); err != nil {
		return fmt.Errorf("metrics of pod %s: %w", m.Pod, err)
	}
	// serializable: a member answers from its own state, so a lost quorum does not hide alarms.
	health, err := proxy("/health", map[string]string{"serializable": "true"})
	if err != nil && len(health) == 0 { // a member with an alarm answers 503, with the alarm in its body
		return err
	}
	m.Alarms = healthAlarms(health)
	return nil
}

// parseMetrics reads the database size and quota from etcd's Prometheus metrics.
func (m *EtcdMember) parseMetrics(text []byte) error {
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return err
	}
	for name, into := range map[string]*int64{
		"etcd_mvcc_db_total_size_in_bytes":        &m.DBSize,
		"etcd_mvcc_db_total_size_in_use_in_bytes": &m.DBSizeInUse,
		"etcd_server_quota_backend_bytes":         &m.Quota,
	} {
		v, ok := gaugeValue(families[name])
		if !ok {
			return fmt.Errorf("no gauge %s", name)
		}
		*into = int64(v)
	}
	return nil
}

func gaugeValue(f *dto.MetricFamily) (float64, bool) {
	if f == nil || len(f.Metric) != 1 || f.Metric[0].Gauge == nil {
		return 0, false
	}
	return f.Metric[0].Gauge.GetValue(), true
}

// healthAlarms reads the alarms from etcd's /health answer, {"health":"false","reason":"ALARM
// NOSPACE"}: etcd reports one alarm type there, the first it finds.
func healthAlarms(body []byte) []string {
	var h struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(body, &h) != nil {
		return nil
	}
	if alarm, ok := strings.CutPrefix(h.Reason, "ALARM "); ok && alarm != "" {
		return []string{alarm}
	}
	return nil
}

// judgeEtcd turns a healthy etcd component unhealthy when a member reports an alarm or a
// database near its quota: its Pods may all be Ready while it refuses every write.
func judgeEtcd(c *ComponentHealth, members []EtcdMember) {
	if !c.Healthy || c.Reason == ReasonHibernated {
		return
	}
	for _, m := range members {
		if len(m.Alarms) > 0 {
			c.Healthy, c.Reason = false, ReasonEtcdAlarm
			c.Message = fmt.Sprintf("pod %s: alarm %s, database %s of its %s quota", m.Pod, strings.Join(m.Alarms, ", "),
				size(m.DBSize), size(m.Quota))
			return
		}
	}
	for _, m := range members {
		if m.QuotaUsed() >= EtcdQuotaWarning {
			c.Healthy, c.Reason = false, ReasonEtcdNearQuota
			c.Message = fmt.Sprintf("pod %s: database %s is %.0f%% of its %s quota (%s in use): compact and defragment, or raise etcd.extraArgs.quota-backend-bytes",
				m.Pod, size(m.DBSize), 100*m.QuotaUsed(), size(m.Quota), size(m.DBSizeInUse))
			return
		}
	}
}

func size(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }
