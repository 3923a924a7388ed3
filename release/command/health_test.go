package command

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// servingTenant gives c what a running tenant-a in namespace tenant-a has that its health reads
// (Helm's fake applies nothing): its workloads at one replica each, a Ready Pod of each, and a
// PKI Secret whose certificate expires in validity.
func servingTenant(t *testing.T, c *tenantstest.Cluster, validity time.Duration) {
	t.Helper()
	client, _ := c.Clientset()
	ctx := context.Background()
	one := int32(1)
	create := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := client.AppsV1().StatefulSets("tenant-a").Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-etcd"},
		Spec: appsv1.StatefulSetSpec{Replicas: &one}}, metav1.CreateOptions{})
	create(err)
	for _, part := range []string{"apiserver", "controller-manager", "scheduler"} {
		_, err := client.AppsV1().Deployments("tenant-a").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-" + part},
			Spec: appsv1.DeploymentSpec{Replicas: &one}}, metav1.CreateOptions{})
		create(err)
	}
	for _, p := range [][2]string{{"tenant-a-etcd-0", "etcd"}, {"tenant-a-apiserver-old", "kube-apiserver"},
		{"tenant-a-controller-manager-x", "kube-controller-manager"}, {"tenant-a-scheduler-x", "kube-scheduler"}} {
		_, err := client.CoreV1().Pods("tenant-a").Create(ctx, componentPod(p[0], p[1], time.Now().Add(-time.Hour), true), metav1.CreateOptions{})
		create(err)
	}
	ca, err := certs.NewCA("tenant-a-ca", 365*24*time.Hour)
	create(err)
	leaf, err := ca.Issue(certs.Spec{CommonName: "kube-apiserver", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Validity: validity})
	create(err)
	_, err = client.CoreV1().Secrets("tenant-a").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-" + pki.SecretAPIServer, Labels: map[string]string{pki.LabelRelease: "tenant-a"}},
		Data:       map[string][]byte{pki.KeyCert: leaf.CertPEM(), pki.KeyCA: ca.CertPEM()},
	}, metav1.CreateOptions{})
	create(err)
}

func componentPod(name, component string, created time.Time, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created), Labels: map[string]string{
			"app.kubernetes.io/name": "tenant-master", "app.kubernetes.io/instance": "tenant-a", "app.kubernetes.io/component": component}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: component}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: component, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
}

func TestStatusHealth(t *testing.T) {
	c := tenantstest.NewCluster()
	if _, _, err := taowa(t, c, "status", "tenant-a", "-n", "tenant-a", "--health"); err == nil || !strings.Contains(err.Error(), "health of tenant-a") {
		t.Errorf("health of a tenant that does not exist: %v", err)
	}
	mustTaowa(t, c, "create", "tenant-a", "-n", "tenant-a")
	servingTenant(t, c, 10*24*time.Hour)

	stdout, _ := mustTaowa(t, c, "status", "tenant-a", "-n", "tenant-a", "--health")
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"COMPONENT HEALTHY READY RESTARTS REASON MESSAGE",
		"etcd true 1/1 0 Healthy -",
		"kube-apiserver true 1/1 0 Healthy -",
		"kube-controller-manager true 1/1 0 Healthy -",
		"kube-scheduler true 1/1 0 Healthy -",
		"",
		"ETCD tenant-a-etcd-0: database 20 MiB (12 MiB in use), 1% of its 2.0 GiB quota; alarms: none",
	}
	if len(rows) != len(want)+1 || strings.Join(rows[:len(want)], "\n") != strings.Join(want, "\n") ||
		!strings.HasPrefix(rows[len(want)], "CERTIFICATES: the earliest of 2 expires ") ||
		!strings.HasSuffix(rows[len(want)], "(in 9d): Secret tenant-a-apiserver, tls.crt, CN kube-apiserver") {
		t.Errorf("status --health:\n%s\nwant:\n%s\nCERTIFICATES: the earliest of 2 expires ... (in 9d): Secret tenant-a-apiserver, tls.crt, CN kube-apiserver",
			stdout, strings.Join(want, "\n"))
	}

	// A new apiserver Pod crash-loops beside the old one, which still serves.
	client, _ := c.Clientset()
	crashing := componentPod("tenant-a-apiserver-new", "kube-apiserver", time.Now(), false)
	crashing.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "kube-apiserver", RestartCount: 4,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
			Message: "Error: unknown flag: --no-such-flag"}}}
	if _, err := client.CoreV1().Pods("tenant-a").Create(context.Background(), crashing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := taowa(t, c, "status", "tenant-a", "-n", "tenant-a", "--health", "-o", "json")
	if err == nil || err.Error() != "tenant-a in namespace tenant-a is unhealthy: kube-apiserver CrashLoopBackOff" {
		t.Errorf("status --health of an unhealthy tenant: %v, want it to fail naming the component", err)
	}
	var health struct {
		Name       string           `json:"name"`
		Healthy    *bool            `json:"healthy"`
		Components []map[string]any `json:"components"`
		// A map, to see the JSON names.
		Certificates map[string]any `json:"certificates"`
	}
	decodeJSON(t, stdout, &health)
	if health.Name != "tenant-a" || health.Healthy == nil || *health.Healthy || len(health.Components) != 4 {
		t.Fatalf("status --health -o json: %s", stdout)
	}
	for _, comp := range health.Components {
		requireKeys(t, "component", comp, "component", "healthy", "desired", "ready", "restarts", "reason")
	}
	api := health.Components[1]
	if api["component"] != "kube-apiserver" || api["reason"] != "CrashLoopBackOff" || api["ready"] != float64(1) ||
		api["message"] != "pod tenant-a-apiserver-new: container kube-apiserver crash-looping, 4 restarts, last exit 1 (Error): Error: unknown flag: --no-such-flag" {
		t.Errorf("kube-apiserver: %v", api)
	}
	requireKeys(t, "certificates", health.Certificates, "secret", "key", "subject", "notAfter", "count")

	if _, _, err := taowa(t, c, "status", "tenant-a", "-n", "tenant-a", "--health", "--timeline"); err == nil {
		t.Error("--health with --timeline: want an error")
	}
}

func TestExpiresIn(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * 24 * time.Hour: "in 400d",
		47 * time.Hour:       "in 47h",
		90 * time.Minute:     "in 90m",
		-3*time.Hour - 1:     "EXPIRED 3h ago",
		-5 * 24 * time.Hour:  "EXPIRED 5d ago",
		0:                    "EXPIRED 0m ago",
	} {
		if got := expiresIn(d); got != want {
			t.Errorf("expiresIn(%s) = %q, want %q", d, got, want)
		}
	}
}
