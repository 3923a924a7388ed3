package tenants

import (
	"context"
	"errors"
	"strings"
	"testing"
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
