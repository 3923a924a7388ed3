package tenants

import (
	"maps"
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

// Every hook Job runs as a ServiceAccount whose ServiceAccount, Role and RoleBinding are hooks at
// each of the Job's events too, and run before it.
func TestHookJobsRunAfterTheirRBAC(t *testing.T) {
	hooks := chartHooks(t, nil)
	rbac := map[string]map[string]*release.Hook{} // name -> kind -> hook
	for _, h := range hooks {
		if h.Kind == "ServiceAccount" || h.Kind == "Role" || h.Kind == "RoleBinding" {
			if rbac[h.Name] == nil {
				rbac[h.Name] = map[string]*release.Hook{}
			}
			rbac[h.Name][h.Kind] = h
		}
	}
	accounts := map[string]int{}
	for _, h := range hooks {
		if h.Kind != "Job" {
			continue
		}
		_, rest, ok := strings.Cut(h.Manifest, "serviceAccountName: ")
		if !ok {
			continue // the helm test Pod and others without meta cluster access
		}
		account, _, _ := strings.Cut(rest, "\n")
		accounts[account]++
		if len(rbac[account]) != 3 {
			t.Errorf("Job %s runs as %s, whose hooks are %v; want ServiceAccount, Role, RoleBinding", h.Name, account, rbac[account])
			continue
		}
		for _, e := range h.Events {
			for kind, r := range rbac[account] {
				if !slices.Contains(r.Events, e) {
					t.Errorf("Job %s runs at %s, where %s %s is no hook", h.Name, e, kind, account)
				}
				if r.Weight >= h.Weight {
					t.Errorf("Job %s (weight %d) does not run after %s %s (weight %d)", h.Name, h.Weight, kind, account, r.Weight)
				}
			}
		}
	}
	want := map[string]int{"tenant-a-lifecycle": 3, "tenant-a-pki": 3} // pre-rollback, snapshot-volume, final; pki, pre-upgrade, ready
	if !maps.Equal(accounts, want) {
		t.Errorf("hook Jobs per ServiceAccount: %v, want %v", accounts, want)
	}
}

// Before an upgrade or rollback one Job runs the steps in order, so that a refusal comes before
// any change and each step costs no Pod start of its own.
func TestUpgradeHooksAreOneJobOfSteps(t *testing.T) {
	hooks := chartHooks(t, nil)
	for event, steps := range map[release.HookEvent][]string{
		release.HookPreUpgrade:  {"skew-check", "pki", "etcd-snapshot"},
		release.HookPreRollback: {"skew-check", "etcd-snapshot"},
	} {
		var jobs []*release.Hook
		for _, h := range eventHooks(hooks, event) {
			if h.Kind == "Job" && h.Name != "tenant-a-snapshot-volume" {
				jobs = append(jobs, h)
			}
		}
		if len(jobs) != 1 {
			t.Errorf("%s: %d Jobs besides the snapshot volume, want 1", event, len(jobs))
			continue
		}
		var got []string
		for _, line := range strings.Split(jobs[0].Manifest, "\n") {
			if prev, next, ok := strings.Cut(line, `- "--"`); ok && prev != "" && next == "" {
				got = append(got, "")
			} else if len(got) > 0 && got[len(got)-1] == "" {
				got[len(got)-1] = strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "-")), `"`)
			}
		}
		if !slices.Equal(got, steps) {
			t.Errorf("%s Job %s: steps %v, want %v", event, jobs[0].Name, got, steps)
		}
	}
}
