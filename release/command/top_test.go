package command

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// kubeletCluster is tenantstest's cluster whose kubelets serve Summary APIs from memory; a node
// without one refuses its proxy, as RBAC does to a caller without get on nodes/proxy.
type kubeletCluster struct {
	*tenantstest.Cluster
	summaries map[string]tenants.KubeletSummary
}

func (c *kubeletCluster) KubeletSummary(_ context.Context, node string) (tenants.KubeletSummary, error) {
	s, ok := c.summaries[node]
	if !ok {
		return tenants.KubeletSummary{}, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, node,
			errors.New(`User "alice" cannot get resource "nodes/proxy" in API group "" at the cluster scope`))
	}
	return s, nil
}

// taowaOn runs the command line against cluster with the repository's chart.
func taowaOn(t *testing.T, cluster tenants.Cluster, args ...string) (stdout string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRoot(&out, &errOut, cluster)
	root.SetArgs(append(args, "--chart", tenantstest.ChartPath()))
	err = root.ExecuteContext(context.Background())
	return out.String(), err
}

func runningPod(t *testing.T, c *tenantstest.Cluster, namespace, release, component, name, node, cpu, memory, memoryLimit string) {
	t.Helper()
	client, _ := c.Clientset()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{
			"app.kubernetes.io/name": "tenant-master", "app.kubernetes.io/instance": release, "app.kubernetes.io/component": component}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: component, Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if _, err := client.CoreV1().Pods(namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func usedBy(namespace, name string, nanoCores, workingSet uint64) tenants.PodStats {
	return tenants.PodStats{PodRef: tenants.PodReference{Namespace: namespace, Name: name},
		CPU: &tenants.CPUStats{UsageNanoCores: nanoCores}, Memory: &tenants.MemoryStats{WorkingSetBytes: workingSet}}
}

func TestTopShowsUseNextToRequests(t *testing.T) {
	c := &kubeletCluster{Cluster: tenantstest.NewCluster(), summaries: map[string]tenants.KubeletSummary{}}
	stdout, err := taowaOn(t, c, "top", "-A", "-o", "json")
	if err != nil || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("top without tenants: %q, %v; want []", stdout, err)
	}
	for _, args := range [][]string{
		{"create", "tenant-a", "-n", "ns-a"},
		{"create", "tenant-b", "-n", "ns-b"},
		{"sleep", "tenant-b", "-n", "ns-b"},
	} {
		if _, err := taowaOn(t, c, args...); err != nil {
			t.Fatalf("taowa %s: %v", strings.Join(args, " "), err)
		}
	}
	runningPod(t, c.Cluster, "ns-a", "tenant-a", "etcd", "tenant-a-etcd-0", "node-1", "100m", "128Mi", "1Gi")
	runningPod(t, c.Cluster, "ns-a", "tenant-a", "kube-apiserver", "tenant-a-apiserver-x", "node-1", "250m", "384Mi", "2Gi")
	c.summaries["node-1"] = tenants.KubeletSummary{Pods: []tenants.PodStats{
		usedBy("ns-a", "tenant-a-etcd-0", 25_000_000, 96<<20),
		usedBy("ns-a", "tenant-a-apiserver-x", 180_000_000, 310<<20),
	}}

	stdout, err = taowaOn(t, c, "top", "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var usage []map[string]any
	decodeJSON(t, stdout, &usage)
	if len(usage) != 2 {
		t.Fatalf("top -A: %v", usage)
	}
	for _, u := range usage {
		requireKeys(t, "top entry", u, "name", "namespace", "pods", "cpuMillicores", "cpuRequestMillicores", "memoryWorkingSetBytes",
			"memoryRequestBytes", "memoryLimitBytes")
		if _, ok := u["components"]; ok {
			t.Errorf("components without --components: %v", u)
		}
	}
	a, b := usage[0], usage[1]
	if a["name"] != "tenant-a" || a["pods"] != float64(2) || a["cpuMillicores"] != float64(205) || a["cpuRequestMillicores"] != float64(350) ||
		a["memoryWorkingSetBytes"] != float64(406<<20) || a["memoryRequestBytes"] != float64(512<<20) || a["memoryLimitBytes"] != float64(3<<30) {
		t.Errorf("tenant-a: %v", a)
	}
	if b["name"] != "tenant-b" || b["hibernated"] != true || b["pods"] != float64(0) || b["cpuMillicores"] != float64(0) {
		t.Errorf("hibernated tenant-b: %v, want no Pods and no use", b)
	}

	stdout, err = taowaOn(t, c, "top", "-A")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAMESPACE NAME CPU(m) CPU-REQUEST(m) MEMORY(Mi) MEMORY-REQUEST(Mi) MEMORY-LIMIT(Mi) PODS" ||
		strings.Join(strings.Fields(lines[1]), " ") != "ns-a tenant-a 205 350 406 512 3072 2" ||
		strings.Join(strings.Fields(lines[2]), " ") != "ns-b tenant-b 0 0 0 0 0 0" {
		t.Errorf("top -A table:\n%s", stdout)
	}

	stdout, err = taowaOn(t, c, "top", "tenant-a", "-n", "ns-a", "--components")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"NAMESPACE NAME COMPONENT CPU(m) CPU-REQUEST(m) MEMORY(Mi) MEMORY-REQUEST(Mi) MEMORY-LIMIT(Mi) PODS",
		"ns-a tenant-a total 205 350 406 512 3072 2",
		"ns-a tenant-a etcd 25 100 96 128 1024 1",
		"ns-a tenant-a kube-apiserver 180 250 310 384 2048 1",
		"ns-a tenant-a kube-controller-manager 0 0 0 0 0 0",
		"ns-a tenant-a kube-scheduler 0 0 0 0 0 0",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("top --components:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	stdout, err = taowaOn(t, c, "top", "-n", "ns-a", "--components", "-o", "yaml")
	if err != nil || !strings.Contains(stdout, "component: kube-apiserver") {
		t.Errorf("top --components -o yaml: %v\n%s", err, stdout)
	}

	// A kubelet whose proxy the caller may not get: the error names the node and the permission.
	runningPod(t, c.Cluster, "ns-a", "tenant-a", "kube-scheduler", "tenant-a-scheduler-x", "node-2", "50m", "64Mi", "256Mi")
	stdout, err = taowaOn(t, c, "top", "-A")
	if err == nil || !strings.Contains(err.Error(), "node node-2") || !strings.Contains(err.Error(), "get on nodes/proxy") || stdout != "" {
		t.Errorf("top with node-2 refused: %v, stdout %q; want an error naming node-2 and get on nodes/proxy, nothing printed", err, stdout)
	}
	if _, err := taowaOn(t, c, "top", "a", "b"); err == nil {
		t.Error("top with two names: no error")
	}
}
