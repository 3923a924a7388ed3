package tenants

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// KubeletSummary is the part of a kubelet's Summary API (GET /stats/summary, the types of
// k8s.io/kubelet/pkg/apis/stats/v1alpha1, with the same JSON names) that taowa reads: each Pod's
// CPU and memory, in total and per container. A statistic the kubelet leaves out reads as 0 (a Pod
// just started has no CPU rate yet).
type KubeletSummary struct {
	Node NodeStats  `json:"node"`
	Pods []PodStats `json:"pods"`
}

// NodeStats is the whole node's CPU and memory, the kubelet's own and the system's included.
type NodeStats struct {
	NodeName string       `json:"nodeName"`
	CPU      *CPUStats    `json:"cpu,omitempty"`
	Memory   *MemoryStats `json:"memory,omitempty"`
}

// CPUNanoCores is the node's CPU use (0 when the kubelet has no rate yet).
func (n NodeStats) CPUNanoCores() uint64 { return n.CPU.nanoCores() }

// WorkingSetBytes is the node's memory working set.
func (n NodeStats) WorkingSetBytes() uint64 { return n.Memory.workingSet() }

// PodStats is one Pod's statistics.
type PodStats struct {
	PodRef     PodReference     `json:"podRef"`
	CPU        *CPUStats        `json:"cpu,omitempty"`
	Memory     *MemoryStats     `json:"memory,omitempty"`
	Containers []ContainerStats `json:"containers,omitempty"`
}

// PodReference names the Pod of a PodStats.
type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

// ContainerStats is one container's statistics.
type ContainerStats struct {
	Name   string       `json:"name"`
	CPU    *CPUStats    `json:"cpu,omitempty"`
	Memory *MemoryStats `json:"memory,omitempty"`
}

// CPUStats is CPU use; UsageNanoCores is the rate over the kubelet's last sampling interval.
type CPUStats struct {
	UsageNanoCores uint64 `json:"usageNanoCores,omitempty"`
}

// MemoryStats is memory use. The working set (usage minus inactive files) is what the kubelet
// evicts by and what `kubectl top` shows.
type MemoryStats struct {
	WorkingSetBytes uint64 `json:"workingSetBytes,omitempty"`
	RSSBytes        uint64 `json:"rssBytes,omitempty"`
}

// CPUNanoCores is the Pod's CPU use: its own (the Pod cgroup's) when the kubelet reports it, else
// the sum over its containers.
func (p PodStats) CPUNanoCores() uint64 {
	if p.CPU != nil {
		return p.CPU.nanoCores()
	}
	var sum uint64
	for _, c := range p.Containers {
		sum += c.CPU.nanoCores()
	}
	return sum
}

// WorkingSetBytes is the Pod's memory working set: its own when the kubelet reports it, else the
// sum over its containers.
func (p PodStats) WorkingSetBytes() uint64 {
	if p.Memory != nil {
		return p.Memory.workingSet()
	}
	var sum uint64
	for _, c := range p.Containers {
		sum += c.Memory.workingSet()
	}
	return sum
}

// nanoCores and workingSet read a statistic the kubelet may leave out as 0.
func (c *CPUStats) nanoCores() uint64 {
	if c == nil {
		return 0
	}
	return c.UsageNanoCores
}

func (m *MemoryStats) workingSet() uint64 {
	if m == nil {
		return 0
	}
	return m.WorkingSetBytes
}

// KubeletSummaries is implemented by a Cluster that serves its nodes' Summary APIs itself (a
// test's). For any other Cluster the Manager reads them through the meta cluster's apiserver
// (ReadKubeletSummary).
type KubeletSummaries interface {
	// KubeletSummary returns node's summary; errors are as the apiserver's (e.g. a Forbidden
	// StatusError when the caller may not get nodes/proxy).
	KubeletSummary(ctx context.Context, node string) (KubeletSummary, error)
}

// ReadKubeletSummary reads node's kubelet Summary API through the apiserver's node proxy,
// GET /api/v1/nodes/<node>/proxy/stats/summary, which needs get on nodes/proxy.
func ReadKubeletSummary(ctx context.Context, client kubernetes.Interface, node string) (KubeletSummary, error) {
	rc := client.CoreV1().RESTClient()
	if r, ok := rc.(*rest.RESTClient); rc == nil || (ok && r == nil) {
		// client-go's fake clientset has no REST client: a test must serve KubeletSummaries.
		return KubeletSummary{}, fmt.Errorf("node %s: read the kubelet Summary API: the client has no REST client", node)
	}
	raw, err := rc.Get().AbsPath("/api/v1/nodes", node, "proxy/stats/summary").DoRaw(ctx)
	if err != nil {
		return KubeletSummary{}, summaryError(node, err)
	}
	s, err := ParseKubeletSummary(raw)
	if err != nil {
		return KubeletSummary{}, fmt.Errorf("node %s: %w", node, err)
	}
	return s, nil
}

// ParseKubeletSummary parses the body of a kubelet's GET /stats/summary.
func ParseKubeletSummary(raw []byte) (KubeletSummary, error) {
	var s KubeletSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		return KubeletSummary{}, fmt.Errorf("parse the kubelet Summary API's answer: %w", err)
	}
	return s, nil
}

// summaryError says which node's summary could not be read and, when it was refused, which
// permission is missing.
func summaryError(node string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("node %s: reading the kubelet Summary API (/api/v1/nodes/%s/proxy/stats/summary) was refused: "+
			"it needs get on nodes/proxy in the meta cluster (a ClusterRole rule: apiGroups [\"\"], resources [\"nodes/proxy\"], verbs [\"get\"]): %w",
			node, node, err)
	}
	return fmt.Errorf("node %s: read the kubelet Summary API: %w", node, err)
}
