//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hooks/bootstrap"
	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/postrender"
	"github.com/taowa/taowa/release/tenants"
)

// taowaCLI runs bin/taowa against the meta cluster in one namespace.
type taowaCLI struct {
	namespace string
}

// run returns the command's stdout and error; stderr (progress) goes to the test log on failure.
func (c taowaCLI) run(ctx context.Context, args ...string) (string, error) {
	root := repoRoot()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "taowa"),
		append([]string{"--chart", filepath.Join(root, "charts", "tenant-master"), "-n", c.namespace}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig, "HELM_CACHE_HOME="+os.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("taowa %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), err
}

func (c taowaCLI) must(ctx context.Context, t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.run(ctx, args...)
	require.NoError(t, err)
	return out
}

// TestTaowaCLI drives one tenant through the CLI: create at 1.36, list, upgrade to 1.37, history,
// rollback, kubeconfig (used against the tenant), delete.
func TestTaowaCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cli := taowaCLI{namespace: testNamespace(ctx, t, "e2e-cli")}
	tn := tenant{release: "tenant-t", namespace: cli.namespace, version: "1.36.3"}

	// An unknown profile is refused by the chart's schema before anything is made.
	_, err := cli.run(ctx, "create", "tenant-bad", "--version", "1.36.3", "--set", "profile=tiny")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at '/profile': value must be one of 'small', 'medium', 'large'")
	secrets, err := env.client.CoreV1().Secrets(cli.namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, secrets.Items, "what a refused create left")

	var created tenants.ReleaseInfo
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "create", tn.release, "--version", "1.36.3",
		"--set", "apiserver.audit.enabled=true", "-o", "json")), &created))
	assert.Equal(t, "deployed", created.Status)
	assert.Contains(t, created.Notes, "admin-kubeconfig", "the chart's notes")
	requireServes(ctx, t, tn, "1.36.3")
	assertAudited(ctx, t, tn)
	assertTop(ctx, t, cli, tn)

	var list []tenants.ReleaseInfo
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "list", "-o", "json")), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "1.36.3", list[0].KubernetesVersion)

	hibernate(ctx, t, cli, tn)

	var upgrade struct {
		From, To string
		Steps    []struct{ From, To string }
	}
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "upgrade", tn.release, "--to", "1.37.2", "-o", "json")), &upgrade))
	assert.Equal(t, "1.36.3", upgrade.From)
	require.Len(t, upgrade.Steps, 1)
	requireServes(ctx, t, tn, "1.37.2")
	waitComponentsAt(ctx, t, cli.namespace, "1.37.2")

	var history []tenants.Revision
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "history", tn.release, "-o", "json")), &history))
	require.Len(t, history, 5)
	var revisions []string
	for _, r := range history {
		revisions = append(revisions, r.KubernetesVersion+" "+r.Status)
	}
	assert.Equal(t, []string{"1.36.3 superseded", "1.36.3 superseded", "1.37.2 failed", "1.36.3 superseded", "1.37.2 deployed"}, revisions,
		"installed, slept, an upgrade refused asleep, woken, upgraded")

	_, err = cli.run(ctx, "upgrade", tn.release, "--to", "1.38.0")
	require.Error(t, err, "an unsupported version is refused")
	assert.Contains(t, err.Error(), "1.38")

	revokeAdmins(ctx, t, tn)
	assertMetricsIdentity(ctx, t, tn)

	// The rollback's ready step applies the admins' binding again.
	cli.must(ctx, t, "rollback", tn.release)
	requireServes(ctx, t, tn, "1.36.3")
	waitComponentsAt(ctx, t, cli.namespace, "1.36.3")

	// The kubeconfig, pointed at the Service's ClusterIP, reaches the tenant as its admin.
	svc, err := env.client.CoreV1().Services(cli.namespace).Get(ctx, tn.release+"-apiserver", metav1.GetOptions{})
	require.NoError(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "tenant.kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(cli.must(ctx, t, "kubeconfig", tn.release, "--server", "https://"+svc.Spec.ClusterIP+":6443")), 0o600))
	version := kubectl(t, "--kubeconfig", kubeconfig, "version", "-o", "json")
	assert.Contains(t, version, `"gitVersion": "v1.36.3"`)
	// The admin is cluster-admin through a binding (revocable), not system:masters.
	whoami := kubectl(t, "--kubeconfig", kubeconfig, "auth", "whoami", "-o", "json")
	assert.Contains(t, whoami, `"kubeadm:cluster-admins"`)
	assert.NotContains(t, whoami, "system:masters")
	kubectl(t, "--kubeconfig", kubeconfig, "get", "namespaces") // the binding is back

	// Short-lived credentials, signed by the tenant: the admin's identity, or a user of no rights.
	shortLived := filepath.Join(t.TempDir(), "short.kubeconfig")
	require.NoError(t, os.WriteFile(shortLived, []byte(cli.must(ctx, t, "kubeconfig", tn.release, "--server", "https://"+svc.Spec.ClusterIP+":6443", "--ttl", "10m")), 0o600))
	assert.Contains(t, kubectl(t, "--kubeconfig", shortLived, "auth", "whoami", "-o", "json"), `"kubeadm:cluster-admins"`)
	require.NoError(t, os.WriteFile(shortLived, []byte(cli.must(ctx, t, "kubeconfig", tn.release, "--server", "https://"+svc.Spec.ClusterIP+":6443",
		"--ttl", "10m", "--user", "e2e-alice")), 0o600))
	out, err := exec.CommandContext(ctx, env.kubectl, "--kubeconfig", shortLived, "get", "namespaces").CombinedOutput()
	require.Error(t, err, "a user of no rights lists namespaces: %s", out)
	assert.Contains(t, string(out), `User "e2e-alice" cannot list resource "namespaces"`)

	cli.must(ctx, t, "delete", tn.release)
	waitUntil(ctx, t, "the tenant's Pods are gone", func(ctx context.Context) (bool, error) {
		pods, err := env.client.CoreV1().Pods(cli.namespace).List(ctx, metav1.ListOptions{LabelSelector: "taowa.io/component"})
		return err == nil && len(pods.Items) == 0, err
	})
}

// assertAudited checks the chart's audit policy on the apiserver's log: a namespace created is
// logged with its body, a Secret with its metadata only, and health probes not at all.
func assertAudited(ctx context.Context, t *testing.T, tn tenant) {
	t.Helper()
	client := tenantClient(ctx, t, tn)
	plaintext := fmt.Sprintf("taowa-e2e-audited-%d", time.Now().UnixNano())
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "audited"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.CoreV1().Secrets("audited").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "audited"},
		StringData: map[string]string{"value": plaintext}}, metav1.CreateOptions{})
	require.NoError(t, err)

	type event struct {
		Level      string
		Verb       string
		RequestURI string
		ObjectRef  struct{ Resource, Name string }
		Request    json.RawMessage `json:"requestObject"`
	}
	var logs string
	levels := map[string]string{}
	var withBody []string
	waitUntil(ctx, t, "the audit events of the namespace and the Secret", func(ctx context.Context) (bool, error) {
		out, err := exec.CommandContext(ctx, env.kubectl, "--kubeconfig", env.kubeconfig, "-n", tn.namespace,
			"logs", "deployment/"+tn.release+"-apiserver", "-c", "kube-apiserver").Output()
		if err != nil {
			return false, err
		}
		logs = string(out)
		for _, line := range strings.Split(logs, "\n") {
			var e event
			if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			if strings.HasPrefix(e.RequestURI, "/readyz") || strings.HasPrefix(e.RequestURI, "/livez") {
				return false, fmt.Errorf("a health probe is audited: %s", line)
			}
			if e.Verb == "create" && e.ObjectRef.Name == "audited" {
				levels[e.ObjectRef.Resource] = e.Level
				if len(e.Request) > 0 {
					withBody = append(withBody, e.ObjectRef.Resource)
				}
			}
		}
		return levels["namespaces"] != "" && levels["secrets"] != "", nil
	})
	assert.Equal(t, map[string]string{"namespaces": "Request", "secrets": "Metadata"}, levels)
	assert.Equal(t, []string{"namespaces"}, withBody, "audit events with the request's body")
	assert.NotContains(t, logs, plaintext, "the Secret's value in the audit log")
}

// assertTop: taowa top shows each component's use, from the kubelet, next to the chart's requests.
func assertTop(ctx context.Context, t *testing.T, cli taowaCLI, tn tenant) {
	t.Helper()
	var usage tenants.TenantUsage
	waitUntil(ctx, t, "taowa top shows the memory of every component", func(ctx context.Context) (bool, error) {
		var top []tenants.TenantUsage
		out, err := cli.run(ctx, "top", tn.release, "--components", "-o", "json")
		if err != nil {
			return false, err
		}
		if err := json.Unmarshal([]byte(out), &top); err != nil || len(top) != 1 {
			return false, fmt.Errorf("taowa top -o json: %v: %s", err, out)
		}
		usage = top[0]
		for _, c := range usage.Components {
			if c.MemoryWorkingSetBytes == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	components := map[string]tenants.ComponentUsage{}
	for _, c := range usage.Components {
		components[c.Component] = c
	}
	require.Subset(t, slices.Collect(maps.Keys(components)), tenants.ControlPlaneComponents)
	assert.Equal(t, 4, usage.Pods, "etcd, apiserver, controller-manager, scheduler")
	apiserver := components["kube-apiserver"]
	assert.Equal(t, int64(384<<20), apiserver.MemoryRequestBytes, "the chart's request of the apiserver")
	assert.Greater(t, apiserver.MemoryWorkingSetBytes, int64(50<<20), "an apiserver's working set")
	assert.Less(t, apiserver.MemoryWorkingSetBytes, apiserver.MemoryLimitBytes)
	t.Logf("taowa top: %d Pods, %d millicores (%d requested), %d MiB (%d MiB requested)", usage.Pods,
		usage.CPUMillicores, usage.CPURequestMillicores, usage.MemoryWorkingSetBytes>>20, usage.MemoryRequestBytes>>20)
}

// revokeAdmins deletes the admins' ClusterRoleBinding: the admin kubeconfig loses its rights, the
// break-glass super-admin keeps them.
func revokeAdmins(ctx context.Context, t *testing.T, tn tenant) {
	t.Helper()
	superCfg, err := tenantRESTConfigAs(ctx, tn, pki.SecretSuperAdminKubeconfig)
	require.NoError(t, err)
	super, err := kubernetes.NewForConfig(superCfg)
	require.NoError(t, err)
	admin := tenantClient(ctx, t, tn)
	_, err = admin.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "the admin before the binding is deleted")

	require.NoError(t, super.RbacV1().ClusterRoleBindings().Delete(ctx, bootstrap.ClusterAdmins, metav1.DeleteOptions{}))
	waitUntil(ctx, t, "the admin kubeconfig refused", func(ctx context.Context) (bool, error) {
		_, err := admin.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		return apierrors.IsForbidden(err), nil
	})
	_, err = super.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	assert.NoError(t, err, "the super-admin after the admins' binding is deleted")
}

// assertMetricsIdentity: the ServiceMonitor's certificate reads /metrics and nothing else.
func assertMetricsIdentity(ctx context.Context, t *testing.T, tn tenant) {
	t.Helper()
	cfg, err := tenantRESTConfigAs(ctx, tn, pki.SecretMetricsClient)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	metrics, err := client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	require.NoError(t, err, "GET /metrics as the metrics identity")
	assert.Contains(t, string(metrics), "apiserver_request_total")
	_, err = client.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "the metrics identity lists Secrets: %v", err)
}

// hibernate puts the tenant to sleep and wakes it: its Pods go, its volumes and data stay, an
// upgrade while it sleeps is refused (by the CLI and by the chart's gate) and changes nothing,
// and it wakes to Ready with the same objects.
func hibernate(ctx context.Context, t *testing.T, cli taowaCLI, tn tenant) {
	client := tenantClient(ctx, t, tn)
	writeObjects(ctx, t, client)
	// A Secret whose value the pre-upgrade snapshot of the sleep holds, encrypted.
	plaintext := fmt.Sprintf("taowa-e2e-plaintext-%d", time.Now().UnixNano())
	_, err := client.CoreV1().Secrets("lifecycle").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		StringData: map[string]string{"value": plaintext}}, metav1.CreateOptions{})
	require.NoError(t, err)
	var slept tenants.ReleaseInfo
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "sleep", tn.release, "-o", "json")), &slept))
	assert.True(t, slept.Hibernated)
	waitUntil(ctx, t, "the tenant's Pods are gone", func(ctx context.Context) (bool, error) {
		pods, err := env.client.CoreV1().Pods(cli.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + tn.release})
		return err == nil && len(pods.Items) == 0, err
	})
	var top []tenants.TenantUsage
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "top", tn.release, "-o", "json")), &top))
	require.Len(t, top, 1)
	assert.True(t, top[0].Hibernated)
	assert.Zero(t, top[0].Pods, "Pods of a sleeping tenant")
	// Encryption at rest: the snapshot taken before the tenant slept has the Secret under the
	// tenant's key, and its value nowhere in clear.
	found := grepSnapshots(ctx, t, tn, plaintext, "k8s:enc:aescbc:v1:key1:")
	assert.Zero(t, found[plaintext], "snapshots that hold the Secret's value in clear")
	assert.NotZero(t, found["k8s:enc:aescbc:v1:key1:"], "snapshots with Secrets encrypted under key1")
	claims, err := env.client.CoreV1().PersistentVolumeClaims(cli.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=etcd"})
	require.NoError(t, err)
	require.Len(t, claims.Items, tn.etcdMembers(), "etcd's volumes are kept")
	for _, c := range claims.Items {
		assert.Equal(t, corev1.ClaimBound, c.Status.Phase, c.Name)
	}

	_, err = cli.run(ctx, "upgrade", tn.release, "--to", "1.37.2")
	require.Error(t, err, "an upgrade of a sleeping tenant is refused")
	assert.Contains(t, err.Error(), "the tenant is hibernated: wake it first")
	h := helmFor(t, 3)
	out, err := h.output(ctx, "upgrade", tn.release, filepath.Join(repoRoot(), "charts", "tenant-master"), "-n", cli.namespace,
		"--reuse-values", "--set", "kubernetesVersion=1.37.2", "--post-renderer", filepath.Join(repoRoot(), "bin", "taowa-postrender"), "--wait")
	require.Error(t, err, "helm upgrade of a sleeping tenant: %s", out)
	assert.Contains(t, kubectl(t, "-n", cli.namespace, "logs", "job/"+tn.release+"-pre-upgrade"), "the tenant is hibernated at Kubernetes 1.36.3")
	apiserver, err := env.client.AppsV1().Deployments(cli.namespace).Get(ctx, tn.release+"-apiserver", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *apiserver.Spec.Replicas, "the refused upgrade changed nothing")
	assert.Equal(t, "1.36.3", apiserver.Spec.Template.Annotations[postrender.AnnotationKubernetesVersion])

	start := time.Now()
	var woken tenants.ReleaseInfo
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "wake", tn.release, "-o", "json")), &woken))
	t.Logf("taowa wake returned after %.1fs, the tenant serving", time.Since(start).Seconds())
	assert.False(t, woken.Hibernated)
	// It waits as --wait does (after the ready hook, not before it): every Pod is Ready.
	pods, err := env.client.CoreV1().Pods(cli.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + tn.release})
	require.NoError(t, err)
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodSucceeded {
			assert.True(t, podReady(&p), "Pod %s is not Ready when taowa wake returns", p.Name)
		}
	}
	requireServes(ctx, t, tn, "1.36.3")
	assertObjects(ctx, t, tn)
}

// TestTaowaFleetUpgrade upgrades five tenants with one canary and two at a time: first with a
// canary that cannot take the new version (a controller-manager flag that 1.37 no longer has),
// which stops the fleet before any other tenant changes; then, with the canary fixed, all five.
func TestTaowaFleetUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cli := taowaCLI{namespace: testNamespace(ctx, t, "e2e-fleet")}
	names := createFleet(ctx, t, cli, "--set", "controllerManager.extraArgs.concurrent-service-syncs=2")

	fleet := func() (tenants.FleetSummary, error) { return upgradeFleet(ctx, t, cli) }
	outcomes := func(s tenants.FleetSummary) map[string]tenants.Outcome {
		m := map[string]tenants.Outcome{}
		for _, r := range s.Results {
			m[r.Release.Name] = r.Outcome
		}
		return m
	}

	summary, err := fleet()
	require.Error(t, err, "a failed canary fails the command")
	assert.Equal(t, map[string]tenants.Outcome{"fleet-0": tenants.Failed, "fleet-1": tenants.Skipped, "fleet-2": tenants.Skipped,
		"fleet-3": tenants.Skipped, "fleet-4": tenants.Skipped}, outcomes(summary))
	var list []tenants.ReleaseInfo
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "list", "-o", "json")), &list))
	for _, info := range list {
		assert.Equal(t, "1.36.3", info.KubernetesVersion, "%s is untouched", info.Name)
	}

	// Without the flag 1.37 lacks, the canary passes and the fleet follows.
	root := repoRoot()
	helmFor(t, 3).run(ctx, t, append([]string{"upgrade", "fleet-0", filepath.Join(root, "charts", "tenant-master"), "-n", cli.namespace,
		"--reset-values", "--set", "kubernetesVersion=1.36.3", "--post-renderer", filepath.Join(root, "bin", "taowa-postrender"),
		"--wait", "--timeout", "5m"}, fleetValues...)...)
	summary, err = fleet()
	require.NoError(t, err)
	for _, name := range names {
		assert.Equal(t, tenants.Upgraded, outcomes(summary)[name], name)
	}
	t.Logf("fleet upgrade 1.36.3 -> 1.37.2 of %d tenants, canary 1, 2 at a time: %.0fs, %.1f tenants per minute",
		len(names), summary.Seconds, float64(len(names))/(summary.Seconds/60))
	waitComponentsAt(ctx, t, cli.namespace, "1.37.2")
	deleteFleet(ctx, t, cli, names)
}

// BenchmarkFleetUpgrade measures tenants upgraded per minute by `taowa upgrade --all` (1.36.3 to
// 1.37.2, five tenants, one canary, two at a time), from the command's own clock.
func BenchmarkFleetUpgrade(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*20*time.Minute)
	defer cancel()
	var perMinute []float64
	for range b.N {
		b.StopTimer()
		cli := taowaCLI{namespace: testNamespace(ctx, b, "bench-fleet")}
		names := createFleet(ctx, b, cli)
		b.StartTimer()
		summary, err := upgradeFleet(ctx, b, cli)
		require.NoError(b, err)
		b.StopTimer()
		perMinute = append(perMinute, float64(len(names))/(summary.Seconds/60))
		deleteFleet(ctx, b, cli, names)
	}
	var sum float64
	for _, p := range perMinute {
		sum += p
	}
	b.ReportMetric(sum/float64(len(perMinute)), "tenants/min")
}

// fleetValues fit five tenants on two cores: small requests, so that all fit with a surge Pod each.
var fleetValues = []string{"--set", "etcd.resources.requests.cpu=20m", "--set", "apiserver.resources.requests.cpu=50m",
	"--set", "controllerManager.resources.requests.cpu=20m", "--set", "scheduler.resources.requests.cpu=10m"}

// createFleet creates five tenants at 1.36.3 at once; canaryArgs go to the first in sort order,
// the fleet's canary.
func createFleet(ctx context.Context, tb testing.TB, cli taowaCLI, canaryArgs ...string) []string {
	tb.Helper()
	names := []string{"fleet-0", "fleet-1", "fleet-2", "fleet-3", "fleet-4"}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	start := time.Now()
	for i, name := range names {
		args := append([]string{"create", name, "--version", "1.36.3"}, fleetValues...)
		if i == 0 {
			args = append(args, canaryArgs...)
		}
		wg.Go(func() { _, errs[i] = cli.run(ctx, args...) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(tb, err)
	}
	tb.Logf("%d tenants created in %.0fs", len(names), time.Since(start).Seconds())
	return names
}

// upgradeFleet runs the fleet upgrade to 1.37.2 and returns its summary and the command's error.
func upgradeFleet(ctx context.Context, tb testing.TB, cli taowaCLI) (tenants.FleetSummary, error) {
	tb.Helper()
	out, err := cli.run(ctx, "upgrade", "--all", "--to", "1.37.2", "--canary", "1", "--max-parallel", "2", "-o", "json")
	var summary tenants.FleetSummary
	require.NoError(tb, json.Unmarshal([]byte(out), &summary), "the summary is printed whatever happened: %q (%v)", out, err)
	return summary, err
}

func deleteFleet(ctx context.Context, tb testing.TB, cli taowaCLI, names []string) {
	tb.Helper()
	for _, name := range names {
		cli.must(ctx, tb, "delete", name)
	}
}
