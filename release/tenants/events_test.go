package tenants

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// summary is an entry in one line, for comparing lists.
func summary(e Event) string {
	return fmt.Sprintf("%s %s %s %s %s: %s (%d)", e.Time.UTC().Format(time.RFC3339), e.Source, e.Type, e.Reason, e.Object, e.Message, e.Count)
}

func summaries(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = summary(e)
	}
	return out
}

// kubernetesEvent is an Event in namespace ns-a about object kind/name, last seen at.
func kubernetesEvent(name, kind, object, reason string, at time.Time, count int32, resourceVersion string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "ns-a", ResourceVersion: resourceVersion, CreationTimestamp: metav1.NewTime(at)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: object, Namespace: "ns-a"},
		Type:           corev1.EventTypeNormal, Reason: reason, Message: reason + " " + object, Count: count,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at),
	}
}

func TestOfTenant(t *testing.T) {
	cluster := func(name string) corev1.ObjectReference {
		return corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind, Name: name}
	}
	object := func(kind, name string) corev1.ObjectReference {
		return corev1.ObjectReference{APIVersion: "v1", Kind: kind, Name: name}
	}
	for _, c := range []struct {
		ref  corev1.ObjectReference
		want bool
	}{
		{cluster("a"), true},
		{cluster("ab"), false},
		{cluster("a-etcd"), false}, // another tenant's Cluster, though its name has a's prefix
		{object("Pod", "a-etcd-0"), true},
		{object("Pod", "ab-etcd-0"), false},
		{object("Service", "a"), true},
		{object("PersistentVolumeClaim", "data-a-etcd-0"), true},
		{object("PersistentVolumeClaim", "data-ab-etcd-0"), false},
		{object("Job", "a-pki"), true},
		{object("Pod", "b-apiserver-x"), false},
		{object("Pod", "a-etcd-apiserver-x"), true}, // tenant a-etcd's, or a's: names cannot tell
	} {
		assert.Equal(t, c.want, ofTenant("a", c.ref), "%s %s", c.ref.Kind, c.ref.Name)
	}
}

// A tenant whose name begins another's ("tc" and "tc-certs" in one namespace) leaves the longer
// one's objects to it.
func TestEventSourcesLeaveALongerTenantsObjects(t *testing.T) {
	s := eventSources{name: "a", longer: map[string]bool{}}
	// a-b is known by its etcd StatefulSet's Events (a deleted tenant's outlive its release), a-c by
	// its Cluster's; a's own StatefulSet says nothing new.
	s.learn(corev1.ObjectReference{Kind: "StatefulSet", Name: "a-b-etcd"})
	s.learn(corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind, Name: "a-c"})
	s.learn(corev1.ObjectReference{Kind: "StatefulSet", Name: "a-etcd"})
	s.learn(corev1.ObjectReference{Kind: "StatefulSet", Name: "b-etcd"})
	assert.Equal(t, map[string]bool{"a-b": true, "a-c": true}, s.longer)
	for _, c := range []struct {
		ref  corev1.ObjectReference
		want bool
	}{
		{corev1.ObjectReference{Kind: "Pod", Name: "a-etcd-0"}, true},
		{corev1.ObjectReference{Kind: "Pod", Name: "a-b-etcd-0"}, false},
		{corev1.ObjectReference{Kind: "PersistentVolumeClaim", Name: "data-a-b-etcd-0"}, false},
		{corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind, Name: "a-b"}, false},
		{corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind, Name: "a"}, true},
		{corev1.ObjectReference{Kind: "Job", Name: "a-c-pki"}, false},
		{corev1.ObjectReference{Kind: "StatefulSet", Name: "a-etcd"}, true},
	} {
		assert.Equal(t, c.want, s.owns(c.ref), "%s %s", c.ref.Kind, c.ref.Name)
	}
}

func TestKubeEventTakesTheLatestTimeAndCount(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old := kubernetesEvent("x.1", "Pod", "a-etcd-0", "BackOff", at, 5, "1")
	old.LastTimestamp = metav1.NewTime(at.Add(time.Minute))
	old.Type = corev1.EventTypeWarning
	assert.Equal(t, "2026-12-01T12:01:00Z event Warning BackOff pod/a-etcd-0: BackOff a-etcd-0 (5)", summary(kubeEvent(old)))

	// An events.k8s.io client (the scheduler) sets eventTime and a series, no timestamps nor count.
	series := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x.2", CreationTimestamp: metav1.NewTime(at)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "a-apiserver-x"}, Reason: "FailedScheduling", Message: "0/3 nodes are available",
		EventTime: metav1.NewMicroTime(at.Add(time.Second)),
		Series:    &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(at.Add(10 * time.Minute))}}
	assert.Equal(t, "2026-12-01T12:10:00Z event Normal FailedScheduling pod/a-apiserver-x: 0/3 nodes are available (7)", summary(kubeEvent(series)))

	series.Series = nil
	assert.Equal(t, "2026-12-01T12:00:01Z event Normal FailedScheduling pod/a-apiserver-x: 0/3 nodes are available (1)", summary(kubeEvent(series)))
}

func TestRevisionEventsTellOperationsAndHookRuns(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) helmtime.Time { return helmtime.Time{Time: start.Add(time.Duration(s) * time.Second)} }
	ch := &chart.Chart{Metadata: &chart.Metadata{Name: ChartName, Version: "0.1.0"}, Values: map[string]any{"kubernetesVersion": "1.34.4"}}
	pki := &release.Hook{Name: "a-pki", Kind: "Job", Events: []release.HookEvent{release.HookPreInstall},
		LastRun: release.HookExecution{StartedAt: at(1), CompletedAt: at(4), Phase: release.HookPhaseSucceeded}}
	rels := []*release.Release{
		// Out of order, as Helm's storage may list them.
		{Name: "a", Version: 3, Chart: ch, Info: &release.Info{Status: release.StatusDeployed, LastDeployed: at(120), Description: "Rollback to 1"},
			Hooks: []*release.Hook{
				pki, // copied from revision 1, run and all
				{Name: "a-ready", Kind: "Job", Events: []release.HookEvent{release.HookPostRollback},
					LastRun: release.HookExecution{StartedAt: at(125), Phase: release.HookPhaseRunning}},
			}},
		{Name: "a", Version: 1, Chart: ch, Info: &release.Info{Status: release.StatusSuperseded, LastDeployed: at(0), Description: "Install complete"},
			Hooks: []*release.Hook{
				pki,
				{Name: "a-pki", Kind: "Role", LastRun: release.HookExecution{StartedAt: at(1), CompletedAt: at(1), Phase: release.HookPhaseSucceeded}},
				{Name: "a-ready", Kind: "Job", Events: []release.HookEvent{release.HookPostInstall}}, // did not run
			}},
		{Name: "a", Version: 2, Chart: ch, Config: map[string]any{"kubernetesVersion": "1.35.4", "hibernated": true},
			Info: &release.Info{Status: release.StatusFailed, LastDeployed: at(60), Description: `Upgrade "a" failed: timed out`},
			Hooks: []*release.Hook{{Name: "a-pre-upgrade", Kind: "Job", Events: []release.HookEvent{release.HookPreUpgrade},
				LastRun: release.HookExecution{StartedAt: at(61), CompletedAt: at(91), Phase: release.HookPhaseFailed}}}},
	}
	assert.Equal(t, []string{
		"2026-12-01T12:00:00Z helm Normal Install release/a: revision 1 superseded (chart tenant-master-0.1.0, Kubernetes 1.34.4): Install complete (1)",
		"2026-12-01T12:00:04Z hook Normal HookSucceeded job/a-pki: pre-install hook of revision 1: succeeded after 3s (1)",
		`2026-12-01T12:01:00Z helm Warning Upgrade release/a: revision 2 failed (chart tenant-master-0.1.0, Kubernetes 1.35.4, hibernated): Upgrade "a" failed: timed out (1)`,
		"2026-12-01T12:01:31Z hook Warning HookFailed job/a-pre-upgrade: pre-upgrade hook of revision 2: failed after 30s (1)",
		"2026-12-01T12:02:00Z helm Normal Rollback release/a: revision 3 deployed (chart tenant-master-0.1.0, Kubernetes 1.34.4): Rollback to 1 (1)",
		"2026-12-01T12:02:05Z hook Normal HookRunning job/a-ready: post-rollback hook of revision 3: running (1)",
	}, summaries(merge(time.Time{}, revisionEvents(rels))))

	for _, c := range []struct {
		status      release.Status
		version     int
		description string
		want        string
	}{
		{release.StatusPendingInstall, 1, "Initial install underway", "Install"},
		{release.StatusFailed, 1, `Release "a" failed: hook failed`, "Install"},
		{release.StatusPendingUpgrade, 2, "Preparing upgrade", "Upgrade"},
		{release.StatusPendingRollback, 4, "Rollback to 2", "Rollback"},
		{release.StatusFailed, 4, `Rollback "a" failed: timed out`, "Rollback"},
		{release.StatusUninstalled, 4, "Uninstallation complete", "Uninstall"},
	} {
		rel := &release.Release{Version: c.version, Info: &release.Info{Status: c.status, Description: c.description}}
		assert.Equal(t, c.want, revisionReason(rel), "%s revision %d, %q", c.status, c.version, c.description)
	}
	gone := revisionEvent(&release.Release{Name: "a", Version: 1, Chart: ch,
		Info: &release.Info{Status: release.StatusUninstalled, LastDeployed: at(0), Deleted: at(300), Description: "Uninstallation complete"}})
	assert.Equal(t, "2026-12-01T12:05:00Z helm Normal Uninstall release/a: revision 1 uninstalled (chart tenant-master-0.1.0, Kubernetes 1.34.4): Uninstallation complete (1)",
		summary(gone), "at its uninstallation")
}

func TestMergeOrdersAcrossSourcesAndLeavesOutOlderEntries(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e := func(s int, source, reason string) Event {
		return Event{Time: at.Add(time.Duration(s) * time.Second), Source: source, Type: "Normal", Reason: reason, Object: "x/a", Count: 1,
			key: fmt.Sprint(s, source, reason)}
	}
	kube := []Event{e(30, SourceEvent, "Pulled"), e(-7200, SourceEvent, "Old"), e(10, SourceEvent, "Scheduled")}
	helm := []Event{e(10, SourceHook, "HookSucceeded"), e(10, SourceHelm, "Install"), e(40, SourceHook, "HookSucceeded"), e(30, SourceHook, "HookSucceeded")}
	got := merge(at.Add(-time.Hour), kube, helm)
	var order []string
	for _, g := range got {
		order = append(order, fmt.Sprint(g.Time.Sub(at).Seconds(), " ", g.Source, " ", g.Reason))
	}
	assert.Equal(t, []string{"10 helm Install", "10 hook HookSucceeded", "10 event Scheduled", "30 hook HookSucceeded", "30 event Pulled", "40 hook HookSucceeded"}, order,
		"by time, then helm, hook, event; the Event of two hours ago left out")
	assert.Len(t, merge(time.Time{}, kube, kube), len(kube), "one entry per key")
}

func TestEventsOfAnInstalledTenant(t *testing.T) {
	m, c := newTestManager(t, nil)
	_, err := m.Events(context.Background(), "ns-a", "tenant-a", time.Time{})
	require.ErrorContains(t, err, "events of tenant-a in namespace ns-a: release: not found")

	install(t, m, "ns-a", "tenant-a", "1.34.4", nil)
	installed := time.Now().Truncate(time.Second)
	client, _ := c.Clientset()
	cluster := kubernetesEvent("tenant-a.3", v1alpha1.Kind, "tenant-a", "Ready", installed.Add(time.Minute), 1, "")
	cluster.InvolvedObject.APIVersion = v1alpha1.GroupVersion.String()
	for _, e := range []*corev1.Event{
		kubernetesEvent("data-tenant-a-etcd-0.1", "PersistentVolumeClaim", "data-tenant-a-etcd-0", "ProvisioningSucceeded", installed.Add(-30*time.Minute), 1, ""),
		kubernetesEvent("tenant-a-etcd-0.2", "Pod", "tenant-a-etcd-0", "Started", installed.Add(-2*time.Hour), 1, ""),
		kubernetesEvent("tenant-ab-etcd-0.1", "Pod", "tenant-ab-etcd-0", "Started", installed.Add(-time.Minute), 1, ""),
		cluster,
	} {
		_, err := client.CoreV1().Events("ns-a").Create(context.Background(), e, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	events, err := m.Events(context.Background(), "ns-a", "tenant-a", installed.Add(-time.Hour))
	require.NoError(t, err)
	var got []string
	for _, e := range events {
		got = append(got, e.Source+" "+e.Reason+" "+e.Object)
	}
	assert.Equal(t, []string{
		"event ProvisioningSucceeded persistentvolumeclaim/data-tenant-a-etcd-0",
		"helm Install release/tenant-a",
		"hook HookSucceeded job/tenant-a-pki",
		"hook HookSucceeded job/tenant-a-ready",
		"event Ready cluster/tenant-a",
	}, got, "tenant-ab's Event and the one older than an hour left out")
}

// watchEvents runs WatchEvents of tenant-a in ns-a until the returned cancel, which returns its error.
func watchEvents(t *testing.T, m *Manager, emit func(Event) error) (entries <-chan Event, cancel func() error) {
	t.Helper()
	was := eventsPollEvery
	eventsPollEvery = time.Millisecond
	t.Cleanup(func() { eventsPollEvery = was })
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop) // when the test fails before cancel
	out := make(chan Event, 100)
	if emit == nil {
		emit = func(e Event) error { out <- e; return nil }
	}
	done := make(chan error, 1)
	go func() { done <- m.WatchEvents(ctx, "ns-a", "tenant-a", time.Time{}, emit) }()
	return out, func() error {
		stop()
		return <-done
	}
}

func next(t *testing.T, entries <-chan Event) Event {
	t.Helper()
	select {
	case e := <-entries:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no entry within 10s")
		return Event{}
	}
}

// until returns the entries up to and including the first that ok accepts.
func until(t *testing.T, entries <-chan Event, ok func(Event) bool) []Event {
	t.Helper()
	var seen []Event
	for {
		e := next(t, entries)
		seen = append(seen, e)
		if ok(e) {
			return seen
		}
	}
}

func createEvent(t *testing.T, client kubernetes.Interface, e *corev1.Event) {
	t.Helper()
	_, err := client.CoreV1().Events("ns-a").Create(context.Background(), e, metav1.CreateOptions{})
	require.NoError(t, err)
}

func TestWatchEventsFollowsEventsAndRevisions(t *testing.T) {
	m, c := newTestManager(t, nil)
	install(t, m, "ns-a", "tenant-a", "1.34.4", nil)
	client, _ := c.Clientset()
	now := time.Now().Truncate(time.Second)
	createEvent(t, client, kubernetesEvent("tenant-a-etcd-0.1", "Pod", "tenant-a-etcd-0", "Started", now, 1, "10"))
	existing, err := m.Events(context.Background(), "ns-a", "tenant-a", time.Time{})
	require.NoError(t, err)

	entries, cancel := watchEvents(t, m, nil)
	for _, want := range existing {
		assert.Equal(t, summary(want), summary(next(t, entries)), "the existing entries first, oldest first")
	}

	backOff := kubernetesEvent("tenant-a-apiserver-x.1", "Pod", "tenant-a-apiserver-x", "BackOff", now.Add(time.Second), 1, "11")
	backOff.Type = corev1.EventTypeWarning
	createEvent(t, client, backOff)
	assert.Equal(t, summary(kubeEvent(backOff)), summary(next(t, entries)), "a new Event")

	createEvent(t, client, kubernetesEvent("tenant-ab-apiserver-x.1", "Pod", "tenant-ab-apiserver-x", "BackOff", now, 1, "12"))
	backOff = backOff.DeepCopy()
	backOff.Count, backOff.LastTimestamp, backOff.ResourceVersion = 2, metav1.NewTime(now.Add(time.Minute)), "13"
	_, err = client.CoreV1().Events("ns-a").Update(context.Background(), backOff, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, summary(kubeEvent(backOff)), summary(next(t, entries)), "the Event again as it recurs, and not tenant-ab's")

	// A new revision, and the same revision as Helm ends its operation. New objects, not changed
	// ones: Helm's memory driver hands out what it stores.
	cfg, _ := c.ActionConfig("ns-a")
	last, err := cfg.Releases.Last("tenant-a")
	require.NoError(t, err)
	revision2 := func(status release.Status, description string, run release.HookExecution) *release.Release {
		return &release.Release{Name: "tenant-a", Namespace: "ns-a", Version: 2, Chart: last.Chart, Config: last.Config,
			Info:  &release.Info{Status: status, LastDeployed: helmtime.Time{Time: now.Add(2 * time.Minute)}, Description: description},
			Hooks: []*release.Hook{{Name: "tenant-a-pre-upgrade", Kind: "Job", Events: []release.HookEvent{release.HookPreUpgrade}, LastRun: run}}}
	}
	started := helmtime.Time{Time: now.Add(2*time.Minute + time.Second)}
	require.NoError(t, cfg.Releases.Create(revision2(release.StatusPendingUpgrade, "Preparing upgrade",
		release.HookExecution{StartedAt: started, Phase: release.HookPhaseRunning})))
	got := until(t, entries, func(e Event) bool { return e.Reason == "HookRunning" })
	assert.Equal(t, []string{
		"helm Normal Upgrade: revision 2 pending-upgrade (chart tenant-master-0.1.0, Kubernetes 1.34.4): Preparing upgrade",
		"hook Normal HookRunning: pre-upgrade hook of revision 2: running",
	}, sourceTypeReasonMessage(got))

	require.NoError(t, cfg.Releases.Update(revision2(release.StatusFailed, `Upgrade "tenant-a" failed: timed out`,
		release.HookExecution{StartedAt: started, CompletedAt: helmtime.Time{Time: started.Time.Add(time.Minute)}, Phase: release.HookPhaseFailed})))
	got = until(t, entries, func(e Event) bool { return e.Reason == "HookFailed" })
	assert.Equal(t, []string{
		`helm Warning Upgrade: revision 2 failed (chart tenant-master-0.1.0, Kubernetes 1.34.4): Upgrade "tenant-a" failed: timed out`,
		"hook Warning HookFailed: pre-upgrade hook of revision 2: failed after 1m0s",
	}, sourceTypeReasonMessage(got))

	assert.NoError(t, cancel(), "the end of ctx ends the watch")
}

func sourceTypeReasonMessage(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Source + " " + e.Type + " " + e.Reason + ": " + e.Message
	}
	return out
}

func TestWatchEventsListsAgainWhenItsVersionExpired(t *testing.T) {
	m, c := newTestManager(t, nil)
	install(t, m, "ns-a", "tenant-a", "1.34.4", nil)
	existing, err := m.Events(context.Background(), "ns-a", "tenant-a", time.Time{})
	require.NoError(t, err)
	cs, _ := c.Clientset()
	client := cs.(*k8sfake.Clientset)
	// The first watch is the test's; the next ones the fake's own.
	first := make(chan *watch.FakeWatcher, 1)
	var watches atomic.Int32
	client.PrependWatchReactor("events", func(k8stesting.Action) (bool, watch.Interface, error) {
		if watches.Add(1) > 1 {
			return false, nil, nil
		}
		w := watch.NewFake()
		first <- w
		return true, w, nil
	})

	entries, cancel := watchEvents(t, m, nil)
	for range existing {
		next(t, entries)
	}
	w := <-first
	now := time.Now().Truncate(time.Second)
	missed := kubernetesEvent("tenant-a-etcd-0.1", "Pod", "tenant-a-etcd-0", "Started", now, 1, "20")
	createEvent(t, client, missed)
	w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
	assert.Equal(t, summary(kubeEvent(missed)), summary(next(t, entries)), "the Event the expired watch missed, from a new list")

	later := kubernetesEvent("tenant-a-etcd-0.2", "Pod", "tenant-a-etcd-0", "Killing", now, 1, "21")
	createEvent(t, client, later)
	assert.Equal(t, summary(kubeEvent(later)), summary(next(t, entries)), "the next watch's Event, and the missed one only once")
	assert.NoError(t, cancel())
}

func TestWatchEventsErrors(t *testing.T) {
	m, _ := newTestManager(t, nil)
	ignore := func(Event) error { return nil }
	err := m.WatchEvents(context.Background(), "ns-a", "tenant-a", time.Time{}, ignore)
	assert.ErrorContains(t, err, "events of tenant-a in namespace ns-a: release: not found")

	install(t, m, "ns-a", "tenant-a", "1.34.4", nil)
	err = m.WatchEvents(context.Background(), "ns-a", "tenant-a", time.Time{}, func(Event) error { return errors.New("stdout closed") })
	assert.ErrorContains(t, err, "events of tenant-a in namespace ns-a: stdout closed", "emit's error ends the watch")
}
