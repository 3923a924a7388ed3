//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hack/metacluster"
	"github.com/taowa/taowa/hooks/pki"
)

// argoApp is what the test reads of an Argo CD Application.
type argoApp struct {
	Metadata struct {
		Name string
	}
	Status struct {
		Sync struct {
			Status, Revision string
		}
		Health struct {
			Status, Message string
		}
		ReconciledAt   string `json:"reconciledAt"`
		OperationState *struct {
			Phase, Message string
			SyncResult     struct {
				Revision  string
				Resources []argoResult
			} `json:"syncResult"`
		} `json:"operationState"`
	}
}

// argoResult is the result of one object in an Application's sync.
type argoResult struct {
	Kind, Name, Status, Message string
	HookPhase                   string `json:"hookPhase"`
}

// tenantsRepo is a clone of the git server's tenants repository, on the host.
type tenantsRepo struct {
	dir string
	env []string
}

func (r tenantsRepo) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// setTenant writes tenants/NAME.yaml as release/argocd/applicationset.yaml describes it.
func (r tenantsRepo) setTenant(t *testing.T, name, version string) {
	t.Helper()
	file := fmt.Sprintf("name: %s\nkubernetesVersion: %q\nvalues: |\n  profile: small\n", name, version)
	require.NoError(t, os.WriteFile(filepath.Join(r.dir, "tenants", name+".yaml"), []byte(file), 0o644))
}

// push commits everything and pushes it, and returns the commit.
func (r tenantsRepo) push(t *testing.T, message string) string {
	t.Helper()
	r.git(t, "add", "-A")
	r.git(t, "commit", "--quiet", "-m", message)
	r.git(t, "push", "--quiet", "origin", "main")
	return r.git(t, "rev-parse", "HEAD")
}

// TestArgoCDSyncsTenantsFromGit runs tenants the way a platform team does with Argo CD: a real
// Argo CD on the meta cluster, the taowa plugin added exactly as release/argocd/README.md says,
// and release/argocd/applicationset.yaml over a git repository served in the cluster. make test
// runs its quick path, one tenant created, refreshed without drift and pruned; make e2e-argocd
// (TAOWA_E2E_ARGOCD=1) adds two tenants: one upgraded by a commit, one whose commit skips a
// minor and is refused by the skew gate.
func TestArgoCDSyncsTenantsFromGit(t *testing.T) {
	full := os.Getenv("TAOWA_E2E_ARGOCD") != ""
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	tenantVersions := map[string]string{"argo-c": "1.37.2"}
	if full {
		tenantVersions["argo-a"] = "1.36.3"
		tenantVersions["argo-b"] = "1.35.4"
	}
	start := time.Now()
	require.NoError(t, metacluster.ArgoCDUp(ctx, env.meta, os.Stdout))
	gitServer, err := metacluster.GitServerUp(ctx, env.meta, os.Stdout, "tenants")
	require.NoError(t, err)
	t.Cleanup(func() {
		// The Applications first, with their finalizers run by Argo CD's controller, then Argo CD.
		kubectl(t, "-n", metacluster.ArgoCDNamespace, "delete", "--ignore-not-found", "--cascade=foreground", "--timeout=5m", "applicationset/tenant-masters")
		ctx := context.Background()
		assert.NoError(t, metacluster.ArgoCDDown(ctx, env.meta))
		assert.NoError(t, metacluster.GitServerDown(ctx, env.meta))
		for name := range tenantVersions {
			_ = env.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		}
	})
	addTaowaPlugin(t)
	t.Logf("Argo CD, the git server and the plugin ready after %.1fs", time.Since(start).Seconds())

	// The tenants repository: the chart and one file per tenant.
	repo := tenantsRepo{dir: t.TempDir(), env: []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@taowa.invalid", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@taowa.invalid"}}
	repo.git(t, "clone", "--quiet", gitServer.HostURL+"/tenants.git", ".")
	require.NoError(t, os.MkdirAll(filepath.Join(repo.dir, "charts"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(repo.dir, "tenants"), 0o755))
	out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(), "charts", "tenant-master"), filepath.Join(repo.dir, "charts")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for name, version := range tenantVersions {
		repo.setTenant(t, name, version)
	}
	revision := repo.push(t, "tenants")

	appset, err := os.ReadFile(filepath.Join(repoRoot(), "release", "argocd", "applicationset.yaml"))
	require.NoError(t, err)
	appset = []byte(strings.ReplaceAll(string(appset), "https://git.example.com/platform/tenants.git", gitServer.URL+"/tenants.git"))
	kubectlStdin(t, appset, "apply", "-f", "-")

	// The first sync creates each tenant; each becomes Synced and Healthy and serves.
	synced := time.Now()
	for name, version := range tenantVersions {
		waitApp(ctx, t, name, revision)
		requireServes(ctx, t, tenant{release: name, namespace: name}, version)
	}
	t.Logf("%d tenants synced, Healthy and serving %.1fs after the ApplicationSet", len(tenantVersions), time.Since(synced).Seconds())
	pkiVersions := secretVersions(ctx, t, "argo-c")

	if full {
		argoUpgradeAndSkew(ctx, t, repo)
	}

	// Refreshes show no drift: still Synced, no new sync, no certificate re-issued.
	before := getApp(t, "argo-c")
	for i := range 5 {
		refreshApp(ctx, t, "argo-c")
		app := getApp(t, "argo-c")
		assert.Equal(t, "Synced", app.Status.Sync.Status, "refresh %d", i+1)
		assert.Equal(t, "Healthy", app.Status.Health.Status, "refresh %d", i+1)
	}
	after := getApp(t, "argo-c")
	assert.Equal(t, before.Status.OperationState, after.Status.OperationState, "no sync ran")
	assert.Equal(t, pkiVersions, secretVersions(ctx, t, "argo-c"), "no PKI Secret changed")

	assertHealthFollowsServing(ctx, t, "argo-c")

	// Removing a tenant's file prunes what Argo CD applied; the tenant's data stays (see README).
	require.NoError(t, os.Remove(filepath.Join(repo.dir, "tenants", "argo-c.yaml")))
	repo.push(t, "argo-c: removed")
	refreshApplicationSet(t)
	waitUntil(ctx, t, "Application argo-c deleted", func(ctx context.Context) (bool, error) {
		out, err := kubectlStdinOutput(ctx, nil, "-n", metacluster.ArgoCDNamespace, "get", "application", "argo-c", "--ignore-not-found", "-o", "name")
		return err == nil && out == "", err
	})
	assertOnlyDataLeft(ctx, t, tenant{release: "argo-c", namespace: "argo-c", version: "1.37.2"})
}

// assertHealthFollowsServing stops the tenant's etcd process (SIGSTOP, on this host): its
// apiserver's /readyz fails, and Argo CD must stop calling the tenant Healthy, though nothing it
// manages changed. Resumed, the tenant is Healthy again.
func assertHealthFollowsServing(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	if !env.local {
		t.Log("the tenant's etcd is stopped only on the local meta cluster")
		return
	}
	pid := processWithArg(t, "etcd", "--name="+name+"-etcd-0")
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			// ESRCH: the kubelet's liveness probe has restarted it meanwhile.
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("resume etcd (pid %d): %v", pid, err)
			}
		}
	}
	defer resume()
	stopped := time.Now()
	// Well within the 80 s after which etcd's liveness probe restarts it.
	stoppedCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	waitUntil(stoppedCtx, t, "no apiserver of "+name+" Ready", func(ctx context.Context) (bool, error) {
		d, err := env.client.AppsV1().Deployments(name).Get(ctx, name+"-apiserver", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 0, err
	})
	waitUntil(stoppedCtx, t, "Argo CD no longer calls "+name+" Healthy", func(ctx context.Context) (bool, error) {
		app, err := readApp(ctx, name)
		return err == nil && app.Status.Health.Status != "" && app.Status.Health.Status != "Healthy", err
	})
	app := getApp(t, name)
	t.Logf("%s's etcd stopped %.1fs ago: Argo CD says %s (%s)", name, time.Since(stopped).Seconds(), app.Status.Health.Status, app.Status.Health.Message)
	resume()
	waitUntil(ctx, t, "Argo CD calls "+name+" Healthy again", func(ctx context.Context) (bool, error) {
		app, err := readApp(ctx, name)
		return err == nil && app.Status.Health.Status == "Healthy", err
	})
	requireServes(ctx, t, tenant{release: name, namespace: name}, "1.37.2")
}

// processWithArg is the PID of the one process on this host running program with arg.
func processWithArg(t *testing.T, program, arg string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(argv[0]) == program && slices.Contains(argv[1:], arg) {
			found = append(found, pid)
		}
	}
	require.Len(t, found, 1, "processes %s with %s", program, arg)
	return found[0]
}

// argoUpgradeAndSkew commits a version one minor up for argo-a, which Argo CD upgrades with the
// skew gate and the snapshot as PreSync hooks, and one that skips a minor for argo-b, which the
// skew gate refuses.
func argoUpgradeAndSkew(ctx context.Context, t *testing.T, repo tenantsRepo) {
	a := tenant{release: "argo-a", namespace: "argo-a", version: "1.36.3"}
	writeObjects(ctx, t, tenantClient(ctx, t, a))
	repo.setTenant(t, "argo-a", "1.37.2")
	revision := repo.push(t, "argo-a: Kubernetes 1.37")
	upgrade := time.Now()
	refreshApplicationSet(t)
	waitApp(ctx, t, "argo-a", revision)
	requireServes(ctx, t, tenant{release: "argo-a", namespace: "argo-a"}, "1.37.2")
	t.Logf("argo-a upgraded to 1.37.2 %.1fs after the ApplicationSet's refresh", time.Since(upgrade).Seconds())
	assertObjects(ctx, t, a)
	assert.True(t, slices.ContainsFunc(listSnapshots(ctx, t, a), func(s string) bool { return strings.Contains(s, "pre-upgrade") }),
		"the pre-upgrade snapshot was taken")

	// Two minors up fails the sync in the skew gate; the tenant keeps serving its version.
	repo.setTenant(t, "argo-b", "1.37.2")
	revision = repo.push(t, "argo-b: Kubernetes 1.37, skipping 1.36")
	refreshApplicationSet(t)
	failed := waitAppOperation(ctx, t, "argo-b", revision, "Failed", "Error")
	t.Logf("argo-b's sync: %s: %s", failed.Status.OperationState.Phase, failed.Status.OperationState.Message)
	assert.Contains(t, failed.Status.OperationState.Message, "one or more synchronization tasks completed unsuccessfully")
	refusedBy := slices.IndexFunc(failed.Status.OperationState.SyncResult.Resources, func(r argoResult) bool {
		return r.Kind == "Job" && r.Name == "argo-b-pre-upgrade" && r.HookPhase == "Failed" && strings.Contains(r.Message, "exit code 3")
	})
	assert.NotEqual(t, -1, refusedBy, "the sync's result names the pre-upgrade hook that refused (exit code 3): %+v", failed.Status.OperationState.SyncResult.Resources)
	logs := kubectl(t, "-n", "argo-b", "logs", "job/argo-b-pre-upgrade")
	assert.Contains(t, logs, "upgrades go one minor at a time", "the skew gate's message")
	requireServes(ctx, t, tenant{release: "argo-b", namespace: "argo-b"}, "1.35.4")
	image := kubectl(t, "-n", "argo-b", "get", "deployment/argo-b-apiserver", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	assert.Contains(t, image, "v1.35.4", "nothing of the refused upgrade is applied")
}

// addTaowaPlugin adds the plugin to Argo CD as release/argocd/README.md says, with its files.
func addTaowaPlugin(t *testing.T) {
	t.Helper()
	argo := filepath.Join(repoRoot(), "release", "argocd")
	manifest := kubectl(t, "-n", metacluster.ArgoCDNamespace, "create", "configmap", "taowa-cmp",
		"--from-file=plugin.yaml="+filepath.Join(argo, "plugin.yaml"), "--dry-run=client", "-o", "yaml")
	kubectlStdin(t, []byte(manifest), "-n", metacluster.ArgoCDNamespace, "apply", "-f", "-")
	kubectl(t, "-n", metacluster.ArgoCDNamespace, "patch", "deployment", "argocd-repo-server", "--patch-file", filepath.Join(argo, "repo-server-patch.yaml"))
	kubectl(t, "-n", metacluster.ArgoCDNamespace, "rollout", "status", "--timeout=5m", "deployment/argocd-repo-server")
}

func getApp(t *testing.T, name string) argoApp {
	t.Helper()
	app, err := readApp(context.Background(), name)
	require.NoError(t, err)
	return app
}

// readApp reads the Application from the meta cluster.
func readApp(ctx context.Context, name string) (argoApp, error) {
	var app argoApp
	out, err := kubectlStdinOutput(ctx, nil, "-n", metacluster.ArgoCDNamespace, "get", "application", name, "-o", "json")
	if err != nil {
		return app, fmt.Errorf("%w: %s", err, out)
	}
	return app, json.Unmarshal([]byte(out), &app)
}

// waitApp waits until the Application's last sync of revision succeeded and it is Synced and
// Healthy.
func waitApp(ctx context.Context, t *testing.T, name, revision string) argoApp {
	t.Helper()
	var app argoApp
	waitUntil(ctx, t, fmt.Sprintf("Application %s Synced and Healthy at %.8s", name, revision), func(ctx context.Context) (bool, error) {
		var err error
		if app, err = readApp(ctx, name); err != nil {
			return false, err
		}
		op := app.Status.OperationState
		if op == nil {
			return false, fmt.Errorf("no sync yet (sync %s, health %s)", app.Status.Sync.Status, app.Status.Health.Status)
		}
		if op.SyncResult.Revision != revision || op.Phase != "Succeeded" {
			return false, fmt.Errorf("sync of %.8s: %s: %s", op.SyncResult.Revision, op.Phase, op.Message)
		}
		return app.Status.Sync.Status == "Synced" && app.Status.Health.Status == "Healthy",
			fmt.Errorf("sync %s, health %s: %s", app.Status.Sync.Status, app.Status.Health.Status, app.Status.Health.Message)
	})
	return app
}

// waitAppOperation waits until the Application's sync of revision ends in one of phases.
func waitAppOperation(ctx context.Context, t *testing.T, name, revision string, phases ...string) argoApp {
	t.Helper()
	var app argoApp
	waitUntil(ctx, t, fmt.Sprintf("Application %s's sync of %.8s ends %v", name, revision, phases), func(ctx context.Context) (bool, error) {
		var err error
		if app, err = readApp(ctx, name); err != nil {
			return false, err
		}
		op := app.Status.OperationState
		if op == nil || op.SyncResult.Revision != revision {
			return false, fmt.Errorf("no sync of %.8s yet", revision)
		}
		for _, p := range phases {
			if op.Phase == p {
				return true, nil
			}
		}
		return false, fmt.Errorf("%s: %s", op.Phase, op.Message)
	})
	return app
}

// refreshApplicationSet makes the ApplicationSet read git now rather than at its next poll.
func refreshApplicationSet(t *testing.T) {
	t.Helper()
	kubectl(t, "-n", metacluster.ArgoCDNamespace, "annotate", "--overwrite", "applicationset/tenant-masters", "argocd.argoproj.io/application-set-refresh=true")
}

// refreshApp asks Argo CD to compare the Application with git again and waits until it has: the
// controller removes the refresh annotation once it has persisted the comparison's status.
// (reconciledAt has whole seconds, so a refresh within the second of the last one does not move
// it.)
func refreshApp(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	kubectl(t, "-n", metacluster.ArgoCDNamespace, "annotate", "--overwrite", "application/"+name, "argocd.argoproj.io/refresh=normal")
	waitUntil(ctx, t, "Application "+name+" refreshed", func(ctx context.Context) (bool, error) {
		pending, err := kubectlStdinOutput(ctx, nil, "-n", metacluster.ArgoCDNamespace, "get", "application", name,
			"-o", "jsonpath={.metadata.annotations.argocd\\.argoproj\\.io/refresh}")
		if err != nil {
			return false, err
		}
		return pending == "", fmt.Errorf("refresh %q pending", pending)
	})
}

// secretVersions are the resource versions of the tenant's PKI Secrets.
func secretVersions(ctx context.Context, t *testing.T, release string) map[string]string {
	t.Helper()
	list, err := env.client.CoreV1().Secrets(release).List(ctx, metav1.ListOptions{LabelSelector: pki.LabelRelease + "=" + release})
	require.NoError(t, err)
	require.NotEmpty(t, list.Items, "the tenant's PKI Secrets")
	versions := map[string]string{}
	for _, s := range list.Items {
		versions[s.Name] = s.ResourceVersion
	}
	return versions
}
