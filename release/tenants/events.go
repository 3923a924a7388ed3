package tenants

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// Event is one entry of a tenant master's event center: a Kubernetes Event of one of its objects
// or of its Cluster, the outcome of a hook Job, or a Helm revision. The JSON names are the CLI's
// `-o json` contract.
type Event struct {
	Time time.Time `json:"time"`
	// Source is SourceEvent, SourceHook or SourceHelm.
	Source string `json:"source"`
	// Type is Normal or Warning, as a Kubernetes Event's: a failed hook or revision is a Warning.
	Type string `json:"type"`
	// Reason is a Kubernetes Event's; HookSucceeded, HookFailed, HookRunning for a hook; Install,
	// Upgrade, Rollback or Uninstall for a revision.
	Reason string `json:"reason"`
	// Object is "kind/name", the kind in lower case: "pod/tenant-a-etcd-0", "job/tenant-a-pki",
	// "release/tenant-a".
	Object  string `json:"object"`
	Message string `json:"message"`
	// Count is how often a Kubernetes Event happened; 1 for a hook run or a revision.
	Count int32 `json:"count"`

	// key tells entries apart: one whose key was emitted is no news to a watch.
	key string
}

// Sources of an Event, in the order entries of one instant are listed.
const (
	SourceHelm  = "helm"
	SourceHook  = "hook"
	SourceEvent = "event"
)

// eventsPollEvery is how often WatchEvents reads Helm's history; tests shorten it.
var eventsPollEvery = 3 * time.Second

// Events returns the entries of tenant master name since since (the zero time: all of them), oldest
// first: the Kubernetes Events of its objects and of its Cluster that the meta cluster still keeps,
// and each stored revision and hook run.
func (m *Manager) Events(ctx context.Context, namespace, name string, since time.Time) ([]Event, error) {
	s, err := m.eventSources(ctx, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("events of %s in namespace %s: %w", name, namespace, err)
	}
	kube, _, err := s.kubeEvents(ctx)
	if err != nil {
		return nil, fmt.Errorf("events of %s in namespace %s: %w", name, namespace, err)
	}
	helm, err := s.helmEvents()
	if err != nil {
		return nil, fmt.Errorf("events of %s in namespace %s: %w", name, namespace, err)
	}
	return merge(since, kube, helm), nil
}

// WatchEvents calls emit with the entries Events returns, then with each new one until ctx ends:
// a Kubernetes Event of the tenant as it is added, and again with its new count and time each time
// it recurs; a new revision, or a hook run, or a revision or run that changed, from Helm's history
// every few seconds. It returns nil when ctx ends, or the first error, emit's included.
func (m *Manager) WatchEvents(ctx context.Context, namespace, name string, since time.Time, emit func(Event) error) error {
	s, err := m.eventSources(ctx, namespace, name)
	if err == nil {
		err = s.watch(ctx, since, emit)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("events of %s in namespace %s: %w", name, namespace, err)
	}
	return nil
}

// eventSources reads one tenant master's entries.
type eventSources struct {
	m               *Manager
	client          kubernetes.Interface
	helm            *action.Configuration
	namespace, name string
	// longer are the namespace's other tenant masters, live or deleted, whose names begin with
	// name and a dash: their objects' names begin with name's prefix too.
	longer map[string]bool
}

func (m *Manager) eventSources(ctx context.Context, namespace, name string) (*eventSources, error) {
	if _, err := m.latest(namespace, name); err != nil {
		return nil, err
	}
	cfg, err := m.releaseConfig(namespace)
	if err != nil {
		return nil, err
	}
	client, err := m.cluster.Clientset()
	if err != nil {
		return nil, err
	}
	s := &eventSources{m: m, client: client, helm: cfg, namespace: namespace, name: name, longer: map[string]bool{}}
	return s, s.learnReleases(ctx)
}

// learnReleases adds the namespace's tenant masters whose names are longer to s.longer.
func (s *eventSources) learnReleases(ctx context.Context) error {
	others, err := s.m.List(ctx, s.namespace)
	if err != nil {
		return err
	}
	for _, o := range others {
		if strings.HasPrefix(o.Name, s.name+"-") {
			s.longer[o.Name] = true
		}
	}
	return nil
}

// learn adds the tenant master an Event tells of to s.longer when its name is longer: the
// Events of a deleted one outlive its release (an hour, by default), and each tenant master had
// an etcd StatefulSet, and perhaps a Cluster.
func (s *eventSources) learn(ref corev1.ObjectReference) {
	tenant := ""
	switch {
	case isCluster(ref):
		tenant = ref.Name
	case ref.Kind == "StatefulSet":
		tenant, _ = strings.CutSuffix(ref.Name, "-etcd")
	}
	if strings.HasPrefix(tenant, s.name+"-") {
		s.longer[tenant] = true
	}
}

// owns says whether ref is an object of the tenant master and not of one whose name is longer.
// (A tenant named "a-etcd" would take tenant a's StatefulSet "a-etcd" too.)
func (s *eventSources) owns(ref corev1.ObjectReference) bool {
	if !ofTenant(s.name, ref) {
		return false
	}
	for other := range s.longer {
		if ofTenant(other, ref) {
			return false
		}
	}
	return true
}

// kubeEvents lists the tenant's Kubernetes Events, and the list's resourceVersion to watch from.
func (s *eventSources) kubeEvents(ctx context.Context) ([]Event, string, error) {
	list, err := s.client.CoreV1().Events(s.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("list Events: %w", err)
	}
	for _, e := range list.Items {
		s.learn(e.InvolvedObject)
	}
	var out []Event
	for i := range list.Items {
		if s.owns(list.Items[i].InvolvedObject) {
			out = append(out, kubeEvent(&list.Items[i]))
		}
	}
	return out, list.ResourceVersion, nil
}

// helmEvents reads Helm's history: Helm 3's history action takes no context.
func (s *eventSources) helmEvents() ([]Event, error) {
	rels, err := action.NewHistory(s.helm).Run(s.name)
	if err != nil {
		return nil, fmt.Errorf("Helm history: %w", err)
	}
	return revisionEvents(rels), nil
}

func (s *eventSources) watch(ctx context.Context, since time.Time, emit func(Event) error) error {
	emitted := map[string]bool{}
	send := func(entries ...[]Event) error {
		for _, e := range merge(since, entries...) {
			if emitted[e.key] {
				continue
			}
			emitted[e.key] = true
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	poll := time.NewTicker(eventsPollEvery)
	defer poll.Stop()
	for {
		kube, version, err := s.kubeEvents(ctx)
		if err != nil {
			return err
		}
		helm, err := s.helmEvents()
		if err != nil {
			return err
		}
		if err := send(kube, helm); err != nil {
			return err
		}
		// Listing again after the version expired sends only what the old watch missed.
		if expired, err := s.follow(ctx, version, poll.C, send); err != nil || !expired {
			return err
		}
	}
}

// follow sends the tenant's Kubernetes Events from a watch that starts at version, and Helm's
// entries at every tick, until ctx ends or the apiserver no longer has version (expired: true).
// The RetryWatcher starts the watch again from the last version it saw when it closes.
func (s *eventSources) follow(ctx context.Context, version string, tick <-chan time.Time, send func(...[]Event) error) (expired bool, err error) {
	events := s.client.CoreV1().Events(s.namespace)
	w, err := watchtools.NewRetryWatcherWithContext(ctx, version, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return events.Watch(ctx, opts)
		},
	})
	if err != nil {
		return false, fmt.Errorf("watch Events: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-tick:
			if err := s.learnReleases(ctx); err != nil {
				return false, err
			}
			helm, err := s.helmEvents()
			if err != nil {
				return false, err
			}
			if err := send(helm); err != nil {
				return false, err
			}
		case ev, ok := <-w.ResultChan():
			if !ok { // after an Error event, or when ctx ends
				return false, errors.New("the watch of Events ended")
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				e, isEvent := ev.Object.(*corev1.Event)
				if !isEvent {
					continue
				}
				if s.learn(e.InvolvedObject); !s.owns(e.InvolvedObject) {
					continue
				}
				if err := send([]Event{kubeEvent(e)}); err != nil {
					return false, err
				}
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					return true, nil
				}
				return false, fmt.Errorf("watch Events: %w", err)
			}
		}
	}
}

// etcdClaimTemplate is the etcd StatefulSet's volumeClaimTemplate (the chart's etcd.yaml): its
// claims are "data-<release>-etcd-<ordinal>".
const etcdClaimTemplate = "data"

// ofTenant says whether ref is an object of tenant master release: its taowa.io Cluster, or an
// object the chart names "<release>-<part>" (and the Pods, ReplicaSets, claims named after
// those). Names alone do not tell tenant "a" from a tenant "a-b": eventSources.owns leaves out
// what the longer name fits.
func ofTenant(release string, ref corev1.ObjectReference) bool {
	if isCluster(ref) {
		return ref.Name == release
	}
	return ref.Name == release || strings.HasPrefix(ref.Name, release+"-") ||
		strings.HasPrefix(ref.Name, etcdClaimTemplate+"-"+objectName(release, "etcd")+"-")
}

// isCluster: ref is a taowa.io Cluster.
func isCluster(ref corev1.ObjectReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == v1alpha1.GroupVersion.Group && ref.Kind == v1alpha1.Kind
}

// kubeEvent is a Kubernetes Event as an entry, at the latest time it tells: events.k8s.io
// clients set eventTime and series, the older ones first and last timestamps.
func kubeEvent(e *corev1.Event) Event {
	times := []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time}
	count := e.Count
	if e.Series != nil {
		times = append(times, e.Series.LastObservedTime.Time)
		count = max(count, e.Series.Count)
	}
	at := slices.MaxFunc(times, time.Time.Compare)
	count = max(count, 1)
	return Event{
		Time:    at,
		Source:  SourceEvent,
		Type:    cmp.Or(e.Type, corev1.EventTypeNormal),
		Reason:  e.Reason,
		Object:  strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name,
		Message: e.Message,
		Count:   count,
		key:     fmt.Sprintf("event/%s/%d/%s", e.Name, count, at.Format(time.RFC3339Nano)),
	}
}

// revisionEvents are the entries of rels, a release's history: one per revision, and one per run
// of a hook Job. A rollback's revision copies the hooks of the revision it returns to, runs and
// all: a run that started before a revision was deployed is an older revision's.
func revisionEvents(rels []*release.Release) []Event {
	// Newest first, so that merge keeps a rollback's run: Helm's memory driver stores the hooks a
	// rollback copies once, and so shows its runs in the older revision too.
	rels = slices.SortedFunc(slices.Values(rels), func(a, b *release.Release) int { return b.Version - a.Version })
	var out []Event
	for _, rel := range rels {
		out = append(out, revisionEvent(rel))
		for _, h := range rel.Hooks {
			if h.Kind == "Job" && !h.LastRun.StartedAt.IsZero() && !h.LastRun.StartedAt.Time.Before(rel.Info.LastDeployed.Time) {
				out = append(out, hookEvent(rel.Version, h))
			}
		}
	}
	return out
}

// revisionEvent is a revision as an entry, at its deployment, or its uninstallation once uninstalled.
func revisionEvent(rel *release.Release) Event {
	info := infoOf(rel, false)
	details := []string{"chart " + info.Chart}
	if info.KubernetesVersion != "" {
		details = append(details, "Kubernetes "+info.KubernetesVersion)
	}
	if info.Hibernated {
		details = append(details, "hibernated")
	}
	at := firstSet(rel.Info.LastDeployed.Time, rel.Info.FirstDeployed.Time)
	reason := revisionReason(rel)
	if reason == "Uninstall" {
		at = firstSet(rel.Info.Deleted.Time, at)
	}
	typ := corev1.EventTypeNormal
	if rel.Info.Status == release.StatusFailed {
		typ = corev1.EventTypeWarning
	}
	return Event{
		Time:    at,
		Source:  SourceHelm,
		Type:    typ,
		Reason:  reason,
		Object:  "release/" + rel.Name,
		Message: fmt.Sprintf("revision %d %s (%s): %s", rel.Version, info.Status, strings.Join(details, ", "), rel.Info.Description),
		Count:   1,
		// Helm rewrites the description as the revision's operation ends; superseding it later does not.
		key: fmt.Sprintf("helm/%d/%s", rel.Version, rel.Info.Description),
	}
}

// revisionReason names the operation that made rel: from its status while Helm works on it, from
// its revision and Helm's description after ("Rollback to 2", "Upgrade complete", ...).
func revisionReason(rel *release.Release) string {
	switch rel.Info.Status {
	case release.StatusPendingInstall:
		return "Install"
	case release.StatusPendingUpgrade:
		return "Upgrade"
	case release.StatusPendingRollback:
		return "Rollback"
	case release.StatusUninstalling, release.StatusUninstalled:
		return "Uninstall"
	}
	switch {
	case strings.HasPrefix(rel.Info.Description, "Rollback"):
		return "Rollback"
	case rel.Version == 1:
		return "Install"
	}
	return "Upgrade"
}

// hookEvent is a run of hook Job h in revision as an entry, at its end, or its start while it runs.
func hookEvent(revision int, h *release.Hook) Event {
	run := h.LastRun
	e := Event{
		Time:   run.StartedAt.Time,
		Source: SourceHook,
		Type:   corev1.EventTypeNormal,
		Reason: "Hook" + string(run.Phase),
		Object: "job/" + h.Name,
		Count:  1,
		key:    fmt.Sprintf("hook/%s/%s/%s", h.Name, run.StartedAt.Format(time.RFC3339Nano), run.Phase),
	}
	if run.Phase != release.HookPhaseSucceeded && run.Phase != release.HookPhaseRunning {
		e.Type = corev1.EventTypeWarning // Failed, or Unknown: Helm lost track of it
	}
	e.Message = fmt.Sprintf("%s hook of revision %d: %s", eventsOf(h), revision, strings.ToLower(string(run.Phase)))
	if !run.CompletedAt.IsZero() {
		e.Time = run.CompletedAt.Time
		e.Message += " after " + run.CompletedAt.Time.Sub(run.StartedAt.Time).Round(100*time.Millisecond).String()
	}
	return e
}

// merge sorts the entries of lists by time, leaving out those before since and all but the first
// of one key.
func merge(since time.Time, lists ...[]Event) []Event {
	seen := map[string]bool{}
	var out []Event
	for _, e := range slices.Concat(lists...) {
		if e.Time.Before(since) || seen[e.key] {
			continue
		}
		seen[e.key] = true
		out = append(out, e)
	}
	order := []string{SourceHelm, SourceHook, SourceEvent}
	slices.SortStableFunc(out, func(a, b Event) int {
		return cmp.Or(a.Time.Compare(b.Time), slices.Index(order, a.Source)-slices.Index(order, b.Source),
			strings.Compare(a.Object, b.Object), strings.Compare(a.Reason, b.Reason), strings.Compare(a.Message, b.Message))
	})
	return out
}

// firstSet returns the first of times that is not zero, or zero.
func firstSet(times ...time.Time) time.Time {
	for _, t := range times {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
