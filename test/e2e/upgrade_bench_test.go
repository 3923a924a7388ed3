//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// BenchmarkTenantMinorUpgrade measures a minor upgrade, 1.36 to 1.37, of a tenant with two
// apiserver replicas: from `helm upgrade` to every component on the new version and Ready
// (median; each upgrade's timeline goes to the log and TAOWA_BENCH_OUT), while a client writes
// and reads a ConfigMap through the tenant's Service every 100 ms;
// it reports the client's requests and how many failed (the goal is none). Between iterations,
// `helm rollback` returns to 1.36, untimed.
func BenchmarkTenantMinorUpgrade(b *testing.B) {
	ctx := context.Background()
	root := repoRoot()
	chart := filepath.Join(root, "charts", "tenant-master")
	postRender := []string{"--post-renderer", filepath.Join(root, "bin", "taowa-postrender")}
	b.StopTimer()
	tn := tenant{release: "bench-up", namespace: testNamespace(ctx, b, "bench-upgrade"), version: "1.36.3", helm: helmFor(b, 3)}
	tn.helm.run(ctx, b, append([]string{"install", tn.release, chart, "-n", tn.namespace, "--wait", "--timeout", "5m",
		"--set", "kubernetesVersion=1.36.3", "--set", "apiserver.replicas=2"}, postRender...)...)
	client := tenantClient(ctx, b, tn)
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}

	var durations []time.Duration
	var requests, failures atomic.Int64
	for i := 0; i < b.N; i++ {
		probeCtx, stopProbe := context.WithCancel(ctx)
		probeDone := make(chan struct{})
		go func() {
			defer close(probeDone)
			n := 0
			_ = wait.PollUntilContextCancel(probeCtx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				n++
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d-%d", i, n)}}
				requests.Add(2)
				if _, err := client.CoreV1().ConfigMaps("probe").Create(ctx, cm, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
					failures.Add(1)
					b.Logf("write failed: %v", err)
				}
				if _, err := client.CoreV1().ConfigMaps("probe").Get(ctx, cm.Name, metav1.GetOptions{}); err != nil && ctx.Err() == nil {
					failures.Add(1)
					b.Logf("read failed: %v", err)
				}
				return false, nil
			})
		}()
		time.Sleep(2 * time.Second) // the probe is running before the upgrade starts

		b.StartTimer()
		start := time.Now()
		tn.helm.run(ctx, b, append([]string{"upgrade", tn.release, chart, "-n", tn.namespace, "--reuse-values",
			"--set", "kubernetesVersion=1.37.2", "--wait", "--timeout", "5m"}, postRender...)...)
		waitComponentsAt(ctx, b, tn.namespace, "1.37.2")
		durations = append(durations, time.Since(start))
		b.StopTimer()
		recordTimeline(ctx, b, tn, fmt.Sprintf("upgrade-%d", i))

		time.Sleep(5 * time.Second) // old apiservers finish shutting down under load
		stopProbe()
		<-probeDone
		tn.helm.run(ctx, b, "rollback", tn.release, "-n", tn.namespace, "--wait", "--timeout", "5m")
		waitComponentsAt(ctx, b, tn.namespace, "1.36.3")
	}
	b.ReportMetric(median(durations).Seconds(), "s-median/minor-upgrade")
	b.ReportMetric(float64(requests.Load())/float64(b.N), "requests/upgrade")
	b.ReportMetric(float64(failures.Load())/float64(b.N), "failed-requests/upgrade")
	tn.helm.run(ctx, b, "uninstall", tn.release, "-n", tn.namespace, "--wait")
}

// waitComponentsAt waits until every apiserver, controller-manager and scheduler Pod of the
// namespace runs version and is Ready, and no other is left.
func waitComponentsAt(ctx context.Context, tb testing.TB, ns, version string) {
	tb.Helper()
	waitUntil(ctx, tb, "every control-plane Pod at "+version, func(ctx context.Context) (bool, error) {
		pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "taowa.io/component,taowa.io/component!=etcd"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Annotations["taowa.io/kubernetes-version"] != version || !podReady(&p) || p.DeletionTimestamp != nil {
				return false, fmt.Errorf("pod %s at %s, ready %v", p.Name, p.Annotations["taowa.io/kubernetes-version"], podReady(&p))
			}
		}
		return len(pods.Items) > 0, nil
	})
}
