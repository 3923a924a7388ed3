//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hack/density"
	"github.com/taowa/taowa/hack/metacluster"
	"github.com/taowa/taowa/release/tenants"
)

// BenchmarkDensity (make bench-density) installs tenants of the small profile one after another
// until TAOWA_DENSITY_TENANTS (40) are Ready on the meta node, or the node is full: an install
// fails, or a Pod of an earlier tenant restarts (that is then the result, with the reason, and the
// last tenant is removed before the idle minutes). After each install it samples the node (the
// kubelet's summary: the node's CPU and working set, each tenant's working set). Then, for
// TAOWA_DENSITY_IDLE (5m), a light client asks every tenant's /readyz every two seconds through
// its Service's ClusterIP, TLS verified, while the summary is sampled every 15 s; the meta
// cluster's own components must still be healthy at the end. Its baseline, in the same run
// before the installs: the four components with default flags as bare processes on the node,
// their RSS after a minute idle. The result goes to $TAOWA_BENCH_OUT/density.json (bench-out by
// default), which hack/cmd/densitychart draws.
func BenchmarkDensity(b *testing.B) {
	ctx := context.Background()
	target := envInt(b, "TAOWA_DENSITY_TENANTS", 40)
	idle := envDuration(b, "TAOWA_DENSITY_IDLE", 5*time.Minute)
	h := helmFor(b, 3)
	root := repoRoot()
	result := density.Result{Date: time.Now().UTC().Format(time.DateOnly), Profile: "small", Idle: &density.Idle{}}

	result.Idle.BareMemoryBytes = bareControlPlaneMemory(b, time.Minute)

	var ready []tenant
	b.Cleanup(func() { deleteNamespacesAndWait(b, ready) })
	for i := range target {
		tn := tenant{release: fmt.Sprintf("dense-%02d", i), namespace: testNamespace(ctx, b, "density"), version: "1.37.2", helm: h}
		start := time.Now()
		out, err := h.output(ctx, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", tn.namespace,
			"--set", "profile=small", "--post-renderer", filepath.Join(root, "bin", "taowa-postrender"), "--wait", "--timeout", "4m")
		if err != nil {
			result.Stopped = fmt.Sprintf("tenant %d of %d not Ready: %v: %s; %s", i+1, target, err, strings.TrimSpace(out), whyPending(ctx, tn.namespace))
			b.Log(result.Stopped)
			ready = append(ready, tn) // its namespace is removed with the others
			break
		}
		ready = append(ready, tn)
		// A node short of CPU shows first as leader elections lost: controller-managers and
		// schedulers that restart. The node is full when an earlier tenant's Pod restarts.
		if restarted := restartedPods(ctx, b, ready); restarted != "" {
			result.Stopped = fmt.Sprintf("after tenant %d of %d: %s", i+1, target, restarted)
			b.Log(result.Stopped)
			break
		}
		sample := sampleDensity(ctx, b, ready)
		result.Samples = append(result.Samples, sample)
		b.Logf("%d tenants Ready (the last after %.1fs): node %d MiB, %.0f millicores; tenants %d MiB mean, %d MiB max", len(ready),
			time.Since(start).Seconds(), sample.NodeMemoryWorkingSetBytes>>20, sample.NodeCPUMillicores,
			sample.TenantMemoryMeanBytes>>20, sample.TenantMemoryMaxBytes>>20)
	}
	if result.Stopped != "" {
		// The idle minutes measure the tenants the node held before the one that filled it.
		last := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		deleteNamespacesAndWait(b, []tenant{last})
	}
	require.NotEmpty(b, ready, "no tenant became Ready: %s", result.Stopped)

	measureIdle(ctx, b, ready, idle, result.Idle)
	require.NoError(b, metacluster.Healthy(ctx, env.meta), "the meta cluster's own components after the idle minutes")
	writeDensityResult(b, result)

	b.ReportMetric(float64(len(ready)), "tenants-ready")
	b.ReportMetric(float64(result.Idle.TenantMemoryMeanBytes)/(1<<20), "MiB-mean/tenant")
	b.ReportMetric(float64(result.Idle.TenantMemoryMaxBytes)/(1<<20), "MiB-max/tenant")
	b.ReportMetric(result.Idle.NodeCPUMillicoresMean, "millicores-mean/node")
	b.ReportMetric(result.Idle.ReadyzP99Seconds, "s-p99/readyz")
	b.ReportMetric(float64(result.Idle.ReadyzFailures), "failed/readyz")
	b.ReportMetric(float64(result.Idle.TenantRSSMeanBytes)/float64(result.Idle.BareMemoryBytes), "ratio-rss/bare")
}

// sampleDensity reads the node's summary: its CPU and working set, and the Ready tenants' working
// sets (each the sum over its namespace's Pods).
func sampleDensity(ctx context.Context, tb testing.TB, ready []tenant) density.Sample {
	tb.Helper()
	summary, err := tenants.ReadKubeletSummary(ctx, env.client, metacluster.NodeName)
	require.NoError(tb, err)
	memory, _ := tenantMemory(summary, ready)
	s := density.Sample{
		Tenants:                   len(ready),
		NodeMemoryWorkingSetBytes: summary.Node.WorkingSetBytes(),
		NodeCPUMillicores:         float64(summary.Node.CPUNanoCores()) / 1e6,
	}
	// The kubelet has no statistics of a Pod for its first seconds: such a tenant is left out.
	var measured uint64
	for _, m := range memory {
		if m > 0 {
			measured++
			s.TenantMemoryMeanBytes += m
			s.TenantMemoryMaxBytes = max(s.TenantMemoryMaxBytes, m)
		}
	}
	if measured > 0 {
		s.TenantMemoryMeanBytes /= measured
	}
	return s
}

// tenantMemory is each Ready tenant's working set and RSS, summed over its namespace's Pods.
func tenantMemory(summary tenants.KubeletSummary, ready []tenant) (workingSet, rss map[string]uint64) {
	workingSet, rss = map[string]uint64{}, map[string]uint64{}
	for _, tn := range ready {
		workingSet[tn.namespace], rss[tn.namespace] = 0, 0
	}
	for _, p := range summary.Pods {
		if _, ok := workingSet[p.PodRef.Namespace]; !ok {
			continue
		}
		workingSet[p.PodRef.Namespace] += p.WorkingSetBytes()
		for _, c := range p.Containers {
			if c.Memory != nil {
				rss[p.PodRef.Namespace] += c.Memory.RSSBytes
			}
		}
	}
	return workingSet, rss
}

// measureIdle asks each tenant's /readyz every two seconds for d while sampling the node every
// 15 s, and fills idle.
func measureIdle(ctx context.Context, b *testing.B, ready []tenant, d time.Duration, idle *density.Idle) {
	clients := make([]*kubernetes.Clientset, len(ready))
	for i, tn := range ready {
		clients[i] = tenantClient(ctx, b, tn)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	end, _ := ctx.Deadline()
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	for i, client := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the tenants over the period.
			ticker := time.NewTicker(2 * time.Second)
			defer ticker.Stop()
			time.Sleep(time.Duration(i) * 2 * time.Second / time.Duration(len(clients)))
			for {
				select {
				case <-ctx.Done():
					return
				case <-ticker.C:
				}
				start := time.Now()
				body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(5 * time.Second).DoRaw(ctx)
				// Cut off by the window's end: client-go's rate limiter refuses a request as the
				// deadline passes, a moment before the context says it is done.
				if ctx.Err() != nil || !time.Now().Before(end) {
					return
				}
				mu.Lock()
				idle.ReadyzRequests++
				if err != nil || string(body) != "ok" {
					idle.ReadyzFailures++
					b.Logf("%s /readyz: %v %s", ready[i].release, err, body)
				} else {
					latencies = append(latencies, time.Since(start))
				}
				mu.Unlock()
			}
		}()
	}

	start := time.Now()
	var samples int
	var cpuSum float64
	var memorySum, rssSum uint64
	sample := func() {
		summary, err := tenants.ReadKubeletSummary(context.Background(), env.client, metacluster.NodeName)
		require.NoError(b, err)
		workingSet, rss := tenantMemory(summary, ready)
		cpu := float64(summary.Node.CPUNanoCores()) / 1e6
		samples++
		cpuSum += cpu
		idle.NodeCPUMillicoresMax = max(idle.NodeCPUMillicoresMax, cpu)
		for ns := range workingSet {
			memorySum += workingSet[ns]
			rssSum += rss[ns]
			idle.TenantMemoryMaxBytes = max(idle.TenantMemoryMaxBytes, workingSet[ns])
		}
	}
	ticker := time.NewTicker(15 * time.Second)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-ticker.C:
			sample()
		}
	}
	wg.Wait()
	idle.Seconds = time.Since(start).Seconds()
	require.NotZero(b, samples, "no sample in the idle minutes")
	idle.NodeCPUMillicoresMean = cpuSum / float64(samples)
	idle.TenantMemoryMeanBytes = memorySum / uint64(samples*len(ready))
	idle.TenantRSSMeanBytes = rssSum / uint64(samples*len(ready))
	require.NotEmpty(b, latencies, "no /readyz answered")
	idle.ReadyzP50Seconds = percentile(latencies, 50).Seconds()
	idle.ReadyzP99Seconds = percentile(latencies, 99).Seconds()
	b.Logf("idle %.0fs, %d tenants: %d MiB mean and %d MiB max per tenant (RSS %d MiB; bare processes %d MiB), node %.0f millicores mean, %.0f max; /readyz %d asked, %d failed, p50 %.3fs, p99 %.3fs",
		idle.Seconds, len(ready), idle.TenantMemoryMeanBytes>>20, idle.TenantMemoryMaxBytes>>20, idle.TenantRSSMeanBytes>>20, idle.BareMemoryBytes>>20,
		idle.NodeCPUMillicoresMean, idle.NodeCPUMillicoresMax, idle.ReadyzRequests, idle.ReadyzFailures, idle.ReadyzP50Seconds, idle.ReadyzP99Seconds)
}

// restartedPods names the Ready tenants' Pods whose containers restarted, with the last reason.
func restartedPods(ctx context.Context, tb testing.TB, ready []tenant) string {
	var restarted []string
	for _, tn := range ready {
		pods, err := env.client.CoreV1().Pods(tn.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component"})
		require.NoError(tb, err)
		for _, p := range pods.Items {
			for _, c := range p.Status.ContainerStatuses {
				if c.RestartCount == 0 {
					continue
				}
				why := ""
				if t := c.LastTerminationState.Terminated; t != nil {
					why = fmt.Sprintf(", last exit %d (%s)", t.ExitCode, t.Reason)
				}
				restarted = append(restarted, fmt.Sprintf("%s/%s restarted %d times%s", p.Name, c.Name, c.RestartCount, why))
			}
		}
	}
	return strings.Join(restarted, "; ")
}

// whyPending names the tenant's Pods that are not running and why (the scheduler's message).
func whyPending(ctx context.Context, namespace string) string {
	pods, err := env.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var why []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				why = append(why, fmt.Sprintf("%s %s: %s", p.Name, c.Type, c.Message))
			}
		}
	}
	return strings.Join(why, "; ")
}

// deleteNamespacesAndWait removes the tenants' namespaces at once and waits until they are gone,
// so that the next benchmark starts on an empty node.
func deleteNamespacesAndWait(tb testing.TB, ready []tenant) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, tn := range ready {
		_ = env.client.CoreV1().Namespaces().Delete(ctx, tn.namespace, metav1.DeleteOptions{})
	}
	waitUntil(ctx, tb, "the density benchmark's namespaces gone", func(ctx context.Context) (bool, error) {
		for _, tn := range ready {
			if _, err := env.client.CoreV1().Namespaces().Get(ctx, tn.namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})
}

func writeDensityResult(tb testing.TB, r density.Result) {
	dir := os.Getenv("TAOWA_BENCH_OUT")
	if dir == "" {
		dir = filepath.Join(repoRoot(), "bench-out")
	}
	require.NoError(tb, os.MkdirAll(dir, 0o755))
	data, err := json.MarshalIndent(r, "", "  ")
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "density.json"), data, 0o644))
	tb.Logf("wrote %s", filepath.Join(dir, "density.json"))
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(tb, err, "%s", name)
	return n
}

func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	require.NoError(tb, err, "%s", name)
	return d
}
