package tenants

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// summaryCluster is tenantstest's cluster whose kubelets serve Summary APIs from memory.
type summaryCluster struct {
	*tenantstest.Cluster
	mu        sync.Mutex
	summaries map[string]KubeletSummary
	refused   map[string]bool // nodes whose proxy the caller may not get
	reads     []string
}

func (c *summaryCluster) KubeletSummary(_ context.Context, node string) (KubeletSummary, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads = append(c.reads, node)
	if c.refused[node] {
		return KubeletSummary{}, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, node,
			errors.New(`User "alice" cannot get resource "nodes/proxy" in API group "" at the cluster scope`))
	}
	s, ok := c.summaries[node]
	if !ok {
		return KubeletSummary{}, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, node)
	}
	return s, nil
}

type podOption func(*corev1.Pod)

func onNode(node string) podOption { return func(p *corev1.Pod) { p.Spec.NodeName = node } }
func inPhase(phase corev1.PodPhase) podOption {
	return func(p *corev1.Pod) { p.Status.Phase = phase }
}
func withInit(c corev1.Container) podOption {
	return func(p *corev1.Pod) { p.Spec.InitContainers = append(p.Spec.InitContainers, c) }
}
func withLabel(key, value string) podOption { return func(p *corev1.Pod) { p.Labels[key] = value } }

// container asks for cpu and memory and, unless memoryLimit is "", limits memory.
func container(name, cpu, memory, memoryLimit string) corev1.Container {
	c := corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}}
	if memoryLimit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)}
	}
	return c
}

// tenantPod is a Running Pod of release's component as the chart labels it.
func tenantPod(t *testing.T, client kubernetes.Interface, namespace, release, component, name string, c corev1.Container, opts ...podOption) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, UID: types.UID("uid-" + name), Labels: map[string]string{
			labelName: ChartName, labelInstance: release, labelComponent: component}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{c}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	if _, err := client.CoreV1().Pods(namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podStats(namespace, name string, nanoCores, workingSet uint64) PodStats {
	return PodStats{PodRef: PodReference{Namespace: namespace, Name: name, UID: "uid-" + name},
		CPU: &CPUStats{UsageNanoCores: nanoCores}, Memory: &MemoryStats{WorkingSetBytes: workingSet}}
}

const mi = 1 << 20

func newUsageManager(t *testing.T) (*Manager, *summaryCluster, kubernetes.Interface) {
	t.Helper()
	c := &summaryCluster{Cluster: tenantstest.NewCluster(), summaries: map[string]KubeletSummary{}, refused: map[string]bool{}}
	m, err := New(Config{Cluster: c, ChartPath: tenantstest.ChartPath()})
	require.NoError(t, err)
	client, err := c.Clientset()
	require.NoError(t, err)
	return m, c, client
}

// The Pods of each tenant master are summed, in total and per component, with their use from the
// summary of their node, each node read once; terminated Pods, other releases' Pods and the
// Pods of nodes no tenant runs on are left out; a hibernated tenant uses nothing.
func TestUsageSumsEachTenantsPodsFromTheirNodesSummaries(t *testing.T) {
	ctx := context.Background()
	m, c, client := newUsageManager(t)
	install(t, m, "ns-a", "tenant-a", "1.37.2", nil)
	install(t, m, "ns-b", "tenant-b", "1.37.2", nil)
	_, err := m.Hibernate(ctx, "ns-b", "tenant-b", true, waited)
	require.NoError(t, err)

	tenantPod(t, client, "ns-a", "tenant-a", "etcd", "tenant-a-etcd-0", container("etcd", "100m", "128Mi", "1Gi"), onNode("node-1"))
	// An init container larger than the containers sets the request.
	tenantPod(t, client, "ns-a", "tenant-a", "kube-apiserver", "tenant-a-apiserver-x", container("kube-apiserver", "250m", "384Mi", "2Gi"),
		onNode("node-2"), withInit(container("wait", "500m", "512Mi", "512Mi")))
	tenantPod(t, client, "ns-a", "tenant-a", "kube-controller-manager", "tenant-a-controller-manager-x", container("kube-controller-manager", "100m", "128Mi", ""),
		onNode("node-1"))
	tenantPod(t, client, "ns-a", "tenant-a", "kube-scheduler", "tenant-a-scheduler-x", container("kube-scheduler", "50m", "64Mi", "256Mi")) // not scheduled yet
	tenantPod(t, client, "ns-a", "tenant-a", "etcd-snapshot", "tenant-a-snapshot-x", container("snapshot", "10m", "32Mi", "128Mi"), onNode("node-2"))
	tenantPod(t, client, "ns-a", "tenant-a", "pki", "tenant-a-pki-x", container("pki", "10m", "32Mi", "128Mi"), onNode("node-3"), inPhase(corev1.PodSucceeded))
	tenantPod(t, client, "ns-a", "other", "etcd", "other-etcd-0", container("etcd", "1", "1Gi", "1Gi"), onNode("node-4"))
	tenantPod(t, client, "ns-a", "tenant-a", "etcd", "not-the-chart", container("etcd", "1", "1Gi", "1Gi"), onNode("node-4"), withLabel(labelName, "another-chart"))

	c.summaries["node-1"] = KubeletSummary{Pods: []PodStats{
		podStats("ns-a", "tenant-a-etcd-0", 30_400_000, 100*mi),
		podStats("ns-a", "tenant-a-controller-manager-x", 5_000_000, 40*mi),
		podStats("kube-system", "coredns", 9_000_000, 20*mi),
	}}
	c.summaries["node-2"] = KubeletSummary{Pods: []PodStats{
		// No Pod-level figures: the containers' are summed.
		{PodRef: PodReference{Namespace: "ns-a", Name: "tenant-a-apiserver-x", UID: "uid-tenant-a-apiserver-x"}, Containers: []ContainerStats{
			{Name: "kube-apiserver", CPU: &CPUStats{UsageNanoCores: 120_000_000}, Memory: &MemoryStats{WorkingSetBytes: 300 * mi}},
			{Name: "log", CPU: &CPUStats{UsageNanoCores: 1_000_000}, Memory: &MemoryStats{WorkingSetBytes: 2 * mi}},
		}},
		// Another Pod of the same name (before it was recreated): not this one's use.
		{PodRef: PodReference{Namespace: "ns-a", Name: "tenant-a-snapshot-x", UID: "old"}, CPU: &CPUStats{UsageNanoCores: 1e9}},
	}}

	got, err := m.Usage(ctx, "", "")
	require.NoError(t, err)
	require.Len(t, got, 2)
	a, b := got[0], got[1]
	assert.Equal(t, Resources{
		Pods:                  5,
		CPUMillicores:         156, // 30.4 + 5 + 121
		CPURequestMillicores:  100 + 500 + 100 + 50 + 10,
		MemoryWorkingSetBytes: (100 + 40 + 302) * mi,
		MemoryRequestBytes:    (128 + 512 + 128 + 64 + 32) * mi,
		MemoryLimitBytes:      (1024 + 2048 + 256 + 128) * mi,
		MemoryLimitUnbounded:  true, // the controller-manager
	}, a.Resources)
	assert.Equal(t, "tenant-a", a.Name)
	assert.False(t, a.Hibernated)
	var components []string
	for _, cu := range a.Components {
		components = append(components, cu.Component)
	}
	assert.Equal(t, []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd-snapshot"}, components)
	assert.Equal(t, Resources{Pods: 1, CPUMillicores: 30, CPURequestMillicores: 100, MemoryWorkingSetBytes: 100 * mi,
		MemoryRequestBytes: 128 * mi, MemoryLimitBytes: 1024 * mi}, a.Components[0].Resources)
	assert.Equal(t, Resources{Pods: 1, CPUMillicores: 5, CPURequestMillicores: 100, MemoryWorkingSetBytes: 40 * mi,
		MemoryRequestBytes: 128 * mi, MemoryLimitUnbounded: true}, a.Components[2].Resources)
	assert.Equal(t, Resources{Pods: 1, CPURequestMillicores: 50, MemoryRequestBytes: 64 * mi, MemoryLimitBytes: 256 * mi}, a.Components[3].Resources,
		"an unscheduled Pod asks for resources and uses none")
	assert.Equal(t, Resources{Pods: 1, CPURequestMillicores: 10, MemoryRequestBytes: 32 * mi, MemoryLimitBytes: 128 * mi}, a.Components[4].Resources,
		"the summary's Pod of the same name is another one")

	assert.Equal(t, TenantUsage{Name: "tenant-b", Namespace: "ns-b", Hibernated: true, Components: []ComponentUsage{
		{Component: "etcd"}, {Component: "kube-apiserver"}, {Component: "kube-controller-manager"}, {Component: "kube-scheduler"}}}, b)

	reads := slices.Clone(c.reads)
	slices.Sort(reads)
	assert.Equal(t, []string{"node-1", "node-2"}, reads, "each node that runs a tenant's Pod, once")

	for _, q := range []struct{ namespace, name, want string }{
		{"ns-a", "tenant-a", "ns-a/tenant-a"},
		{"ns-a", "", "ns-a/tenant-a"},
		{"", "tenant-b", "ns-b/tenant-b"},
		{"ns-b", "", "ns-b/tenant-b"},
	} {
		got, err := m.Usage(ctx, q.namespace, q.name)
		require.NoError(t, err)
		require.Len(t, got, 1, "%+v", q)
		assert.Equal(t, q.want, got[0].Namespace+"/"+got[0].Name)
	}
	empty, err := m.Usage(ctx, "ns-c", "")
	require.NoError(t, err)
	assert.Empty(t, empty)

	for _, q := range []struct{ namespace, name string }{{"ns-a", "tenant-b"}, {"", "nope"}} {
		_, err := m.Usage(ctx, q.namespace, q.name)
		assert.Error(t, err, "%+v", q)
	}
}

func TestUsageRefusedSummaryNamesTheNodeAndThePermission(t *testing.T) {
	m, c, client := newUsageManager(t)
	install(t, m, "ns-a", "tenant-a", "1.37.2", nil)
	tenantPod(t, client, "ns-a", "tenant-a", "etcd", "tenant-a-etcd-0", container("etcd", "100m", "128Mi", "1Gi"), onNode("node-1"))
	tenantPod(t, client, "ns-a", "tenant-a", "kube-apiserver", "tenant-a-apiserver-x", container("kube-apiserver", "250m", "384Mi", "2Gi"), onNode("node-2"))
	c.summaries["node-1"] = KubeletSummary{}
	c.refused["node-2"] = true

	_, err := m.Usage(context.Background(), "ns-a", "")
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), "the apiserver's error is wrapped: %v", err)
	for _, want := range []string{"node node-2", "get on nodes/proxy", "tenant masters in namespace ns-a", `cannot get resource "nodes/proxy"`} {
		assert.Contains(t, err.Error(), want)
	}
}

// ReadKubeletSummary goes through the apiserver's node proxy, and says what a 403 lacks.
func TestReadKubeletSummaryThroughTheNodeProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/nodes/node-1/proxy/stats/summary":
			_, _ = w.Write([]byte(`{"node": {"nodeName": "node-1", "cpu": {"usageNanoCores": 1}},
"pods": [{"podRef": {"name": "tenant-a-etcd-0", "namespace": "ns-a", "uid": "u1"},
  "cpu": {"time": "2026-12-01T12:00:00Z", "usageNanoCores": 31000000, "usageCoreNanoSeconds": 9},
  "memory": {"workingSetBytes": 104857600, "rssBytes": 90000000, "usageBytes": 120000000},
  "containers": [{"name": "etcd", "memory": {"rssBytes": 89000000}}]}]}`))
		default:
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
"message": "nodes \"node-2\" is forbidden: User \"alice\" cannot get resource \"nodes/proxy\" in API group \"\" at the cluster scope",
"details": {"name": "node-2", "kind": "nodes"}}`))
		}
	}))
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)

	s, err := ReadKubeletSummary(context.Background(), client, "node-1")
	require.NoError(t, err)
	assert.Equal(t, "node-1", s.Node.NodeName)
	require.Len(t, s.Pods, 1)
	p := s.Pods[0]
	assert.Equal(t, PodReference{Name: "tenant-a-etcd-0", Namespace: "ns-a", UID: "u1"}, p.PodRef)
	assert.Equal(t, uint64(31000000), p.CPUNanoCores())
	assert.Equal(t, uint64(104857600), p.WorkingSetBytes())
	assert.Equal(t, uint64(89000000), p.Containers[0].Memory.RSSBytes)

	_, err = ReadKubeletSummary(context.Background(), client, "node-2")
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err))
	assert.Contains(t, err.Error(), "node node-2: reading the kubelet Summary API (/api/v1/nodes/node-2/proxy/stats/summary) was refused: it needs get on nodes/proxy")
}

func TestPodResourceFollowsTheSchedulersRule(t *testing.T) {
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	sidecar := container("proxy", "50m", "64Mi", "64Mi")
	sidecar.RestartPolicy = always
	for _, tc := range []struct {
		what           string
		spec           corev1.PodSpec
		cpu, memory    string
		limit          string
		limitUnbounded bool
	}{
		{what: "containers summed",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("a", "100m", "100Mi", "200Mi"), container("b", "50m", "28Mi", "56Mi")}},
			cpu:  "150m", memory: "128Mi", limit: "256Mi"},
		{what: "a larger init container wins, per resource",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{container("init", "1", "64Mi", "64Mi")},
				Containers: []corev1.Container{container("a", "100m", "100Mi", "200Mi")}},
			cpu: "1", memory: "100Mi", limit: "200Mi"},
		{what: "sidecars add to the containers and to the init containers after them",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar, container("init", "200m", "10Mi", "10Mi")},
				Containers: []corev1.Container{container("a", "100m", "100Mi", "200Mi")}},
			cpu: "250m", memory: "164Mi", limit: "264Mi"},
		{what: "overhead added",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("a", "100m", "100Mi", "200Mi")},
				Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("20Mi")}},
			cpu: "110m", memory: "120Mi", limit: "220Mi"},
		{what: "pod-level resources replace the containers'",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("a", "100m", "100Mi", "")},
				Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")},
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}},
			cpu: "300m", memory: "100Mi", limit: "1Gi"},
		{what: "a container without a memory limit leaves the Pod unbounded",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("a", "100m", "100Mi", "200Mi"), container("b", "100m", "100Mi", "")}},
			cpu:  "200m", memory: "200Mi", limit: "200Mi", limitUnbounded: true},
	} {
		t.Run(tc.what, func(t *testing.T) {
			cpu, _ := podResource(&tc.spec, corev1.ResourceCPU, requestsOf)
			memory, _ := podResource(&tc.spec, corev1.ResourceMemory, requestsOf)
			limit, unbounded := podResource(&tc.spec, corev1.ResourceMemory, limitsOf)
			assert.Equal(t, ptr.To(resource.MustParse(tc.cpu)).MilliValue(), cpu.MilliValue(), "cpu")
			assert.Equal(t, ptr.To(resource.MustParse(tc.memory)).Value(), memory.Value(), "memory")
			assert.Equal(t, ptr.To(resource.MustParse(tc.limit)).Value(), limit.Value(), "memory limit")
			assert.Equal(t, tc.limitUnbounded, unbounded, "unbounded")
		})
	}
}
