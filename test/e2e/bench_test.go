//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hack/metacluster"
	"github.com/taowa/taowa/release/tenants"
)

// Benchmarks run with `make bench`, one go test per benchmark (see the Makefile). They are
// ordered there: the last one tears the cluster down between iterations.

// BenchmarkTenantInstallToReady measures `helm install --wait` (post-renderer applied, hooks run)
// until the tenant apiserver answers /readyz through its Service's ClusterIP, with TLS verified
// against that IP by the tenant's CA (what a client that dials the address checks), and reports
// p50 and p95. Its baseline, in the same run: etcd and kube-apiserver of the same versions started
// as bare processes (bareControlPlaneStart). Each install's timeline (`taowa status --timeline`)
// goes to the log, and with TAOWA_BENCH_OUT=dir to dir/install-N.json for cmd/phasechart. It
// also times `helm uninstall --wait` until no Pod of the tenant is left, and after the last
// install reports each component's idle memory.
func BenchmarkTenantInstallToReady(b *testing.B) {
	ctx := context.Background()
	root := repoRoot()
	h := helmFor(b, 3)
	b.StopTimer()
	var floor, installs, uninstalls []time.Duration
	for range 3 {
		floor = append(floor, bareControlPlaneStart(b))
	}
	for i := 0; i < b.N; i++ {
		tn := tenant{release: fmt.Sprintf("bench-%d", i), namespace: testNamespace(ctx, b, "bench-tenant"), version: "1.37.2", helm: h}
		b.StartTimer()
		start := time.Now()
		tn.helm.run(ctx, b, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", tn.namespace,
			"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"), "--wait", "--timeout", "5m")
		waitReadyzThroughClusterIP(ctx, b, tn)
		installs = append(installs, time.Since(start))
		b.StopTimer()
		recordTimeline(ctx, b, tn, fmt.Sprintf("install-%d", i))
		if i == b.N-1 {
			reportIdleMemory(ctx, b, tn.namespace)
		}
		start = time.Now()
		tn.helm.run(ctx, b, "uninstall", tn.release, "-n", tn.namespace, "--wait", "--timeout", "3m")
		waitUntil(ctx, b, tn.release+" has no Pod left", func(ctx context.Context) (bool, error) {
			pods, err := env.client.CoreV1().Pods(tn.namespace).List(ctx, metav1.ListOptions{})
			return err == nil && len(pods.Items) == 0, err
		})
		uninstalls = append(uninstalls, time.Since(start))
	}
	b.ReportMetric(percentile(installs, 50).Seconds(), "s-p50/install-to-readyz")
	b.ReportMetric(percentile(installs, 95).Seconds(), "s-p95/install-to-readyz")
	b.ReportMetric(median(floor).Seconds(), "s-median/bare-etcd-apiserver")
	b.ReportMetric(percentile(installs, 50).Seconds()/median(floor).Seconds(), "ratio-p50/bare")
	b.ReportMetric(percentile(uninstalls, 50).Seconds(), "s-p50/uninstall")
	b.ReportMetric(percentile(uninstalls, 100).Seconds(), "s-max/uninstall")
}

// recordTimeline logs the tenant's latest timeline (`taowa status --timeline`) and, with
// TAOWA_BENCH_OUT set, writes it as JSON to $TAOWA_BENCH_OUT/<name>.json.
func recordTimeline(ctx context.Context, tb testing.TB, tn tenant, name string) {
	tb.Helper()
	cli := taowaCLI{namespace: tn.namespace}
	tb.Logf("%s timeline:\n%s", name, cli.must(ctx, tb, "status", tn.release, "--timeline"))
	dir := os.Getenv("TAOWA_BENCH_OUT")
	if dir == "" {
		return
	}
	require.NoError(tb, os.MkdirAll(dir, 0o755))
	out := cli.must(ctx, tb, "status", tn.release, "--timeline", "-o", "json")
	require.NoError(tb, os.WriteFile(filepath.Join(dir, name+".json"), []byte(out), 0o644))
}

// waitReadyzThroughClusterIP waits until the tenant's /readyz answers ok through its Service's
// ClusterIP, TLS verified against that address.
func waitReadyzThroughClusterIP(ctx context.Context, tb testing.TB, tn tenant) {
	tb.Helper()
	waitUntil(ctx, tb, tn.release+" /readyz through the ClusterIP, TLS verified against it", func(ctx context.Context) (bool, error) {
		client, err := newTenantClient(ctx, tn)
		if err != nil {
			return false, err
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", err
	})
}

// reportIdleMemory waits for the tenant to settle and reports each component's RSS, from the
// kubelet's summary API.
func reportIdleMemory(ctx context.Context, b *testing.B, namespace string) {
	time.Sleep(30 * time.Second)
	summary, err := tenants.ReadKubeletSummary(ctx, env.client, metacluster.NodeName)
	require.NoError(b, err)
	var total uint64
	for _, p := range summary.Pods {
		if p.PodRef.Namespace != namespace {
			continue
		}
		for _, c := range p.Containers {
			var rss uint64
			if c.Memory != nil {
				rss = c.Memory.RSSBytes
			}
			total += rss
			b.ReportMetric(float64(rss)/(1<<20), "MiB-rss/"+c.Name)
		}
	}
	b.ReportMetric(float64(total)/(1<<20), "MiB-rss/tenant")
}

// BenchmarkMetaClusterUpAfterDown measures `up` with the binaries and images cached, from nothing
// (after `down`) to a healthy cluster. Its target is 30 s.
func BenchmarkMetaClusterUpAfterDown(b *testing.B) {
	if !env.local {
		b.Skip("needs the local meta cluster")
	}
	ctx := context.Background()
	var durations []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		require.NoError(b, metaclusterCmd(ctx, "down").Run())
		b.StartTimer()
		start := time.Now()
		require.NoError(b, metaclusterCmd(ctx, "up").Run())
		durations = append(durations, time.Since(start))
	}
	b.ReportMetric(median(durations).Seconds(), "s-median/up")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// percentile returns the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}
