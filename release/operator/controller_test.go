package operator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

func TestShutdownWaitsForTheOperationInProgress(t *testing.T) {
	h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.35.4"})
	h.reconcile() // the finalizer
	rollout := newGate()
	h.faults.setGate(rollout)
	logs := make(logLines, 100)
	stop, sigterm := context.WithCancel(context.Background())
	type ended struct {
		err          error
		rolloutEnded bool
	}
	ran := make(chan ended, 1)
	go func() {
		err := h.controller(logs, time.Hour).Run(context.Background(), stop)
		ran <- ended{err, rollout.isOpen()}
	}()
	await(t, rollout.entered, "the install's rollout")

	sigterm()
	awaitLog(t, logs, "stopping")
	rollout.open(nil)
	if e := await(t, ran, "the controller's stop"); e.err != nil || !e.rolloutEnded {
		t.Fatalf("Run returned %v, the install's rollout ended %t: want nil, after the rollout", e.err, e.rolloutEnded)
	}
	// SIGTERM did not cancel the install: it ended deployed, and its status was written.
	h.assertHistory("1 deployed 1.35.4")
	if st := h.stored().Status; st.KubernetesVersion != "1.35.4" || st.Revision != 1 {
		t.Errorf("status %+v after the shutdown", st)
	}
}

func TestShutdownCancelsTheOperationInProgress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		// end ends the controller's work: stop (SIGTERM), or ctx (a lost lease).
		end  func(cancelCtx, sigterm context.CancelFunc)
		want string
	}{
		{"after the grace", time.Millisecond, func(_, sigterm context.CancelFunc) { sigterm() }, "after the shutdown grace of 1ms"},
		{"at once when the lease is lost", time.Hour, func(cancelCtx, _ context.CancelFunc) { cancelCtx() }, "reconciles cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, v1alpha1.ClusterSpec{KubernetesVersion: "1.35.4"})
			h.reconcile()
			rollout := newGate()
			h.faults.setGate(rollout)
			t.Cleanup(func() { rollout.open(errors.New("the process is gone")) })
			logs := make(logLines, 100)
			ctx, cancelCtx := context.WithCancel(context.Background())
			stop, sigterm := context.WithCancel(context.Background())
			defer sigterm()
			ran := make(chan error, 1)
			go func() { ran <- h.controller(logs, tc.grace).Run(ctx, stop) }()
			await(t, rollout.entered, "the install's rollout")

			tc.end(cancelCtx, sigterm)
			if err := await(t, ran, "the controller's stop"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run returned %v, want an error saying %q", err, tc.want)
			}
			// The install saw its context end: Helm failed it, and atomic uninstalled it.
			awaitLog(t, logs, "reconcile")
			if _, err := h.r.Tenants.Status(context.Background(), "tenants", "tc"); !errors.Is(err, driver.ErrReleaseNotFound) {
				t.Errorf("the cancelled install: %v, want no release", err)
			}
		})
	}
}
