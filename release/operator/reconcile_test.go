package operator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// harness is a Reconciler on Helm's real actions over in-memory release storage, with fake
// meta-cluster clients: what it asserts is the operator's logic, not a rollout.
type harness struct {
	t       *testing.T
	r       *Reconciler
	helm    *tenantstest.Cluster
	faults  *faultyCluster // the Reconciler's view of helm
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	events  *record.FakeRecorder
	cluster *v1alpha1.Cluster
}

func newHarness(t *testing.T, spec v1alpha1.ClusterSpec) *harness {
	t.Helper()
	helm := tenantstest.NewCluster()
	faults := &faultyCluster{Cluster: helm}
	manager, err := tenants.New(tenants.Config{Cluster: faults, ChartPath: tenantstest.ChartPath()})
	if err != nil {
		t.Fatal(err)
	}
	kube, _ := helm.Clientset()
	cluster := &v1alpha1.Cluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: "tc", Namespace: "tenants", Generation: 1},
		Spec:       spec,
	}
	u, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(cluster)
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(k8sruntime.NewScheme(),
		map[schema.GroupVersionResource]string{v1alpha1.Resource: "ClusterList"}, &unstructured.Unstructured{Object: u})
	events := record.NewFakeRecorder(100)
	return &harness{
		t: t, helm: helm, faults: faults, kube: kube, dyn: dyn, events: events, cluster: cluster,
		r: &Reconciler{
			Tenants: manager, Kube: kube, Clusters: dyn.Resource(v1alpha1.Resource), Events: events,
			Rollout: tenants.Rollout{Wait: true, Atomic: true, Timeout: time.Minute},
		},
	}
}

// reconcile runs one reconcile of the Cluster as stored, and returns it as stored after.
func (h *harness) reconcile() Result {
	h.t.Helper()
	res, err := h.r.Reconcile(context.Background(), h.stored())
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *harness) stored() *v1alpha1.Cluster {
	h.t.Helper()
	u, err := h.r.Clusters.Namespace("tenants").Get(context.Background(), "tc", metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := fromUnstructured(u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// update changes the stored Cluster as a user would: a new generation.
func (h *harness) update(change func(*v1alpha1.Cluster)) {
	h.t.Helper()
	c := h.stored()
	change(c)
	c.Generation++
	u, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(c)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.r.Clusters.Namespace("tenants").Update(context.Background(), &unstructured.Unstructured{Object: u}, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) condition(kind string) metav1.Condition {
	h.t.Helper()
	c := h.stored()
	cond := meta.FindStatusCondition(c.Status.Conditions, kind)
	if cond == nil {
		h.t.Fatalf("no %s condition in %+v", kind, c.Status)
	}
	return *cond
}

func TestReconcileInstallsThenWalksOneMinorPerReconcile(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.35.4"})
	h.reconcile()
	if got := h.stored().Finalizers; len(got) != 1 || got[0] != v1alpha1.Finalizer {
		t.Fatalf("finalizers %v after the first reconcile, want only %s", got, v1alpha1.Finalizer)
	}
	if res := h.reconcile(); res.Requeue {
		t.Errorf("install: requeue %+v", res)
	}
	st := h.stored().Status
	if st.KubernetesVersion != "1.35.4" || st.Revision != 1 || st.ObservedGeneration != 1 {
		t.Errorf("status after install %+v", st)
	}
	if p := h.condition(v1alpha1.ConditionProgressing); p.Status != metav1.ConditionFalse || p.Reason != ReasonApplied {
		t.Errorf("Progressing %+v after install", p)
	}
	// The fake meta cluster runs no apiserver: not Ready, and the status says why.
	if r := h.condition(v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || !strings.Contains(r.Message, "apiserver Deployment") {
		t.Errorf("Ready %+v without an apiserver Deployment", r)
	}

	h.update(func(c *v1alpha1.Cluster) { c.Spec.KubernetesVersion = "1.37.2" })
	if res := h.reconcile(); !res.Requeue {
		t.Error("a walk with a minor left: no requeue")
	}
	st = h.stored().Status
	if st.KubernetesVersion != "1.36.3" || st.ObservedGeneration != 1 {
		t.Errorf("status mid-walk %+v: want 1.36.3, generation 2 not yet observed", st)
	}
	if p := h.condition(v1alpha1.ConditionProgressing); p.Status != metav1.ConditionTrue || !strings.Contains(p.Message, "1 more minor") {
		t.Errorf("Progressing mid-walk %+v", p)
	}
	if res := h.reconcile(); res.Requeue {
		t.Error("the last step: requeue")
	}
	if st = h.stored().Status; st.KubernetesVersion != "1.37.2" || st.Revision != 3 || st.ObservedGeneration != 2 {
		t.Errorf("status after the walk %+v", st)
	}
}

func TestReconcileReportsAFailedStepAndDoesNotRetryIt(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.36.3"})
	h.reconcile()
	h.reconcile()
	h.update(func(c *v1alpha1.Cluster) { c.Spec.KubernetesVersion = "1.37.2" })
	h.helm.FailNthWait(1)
	h.reconcile()
	d := h.condition(v1alpha1.ConditionDegraded)
	if d.Status != metav1.ConditionTrue || d.Reason != ReasonUpgradeFailed || !strings.Contains(d.Message, "rolled back") {
		t.Errorf("Degraded %+v, want UpgradeFailed saying it was rolled back", d)
	}
	if st := h.stored().Status; st.KubernetesVersion != "1.36.3" || st.Revision != 3 || st.ObservedGeneration != 2 {
		t.Errorf("status %+v, want 1.36.3 at the rollback's revision 3, generation 2 observed", st)
	}
	h.reconcile()
	if st := h.stored().Status; st.Revision != 3 {
		t.Errorf("a reconcile of the same generation tried again: revision %d", st.Revision)
	}
	h.update(func(c *v1alpha1.Cluster) { c.Spec.Master.APIServer.Replicas = new(int32(2)) })
	h.reconcile()
	if d := h.condition(v1alpha1.ConditionDegraded); d.Status != metav1.ConditionFalse {
		t.Errorf("Degraded %+v after a new spec that succeeds", d)
	}
	if st := h.stored().Status; st.KubernetesVersion != "1.37.2" {
		t.Errorf("status %+v after the new generation", st)
	}
}

func TestReconcileRefusesWithAReason(t *testing.T) {
	for _, tc := range []struct {
		version, reason string
	}{
		{"1.37", ReasonInvalidSpec},
		{"1.38.0", ReasonRefused},
	} {
		h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: tc.version})
		h.reconcile()
		h.reconcile()
		d := h.condition(v1alpha1.ConditionDegraded)
		if d.Status != metav1.ConditionTrue || d.Reason != tc.reason || !strings.Contains(d.Message, tc.version) {
			t.Errorf("%s: Degraded %+v, want %s naming the version", tc.version, d, tc.reason)
		}
	}
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2"})
	h.reconcile()
	h.reconcile()
	h.update(func(c *v1alpha1.Cluster) { c.Spec.KubernetesVersion = "1.36.3" })
	h.reconcile()
	if d := h.condition(v1alpha1.ConditionDegraded); d.Reason != ReasonRefused || !strings.Contains(d.Message, "roll back") {
		t.Errorf("a downgrade: Degraded %+v, want Refused saying to roll back", d)
	}
	// Refused stays refused: no error for the queue to retry, and nothing tried.
	h.drainEvents()
	if res := h.reconcile(); res != (Result{}) {
		t.Errorf("a refused spec reconciled again: %+v, want nothing more", res)
	}
	if d := h.condition(v1alpha1.ConditionDegraded); d.Reason != ReasonRefused {
		t.Errorf("a refused spec reconciled again: Degraded %+v", d)
	}
	if got := h.drainEvents(); len(got) != 0 {
		t.Errorf("a refused spec reconciled again: events %q", got)
	}
	if st := h.stored().Status; st.Revision != 1 {
		t.Errorf("a refused spec reconciled again: revision %d", st.Revision)
	}

	// A flag the version does not know: the post-renderer refuses it, and so does the operator,
	// without retrying.
	h = newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2",
		Master: v1alpha1.MasterSpec{APIServer: v1alpha1.ComponentSpec{ExtraArgs: map[string]string{"no-such-flag": "1"}}}})
	h.reconcile()
	if res := h.reconcile(); res != (Result{}) {
		t.Errorf("an unknown flag reconciled: %+v, want no retry", res)
	}
	if d := h.condition(v1alpha1.ConditionDegraded); d.Reason != ReasonRefused || !strings.Contains(d.Message, "no-such-flag") {
		t.Errorf("an unknown flag: Degraded %+v, want Refused naming the flag", d)
	}
}

func TestDeleteUninstallsAndRemovesDataByPolicy(t *testing.T) {
	for _, policy := range []v1alpha1.DeletionPolicy{"", v1alpha1.DeletionPolicyRetain} {
		h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2", DeletionPolicy: policy})
		h.reconcile()
		h.reconcile()
		ctx := context.Background()
		labelled := func(labels map[string]string) metav1.ObjectMeta {
			return metav1.ObjectMeta{Namespace: "tenants", Name: labels["name"], Labels: labels}
		}
		for _, s := range []map[string]string{
			{"name": "tc-ca", "taowa.io/release": "tc"},
			{"name": "other-ca", "taowa.io/release": "other"},
		} {
			if _, err := h.kube.CoreV1().Secrets("tenants").Create(ctx, &corev1.Secret{ObjectMeta: labelled(s)}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []map[string]string{
			{"name": "data-tc-etcd-0", "app.kubernetes.io/instance": "tc", "app.kubernetes.io/component": "etcd"},
			{"name": "tc-etcd-snapshots", "app.kubernetes.io/instance": "tc", "app.kubernetes.io/component": "etcd-snapshots"},
		} {
			if _, err := h.kube.CoreV1().PersistentVolumeClaims("tenants").Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: labelled(p)}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		c := h.stored()
		now := metav1.Now()
		c.DeletionTimestamp = &now
		if _, err := h.r.Reconcile(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got := h.stored().Finalizers; len(got) != 0 {
			t.Errorf("%q: finalizers %v after deletion", policy, got)
		}
		if _, err := h.r.Tenants.Status(ctx, "tenants", "tc"); err == nil {
			t.Errorf("%q: the release is still installed", policy)
		}
		secrets, _ := h.kube.CoreV1().Secrets("tenants").List(ctx, metav1.ListOptions{})
		claims, _ := h.kube.CoreV1().PersistentVolumeClaims("tenants").List(ctx, metav1.ListOptions{})
		want := map[v1alpha1.DeletionPolicy][2]int{"": {1, 1}, v1alpha1.DeletionPolicyRetain: {2, 2}}[policy]
		if len(secrets.Items) != want[0] || len(claims.Items) != want[1] {
			t.Errorf("%q: %d Secrets and %d claims left, want %v", policy, len(secrets.Items), len(claims.Items), want)
		}
		for _, claim := range claims.Items {
			if policy == "" && claim.Name != "tc-etcd-snapshots" {
				t.Errorf("Delete kept %s, want only the snapshot volume", claim.Name)
			}
		}
	}
}

// faultyCluster is the in-memory meta cluster with the faults of a real one: an apiserver that
// cannot be reached for a while, and rollouts that last until a test lets them end.
type faultyCluster struct {
	*tenantstest.Cluster
	mu          sync.Mutex
	unreachable int   // ActionConfig calls left to fail
	gate        *gate // when set, each wait for a rollout waits for it
}

func (c *faultyCluster) failNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unreachable = n
}

func (c *faultyCluster) setGate(g *gate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = g
}

// ActionConfig implements tenants.Cluster.
func (c *faultyCluster) ActionConfig(namespace string) (*action.Configuration, error) {
	c.mu.Lock()
	failing, g := c.unreachable > 0, c.gate
	if failing {
		c.unreachable--
	}
	c.mu.Unlock()
	if failing {
		return nil, fmt.Errorf("helm configuration for namespace %q: Kubernetes cluster unreachable: dial tcp 10.96.0.1:443: connect: connection refused", namespace)
	}
	cfg, err := c.Cluster.ActionConfig(namespace)
	if err != nil || g == nil {
		return cfg, err
	}
	cfg.KubeClient = &gatedKube{Interface: cfg.KubeClient, gate: g}
	return cfg, nil
}

// gate holds each wait for a rollout until it is opened, as a rollout of minutes would; entered
// receives a value per wait that arrives.
type gate struct {
	entered chan struct{}
	opened  chan struct{}
	once    sync.Once
	err     error
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 16), opened: make(chan struct{})}
}

// open ends every wait, now and later, with err.
func (g *gate) open(err error) {
	g.once.Do(func() {
		g.err = err
		close(g.opened)
	})
}

func (g *gate) isOpen() bool {
	select {
	case <-g.opened:
		return true
	default:
		return false
	}
}

func (g *gate) wait() error {
	g.entered <- struct{}{}
	<-g.opened
	return g.err
}

type gatedKube struct {
	kube.Interface
	gate *gate
}

func (k *gatedKube) Wait(resources kube.ResourceList, timeout time.Duration) error {
	if err := k.gate.wait(); err != nil {
		return err
	}
	return k.Interface.Wait(resources, timeout)
}

func (k *gatedKube) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return k.Wait(resources, timeout)
}

// reconcilerOn is another operator process on the same meta cluster, which reaches Helm through
// cluster.
func (h *harness) reconcilerOn(cluster tenants.Cluster) *Reconciler {
	h.t.Helper()
	manager, err := tenants.New(tenants.Config{Cluster: cluster, ChartPath: tenantstest.ChartPath()})
	if err != nil {
		h.t.Fatal(err)
	}
	return &Reconciler{Tenants: manager, Kube: h.r.Kube, Clusters: h.r.Clusters, Events: h.r.Events, Rollout: h.r.Rollout}
}

// controller is a Controller of the harness's Reconciler that logs to logs.
func (h *harness) controller(logs logLines, grace time.Duration) *Controller {
	return &Controller{Reconciler: h.r, Dynamic: h.dyn, Namespace: "tenants", Workers: 2, ShutdownGrace: grace, Log: slog.New(logs)}
}

// history is the release's revisions as "revision status version".
func (h *harness) history() []string {
	h.t.Helper()
	revisions, err := h.r.Tenants.History(context.Background(), "tenants", "tc")
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, r := range revisions {
		out = append(out, fmt.Sprintf("%d %s %s", r.Revision, r.Status, r.KubernetesVersion))
	}
	return out
}

func (h *harness) assertHistory(want ...string) {
	h.t.Helper()
	if got := h.history(); !slices.Equal(got, want) {
		h.t.Errorf("helm history %q, want %q", got, want)
	}
}

// drainEvents returns the events recorded since the last call.
func (h *harness) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-h.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// await returns the next value of ch, failing the test if none comes in a long while.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// logLines is a slog.Handler that sends each record's message to the channel.
type logLines chan string

func (l logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logLines) WithGroup(string) slog.Handler            { return l }
func (l logLines) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default: // a test that reads no more
	}
	return nil
}

// awaitLog reads logs up to the message that starts with prefix.
func awaitLog(t *testing.T, logs logLines, prefix string) {
	t.Helper()
	for !strings.HasPrefix(await(t, logs, "the log line "+prefix), prefix) {
	}
}

// A hibernated spec is applied like any change; Ready then says the tenant sleeps, as asked,
// rather than that it fails to serve.
func TestReconcileHibernates(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2"})
	h.reconcile()
	h.reconcile()
	if r := h.condition(v1alpha1.ConditionReady); r.Reason == ReasonHibernated {
		t.Errorf("awake: Ready %+v", r)
	}
	h.update(func(c *v1alpha1.Cluster) { c.Spec.Hibernated = true })
	// The apiserver's Pod on its way out: the tenant is not asleep until it is gone.
	stopping := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tc-apiserver-0", Namespace: "tenants",
		Labels:            map[string]string{"app.kubernetes.io/name": "tenant-master", "app.kubernetes.io/instance": "tc", "app.kubernetes.io/component": "kube-apiserver"},
		DeletionTimestamp: &metav1.Time{Time: time.Now()}, Finalizers: []string{"test/keep"}},
		// Its containers stopped, the object not gone yet.
		Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	if _, err := h.kube.CoreV1().Pods("tenants").Create(context.Background(), stopping, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	if r := h.condition(v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != ReasonHibernating || !strings.Contains(r.Message, "1 Pods") {
		t.Errorf("a Pod still stopping: Ready %+v, want False with reason %s", r, ReasonHibernating)
	}
	if err := h.kube.CoreV1().Pods("tenants").Delete(context.Background(), stopping.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.reconcile()
	if r := h.condition(v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != ReasonHibernated {
		t.Errorf("asleep: Ready %+v, want False with reason %s", r, ReasonHibernated)
	}
	h.assertHistory("1 superseded 1.37.2", "2 deployed 1.37.2")
	h.update(func(c *v1alpha1.Cluster) { c.Spec.Hibernated = false })
	h.reconcile()
	if r := h.condition(v1alpha1.ConditionReady); r.Reason == ReasonHibernated {
		t.Errorf("woken: Ready %+v", r)
	}
}

// A scheduled snapshot that failed turns SnapshotsHealthy False with the Job's error, records a
// Warning and sets the metric; the next success turns it back and moves LastScheduledSnapshot.
func TestReconcileReportsScheduledSnapshots(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2"})
	h.r.Metrics = NewTenantMetrics(prometheus.NewRegistry())
	h.reconcile()
	h.reconcile()
	ctx := context.Background()
	earlier := metav1.NewTime(time.Date(2026, 12, 2, 6, 17, 0, 0, time.UTC))
	cron, err := h.kube.BatchV1().CronJobs("tenants").Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tc-etcd-snapshot", Namespace: "tenants", UID: "cron-uid"},
		Status:     batchv1.CronJobStatus{LastSuccessfulTime: &earlier}}, metav1.CreateOptions{})
	require.NoError(t, err)
	job := func(name string, failed bool, at time.Time) *batchv1.Job {
		cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}
		if failed {
			cond.Type, cond.Reason = batchv1.JobFailed, "PodFailurePolicy"
		}
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "tenants",
			Labels:          map[string]string{"app.kubernetes.io/instance": "tc", "app.kubernetes.io/component": "etcd-snapshot"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cron.Name, UID: cron.UID}}},
			Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond}}}
	}
	_, err = h.kube.BatchV1().Jobs("tenants").Create(ctx, job("tc-etcd-snapshot-1", true, earlier.Add(time.Hour)), metav1.CreateOptions{})
	require.NoError(t, err)
	h.drainEvents()

	h.reconcile()
	cond := h.condition(v1alpha1.ConditionSnapshotsHealthy)
	assert.Equal(t, metav1.ConditionFalse, cond.Status)
	assert.Equal(t, ReasonSnapshotFailed, cond.Reason)
	assert.Contains(t, cond.Message, "Job tc-etcd-snapshot-1 failed at 2026-12-02T07:17:00Z (PodFailurePolicy)")
	assert.Contains(t, h.drainEvents(), "Warning SnapshotsHealthySnapshotFailed SnapshotsHealthy: "+cond.Message)
	assert.True(t, earlier.Equal(h.stored().Status.LastScheduledSnapshot), "LastScheduledSnapshot %v", h.stored().Status.LastScheduledSnapshot)
	assert.Equal(t, 1.0, testutil.ToFloat64(h.r.Metrics.snapshotFailed.WithLabelValues("tenants", "tc")))

	later := metav1.NewTime(earlier.Add(2 * time.Hour))
	cron.Status.LastSuccessfulTime = &later
	_, err = h.kube.BatchV1().CronJobs("tenants").UpdateStatus(ctx, cron, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = h.kube.BatchV1().Jobs("tenants").Create(ctx, job("tc-etcd-snapshot-2", false, later.Time), metav1.CreateOptions{})
	require.NoError(t, err)
	h.reconcile()
	cond = h.condition(v1alpha1.ConditionSnapshotsHealthy)
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	assert.Equal(t, ReasonSnapshotSucceeded, cond.Reason)
	assert.True(t, later.Equal(h.stored().Status.LastScheduledSnapshot))
	assert.Equal(t, 0.0, testutil.ToFloat64(h.r.Metrics.snapshotFailed.WithLabelValues("tenants", "tc")))
	assert.Equal(t, float64(later.Unix()), testutil.ToFloat64(h.r.Metrics.lastSnapshot.WithLabelValues("tenants", "tc")))
}
