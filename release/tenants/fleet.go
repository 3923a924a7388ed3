package tenants

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taowa/taowa/versions"
)

// Ref names one release.
type Ref struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

func (r Ref) compare(o Ref) int {
	return cmp.Or(cmp.Compare(r.Namespace, o.Namespace), cmp.Compare(r.Name, o.Name))
}

// Outcome is what a fleet upgrade did to one release.
type Outcome string

const (
	Upgraded Outcome = "upgraded"
	Failed   Outcome = "failed"
	// Skipped: not started, because a canary or another release failed first or the context ended.
	Skipped Outcome = "skipped"
	// AlreadyAtVersion: the release already deployed the target version; nothing was done.
	AlreadyAtVersion Outcome = "already-at-version"
	// Requested: the release's Cluster now asks for the target version, and the operator's walk
	// was not awaited (Rollout.Wait off).
	Requested Outcome = "requested"
)

// FleetResult is one release's part of a fleet upgrade.
type FleetResult struct {
	Release Ref     `json:"release"`
	Canary  bool    `json:"canary"`
	Outcome Outcome `json:"outcome"`
	// Cluster: a Cluster object owns the release; its spec was set and the operator upgraded it.
	Cluster bool `json:"cluster,omitempty"`
	// From is the version the release deployed before, when it was read.
	From string `json:"from,omitempty"`
	// Steps is the number of helm upgrades done (one per minor).
	Steps   int     `json:"steps"`
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds"`
}

// FleetSummary is the result of UpgradeFleet, one entry per release in upgrade order.
type FleetSummary struct {
	To      string        `json:"to"`
	Results []FleetResult `json:"results"`
	Seconds float64       `json:"seconds"`
}

// Count returns how many releases had outcome o.
func (s FleetSummary) Count(o Outcome) int {
	n := 0
	for _, r := range s.Results {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

// Err returns an error naming the failed and skipped releases, or nil when every release reached
// the target version.
func (s FleetSummary) Err() error {
	failed, skipped := s.Count(Failed), s.Count(Skipped)
	if failed+skipped == 0 {
		return nil
	}
	var errs []error
	for _, r := range s.Results {
		if r.Outcome == Failed {
			errs = append(errs, fmt.Errorf("%s: %s", r.Release, r.Error))
		}
	}
	return fmt.Errorf("fleet upgrade to Kubernetes %s: %d failed, %d skipped: %w", s.To, failed, skipped, errors.Join(errs...))
}

// FleetOptions configure UpgradeFleet.
type FleetOptions struct {
	// MaxParallel bounds the upgrades running at once after the canaries; below 1 means 1.
	MaxParallel int
	// Canary is how many releases, the first in namespace/name order, go first, one at a time.
	Canary int
	Rollout
}

// UpgradeFleet upgrades releases to version to, each as Upgrade does: a minor at a time, and a
// release that a Cluster owns through its Cluster, waiting for the operator's walk. In
// namespace/name order, the first opts.Canary releases go first, one after another; if one of
// them fails, no other starts. Then the rest, at most opts.MaxParallel at once; after the first
// failure no new upgrade starts and the running ones finish. The summary says what happened to
// each release; see FleetSummary.Err.
func (m *Manager) UpgradeFleet(ctx context.Context, releases []Ref, to versions.Version, opts FleetOptions) FleetSummary {
	start := time.Now()
	results := runFleet(ctx, releases, opts.Canary, opts.MaxParallel, func(ctx context.Context, ref Ref) FleetResult {
		res, err := m.Upgrade(ctx, ref.Name, UpgradeOptions{Namespace: ref.Namespace, To: to, Rollout: opts.Rollout})
		out := FleetResult{Release: ref, Outcome: Upgraded, Cluster: res.Cluster, Steps: len(res.Steps)}
		if res.From != (versions.Version{}) {
			out.From = res.From.String()
		}
		switch {
		case err != nil:
			out.Outcome, out.Error = Failed, err.Error()
			m.progress.printf("%s: failed: %v", ref, err)
		case res.Pending:
			out.Outcome = Requested
			m.progress.printf("%s: its Cluster asks for Kubernetes %s; the operator walks it", ref, to)
		case len(res.Steps) == 0:
			out.Outcome = AlreadyAtVersion
			m.progress.printf("%s: already at Kubernetes %s", ref, to)
		case res.Cluster:
			m.progress.printf("%s: upgraded %s -> %s by the operator, through its Cluster", ref, res.From, to)
		default:
			m.progress.printf("%s: upgraded %s -> %s", ref, res.From, to)
		}
		return out
	})
	return FleetSummary{To: to.String(), Results: results, Seconds: time.Since(start).Seconds()}
}

// runFleet is UpgradeFleet's scheduling, apart from Helm: upgradeOne upgrades one release and
// reports its outcome (it need not fill Release, Canary or Seconds).
func runFleet(ctx context.Context, releases []Ref, canaries, maxParallel int, upgradeOne func(context.Context, Ref) FleetResult) []FleetResult {
	ordered := slices.Clone(releases)
	slices.SortFunc(ordered, Ref.compare)
	ordered = slices.CompactFunc(ordered, func(a, b Ref) bool { return a == b })
	canaries = min(max(canaries, 0), len(ordered))
	maxParallel = max(maxParallel, 1)

	results := make([]FleetResult, len(ordered))
	for i, ref := range ordered {
		results[i] = FleetResult{Release: ref, Canary: i < canaries, Outcome: Skipped}
	}
	run := func(i int) bool {
		began := time.Now()
		r := upgradeOne(ctx, ordered[i])
		r.Release, r.Canary, r.Seconds = ordered[i], i < canaries, time.Since(began).Seconds()
		results[i] = r
		return r.Outcome != Failed
	}

	for i := range canaries {
		if ctx.Err() != nil || !run(i) {
			return results
		}
	}

	var failed atomic.Bool
	var running sync.WaitGroup
	slots := make(chan struct{}, maxParallel)
	for i := canaries; i < len(ordered); i++ {
		slots <- struct{}{} // wait for a free slot before deciding to start
		if failed.Load() || ctx.Err() != nil {
			<-slots
			break
		}
		running.Add(1)
		go func() {
			defer running.Done()
			if !run(i) {
				failed.Store(true) // before the slot is freed, so no later start misses it
			}
			<-slots
		}()
	}
	running.Wait()
	return results
}
