package tenants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/charts"
	"github.com/taowa/taowa/release/tenants/tenantstest"
	"github.com/taowa/taowa/versions"
)

func apply(t *testing.T, m *Manager, version string, values map[string]any) (ApplyResult, error) {
	t.Helper()
	return m.Apply(context.Background(), "tenant-a", ApplyOptions{
		Namespace: "tenant-a", KubernetesVersion: mustVersion(t, version), Values: values, Rollout: waited,
	})
}

func TestApplyInstallsThenWalksOneMinorPerCall(t *testing.T) {
	m, c := newTestManager(t, nil)
	values := map[string]any{"apiserver": map[string]any{"replicas": 2}}

	type outcome struct {
		action    ApplyAction
		version   string
		remaining int
	}
	want := []outcome{
		{ApplyInstalled, "1.35.4", 0},
		{ApplyUnchanged, "1.35.4", 0},
	}
	for i, w := range want {
		res, err := apply(t, m, "1.35.4", values)
		if err != nil {
			t.Fatalf("apply %d: %v", i+1, err)
		}
		if got := (outcome{res.Action, res.Release.KubernetesVersion, res.Remaining}); got != w {
			t.Errorf("apply %d: %+v, want %+v", i+1, got, w)
		}
	}

	// A jump of two minors: one minor per call, each reporting what is left.
	want = []outcome{
		{ApplyUpgraded, "1.36.3", 1},
		{ApplyUpgraded, "1.37.2", 0},
		{ApplyUnchanged, "1.37.2", 0},
	}
	for i, w := range want {
		res, err := apply(t, m, "1.37.2", values)
		if err != nil {
			t.Fatalf("walk %d: %v", i+1, err)
		}
		if got := (outcome{res.Action, res.Release.KubernetesVersion, res.Remaining}); got != w {
			t.Errorf("walk %d: %+v, want %+v", i+1, got, w)
		}
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"),
		[]string{"1.35.4 superseded", "1.36.3 superseded", "1.37.2 deployed"})
	if !strings.Contains(manifest(t, c, "tenant-a", "tenant-a"), "replicas: 2") {
		t.Error("the walk lost apiserver.replicas=2")
	}

	// Values replace the deployed ones: a value taken out is gone (helm upgrade --reset-values).
	res, err := apply(t, m, "1.37.2", nil)
	if err != nil || res.Action != ApplyUpgraded || res.Release.Revision != 4 {
		t.Fatalf("apply without the replicas value: %+v, %v; want revision 4", res, err)
	}
	if strings.Contains(manifest(t, c, "tenant-a", "tenant-a"), "replicas: 2") {
		t.Error("apply kept apiserver.replicas=2 that its values no longer set")
	}
}

func TestApplyRefusals(t *testing.T) {
	m, _ := newTestManager(t, nil)
	if _, err := apply(t, m, "1.36.3", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version string
		values  map[string]any
		want    string
	}{
		{"1.35.4", nil, "older than"},
		{"1.38.0", nil, "1.38"},
		{"1.36.3", map[string]any{"kubernetesVersion": "1.37.2"}, "give the Kubernetes version as an option"},
		{"1.37.2", map[string]any{"etcd": map[string]any{"replicas": 3}}, "etcd.replicas is 1 on the running tenant and the change asks for 3"},
	} {
		if _, err := apply(t, m, tc.version, tc.values); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("apply %s %v: got %v, want an error saying %q", tc.version, tc.values, err, tc.want)
		}
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"), []string{"1.36.3 deployed"})
}

func TestApplyRollsBackAFailedStep(t *testing.T) {
	m, c := newTestManager(t, nil)
	if _, err := apply(t, m, "1.36.3", nil); err != nil {
		t.Fatal(err)
	}
	c.FailNthWait(1)
	_, err := apply(t, m, "1.37.2", nil)
	var stepErr *StepError
	if !errors.As(err, &stepErr) || !stepErr.RolledBack || stepErr.To.String() != "1.37.2" {
		t.Fatalf("got %v, want a step error 1.36.3 -> 1.37.2 that was rolled back", err)
	}
	assertEqual(t, "history", historyVersions(t, m, "tenant-a", "tenant-a"),
		[]string{"1.36.3 superseded", "1.37.2 failed", "1.36.3 deployed"})
}

// chartManager is a Manager of c whose chart is charts/tenant-master at chart version version,
// with edit appended to its first template when not empty: a new operator's chart.
func chartManager(t *testing.T, c *tenantstest.Cluster, version, edit string) *Manager {
	t.Helper()
	m, err := New(Config{Cluster: c, LoadChart: func() (*chart.Chart, error) {
		ch, err := loader.Load(tenantstest.ChartPath())
		if err != nil {
			return nil, err
		}
		ch.Metadata.Version = version
		if edit != "" {
			ch.Templates[0].Data = append(ch.Templates[0].Data, edit...)
		}
		return ch, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func applyIn(t *testing.T, m *Manager, name, version string, starting func(ApplyAction, versions.Version, versions.Version)) ApplyResult {
	t.Helper()
	res, err := m.Apply(context.Background(), name, ApplyOptions{
		Namespace: "tenants", KubernetesVersion: mustVersion(t, version), Rollout: waited, Starting: starting,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestApplyRollsOutANewChart(t *testing.T) {
	c := tenantstest.NewCluster()
	if res := applyIn(t, chartManager(t, c, "0.1.0", ""), "tenant-a", "1.36.3", nil); res.Action != ApplyInstalled || res.Release.Chart != "tenant-master-0.1.0" {
		t.Fatalf("install: %+v", res)
	}
	if res := applyIn(t, chartManager(t, c, "0.1.0", ""), "tenant-a", "1.36.3", nil); res.Action != ApplyUnchanged || res.Release.Revision != 1 {
		t.Errorf("apply with the chart deployed: %+v, want revision 1 unchanged", res)
	}

	var started []string
	res := applyIn(t, chartManager(t, c, "0.2.0", ""), "tenant-a", "1.36.3", func(a ApplyAction, from, to versions.Version) {
		started = append(started, fmt.Sprintf("%s %s -> %s", a, from, to))
	})
	if res.Action != ApplyChartUpgraded || res.From.String() != "1.36.3" || res.Release.Revision != 2 ||
		res.Release.Chart != "tenant-master-0.2.0" || res.Release.KubernetesVersion != "1.36.3" {
		t.Errorf("apply with chart 0.2.0: %+v, want revision 2 of chart 0.2.0 at 1.36.3", res)
	}
	assertEqual(t, "Starting calls", started, []string{"ChartUpgraded 1.36.3 -> 1.36.3"})
	if res := applyIn(t, chartManager(t, c, "0.2.0", ""), "tenant-a", "1.36.3", nil); res.Action != ApplyUnchanged || res.Release.Revision != 2 {
		t.Errorf("apply with chart 0.2.0 deployed: %+v, want revision 2 unchanged", res)
	}

	// The chart's content decides, not only its version: the repository's chart changes without
	// a version bump.
	res = applyIn(t, chartManager(t, c, "0.2.0", "{{/* changed */}}"), "tenant-a", "1.36.3", nil)
	if res.Action != ApplyChartUpgraded || res.Release.Revision != 3 {
		t.Errorf("apply with a changed template: %+v, want revision 3", res)
	}
	assertEqual(t, "history", historyVersions(t, chartManager(t, c, "0.2.0", ""), "tenants", "tenant-a"),
		[]string{"1.36.3 superseded", "1.36.3 superseded", "1.36.3 deployed"})
}

// The operator's own chart, embedded in its binary, is what the release stores: Apply after an
// install finds nothing to roll out (else every resync would upgrade every tenant).
func TestApplyFindsTheEmbeddedChartDeployed(t *testing.T) {
	c := tenantstest.NewCluster()
	m, err := New(Config{Cluster: c, LoadChart: charts.TenantMaster})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []ApplyAction{ApplyInstalled, ApplyUnchanged, ApplyUpgraded, ApplyUnchanged} {
		version := "1.36.3"
		if i >= 2 {
			version = "1.37.2"
		}
		if res := applyIn(t, m, "tenant-a", version, nil); res.Action != want {
			t.Errorf("apply %d (%s): %s, want %s", i+1, version, res.Action, want)
		}
	}
}

// One chart-only upgrade at a time: while one runs, another tenant's waits for a later Apply;
// an upgrade the spec asks for does not.
func TestApplyRollsOutAChartOneTenantAtATime(t *testing.T) {
	c := tenantstest.NewCluster()
	old, newer := chartManager(t, c, "0.1.0", ""), chartManager(t, c, "0.2.0", "")
	for _, name := range []string{"tenant-a", "tenant-b", "tenant-c"} {
		applyIn(t, old, name, "1.36.3", nil)
	}
	var during []ApplyResult
	res := applyIn(t, newer, "tenant-a", "1.36.3", func(ApplyAction, versions.Version, versions.Version) {
		during = append(during, applyIn(t, newer, "tenant-b", "1.36.3", nil), applyIn(t, newer, "tenant-c", "1.37.2", nil))
	})
	if res.Action != ApplyChartUpgraded {
		t.Fatalf("tenant-a: %+v, want its chart upgraded", res)
	}
	if b := during[0]; b.Action != ApplyUnchanged || !b.ChartPending || b.Release.Revision != 1 {
		t.Errorf("tenant-b during tenant-a's chart upgrade: %+v, want it left at revision 1, chart pending", b)
	}
	if c := during[1]; c.Action != ApplyUpgraded || c.ChartPending || c.Release.Chart != "tenant-master-0.2.0" {
		t.Errorf("tenant-c's version change during tenant-a's chart upgrade: %+v, want it upgraded with chart 0.2.0", c)
	}
	if b := applyIn(t, newer, "tenant-b", "1.36.3", nil); b.Action != ApplyChartUpgraded || b.Release.Chart != "tenant-master-0.2.0" {
		t.Errorf("tenant-b after tenant-a's chart upgrade: %+v, want its chart upgraded", b)
	}
}

// A release's chart, as Helm's Secrets driver stores and reads it back (as JSON, without Raw),
// has the digest of the chart it was made from.
func TestChartDigestSurvivesHelmsStorage(t *testing.T) {
	loaders := map[string]func() (*chart.Chart, error){
		"embedded":  charts.TenantMaster,
		"directory": func() (*chart.Chart, error) { return loader.Load(tenantstest.ChartPath()) },
	}
	for name, load := range loaders {
		ch, err := load()
		if err != nil {
			t.Fatal(err)
		}
		want, err := chartDigest(ch)
		if err != nil {
			t.Fatal(err)
		}
		secrets := driver.NewSecrets(k8sfake.NewClientset().CoreV1().Secrets("tenants"))
		const key = "sh.helm.release.v1.tenant-a.v1"
		rel := &release.Release{Name: "tenant-a", Namespace: "tenants", Version: 1, Chart: ch, Info: &release.Info{Status: release.StatusDeployed}}
		if err := secrets.Create(key, rel); err != nil {
			t.Fatal(err)
		}
		stored, err := secrets.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Chart == ch {
			t.Fatal("the driver returned the chart it was given, not the one it stored")
		}
		if got, err := chartDigest(stored.Chart); err != nil || got != want {
			t.Errorf("%s chart: stored digest %s (%v), want %s", name, got, err, want)
		}
	}
}
