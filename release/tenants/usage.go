package tenants

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Labels the chart puts on every Pod of a tenant master (its Deployments', StatefulSet's and
// hook Jobs' Pod templates): the chart, the release, and the component.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
)

// ControlPlaneComponents are the app.kubernetes.io/component values of a tenant master's
// long-running Pods, in the order Usage reports them; other components (the hooks' Jobs) follow
// when they have Pods.
var ControlPlaneComponents = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// summaryReads bounds the kubelet summaries read at once.
const summaryReads = 4

// Resources is what Pods use and ask for. Use comes from the kubelets' Summary API; requests and
// limits from the Pods' specs, each Pod's by the scheduler's rule: the sum over its containers and
// sidecars (restartable init containers), or a regular init container's (plus the sidecars
// started before it) when that is larger, plus the Pod's overhead; a pod-level resources stanza
// replaces the containers'. The JSON names are the CLI's `-o json` contract.
type Resources struct {
	// Pods counts the Pods that have not terminated (phase neither Succeeded nor Failed); only
	// they are summed. A Pod the kubelet has no statistics of (yet) uses 0.
	Pods int `json:"pods"`
	// CPUMillicores is the CPU in use (the kubelet's usageNanoCores, summed, in millicores).
	CPUMillicores         int64 `json:"cpuMillicores"`
	CPURequestMillicores  int64 `json:"cpuRequestMillicores"`
	MemoryWorkingSetBytes int64 `json:"memoryWorkingSetBytes"`
	MemoryRequestBytes    int64 `json:"memoryRequestBytes"`
	// MemoryLimitBytes sums the memory limits of the Pods that have one.
	MemoryLimitBytes int64 `json:"memoryLimitBytes"`
	// MemoryLimitUnbounded: some Pod has a container without a memory limit, so the Pods may use
	// more than MemoryLimitBytes.
	MemoryLimitUnbounded bool `json:"memoryLimitUnbounded,omitempty"`
}

// TenantUsage is the resource use of one tenant master's Pods, in total and per component.
type TenantUsage struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Hibernated: the tenant's latest revision puts it to sleep (it has no control-plane Pods).
	Hibernated bool `json:"hibernated,omitempty"`
	Resources
	// Components are the ControlPlaneComponents, always, then any other component with Pods,
	// sorted by name.
	Components []ComponentUsage `json:"components,omitempty"`
}

// ComponentUsage is the resource use of one component's Pods.
type ComponentUsage struct {
	Component string `json:"component"`
	Resources
}

// Usage returns the CPU and memory use of the tenant masters' Pods next to what they ask for:
// the tenant master name (every tenant master when name is "") in namespace ("" for every
// namespace, as in List), sorted by namespace and name. It reads the Summary API of each node
// that runs a Pod of theirs once, through the apiserver's node proxy: that needs get on
// nodes/proxy, and a refusal fails Usage naming the node and the permission.
func (m *Manager) Usage(ctx context.Context, namespace, name string) ([]TenantUsage, error) {
	where := namespaceOrAll(namespace)
	fail := func(err error) ([]TenantUsage, error) {
		if name != "" {
			return nil, fmt.Errorf("usage of %s in %s: %w", name, where, err)
		}
		return nil, fmt.Errorf("usage of the tenant masters in %s: %w", where, err)
	}
	var infos []ReleaseInfo
	if name != "" && namespace != "" {
		rel, err := m.latest(namespace, name)
		if err != nil {
			return fail(err)
		}
		infos = []ReleaseInfo{infoOf(rel, false)}
	} else {
		all, err := m.List(ctx, namespace)
		if err != nil {
			return nil, err
		}
		for _, info := range all {
			if name == "" || info.Name == name {
				infos = append(infos, info)
			}
		}
		if name != "" && len(infos) == 0 {
			return fail(fmt.Errorf("no tenant master named %s", name))
		}
	}
	if len(infos) == 0 {
		return []TenantUsage{}, nil
	}
	client, err := m.cluster.Clientset()
	if err != nil {
		return fail(err)
	}
	usage, err := m.usageOf(ctx, client, namespace, name, infos)
	if err != nil {
		return fail(err)
	}
	return usage, nil
}

// usageOf sums the Pods of the tenants infos, listed in namespace ("" for all) with the chart's
// labels (the release name when name is given), and their nodes' summaries.
func (m *Manager) usageOf(ctx context.Context, client kubernetes.Interface, namespace, name string, infos []ReleaseInfo) ([]TenantUsage, error) {
	instance := labelInstance
	if name != "" {
		instance += "=" + name
	}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,%s,%s", labelName, ChartName, instance, labelComponent)})
	if err != nil {
		return nil, fmt.Errorf("list Pods: %w", err)
	}
	tenants := make(map[Ref]int, len(infos))
	for i, info := range infos {
		tenants[Ref{Namespace: info.Namespace, Name: info.Name}] = i
	}
	type tenantPod struct {
		tenant int
		pod    *corev1.Pod
	}
	var counted []tenantPod
	var nodes []string
	for i := range pods.Items {
		p := &pods.Items[i]
		t, ok := tenants[Ref{Namespace: p.Namespace, Name: p.Labels[labelInstance]}]
		if !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		counted = append(counted, tenantPod{tenant: t, pod: p})
		if p.Spec.NodeName != "" {
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	slices.Sort(nodes)
	stats, err := m.podStats(ctx, client, slices.Compact(nodes))
	if err != nil {
		return nil, err
	}

	totals := make([]tally, len(infos))
	components := make([]map[string]*tally, len(infos))
	for i := range infos {
		components[i] = map[string]*tally{}
		for _, c := range ControlPlaneComponents {
			components[i][c] = &tally{}
		}
	}
	for _, tp := range counted {
		t := podTally(tp.pod, stats)
		totals[tp.tenant].add(t)
		c := tp.pod.Labels[labelComponent]
		if components[tp.tenant][c] == nil {
			components[tp.tenant][c] = &tally{}
		}
		components[tp.tenant][c].add(t)
	}
	out := make([]TenantUsage, len(infos))
	for i, info := range infos {
		out[i] = TenantUsage{Name: info.Name, Namespace: info.Namespace, Hibernated: info.Hibernated, Resources: totals[i].resources()}
		for _, c := range componentOrder(components[i]) {
			out[i].Components = append(out[i].Components, ComponentUsage{Component: c, Resources: components[i][c].resources()})
		}
	}
	slices.SortFunc(out, func(a, b TenantUsage) int {
		return Ref{Namespace: a.Namespace, Name: a.Name}.compare(Ref{Namespace: b.Namespace, Name: b.Name})
	})
	return out, nil
}

// componentOrder is the ControlPlaneComponents, then the others sorted.
func componentOrder(components map[string]*tally) []string {
	order := slices.Clone(ControlPlaneComponents)
	var others []string
	for c := range components {
		if !slices.Contains(ControlPlaneComponents, c) {
			others = append(others, c)
		}
	}
	slices.Sort(others)
	return append(order, others...)
}

// podStats reads the summary of each node, summaryReads at a time, and returns the Pods' statistics
// by namespace and name. The first failure in node order is the error.
func (m *Manager) podStats(ctx context.Context, client kubernetes.Interface, nodes []string) (map[Ref]PodStats, error) {
	summaries := make([]KubeletSummary, len(nodes))
	errs := make([]error, len(nodes))
	read := func(node string) (KubeletSummary, error) {
		if ks, ok := m.cluster.(KubeletSummaries); ok {
			s, err := ks.KubeletSummary(ctx, node)
			if err != nil {
				return KubeletSummary{}, summaryError(node, err)
			}
			return s, nil
		}
		return ReadKubeletSummary(ctx, client, node)
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, summaryReads)
	for i, node := range nodes {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			summaries[i], errs[i] = read(node)
		}()
	}
	wg.Wait()
	stats := map[Ref]PodStats{}
	for i := range nodes {
		if errs[i] != nil {
			return nil, errs[i]
		}
		for _, p := range summaries[i].Pods {
			stats[Ref{Namespace: p.PodRef.Namespace, Name: p.PodRef.Name}] = p
		}
	}
	return stats, nil
}

// tally accumulates Resources; CPU use stays in nanocores until the end.
type tally struct {
	pods                       int
	cpuNanoCores, workingSet   uint64
	cpuRequestMilli            int64
	memoryRequest, memoryLimit int64
	unbounded                  bool
}

func (t *tally) add(o tally) {
	t.pods += o.pods
	t.cpuNanoCores += o.cpuNanoCores
	t.workingSet += o.workingSet
	t.cpuRequestMilli += o.cpuRequestMilli
	t.memoryRequest += o.memoryRequest
	t.memoryLimit += o.memoryLimit
	t.unbounded = t.unbounded || o.unbounded
}

func (t tally) resources() Resources {
	return Resources{
		Pods:                  t.pods,
		CPUMillicores:         int64((t.cpuNanoCores + 500_000) / 1_000_000),
		CPURequestMillicores:  t.cpuRequestMilli,
		MemoryWorkingSetBytes: int64(t.workingSet),
		MemoryRequestBytes:    t.memoryRequest,
		MemoryLimitBytes:      t.memoryLimit,
		MemoryLimitUnbounded:  t.unbounded,
	}
}

// podTally is one Pod's use (from its node's summary, when it is the same Pod: a StatefulSet's
// Pod recreated under its name has another UID) and what it asks for.
func podTally(p *corev1.Pod, stats map[Ref]PodStats) tally {
	t := tally{pods: 1}
	if s, ok := stats[Ref{Namespace: p.Namespace, Name: p.Name}]; ok && (s.PodRef.UID == "" || s.PodRef.UID == string(p.UID)) {
		t.cpuNanoCores, t.workingSet = s.CPUNanoCores(), s.WorkingSetBytes()
	}
	cpu, _ := podResource(&p.Spec, corev1.ResourceCPU, requestsOf)
	memory, _ := podResource(&p.Spec, corev1.ResourceMemory, requestsOf)
	limit, unbounded := podResource(&p.Spec, corev1.ResourceMemory, limitsOf)
	t.cpuRequestMilli, t.memoryRequest, t.memoryLimit, t.unbounded = cpu.MilliValue(), memory.Value(), limit.Value(), unbounded
	if unbounded {
		t.memoryLimit = 0
	}
	return t
}

func requestsOf(r corev1.ResourceRequirements) corev1.ResourceList { return r.Requests }
func limitsOf(r corev1.ResourceRequirements) corev1.ResourceList   { return r.Limits }

// podResource is a Pod's request or limit of one resource (Resources says the rule); missing
// reports a container that does not set it (for a limit: the Pod is not bounded).
func podResource(spec *corev1.PodSpec, name corev1.ResourceName, of func(corev1.ResourceRequirements) corev1.ResourceList) (total resource.Quantity, missing bool) {
	defer func() {
		if q, ok := spec.Overhead[name]; ok {
			total.Add(q)
		}
	}()
	if spec.Resources != nil {
		if q, ok := of(*spec.Resources)[name]; ok {
			return q.DeepCopy(), false
		}
	}
	var sidecars, largestInit resource.Quantity
	for _, c := range spec.InitContainers {
		q, ok := of(c.Resources)[name]
		missing = missing || !ok
		q = q.DeepCopy() // Add changes the amount in place
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Add(q)
			continue
		}
		q.Add(sidecars)
		if q.Cmp(largestInit) > 0 {
			largestInit = q
		}
	}
	for _, c := range spec.Containers {
		q, ok := of(c.Resources)[name]
		missing = missing || !ok
		total.Add(q)
	}
	total.Add(sidecars)
	if largestInit.Cmp(total) > 0 {
		total = largestInit
	}
	return total, missing
}
