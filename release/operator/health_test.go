package operator

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// A crash-looping apiserver Pod turns APIServerHealthy False with what the kubelet says, records
// a Warning Event and the metrics; once it is gone, the condition recovers with a Normal Event.
func TestHealthConditionsFollowTheComponents(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2"})
	reg := prometheus.NewRegistry()
	h.r.Metrics = NewTenantMetrics(reg)
	h.reconcile() // the finalizer
	h.reconcile() // the install
	// The fake meta cluster runs no chart: the apiserver's Deployment and its Ready Pod by hand.
	labels := map[string]string{"app.kubernetes.io/name": "tenant-master", "app.kubernetes.io/instance": "tc", "app.kubernetes.io/component": "kube-apiserver"}
	one := int32(1)
	if _, err := h.kube.AppsV1().Deployments("tenants").Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-apiserver", Namespace: "tenants"},
		Spec:       appsv1.DeploymentSpec{Replicas: &one},
		Status:     appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.kube.CoreV1().Pods("tenants").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-apiserver-old", Namespace: "tenants", Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "kube-apiserver", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	h.drainEvents()
	if c := h.condition(v1alpha1.ConditionAPIServerHealthy); c.Status != metav1.ConditionTrue {
		t.Fatalf("after the install: %+v", c)
	}

	crashing := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-apiserver-new", Namespace: "tenants", Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "kube-apiserver", RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", Message: "Error: unknown flag: --no-such-flag"}},
		}}},
	}
	if _, err := h.kube.CoreV1().Pods("tenants").Create(context.Background(), crashing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	c := h.condition(v1alpha1.ConditionAPIServerHealthy)
	if c.Status != metav1.ConditionFalse || c.Reason != "CrashLoopBackOff" || !strings.Contains(c.Message, "unknown flag: --no-such-flag") {
		t.Errorf("a crash-looping apiserver: %+v", c)
	}
	if events := strings.Join(h.drainEvents(), "\n"); !strings.Contains(events, "Warning APIServerHealthyCrashLoopBackOff") {
		t.Errorf("events: %s", events)
	}
	if v := gaugeValue(t, reg, "taowa_cluster_component_healthy", "kube-apiserver"); v != 0 {
		t.Errorf("taowa_cluster_component_healthy of the apiserver = %v, want 0", v)
	}
	if v := gaugeValue(t, reg, "taowa_cluster_component_restarts", "kube-apiserver"); v < 3 {
		t.Errorf("taowa_cluster_component_restarts of the apiserver = %v, want at least 3", v)
	}
	h.reconcile() // nothing changed: no new event
	if events := h.drainEvents(); len(events) != 0 {
		t.Errorf("events of a reconcile that changed nothing: %v", events)
	}

	if err := h.kube.CoreV1().Pods("tenants").Delete(context.Background(), crashing.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	if c := h.condition(v1alpha1.ConditionAPIServerHealthy); c.Status != metav1.ConditionTrue {
		t.Errorf("after the crashing Pod is gone: %+v", c)
	}
	if events := strings.Join(h.drainEvents(), "\n"); !strings.Contains(events, "Normal APIServerHealthyHealthy") {
		t.Errorf("events: %s", events)
	}
}

// gaugeValue gathers reg as a scrape would and returns the value of the series name of the
// Cluster tenants/tc and component.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, component string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if metricLabels(m)["component"] == component && metricLabels(m)["cluster"] == "tc" && metricLabels(m)["namespace"] == "tenants" {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{component=%q} in the scrape", name, component)
	return 0
}

func metricLabels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// An etcd whose Pod is Ready but whose member raised NOSPACE turns EtcdHealthy False with the
// alarm, and the etcd metrics carry its size, quota and alarm.
func TestEtcdAlarmTurnsEtcdUnhealthy(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2"})
	reg := prometheus.NewRegistry()
	h.r.Metrics = NewTenantMetrics(reg)
	h.reconcile() // the finalizer
	h.reconcile() // the install
	one := int32(1)
	if _, err := h.kube.AppsV1().StatefulSets("tenants").Create(context.Background(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-etcd", Namespace: "tenants"}, Spec: appsv1.StatefulSetSpec{Replicas: &one},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.kube.CoreV1().Pods("tenants").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-etcd-0", Namespace: "tenants", Labels: map[string]string{
			"app.kubernetes.io/name": "tenant-master", "app.kubernetes.io/instance": "tc", "app.kubernetes.io/component": "etcd"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "etcd", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tenantstest.ServeEtcd(h.kube.(*k8sfake.Clientset), map[string]tenantstest.EtcdMember{"tc-etcd-0": {
		Metrics: tenantstest.EtcdMetrics(100<<20, 90<<20, 100<<20), Health: `{"health":"false","reason":"ALARM NOSPACE"}`}})
	h.reconcile()

	c := h.condition(v1alpha1.ConditionEtcdHealthy)
	if c.Status != metav1.ConditionFalse || c.Reason != "EtcdAlarm" || !strings.Contains(c.Message, "pod tc-etcd-0: alarm NOSPACE") {
		t.Errorf("an etcd with a NOSPACE alarm: %+v", c)
	}
	if events := strings.Join(h.drainEvents(), "\n"); !strings.Contains(events, "Warning EtcdHealthyEtcdAlarm") {
		t.Errorf("events: %s", events)
	}
	for name, want := range map[string]float64{
		"taowa_cluster_etcd_database_size_bytes": 100 << 20, "taowa_cluster_etcd_database_quota_bytes": 100 << 20, "taowa_cluster_etcd_alarms": 1,
	} {
		if v := gaugeValue(t, reg, name, ""); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}
