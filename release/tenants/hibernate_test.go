package tenants

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// Sleep and wake are helm upgrades at the version the tenant runs that change only the chart's
// hibernated value (the chart renders every component with no replicas); an upgrade of a sleeping
// tenant is refused before anything changes.
func TestHibernateSleepsAndWakesAtTheSameVersion(t *testing.T) {
	ctx := context.Background()
	m, c := newTestManager(t, nil)
	install(t, m, "ns", "tenant-a", "1.36.3", map[string]any{"apiserver": map[string]any{"replicas": 2}})

	res, err := m.Hibernate(ctx, "ns", "tenant-a", true, waited)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || !res.Release.Hibernated || res.Release.KubernetesVersion != "1.36.3" {
		t.Errorf("sleep: %+v, want a changed release, hibernated at 1.36.3", res)
	}
	if m := manifest(t, c, "ns", "tenant-a"); strings.Count(m, "replicas: 0") != 4 {
		t.Errorf("asleep, want etcd and the three masters at replicas 0:\n%s", m)
	}
	again, err := m.Hibernate(ctx, "ns", "tenant-a", true, waited)
	if err != nil || again.Changed {
		t.Errorf("sleep again: %+v, %v; want nothing done", again, err)
	}

	_, err = m.Upgrade(ctx, "tenant-a", UpgradeOptions{Namespace: "ns", To: mustVersion(t, "1.37.2"), Rollout: waited})
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "hibernated: wake it first") {
		t.Errorf("upgrade asleep: %v, want a RefusedError saying to wake it", err)
	}

	res, err = m.Hibernate(ctx, "ns", "tenant-a", false, waited)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Release.Hibernated {
		t.Errorf("wake: %+v", res)
	}
	if m := manifest(t, c, "ns", "tenant-a"); strings.Contains(m, "replicas: 0") || !strings.Contains(m, "replicas: 2") {
		t.Errorf("awake, want the values' replicas back (2 apiservers):\n%s", m)
	}
	assertEqual(t, "history", historyVersions(t, m, "ns", "tenant-a"), []string{"1.36.3 superseded", "1.36.3 superseded", "1.36.3 deployed"})
}

// A wake whose hook fails goes back to sleep, as --atomic does: the tenant is left as it was,
// hibernated, and the next wake works.
func TestFailedWakeGoesBackToSleep(t *testing.T) {
	ctx := context.Background()
	m, c := newTestManager(t, nil)
	install(t, m, "ns", "tenant-a", "1.36.3", nil)
	if _, err := m.Hibernate(ctx, "ns", "tenant-a", true, waited); err != nil {
		t.Fatal(err)
	}

	c.FailNthHook(1)
	_, err := m.Hibernate(ctx, "ns", "tenant-a", false, Rollout{Wait: true, Atomic: true, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "back to the sleeping revision 2") || !strings.Contains(err.Error(), tenantstest.ErrHookFailed.Error()) {
		t.Fatalf("wake with a failing hook: %v, want the hook's error and back to the sleeping revision 2", err)
	}
	info, err := m.Status(ctx, "ns", "tenant-a")
	if err != nil || !info.Hibernated {
		t.Errorf("after the failed wake: %+v, %v; want it hibernated", info, err)
	}
	assertEqual(t, "history", historyVersions(t, m, "ns", "tenant-a"), []string{"1.36.3 superseded", "1.36.3 superseded", "1.36.3 failed", "1.36.3 deployed"})

	if _, err := m.Hibernate(ctx, "ns", "tenant-a", false, waited); err != nil {
		t.Fatalf("the next wake: %v", err)
	}
}
