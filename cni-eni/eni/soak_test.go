package eni_test

import (
	"flag"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

var soakCycles = flag.Int("eni.soak-cycles", 1000, "ADD/DEL cycles of TestSoak")

// TestSoak runs ADD/DEL cycles on a few pods with faults mixed in: plugins
// killed at every step of ADD, sandboxes dying before DEL (with the ENI
// handed back as the kernel does for physical NICs), repeated DELs, GC and
// contending ADDs. At the end no ENI may be lost, duplicated or left in a
// namespace.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test skipped in -short mode")
	}
	const enis, steadyPods = 6, 8
	e := newTestEnv(t, enis)
	pods := make([]*pod, steadyPods)
	for i := range pods {
		pods[i] = e.newPod(i)
	}
	faultPoints := []string{"after-claim", "after-move", "after-configure"}
	rng := rand.New(rand.NewPCG(1, 2))
	nextDoomed := 100 // index of the next pod whose namespace will die
	counts := map[string]int{}

	for cycle := range *soakCycles {
		p := pods[rng.IntN(len(pods))]
		switch roll := rng.IntN(100); {
		case roll < 60:
			counts["add-check-del"]++
			result := e.add(p)
			e.requireAttached(p)
			require.NoError(t, e.check(p, result))
			e.del(p)
		case roll < 75:
			counts["killed-add"]++
			cmd := e.startPaused(p, faultPoints[rng.IntN(len(faultPoints))])
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()
			if rng.IntN(2) == 0 {
				e.del(p)
			} else {
				require.NoError(t, e.gc())
			}
		case roll < 85:
			counts["netns-died"]++
			doomed := e.newPod(nextDoomed)
			nextDoomed++
			e.add(doomed)
			e.simulateKernelReturn(doomed)
			e.deletePodNetNS(doomed)
			if rng.IntN(2) == 0 {
				e.del(doomed)
			} else {
				require.NoError(t, e.gc())
			}
		case roll < 92:
			counts["contending-adds"]++
			var wg sync.WaitGroup
			for _, q := range pods {
				wg.Go(func() { _, _ = e.run(q.invocation("ADD", e.conf(nil))) })
			}
			wg.Wait()
			allocs, err := e.store.LoadAllocations()
			require.NoError(t, err)
			require.Len(t, allocs.ByENI, enis, "cycle %d", cycle)
			require.NoError(t, e.gc())
		default:
			counts["repeated-del"]++
			e.del(p)
			e.del(p)
		}
		if cycle%100 == 99 {
			e.requireAllHome(pods...)
		}
	}
	e.requireAllHome(pods...)
	t.Logf("%d cycles: %v", *soakCycles, counts)
}
