package tenants

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
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
