package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"k8s.io/client-go/tools/leaderelection"
)

// ErrLostLease is Lead's error when the process lost the leader Lease while it led.
var ErrLostLease = errors.New("lost the leader Lease")

// Lead runs run while this process holds config's Lease, until stop ends (SIGTERM). run gets
// the leader's context, which ends when the Lease is lost, and stop. Leading, stop stops run,
// which lets the operations in progress finish, and only when run has returned is the Lease
// released: no other replica leads while they run. Standing by, stop ends Lead at once. A lost
// Lease ends Lead at once with ErrLostLease, without waiting for run (which is cancelled): the
// process must exit, leaving what it ran to the next leader. config's Callbacks are Lead's own.
func Lead(stop context.Context, config leaderelection.LeaderElectionConfig, run func(ctx, stop context.Context) error, log *slog.Logger) error {
	// The election outlives stop while run finishes its work: the Lease is renewed meanwhile.
	election, endElection := context.WithCancel(context.WithoutCancel(stop))
	defer endElection()
	var leading atomic.Bool
	defer context.AfterFunc(stop, func() {
		if !leading.Load() {
			endElection()
		}
	})()
	done := make(chan error, 1)
	identity := config.Lock.Identity()
	config.ReleaseOnCancel = true
	config.Callbacks = leaderelection.LeaderCallbacks{
		OnStartedLeading: func(ctx context.Context) {
			leading.Store(true)
			log.Info("leading", "lease", config.Lock.Describe(), "identity", identity)
			err := run(ctx, stop)
			if ctx.Err() != nil && stop.Err() == nil {
				err = errors.Join(ErrLostLease, err)
			}
			done <- err
			endElection() // releases the Lease
		},
		OnStoppedLeading: func() {
			log.Info("stopped leading", "identity", identity)
		},
	}
	elector, err := leaderelection.NewLeaderElector(config)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	elector.Run(election)
	select {
	case err := <-done:
		return err
	default:
	}
	if stop.Err() != nil {
		return nil // stopped while standing by
	}
	return ErrLostLease
}
