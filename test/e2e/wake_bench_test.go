//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkTenantWake: a small tenant with objects slept and woken b.N times. Each wake is timed
// from `taowa wake` to /readyz answered through the Service's ClusterIP with TLS verified, with
// the tenant's objects read back; the floor in the same run is a bare etcd and kube-apiserver
// started as processes (bareControlPlaneStart), as for installs. The last wake's timeline goes
// to bench-out/wake.json.
func BenchmarkTenantWake(b *testing.B) {
	ctx := context.Background()
	root := repoRoot()
	b.StopTimer()
	var floor, wakes []time.Duration
	for range 3 {
		floor = append(floor, bareControlPlaneStart(b))
	}
	tn := tenant{release: "bench-wake", namespace: testNamespace(ctx, b, "bench-wake"), version: "1.37.2", helm: helmFor(b, 3)}
	tn.helm.run(ctx, b, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", tn.namespace, "--set", "profile=small",
		"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"), "--wait", "--timeout", "5m")
	b.Cleanup(func() {
		_, _ = tn.helm.output(context.Background(), "uninstall", tn.release, "-n", tn.namespace, "--wait")
	})
	writeObjects(ctx, b, tenantClient(ctx, b, tn))
	cli := taowaCLI{namespace: tn.namespace}
	for i := 0; i < b.N; i++ {
		cli.must(ctx, b, "sleep", tn.release)
		waitUntil(ctx, b, tn.release+" has no Pod", func(ctx context.Context) (bool, error) {
			pods, err := env.client.CoreV1().Pods(tn.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + tn.release})
			return err == nil && len(pods.Items) == 0, err
		})
		b.StartTimer()
		start := time.Now()
		cli.must(ctx, b, "wake", tn.release)
		waitReadyzThroughClusterIP(ctx, b, tn)
		wakes = append(wakes, time.Since(start))
		b.StopTimer()
		assertObjects(ctx, b, tn)
		b.Logf("wake %d: %.1fs", i, wakes[i].Seconds())
	}
	recordTimeline(ctx, b, tn, "wake")
	b.ReportMetric(percentile(wakes, 50).Seconds(), "s-p50/wake-to-readyz")
	b.ReportMetric(median(floor).Seconds(), "s-median/bare-etcd-apiserver")
	b.ReportMetric(percentile(wakes, 50).Seconds()/median(floor).Seconds(), "ratio-p50/bare")
	b.Logf("wake p50 %s of %d, floor %s", fmt.Sprint(percentile(wakes, 50).Round(100*time.Millisecond)), len(wakes), median(floor).Round(100*time.Millisecond))
}
