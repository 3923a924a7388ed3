package operator

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

var leaseMeta = metav1.ObjectMeta{Namespace: "taowa-system", Name: "taowa-operator"}

// leaseConfig is the election of identity; the Lease lasts d.
func leaseConfig(client kubernetes.Interface, identity string, d time.Duration) leaderelection.LeaderElectionConfig {
	return leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta: leaseMeta, Client: client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
		},
		LeaseDuration: d, RenewDeadline: d * 2 / 3, RetryPeriod: d / 6, Name: leaseMeta.Name,
	}
}

func holder(client kubernetes.Interface) (string, error) {
	lease, err := client.CoordinationV1().Leases(leaseMeta.Namespace).Get(context.Background(), leaseMeta.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if lease.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *lease.Spec.HolderIdentity, nil
}

var discard = slog.New(slog.DiscardHandler)

func TestLeadReleasesTheLeaseOnlyWhenRunHasReturned(t *testing.T) {
	client := fake.NewClientset()
	stop, sigterm := context.WithCancel(context.Background())
	running, finish := make(chan struct{}), make(chan struct{})
	run := func(ctx, stop context.Context) error {
		close(running)
		<-stop.Done()
		<-finish // the operation in progress
		if ctx.Err() != nil {
			return errors.New("the leader's context ended before run returned")
		}
		if h, err := holder(client); err != nil || h != "a" {
			return errors.New("the Lease was not held while run finished: holder " + h)
		}
		return nil
	}
	led := make(chan error, 1)
	go func() { led <- Lead(stop, leaseConfig(client, "a", 30*time.Second), run, discard) }()
	await(t, running, "leading")

	sigterm()
	close(finish)
	if err := await(t, led, "Lead to return"); err != nil {
		t.Fatal(err)
	}
	if h, err := holder(client); err != nil || h != "" {
		t.Errorf("holder %q (%v) after Lead returned, want the Lease released", h, err)
	}
}

func TestLeadReturnsAtOnceWhenTheLeaseIsLost(t *testing.T) {
	client := fake.NewClientset()
	var renewals atomic.Bool
	renewals.Store(true)
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if renewals.Load() {
			return false, nil, nil
		}
		return true, nil, errors.New("etcdserver: request timed out")
	})
	running, finish := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(finish) })
	run := func(ctx, _ context.Context) error {
		close(running)
		<-ctx.Done()
		<-finish // a Helm operation that does not end at once
		return ctx.Err()
	}
	led := make(chan error, 1)
	go func() {
		led <- Lead(context.Background(), leaseConfig(client, "a", 600*time.Millisecond), run, discard)
	}()
	await(t, running, "leading")

	renewals.Store(false)
	if err := await(t, led, "Lead to return"); !errors.Is(err, ErrLostLease) {
		t.Errorf("Lead returned %v, want %v", err, ErrLostLease)
	}
}

func TestLeadStopsAtOnceStandingBy(t *testing.T) {
	other, duration, now := "b", int32(3600), metav1.NowMicro()
	client := fake.NewClientset(&coordinationv1.Lease{ObjectMeta: leaseMeta, Spec: coordinationv1.LeaseSpec{
		HolderIdentity: &other, LeaseDurationSeconds: &duration, AcquireTime: &now, RenewTime: &now,
	}})
	var ran atomic.Bool
	run := func(context.Context, context.Context) error {
		ran.Store(true)
		return nil
	}
	stop, sigterm := context.WithCancel(context.Background())
	led := make(chan error, 1)
	go func() { led <- Lead(stop, leaseConfig(client, "a", 30*time.Second), run, discard) }()
	sigterm()
	if err := await(t, led, "Lead to return"); err != nil {
		t.Errorf("Lead returned %v standing by", err)
	}
	if ran.Load() {
		t.Error("run ran without the Lease")
	}
	if h, err := holder(client); err != nil || h != other {
		t.Errorf("holder %q (%v), want %q's Lease untouched", h, err, other)
	}
}
