package tenants

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/taowa/taowa/postrender"
	"github.com/taowa/taowa/release/tenants/tenantstest"
	"github.com/taowa/taowa/versions"
)

var waited = Rollout{Wait: true, Timeout: time.Minute, Atomic: true}

func mustVersion(t *testing.T, s string) versions.Version {
	t.Helper()
	v, err := versions.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func install(t *testing.T, m *Manager, namespace, name, version string, values map[string]any) {
	t.Helper()
	_, err := m.Install(context.Background(), name, InstallOptions{
		Namespace: namespace, KubernetesVersion: mustVersion(t, version), Values: values, Rollout: waited,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func manifest(t *testing.T, c *tenantstest.Cluster, namespace, name string) string {
	t.Helper()
	cfg, _ := c.ActionConfig(namespace)
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		t.Fatal(err)
	}
	return rel.Manifest
}

func historyVersions(t *testing.T, m *Manager, namespace, name string) (got []string) {
	t.Helper()
	history, err := m.History(context.Background(), namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range history {
		if r.Revision != i+1 {
			t.Fatalf("history %+v: revision %d at position %d", history, r.Revision, i)
		}
		got = append(got, r.KubernetesVersion+" "+r.Status)
	}
	return got
}

func assertEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
}

// etcd's flags change forms between 1.33 (etcd 3.5) and 1.34 (etcd 3.6) in versions.yaml: the
// stored manifest must be the post-rendered one, for the release's version.
func TestInstallPostRendersForTheVersion(t *testing.T) {
	m, c := newTestManager(t, nil)
	install(t, m, "tenant-a", "tenant-a", "1.33.13", nil)
	got := manifest(t, c, "tenant-a", "tenant-a")
	for _, want := range []string{"--experimental-watch-progress-notify-interval=5s", "image: registry.k8s.io/kube-apiserver:v1.33.13", "image: registry.k8s.io/etcd:3.5.24"} {
		if !strings.Contains(got, want) {
			t.Errorf("manifest of a 1.33.13 tenant lacks %q", want)
		}
	}

	if _, err := m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.34.4"), Rollout: waited}); err != nil {
		t.Fatal(err)
	}
	got = manifest(t, c, "tenant-a", "tenant-a")
	for _, want := range []string{"- --watch-progress-notify-interval=5s", "--feature-gates=InitialCorruptCheck=true", "image: registry.k8s.io/etcd:3.6.16"} {
		if !strings.Contains(got, want) {
			t.Errorf("manifest after the upgrade to 1.34.4 lacks %q", want)
		}
	}
	if strings.Contains(got, "--experimental-") {
		t.Error("manifest after the upgrade to 1.34.4 still has etcd 3.5's experimental flags")
	}

	status, err := m.Status(context.Background(), "tenant-a", "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	if status.KubernetesVersion != "1.34.4" || status.Revision != 2 || status.Status != "deployed" {
		t.Errorf("status %+v, want 1.34.4 deployed at revision 2", status)
	}
	if !strings.Contains(status.Notes, "tenant-a-admin-kubeconfig") {
		t.Errorf("status notes do not name the admin kubeconfig Secret:\n%s", status.Notes)
	}
}

// kube-controller-manager 1.37 dropped --concurrent-service-syncs (versions.yaml): a release
// that sets it renders on 1.36 and its upgrade to 1.37 fails at render time, changing nothing.
func TestUpgradeRefusedByThePostRenderer(t *testing.T) {
	m, c := newTestManager(t, nil)
	install(t, m, "tenant-a", "tenant-a", "1.36.3", map[string]any{"controllerManager": map[string]any{"extraArgs": map[string]any{"concurrent-service-syncs": "2"}}})
	if !strings.Contains(manifest(t, c, "tenant-a", "tenant-a"), "- --concurrent-service-syncs=2") {
		t.Fatal("the 1.36.3 manifest lacks the extra flag --concurrent-service-syncs=2")
	}
	_, err := m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.37.2"), Rollout: waited})
	if err == nil || !strings.Contains(err.Error(), "concurrent-service-syncs") || !strings.Contains(err.Error(), "1.37.2") {
		t.Fatalf("got %v, want a render error naming the flag and the version", err)
	}
	var stepErr *StepError
	if !errors.As(err, &stepErr) || !stepErr.Unchanged || stepErr.Revision != 1 || !strings.Contains(err.Error(), "left unchanged at revision 1") {
		t.Errorf("got %v, want a step error saying that nothing changed", err)
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"), []string{"1.36.3 deployed"})
}

// The in-process post-renderer gives what the taowa-postrender binary gives: postrender.Render
// of the chart as Helm renders it without a post-renderer.
func TestPostRendererIsTheBinarys(t *testing.T) {
	m, c := newTestManager(t, nil)
	install(t, m, "tenant-a", "tenant-a", "1.35.4", nil)

	ch, err := m.loadChart()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := c.ActionConfig("tenant-a")
	plain := action.NewInstall(cfg)
	plain.ReleaseName, plain.Namespace = "tenant-a", "tenant-a"
	plain.DryRun, plain.ClientOnly = true, true
	rendered, err := plain.Run(ch, map[string]any{"kubernetesVersion": "1.35.4"})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := postrender.Render(strings.NewReader(rendered.Manifest), &want, postrender.Options{}); err != nil {
		t.Fatal(err)
	}
	if want.String() == rendered.Manifest {
		t.Fatal("postrender.Render changed nothing: the comparison would prove nothing")
	}
	if got := manifest(t, c, "tenant-a", "tenant-a"); got != want.String() {
		t.Errorf("installed manifest differs from postrender.Render of Helm's plain render")
	}
}

func TestInstallRefusesBadVersions(t *testing.T) {
	m, _ := newTestManager(t, nil)
	_, err := m.Install(context.Background(), "tenant-a", InstallOptions{Namespace: "ns", KubernetesVersion: mustVersion(t, "1.30.4")})
	if err == nil || !strings.Contains(err.Error(), "1.30.4") || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("install of 1.30.4: got %v, want an unsupported-minor error naming it", err)
	}
	_, err = m.Install(context.Background(), "tenant-a", InstallOptions{Namespace: "ns", Values: map[string]any{"kubernetesVersion": "1.36.3"}})
	if err == nil || !strings.Contains(err.Error(), "kubernetesVersion") {
		t.Errorf("install with kubernetesVersion in values: got %v, want a refusal", err)
	}
}

func TestUpgradeWalksOneMinorAtATime(t *testing.T) {
	var progress bytes.Buffer
	m, c := newTestManager(t, &progress)
	install(t, m, "tenant-a", "tenant-a", "1.34.4", map[string]any{"apiserver": map[string]any{"replicas": 2}})

	res, err := m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.37.2"), Rollout: waited})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 3 || res.Steps[2].Revision != 4 {
		t.Errorf("steps %+v, want three, the last revision 4", res.Steps)
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"),
		[]string{"1.34.4 superseded", "1.35.4 superseded", "1.36.3 superseded", "1.37.2 deployed"})
	for _, line := range []string{
		"step 1/3: upgrading tenant-a 1.34.4 -> 1.35.4",
		"step 2/3: upgrading tenant-a 1.35.4 -> 1.36.3",
		"step 3/3: upgrading tenant-a 1.36.3 -> 1.37.2",
	} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, progress.String())
		}
	}
	if !strings.Contains(manifest(t, c, "tenant-a", "tenant-a"), "replicas: 2") {
		t.Error("the walk lost the value apiserver.replicas=2 set at install")
	}

	res, err = m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.37.2"), Rollout: waited})
	if err != nil || len(res.Steps) != 0 {
		t.Errorf("upgrade to the version it runs: %+v, %v; want no step", res, err)
	}
}

func TestUpgradeRefusedBeforeAnythingChanges(t *testing.T) {
	m, _ := newTestManager(t, nil)
	install(t, m, "tenant-a", "tenant-a", "1.34.4", nil)
	for _, to := range []string{"1.38.0", "1.33.13"} {
		_, err := m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, to), Rollout: waited})
		if err == nil || !strings.Contains(err.Error(), "1.34.4") || !strings.Contains(err.Error(), to) {
			t.Errorf("upgrade 1.34.4 -> %s: got %v, want a refusal naming both versions", to, err)
		}
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"), []string{"1.34.4 deployed"})

	// etcd's membership is fixed: a change of etcd.replicas is refused, whatever else changes.
	_, err := m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.34.4"),
		Values: map[string]any{"etcd": map[string]any{"replicas": 3}}, Rollout: waited})
	var fixed *FixedValueError
	if !errors.As(err, &fixed) || !strings.Contains(err.Error(), "keep etcd.replicas at 1") {
		t.Errorf("etcd.replicas 1 -> 3: got %v, want a FixedValueError", err)
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"), []string{"1.34.4 deployed"})

	_, err = m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.36.3"), Rollout: Rollout{}})
	if err == nil || !strings.Contains(err.Error(), "wait") {
		t.Errorf("a two-step walk without wait: got %v, want a refusal", err)
	}
}

func TestUpgradeStopsAtTheFailedStep(t *testing.T) {
	m, c := newTestManager(t, nil)
	install(t, m, "tenant-a", "tenant-a", "1.34.4", nil)
	c.FailNthWait(2) // step 2's rollout never gets ready; atomic's rollback does

	_, err := m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.37.2"), Rollout: waited})
	var stepErr *StepError
	if !errors.As(err, &stepErr) {
		t.Fatalf("got %v, want a *StepError", err)
	}
	if stepErr.Step != 2 || stepErr.Steps != 3 || stepErr.From.String() != "1.35.4" || stepErr.To.String() != "1.36.3" || !stepErr.RolledBack || stepErr.Revision != 4 {
		t.Errorf("step error %+v, want step 2/3 1.35.4 -> 1.36.3 rolled back at revision 4", stepErr)
	}
	if !errors.Is(err, tenantstest.ErrNotReady) || !strings.Contains(err.Error(), "rolled back to Kubernetes 1.35.4") {
		t.Errorf("error %q does not wrap the cause or say it was rolled back", err)
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"),
		[]string{"1.34.4 superseded", "1.35.4 superseded", "1.36.3 failed", "1.35.4 deployed"})
}

func TestRollbackChecksTheSkew(t *testing.T) {
	m, _ := newTestManager(t, nil)
	install(t, m, "tenant-a", "tenant-a", "1.35.4", nil)
	if _, err := m.Upgrade(context.Background(), "tenant-a", UpgradeOptions{Namespace: "tenant-a", To: mustVersion(t, "1.37.2"), Rollout: waited}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Rollback(context.Background(), "tenant-a", "tenant-a", 1, waited)
	if err == nil || !strings.Contains(err.Error(), "1.37.2") || !strings.Contains(err.Error(), "1.35.4") {
		t.Errorf("rollback 1.37.2 -> 1.35.4: got %v, want a refusal naming both", err)
	}
	info, err := m.Rollback(context.Background(), "tenant-a", "tenant-a", 0, waited)
	if err != nil {
		t.Fatal(err)
	}
	if info.KubernetesVersion != "1.36.3" || info.Revision != 4 {
		t.Errorf("after rollback: %+v, want 1.36.3 at revision 4", info)
	}
}

func TestListTenantMastersOnly(t *testing.T) {
	m, c := newTestManager(t, nil)
	install(t, m, "ns-b", "tenant-b", "1.36.3", nil)
	install(t, m, "ns-a", "tenant-a", "1.37.2", nil)
	cfg, _ := c.ActionConfig("ns-a")
	other := &release.Release{
		Name: "other", Namespace: "ns-a", Version: 1,
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "nginx", Version: "1.0.0"}},
		Info:  &release.Info{Status: release.StatusDeployed},
	}
	if err := cfg.Releases.Create(other); err != nil {
		t.Fatal(err)
	}

	all, err := m.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range all {
		got = append(got, r.Namespace+"/"+r.Name+" "+r.KubernetesVersion+" "+r.Chart)
	}
	assertEqual(t, "list", got, []string{"ns-a/tenant-a 1.37.2 tenant-master-0.1.0", "ns-b/tenant-b 1.36.3 tenant-master-0.1.0"})

	one, err := m.List(context.Background(), "ns-b")
	if err != nil || len(one) != 1 || one[0].Name != "tenant-b" {
		t.Errorf("list ns-b: %+v, %v", one, err)
	}
}

func TestKubeconfigServerOverride(t *testing.T) {
	m, c := newTestManager(t, nil)
	config := clientcmdapi.NewConfig()
	config.Clusters["tenant-a"] = &clientcmdapi.Cluster{Server: "https://tenant-a-apiserver.tenant-a.svc.cluster.local:6443"}
	data, err := clientcmd.Write(*config)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-admin-kubeconfig", Namespace: "tenant-a"},
		Data:       map[string][]byte{"kubeconfig": data},
	}
	clientset, _ := c.Clientset()
	if _, err := clientset.CoreV1().Secrets("tenant-a").Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	asIs, err := m.Kubeconfig(context.Background(), "tenant-a", "tenant-a", KubeconfigOptions{})
	if err != nil || !bytes.Equal(asIs, data) {
		t.Errorf("without --server: got %q, %v; want the Secret's bytes", asIs, err)
	}
	overridden, err := m.Kubeconfig(context.Background(), "tenant-a", "tenant-a", KubeconfigOptions{Server: "https://127.0.0.1:6443"})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := clientcmd.Load(overridden)
	if err != nil {
		t.Fatal(err)
	}
	cluster := loaded.Clusters["tenant-a"]
	if cluster.Server != "https://127.0.0.1:6443" || cluster.TLSServerName != "tenant-a-apiserver.tenant-a.svc.cluster.local" {
		t.Errorf("cluster %+v: want the new server and the original host as TLS server name", cluster)
	}

	if _, err := m.Kubeconfig(context.Background(), "tenant-a", "tenant-b", KubeconfigOptions{}); err == nil || !strings.Contains(err.Error(), "tenant-b-admin-kubeconfig") {
		t.Errorf("missing Secret: got %v, want an error naming it", err)
	}
}

func TestPlanUpgrade(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     []string
		refused  bool
	}{
		{from: "1.36.3", to: "1.36.3"},
		{from: "1.36.1", to: "1.36.3", want: []string{"1.36.3"}},
		{from: "1.36.3", to: "1.37.0", want: []string{"1.37.0"}},
		{from: "1.31.2", to: "1.34.1", want: []string{"1.32.2", "1.33.13", "1.34.1"}},
		{from: "1.37.2", to: "1.36.3", refused: true},
		{from: "1.35.4", to: "1.38.0", refused: true},
		{from: "1.30.0", to: "1.31.13", refused: true},
	} {
		steps, err := PlanUpgrade(mustVersion(t, tc.from), mustVersion(t, tc.to))
		if tc.refused {
			if err == nil {
				t.Errorf("%s -> %s: planned %v, want a refusal", tc.from, tc.to, steps)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s -> %s: %v", tc.from, tc.to, err)
			continue
		}
		var got []string
		for _, s := range steps {
			got = append(got, s.String())
		}
		assertEqual(t, tc.from+" -> "+tc.to, got, tc.want)
	}
}
