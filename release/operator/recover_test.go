package operator

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// stopMidOperation has another operator process reconcile the Cluster and stop in the middle of
// the Helm operation (its rollout never ends for it): the revision stays pending, as a killed
// operator leaves it.
func (h *harness) stopMidOperation() {
	h.t.Helper()
	stuck := newGate()
	previous := h.reconcilerOn(&faultyCluster{Cluster: h.helm, gate: stuck})
	c := h.stored()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = previous.Reconcile(context.Background(), c)
	}()
	h.t.Cleanup(func() {
		stuck.open(errors.New("the process is gone"))
		<-ended
	})
	await(h.t, stuck.entered, "the previous operator's rollout")
}

func TestRecoversAnUpgradeLeftPendingByAStoppedOperator(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.35.4"})
	h.reconcile()
	h.reconcile()
	h.update(func(c *v1alpha1.Cluster) { c.Spec.KubernetesVersion = "1.37.2" })
	before := time.Now()
	h.stopMidOperation()
	h.assertHistory("1 deployed 1.35.4", "2 pending-upgrade 1.36.3")

	// A process that took over before the operation started does not own it (it is another
	// client's, e.g. a helm command): it waits.
	h.r.Started = before
	if res := h.reconcile(); res.RequeueAfter == 0 {
		t.Errorf("an operation started after the takeover: %+v, want to look again later", res)
	}
	if d := h.condition(v1alpha1.ConditionDegraded); d.Reason != ReasonOperationPending {
		t.Errorf("an operation started after the takeover: Degraded %+v, want %s", d, ReasonOperationPending)
	}
	h.assertHistory("1 deployed 1.35.4", "2 pending-upgrade 1.36.3")

	// The next leader: it took over after the operation started, and runs none itself.
	h.r.Started = time.Now()
	if res := h.reconcile(); !res.Requeue {
		t.Errorf("recovery: %+v, want the walk to go on at once", res)
	}
	p := h.condition(v1alpha1.ConditionProgressing)
	if p.Status != metav1.ConditionTrue || p.Reason != ReasonRecovered ||
		!strings.Contains(p.Message, "revision 2 was left pending-upgrade") || !strings.Contains(p.Message, "rolled back to revision 1") {
		t.Errorf("Progressing %+v after the recovery", p)
	}
	h.assertHistory("1 superseded 1.35.4", "2 failed 1.36.3", "3 deployed 1.35.4")

	for i := 0; h.reconcile().Requeue; i++ {
		if i == 3 {
			t.Fatal("the walk does not end")
		}
	}
	h.assertHistory("1 superseded 1.35.4", "2 failed 1.36.3", "3 superseded 1.35.4", "4 superseded 1.36.3", "5 deployed 1.37.2")
	if st := h.stored().Status; st.KubernetesVersion != "1.37.2" || st.ObservedGeneration != 2 {
		t.Errorf("status %+v after the walk", st)
	}
	if d := h.condition(v1alpha1.ConditionDegraded); d.Status != metav1.ConditionFalse {
		t.Errorf("Degraded %+v after the walk", d)
	}
}

func TestRecoversAnInstallLeftPendingByAStoppedOperator(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.36.3"})
	h.reconcile() // the finalizer
	h.stopMidOperation()
	h.assertHistory("1 pending-install 1.36.3")

	h.r.Started = time.Now()
	if res := h.reconcile(); !res.Requeue {
		t.Errorf("recovery: %+v, want the install to go on at once", res)
	}
	// Nothing was deployed to go back to: the revision is failed, nothing deleted.
	if p := h.condition(v1alpha1.ConditionProgressing); p.Reason != ReasonRecovered || !strings.Contains(p.Message, "revision 1 was left pending-install") ||
		strings.Contains(p.Message, "rolled back") {
		t.Errorf("Progressing %+v after the recovery", p)
	}
	h.assertHistory("1 failed 1.36.3")

	if res := h.reconcile(); res != (Result{}) {
		t.Errorf("the install again: %+v", res)
	}
	// Helm's upgrade over a failed install, as helm upgrade --install: the failed revision is superseded.
	h.assertHistory("1 superseded 1.36.3", "2 deployed 1.36.3")
	if st := h.stored().Status; st.KubernetesVersion != "1.36.3" || st.Revision != 2 {
		t.Errorf("status %+v after the install", st)
	}
}

func TestNeverRecoversAnOperationThisProcessRuns(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.36.3"})
	h.reconcile()
	h.reconcile()
	h.update(func(c *v1alpha1.Cluster) { c.Spec.KubernetesVersion = "1.37.2" })
	// By its age alone the operation would be taken over.
	h.r.Started = time.Now().Add(time.Hour)
	rollout := newGate()
	h.faults.setGate(rollout)
	c := h.stored()
	ended := make(chan error, 1)
	go func() {
		_, err := h.r.Reconcile(context.Background(), c)
		ended <- err
	}()
	await(t, rollout.entered, "the upgrade's rollout")

	// A reconcile beside it, as one outside the controller's queue would be.
	if res := h.reconcile(); res.RequeueAfter == 0 {
		t.Errorf("beside a live operation: %+v, want to look again later", res)
	}
	h.assertHistory("1 deployed 1.36.3", "2 pending-upgrade 1.37.2")

	rollout.open(nil)
	if err := await(t, ended, "the upgrade"); err != nil {
		t.Fatal(err)
	}
	h.assertHistory("1 superseded 1.36.3", "2 deployed 1.37.2")
}

func TestControllerRetriesTransientErrors(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.35.4"})
	h.reconcile()
	h.reconcile()
	h.update(func(c *v1alpha1.Cluster) { c.Spec.KubernetesVersion = "1.36.3" })
	h.drainEvents()
	h.faults.failNext(3)

	stop, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- h.controller(make(logLines), time.Minute).Run(context.Background(), stop) }()
	var seen []string
	for !slices.ContainsFunc(seen, func(e string) bool { return strings.HasPrefix(e, "Normal Applied") }) {
		seen = append(seen, await(t, h.events.Events, "the upgrade after the apiserver is back"))
	}
	stopRun()
	if err := await(t, ran, "the controller's stop"); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(seen, func(e string) bool {
		return strings.HasPrefix(e, "Warning Retrying") && strings.Contains(e, "connection refused")
	}) {
		t.Errorf("events %q: no retry after the apiserver's errors", seen)
	}
	if slices.ContainsFunc(seen, func(e string) bool { return strings.HasPrefix(e, "Warning Refused") }) {
		t.Errorf("events %q: a transient error refused the spec", seen)
	}
	if st := h.stored().Status; st.KubernetesVersion != "1.36.3" || st.Revision != 2 || st.ObservedGeneration != 2 {
		t.Errorf("status %+v after the retries", st)
	}
	if d := h.condition(v1alpha1.ConditionDegraded); d.Status != metav1.ConditionFalse {
		t.Errorf("Degraded %+v after the retries", d)
	}
}

func TestAnErrorLookingUpTheReleaseIsRetried(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.37.2"})
	h.reconcile()
	h.reconcile()
	c := h.stored()
	now := metav1.Now()
	c.DeletionTimestamp = &now
	h.faults.failNext(1)
	if _, err := h.r.Reconcile(context.Background(), c); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("deletion with the release storage unreachable: %v, want its error", err)
	}
	if got := h.stored().Finalizers; len(got) != 1 {
		t.Errorf("finalizers %v: removed while the release could not be looked up", got)
	}
	h.assertHistory("1 deployed 1.37.2")
}
