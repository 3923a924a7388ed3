package operator

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	kube    kubernetes.Interface
	events  *record.FakeRecorder
	cluster *v1alpha1.Cluster
}

func newHarness(t *testing.T, spec v1alpha1.ClusterSpec) *harness {
	t.Helper()
	helm := tenantstest.NewCluster()
	manager, err := tenants.New(tenants.Config{Cluster: helm, ChartPath: tenantstest.ChartPath()})
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
		t: t, helm: helm, kube: kube, events: events, cluster: cluster,
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
		{"1.38.0", ReasonInstallFailed},
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
