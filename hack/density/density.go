// Package density holds the result of the density benchmark (`make bench-density`: tenants
// installed one after another on the meta cluster until the target number are Ready, then idle
// minutes measured with all of them Ready) and draws it as a PNG for docs/benchmarks.md.
package density

// Sample is the node after the n-th tenant became Ready.
type Sample struct {
	// Tenants is the number of tenants Ready when the sample was taken.
	Tenants int `json:"tenants"`
	// NodeMemoryWorkingSetBytes is the meta cluster node's memory working set, as the kubelet's
	// summary reports it.
	NodeMemoryWorkingSetBytes uint64 `json:"nodeMemoryWorkingSetBytes"`
	// NodeCPUMillicores is the node's CPU usage, in thousandths of a core.
	NodeCPUMillicores float64 `json:"nodeCPUMillicores"`
	// TenantMemoryMeanBytes is the mean working set of the Ready tenants, each tenant being the sum
	// of its control plane's containers.
	TenantMemoryMeanBytes uint64 `json:"tenantMemoryMeanBytes"`
	// TenantMemoryMaxBytes is the largest working set of a Ready tenant.
	TenantMemoryMaxBytes uint64 `json:"tenantMemoryMaxBytes"`
}

// Result is one run of the density benchmark.
type Result struct {
	// Date is when the run took place, as the benchmark wrote it (e.g. 2006-01-02).
	Date string `json:"date"`
	// Profile names the tenant profile installed (the chart values the tenants share).
	Profile string `json:"profile"`
	// Samples has one entry per tenant that became Ready, in the order they did.
	Samples []Sample `json:"samples"`
	// Stopped says why the installs stopped before the target number of tenants, if they did.
	Stopped string `json:"stopped,omitempty"`
	// Idle is what the idle minutes measured, when the run got that far.
	Idle *Idle `json:"idle,omitempty"`
}

// Idle is what the idle minutes measured with every tenant Ready.
type Idle struct {
	// Seconds is how long the idle measurement lasted.
	Seconds float64 `json:"seconds"`
	// TenantMemoryMeanBytes is the mean working set of a tenant over the idle time's samples.
	TenantMemoryMeanBytes uint64 `json:"tenantMemoryMeanBytes"`
	// TenantMemoryMaxBytes is the largest working set of a tenant in any of the idle time's samples.
	TenantMemoryMaxBytes uint64 `json:"tenantMemoryMaxBytes"`
	// NodeCPUMillicoresMean is the node's mean CPU usage over the idle time, in millicores.
	NodeCPUMillicoresMean float64 `json:"nodeCPUMillicoresMean"`
	// NodeCPUMillicoresMax is the node's highest CPU usage sampled during the idle time.
	NodeCPUMillicoresMax float64 `json:"nodeCPUMillicoresMax"`
	// ReadyzRequests is how many /readyz requests went to the tenants' apiservers while idle.
	ReadyzRequests int `json:"readyzRequests"`
	// ReadyzFailures is how many of them failed or answered something other than ok.
	ReadyzFailures int `json:"readyzFailures"`
	// ReadyzP50Seconds is the median /readyz latency.
	ReadyzP50Seconds float64 `json:"readyzP50Seconds"`
	// ReadyzP99Seconds is the 99th percentile of the /readyz latency.
	ReadyzP99Seconds float64 `json:"readyzP99Seconds"`
	// BareMemoryBytes is the summed RSS of etcd, kube-apiserver, kube-controller-manager and
	// kube-scheduler run as bare processes with default flags: the floor to compare a tenant with.
	BareMemoryBytes uint64 `json:"bareMemoryBytes"`
	// TenantRSSMeanBytes is the mean RSS of a tenant (the sum of its containers') over the idle
	// time's samples, the figure to compare with BareMemoryBytes.
	TenantRSSMeanBytes uint64 `json:"tenantRSSMeanBytes"`
}
