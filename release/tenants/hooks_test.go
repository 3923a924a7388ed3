package tenants

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// chartHooks renders the chart as a client-only install does and returns its hooks.
func chartHooks(t *testing.T, values map[string]any) []*release.Hook {
	t.Helper()
	ch, err := loadChart(tenantstest.ChartPath())
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: t.Logf})
	install.ReleaseName, install.Namespace = "tenant-a", "ns-a"
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	if install.KubeVersion, err = chartutil.ParseKubeVersion("1.36.0"); err != nil {
		t.Fatal(err)
	}
	rel, err := install.Run(ch, values)
	if err != nil {
		t.Fatal(err)
	}
	return rel.Hooks
}

// eventHooks returns the hooks of one event in the order Helm runs them: by weight, then name,
// kinds in Helm's install order (rel.Hooks are sorted so already).
func eventHooks(hooks []*release.Hook, event release.HookEvent) []*release.Hook {
	var out []*release.Hook
	for _, h := range hooks {
		if slices.Contains(h.Events, event) {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Weight == out[j].Weight {
			return out[i].Name < out[j].Name
		}
		return out[i].Weight < out[j].Weight
	})
	return out
}

// Before uninstall: the hooks' RBAC, then the snapshot volume, then the final snapshot; each
// deleted once they all succeed, so a successful uninstall leaves no hook object behind.
func TestFinalSnapshotBeforeUninstall(t *testing.T) {
	var got []string
	for _, h := range eventHooks(chartHooks(t, nil), release.HookPreDelete) {
		got = append(got, h.Kind+"/"+h.Name)
		if !slices.Contains(h.DeletePolicies, release.HookSucceeded) || !slices.Contains(h.DeletePolicies, release.HookBeforeHookCreation) {
			t.Errorf("%s/%s: delete policies %v; want before-hook-creation and hook-succeeded", h.Kind, h.Name, h.DeletePolicies)
		}
		if h.Name == "tenant-a-etcd-snapshot-final" {
			for _, s := range []string{"- --prefix=final", "- --retain=5", "- --skip-if-no-etcd", "- --release=tenant-a", "- --namespace=ns-a",
				"serviceAccountName: tenant-a-lifecycle", "claimName: tenant-a-etcd-snapshots"} {
				if !strings.Contains(h.Manifest, s) {
					t.Errorf("the final snapshot Job lacks %q", s)
				}
			}
		}
	}
	want := []string{"ServiceAccount/tenant-a-lifecycle", "Role/tenant-a-lifecycle", "RoleBinding/tenant-a-lifecycle",
		"Job/tenant-a-snapshot-volume", "Job/tenant-a-etcd-snapshot-final"}
	if !slices.Equal(got, want) {
		t.Errorf("pre-delete hooks in Helm's order:\n got %v\nwant %v", got, want)
	}

	off := eventHooks(chartHooks(t, map[string]any{"etcd": map[string]any{"snapshots": map[string]any{"beforeDelete": false}}}), release.HookPreDelete)
	if len(off) != 0 {
		t.Errorf("etcd.snapshots.beforeDelete=false: %d pre-delete hooks, want none", len(off))
	}
}

// A hook Job that runs as <release>-lifecycle runs only at events where that ServiceAccount, its
// Role and RoleBinding are hooks too, and after them.
func TestLifecycleRBACCoversItsJobs(t *testing.T) {
	hooks := chartHooks(t, nil)
	rbac := map[string]*release.Hook{}
	for _, h := range hooks {
		if h.Name == "tenant-a-lifecycle" {
			rbac[h.Kind] = h
		}
	}
	if len(rbac) != 3 {
		t.Fatalf("lifecycle RBAC hooks: %v; want ServiceAccount, Role, RoleBinding", rbac)
	}
	jobs := 0
	for _, h := range hooks {
		if h.Kind != "Job" || !strings.Contains(h.Manifest, "serviceAccountName: tenant-a-lifecycle") {
			continue
		}
		jobs++
		for _, e := range h.Events {
			for kind, r := range rbac {
				if !slices.Contains(r.Events, e) {
					t.Errorf("Job %s runs at %s, where %s tenant-a-lifecycle is no hook", h.Name, e, kind)
				}
				if r.Weight >= h.Weight {
					t.Errorf("Job %s (weight %d) does not run after %s tenant-a-lifecycle (weight %d)", h.Name, h.Weight, kind, r.Weight)
				}
			}
		}
	}
	if jobs < 4 {
		t.Errorf("%d hook Jobs run as tenant-a-lifecycle; want at least skew-check, ready, snapshot-volume, etcd-snapshot", jobs)
	}
}
