//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/hack/metacluster"
)

// Benchmarks run with `make bench`, one go test per benchmark (see the Makefile). They are
// ordered there: the last one tears the cluster down between iterations.

// BenchmarkTenantInstallToReady measures `helm install` (post-renderer applied, PKI hook run) until
// the tenant apiserver answers /readyz, and reports the median. After the last install it waits for
// the tenant to idle and reports each component's resident memory.
func BenchmarkTenantInstallToReady(b *testing.B) {
	ctx := context.Background()
	root := repoRoot()
	h := helmFor(b, 3)
	var durations []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tn := tenant{release: fmt.Sprintf("bench-%d", i), namespace: testNamespace(ctx, b, "bench-tenant"), version: "1.37.2", helm: h}
		b.StartTimer()
		start := time.Now()
		tn.helm.run(ctx, b, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", tn.namespace,
			"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"))
		waitUntil(ctx, b, tn.release+" /readyz", func(ctx context.Context) (bool, error) {
			client, err := newTenantClient(ctx, tn)
			if err != nil {
				return false, nil
			}
			body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil && string(body) == "ok", nil
		})
		durations = append(durations, time.Since(start))
		if i == b.N-1 {
			b.StopTimer()
			reportIdleMemory(ctx, b, tn.namespace)
			b.StartTimer()
		}
		tn.helm.run(ctx, b, "uninstall", tn.release, "-n", tn.namespace, "--wait")
	}
	b.ReportMetric(median(durations).Seconds(), "s-median/install-to-readyz")
}

// reportIdleMemory waits for the tenant to settle and reports each component's RSS, from the
// kubelet's summary API.
func reportIdleMemory(ctx context.Context, b *testing.B, namespace string) {
	time.Sleep(30 * time.Second)
	raw, err := env.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", metacluster.NodeName, "proxy/stats/summary").DoRaw(ctx)
	require.NoError(b, err)
	var summary struct {
		Pods []struct {
			PodRef     struct{ Name, Namespace string }
			Containers []struct {
				Name   string
				Memory struct{ RSSBytes uint64 }
			}
		}
	}
	require.NoError(b, json.Unmarshal(raw, &summary))
	var total uint64
	for _, p := range summary.Pods {
		if p.PodRef.Namespace != namespace {
			continue
		}
		for _, c := range p.Containers {
			total += c.Memory.RSSBytes
			b.ReportMetric(float64(c.Memory.RSSBytes)/(1<<20), "MiB-rss/"+c.Name)
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
