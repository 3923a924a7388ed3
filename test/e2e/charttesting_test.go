//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestChartTestingInstall runs `ct install` as a chart repository's CI does, against the meta
// cluster: each chart under charts/ installed with each of its ci/*-values.yaml into a namespace
// of ct's, `helm test` run, uninstalled and the namespace deleted. tenant-master goes through the
// post-renderer (ct's --helm-extra-set-args reach install and upgrade only). ct reports a failed
// uninstall or a namespace that does not go only on its output, so the test checks that too.
// The charts share nothing one's test could change for another, so they are installed side by side.
func TestChartTestingInstall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel) // after the parallel subtests, which run once this function returns
	root := repoRoot()
	ct := filepath.Join(env.meta.CacheDir, "tools", "ct", toolVersions()["CT_VERSION"], "ct")
	require.FileExists(t, ct, "built by hack/lint-chart.sh")
	helm := helmFor(t, 3)
	for _, chart := range []struct {
		name, extraSetArgs string
		// crd is what the chart's crds/ holds: Helm installs it and never deletes it.
		crd string
	}{
		{name: "tenant-master", extraSetArgs: "--post-renderer " + filepath.Join(root, "bin", "taowa-postrender")},
		{name: "taowa-operator", crd: "clusters.taowa.io"},
		{name: "taowa-eni-agent"},
	} {
		t.Run(chart.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			crdExisted := chart.crd != "" && crdExists(ctx, t, chart.crd)
			args := []string{"install", "--config", filepath.Join(root, "ct.yaml"), "--charts", filepath.Join("charts", chart.name),
				"--helm-extra-args", "--timeout 600s"}
			if chart.extraSetArgs != "" {
				args = append(args, "--helm-extra-set-args", chart.extraSetArgs)
			}
			cmd := exec.CommandContext(ctx, ct, args...)
			cmd.Dir = root
			// ct runs helm and kubectl from PATH: the project's Helm 3 and the meta cluster's kubectl.
			cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig,
				"PATH="+filepath.Dir(helm.bin)+":"+filepath.Dir(env.kubectl)+":"+os.Getenv("PATH"),
				"HELM_DATA_HOME="+helm.home, "HELM_CONFIG_HOME="+filepath.Join(helm.home, "config"),
				"HELM_CACHE_HOME="+filepath.Join(helm.home, "cache"))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "ct %s:\n%s", strings.Join(args, " "), out)
			assert.Contains(t, string(out), "All charts installed successfully", "ct's summary")
			for _, cleanupFailure := range []string{"Error deleting Helm release", "did not terminate"} {
				assert.NotContains(t, string(out), cleanupFailure, "ct's clean-up:\n%s", out)
			}
			namespaces, err := env.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, ns := range namespaces.Items {
				assert.False(t, strings.HasPrefix(ns.Name, chart.name+"-"), "namespace %s left by ct install", ns.Name)
			}
			if chart.crd != "" && !crdExists(ctx, t, chart.crd) {
				t.Errorf("CRD %s removed by the uninstall; Helm keeps what crds/ installed, as the chart README says", chart.crd)
			}
			if chart.crd != "" && !crdExisted {
				// As found: TestOperator starts where no Cluster CRD is served.
				kubectl(t, "delete", "crd", chart.crd, "--ignore-not-found", "--wait")
			}
			t.Logf("ct install %s: %.1fs", chart.name, time.Since(start).Seconds())
		})
	}
}

// crdExists says whether the meta cluster has the CustomResourceDefinition name.
func crdExists(ctx context.Context, t *testing.T, name string) bool {
	t.Helper()
	out, err := kubectlStdinOutput(ctx, nil, "get", "crd", name, "--ignore-not-found", "-o", "name")
	require.NoError(t, err, "%s", out)
	return strings.TrimSpace(out) != ""
}
