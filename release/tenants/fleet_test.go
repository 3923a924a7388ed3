package tenants

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// fakeUpgrades records the calls of an injected upgrade and how many ran at once.
type fakeUpgrades struct {
	mu         sync.Mutex
	order      []string
	runningAt  []int // how many ran, this one included, when each call started
	running    int
	maxRunning int
	fail       map[string]bool
	// failAfterStartOf makes a failing release end as soon as another one has started.
	failAfterStartOf map[string]string
	atVersion        map[string]bool
	hold             time.Duration
}

func (f *fakeUpgrades) upgrade(_ context.Context, ref Ref) FleetResult {
	f.mu.Lock()
	f.order = append(f.order, ref.String())
	f.running++
	f.runningAt = append(f.runningAt, f.running)
	f.maxRunning = max(f.maxRunning, f.running)
	f.mu.Unlock()
	if other, ok := f.failAfterStartOf[ref.String()]; ok {
		f.awaitStart(other)
	} else {
		time.Sleep(f.hold) // long enough for the scheduler to start everything it is allowed to
	}
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	switch {
	case f.fail[ref.String()]:
		return FleetResult{Outcome: Failed, Error: "boom"}
	case f.atVersion[ref.String()]:
		return FleetResult{Outcome: AlreadyAtVersion}
	}
	return FleetResult{Outcome: Upgraded, Steps: 1}
}

func (f *fakeUpgrades) awaitStart(name string) {
	for range 5000 {
		f.mu.Lock()
		started := slices.Contains(f.order, name)
		f.mu.Unlock()
		if started {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func refs(n int) []Ref {
	var out []Ref
	for i := n - 1; i >= 0; i-- { // reverse, so the scheduler must sort
		out = append(out, Ref{Namespace: fmt.Sprintf("ns-%02d", i), Name: "tenant"})
	}
	return out
}

func outcomes(results []FleetResult) map[Outcome]int {
	count := map[Outcome]int{}
	for _, r := range results {
		count[r.Outcome]++
	}
	return count
}

func TestFleetCanariesGoFirstInOrder(t *testing.T) {
	f := &fakeUpgrades{hold: time.Millisecond}
	results := runFleet(context.Background(), refs(6), 3, 4, f.upgrade)
	assertEqual(t, "first calls", f.order[:3], []string{"ns-00/tenant", "ns-01/tenant", "ns-02/tenant"})
	for i, n := range f.runningAt[:3] {
		if n != 1 {
			t.Errorf("canary %d started with %d upgrades running, want it alone", i, n)
		}
	}
	for i, r := range results {
		if want := fmt.Sprintf("ns-%02d/tenant", i); r.Release.String() != want || r.Canary != (i < 3) || r.Outcome != Upgraded {
			t.Errorf("result %d: %+v, want %s upgraded, canary %v", i, r, want, i < 3)
		}
	}
}

func TestFleetCanaryFailureStartsNothingElse(t *testing.T) {
	f := &fakeUpgrades{fail: map[string]bool{"ns-01/tenant": true}}
	results := runFleet(context.Background(), refs(5), 2, 5, f.upgrade)
	assertEqual(t, "calls", f.order, []string{"ns-00/tenant", "ns-01/tenant"})
	if got := outcomes(results); got[Upgraded] != 1 || got[Failed] != 1 || got[Skipped] != 3 {
		t.Errorf("outcomes %v, want 1 upgraded, 1 failed, 3 skipped", got)
	}
}

func TestFleetParallelismBound(t *testing.T) {
	for _, bound := range []int{1, 3, 5} {
		f := &fakeUpgrades{hold: 20 * time.Millisecond}
		results := runFleet(context.Background(), refs(12), 1, bound, f.upgrade)
		if f.maxRunning != bound {
			t.Errorf("max parallel %d: %d upgrades ran at once, want exactly %d", bound, f.maxRunning, bound)
		}
		if got := outcomes(results); got[Upgraded] != 12 {
			t.Errorf("max parallel %d: outcomes %v, want 12 upgraded", bound, got)
		}
	}
}

func TestFleetStopsStartingAfterAFailure(t *testing.T) {
	// ns-00 fails while ns-01, started with it, still runs: ns-01 finishes, nothing after it starts.
	f := &fakeUpgrades{
		hold:             20 * time.Millisecond,
		fail:             map[string]bool{"ns-00/tenant": true},
		failAfterStartOf: map[string]string{"ns-00/tenant": "ns-01/tenant"},
	}
	results := runFleet(context.Background(), refs(6), 0, 2, f.upgrade)
	if len(f.order) != 2 {
		t.Errorf("calls %v, want ns-00 and ns-01", f.order)
	}
	want := []Outcome{Failed, Upgraded, Skipped, Skipped, Skipped, Skipped}
	for i, r := range results {
		if r.Outcome != want[i] {
			t.Errorf("%s: %s, want %s", r.Release, r.Outcome, want[i])
		}
	}
}

func TestFleetSummary(t *testing.T) {
	f := &fakeUpgrades{atVersion: map[string]bool{"ns-00/tenant": true}, fail: map[string]bool{"ns-02/tenant": true}}
	s := FleetSummary{To: "1.37.2", Results: runFleet(context.Background(), refs(3), 0, 1, f.upgrade)}
	if s.Count(AlreadyAtVersion) != 1 || s.Count(Upgraded) != 1 || s.Count(Failed) != 1 {
		t.Errorf("summary %+v", s)
	}
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "1 failed, 0 skipped") || !strings.Contains(err.Error(), "ns-02/tenant: boom") {
		t.Errorf("summary error %v", err)
	}
	if (FleetSummary{Results: []FleetResult{{Outcome: AlreadyAtVersion}, {Outcome: Upgraded}}}).Err() != nil {
		t.Error("a summary without failures has an error")
	}
}

func TestFleetCancelledContextStartsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeUpgrades{}
	results := runFleet(ctx, refs(3), 1, 2, f.upgrade)
	if len(f.order) != 0 || outcomes(results)[Skipped] != 3 {
		t.Errorf("calls %v, results %+v", f.order, results)
	}
}

// The fleet through Helm: every release walks to the target, one already there is left alone.
func TestUpgradeFleetThroughHelm(t *testing.T) {
	m, _ := newTestManager(t, nil)
	install(t, m, "ns-a", "tenant-a", "1.35.4", nil)
	install(t, m, "ns-b", "tenant-b", "1.37.2", nil)
	install(t, m, "ns-c", "tenant-c", "1.36.3", nil)
	releases := []Ref{{"ns-c", "tenant-c"}, {"ns-b", "tenant-b"}, {"ns-a", "tenant-a"}}
	s := m.UpgradeFleet(context.Background(), releases, mustVersion(t, "1.37.2"), FleetOptions{MaxParallel: 2, Canary: 1, Rollout: waited})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Results {
		got = append(got, fmt.Sprintf("%s %s from %s in %d", r.Release, r.Outcome, r.From, r.Steps))
	}
	assertEqual(t, "results", got, []string{
		"ns-a/tenant-a upgraded from 1.35.4 in 2",
		"ns-b/tenant-b already-at-version from 1.37.2 in 0",
		"ns-c/tenant-c upgraded from 1.36.3 in 1",
	})
	if s.Seconds <= 0 {
		t.Errorf("summary took %v s", s.Seconds)
	}
}

// fakeOperator plays the taowa operator on the in-memory cluster's Cluster objects: every read
// of a Cluster whose spec it has not finished takes one step of Apply, as a reconcile does, and
// writes the status the operator would. A patch of a Cluster bumps its generation, as the
// apiserver does for a change of the spec.
type fakeOperator struct {
	m *Manager
	// applied are the revisions its Applies made, by Cluster.
	applied map[string][]int
}

func playOperator(t *testing.T, m *Manager, c *tenantstest.Cluster) *fakeOperator {
	t.Helper()
	o := &fakeOperator{m: m, applied: map[string][]int{}}
	client := c.ClusterObjects().(*dynamicfake.FakeDynamicClient)
	tracker := client.Tracker()
	client.PrependReactor("patch", v1alpha1.Resource.Resource, func(action k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := k8stesting.ObjectReaction(tracker)(action)
		if err != nil || !handled {
			return handled, obj, err
		}
		u := obj.(*unstructured.Unstructured)
		u.SetGeneration(u.GetGeneration() + 1) // the only patch here is of the spec
		return true, u, tracker.Update(v1alpha1.Resource, u, u.GetNamespace())
	})
	client.PrependReactor("get", v1alpha1.Resource.Resource, func(action k8stesting.Action) (bool, runtime.Object, error) {
		get := action.(k8stesting.GetAction)
		obj, err := tracker.Get(v1alpha1.Resource, get.GetNamespace(), get.GetName())
		if err != nil {
			return false, nil, nil // the default reaction says so
		}
		cluster, err := asCluster(obj.(*unstructured.Unstructured))
		if err != nil {
			return true, nil, err
		}
		if o.reconcile(t, cluster) {
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cluster)
			if err != nil {
				return true, nil, err
			}
			if err := tracker.Update(v1alpha1.Resource, &unstructured.Unstructured{Object: u}, cluster.Namespace); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil // the default reaction reads what was just written
	})
	return o
}

// reconcile takes one step towards c's spec, if one is due, and says whether it changed c.
func (o *fakeOperator) reconcile(t *testing.T, c *v1alpha1.Cluster) bool {
	progressing := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionProgressing)
	degraded := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionDegraded)
	settled := c.Status.ObservedGeneration == c.Generation && progressing != nil && progressing.Status == metav1.ConditionFalse
	if settled || degraded != nil && degraded.Status == metav1.ConditionTrue && degraded.ObservedGeneration == c.Generation {
		return false
	}
	set := func(kind string, status metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: kind, Status: status, Reason: reason, Message: message, ObservedGeneration: c.Generation})
	}
	res, err := o.m.Apply(context.Background(), c.Name, ApplyOptions{Namespace: c.Namespace, KubernetesVersion: mustVersion(t, c.Spec.KubernetesVersion), Rollout: waited})
	switch {
	case err != nil:
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "UpgradeFailed", err.Error())
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "UpgradeFailed", "no change in progress")
		c.Status.ObservedGeneration = c.Generation
		return true
	case res.Remaining > 0:
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, "Upgrading", fmt.Sprintf("at Kubernetes %s, %d more minor(s)", res.Release.KubernetesVersion, res.Remaining))
	default:
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "Applied", "the spec is deployed")
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, "Serving", "1 of 1 apiservers available")
		c.Status.ObservedGeneration = c.Generation
	}
	key := c.Namespace + "/" + c.Name
	o.applied[key] = append(o.applied[key], res.Release.Revision)
	c.Status.KubernetesVersion, c.Status.Revision = res.Release.KubernetesVersion, res.Release.Revision
	return true
}

// ownedTenant is a tenant master that a Cluster owns, installed and settled at version.
func ownedTenant(t *testing.T, c *tenantstest.Cluster, namespace, name, version string) {
	t.Helper()
	cluster := v1alpha1.Cluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Generation: 1},
		Spec:       v1alpha1.ClusterSpec{KubernetesVersion: version},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cluster)
	if err != nil {
		t.Fatal(err)
	}
	objects := c.ClusterObjects().Resource(v1alpha1.Resource).Namespace(namespace)
	if _, err := objects.Create(context.Background(), &unstructured.Unstructured{Object: u}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The first read is the operator's install.
	got, err := objects.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if running, _, _ := unstructured.NestedString(got.Object, "status", "kubernetesVersion"); running != version {
		t.Fatalf("Cluster %s/%s runs %q after the operator's install, want %s", namespace, name, running, version)
	}
}

func clusterSpec(t *testing.T, c *tenantstest.Cluster, namespace, name string) string {
	t.Helper()
	u, err := c.ClusterObjects().Resource(v1alpha1.Resource).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := unstructured.NestedString(u.Object, "spec", "kubernetesVersion")
	return v
}

func fastFollow(t *testing.T) {
	was := followEvery
	followEvery = time.Millisecond
	t.Cleanup(func() { followEvery = was })
}

// A release that a Cluster owns is upgraded by the operator, through its Cluster's spec; the
// fleet waits for the walk and reports it as for any release.
func TestUpgradeFleetGoesThroughTheOwningCluster(t *testing.T) {
	fastFollow(t)
	var progress strings.Builder
	m, c := newTestManager(t, &progress)
	operator := playOperator(t, m, c)
	install(t, m, "ns-a", "plain", "1.35.4", nil)
	ownedTenant(t, c, "ns-b", "owned", "1.35.4")

	s := m.UpgradeFleet(context.Background(), []Ref{{"ns-b", "owned"}, {"ns-a", "plain"}}, mustVersion(t, "1.37.2"),
		FleetOptions{Canary: 1, MaxParallel: 2, Rollout: waited})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Results {
		got = append(got, fmt.Sprintf("%s %s cluster=%v from %s in %d", r.Release, r.Outcome, r.Cluster, r.From, r.Steps))
	}
	assertEqual(t, "results", got, []string{
		"ns-a/plain upgraded cluster=false from 1.35.4 in 2",
		"ns-b/owned upgraded cluster=true from 1.35.4 in 2",
	})
	if spec := clusterSpec(t, c, "ns-b", "owned"); spec != "1.37.2" {
		t.Errorf("the owning Cluster asks for %s, want 1.37.2", spec)
	}
	// Revision 1 is the operator's install; 2 and 3 its walk: the fleet changed no release of it.
	if got := fmt.Sprint(operator.applied["ns-b/owned"]); got != "[1 2 3]" {
		t.Errorf("the operator made revisions %s of ns-b/owned, want [1 2 3]", got)
	}
	assertEqual(t, "history", historyVersions(t, m, "ns-b", "owned"), []string{"1.35.4 superseded", "1.36.3 superseded", "1.37.2 deployed"})
	if _, ok := operator.applied["ns-a/plain"]; ok {
		t.Error("the operator changed a release no Cluster owns")
	}
	if !strings.Contains(progress.String(), "ns-b/owned: at Kubernetes 1.36.3, 1 more minor(s)") {
		t.Errorf("progress lacks the operator's message:\n%s", progress.String())
	}
}

// A canary that a Cluster owns fails when the operator reports the Cluster Degraded; then no other
// release starts.
func TestUpgradeFleetFailsWithTheOperator(t *testing.T) {
	fastFollow(t)
	m, c := newTestManager(t, nil)
	operator := playOperator(t, m, c)
	ownedTenant(t, c, "ns-a", "owned", "1.36.3")
	install(t, m, "ns-b", "plain", "1.36.3", nil)
	c.FailNthWait(1) // the operator's upgrade never becomes ready and is rolled back

	s := m.UpgradeFleet(context.Background(), []Ref{{"ns-a", "owned"}, {"ns-b", "plain"}}, mustVersion(t, "1.37.2"),
		FleetOptions{Canary: 1, Rollout: waited})
	owned, plain := s.Results[0], s.Results[1]
	if owned.Outcome != Failed || !owned.Cluster || !strings.Contains(owned.Error, "the operator reports UpgradeFailed") ||
		!strings.Contains(owned.Error, "rolled back to Kubernetes 1.36.3") {
		t.Errorf("owned canary: %+v, want failed with the operator's reason", owned)
	}
	if plain.Outcome != Skipped {
		t.Errorf("plain after the failed canary: %+v, want skipped", plain)
	}
	if got := fmt.Sprint(operator.applied["ns-a/owned"]); got != "[1]" {
		t.Errorf("the operator's successful Applies made revisions %s, want [1] (the install)", got)
	}
	assertEqual(t, "plain's history", historyVersions(t, m, "ns-b", "plain"), []string{"1.36.3 deployed"})
}

// Without waiting, the fleet sets the Cluster's spec and reports the upgrade as requested.
func TestUpgradeFleetRequestsWithoutWaiting(t *testing.T) {
	m, c := newTestManager(t, nil)
	playOperator(t, m, c)
	ownedTenant(t, c, "ns-a", "owned", "1.36.3")
	ownedTenant(t, c, "ns-b", "current", "1.37.2")

	s := m.UpgradeFleet(context.Background(), []Ref{{"ns-a", "owned"}, {"ns-b", "current"}}, mustVersion(t, "1.37.2"), FleetOptions{})
	if s.Results[0].Outcome != Requested || s.Results[1].Outcome != AlreadyAtVersion || s.Err() != nil {
		t.Errorf("results %+v, want requested and already-at-version without an error", s.Results)
	}
	if spec := clusterSpec(t, c, "ns-a", "owned"); spec != "1.37.2" {
		t.Errorf("the owning Cluster asks for %s, want 1.37.2", spec)
	}
}
