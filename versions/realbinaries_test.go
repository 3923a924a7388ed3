//go:build realbinaries

package versions_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/taowa/taowa/versions"
	"github.com/taowa/taowa/versions/versionstest"
)

// TestTableAgainstBinaries proves the table against every binary built under $TAOWA_CACHE:
// each flag and feature gate the table lists for a minor is accepted by that minor's binary,
// and each one the table lists only for other minors is rejected.
//
//	go test -tags realbinaries -run TableAgainstBinaries -v ./versions
func TestTableAgainstBinaries(t *testing.T) {
	table := versions.Builtin()
	for _, release := range table.Releases() {
		for _, c := range versions.Components() {
			t.Run(fmt.Sprintf("%s/%s", release.Kubernetes, c), func(t *testing.T) {
				binary := versionstest.Binary(t, c, release)
				profile, err := table.Profile(c, release.Kubernetes)
				if err != nil {
					t.Fatal(err)
				}
				checkFlags(t, table, profile, binary)
				checkGates(t, table, profile, binary)
			})
		}
	}
}

func checkFlags(t *testing.T, table *versions.Table, profile versions.Profile, binary string) {
	help := versionstest.HelpFlags(t, binary)
	for _, flag := range table.Flags(profile.Component) {
		known := profile.Known(versions.Setting{Name: flag})
		if known && help[flag] {
			continue // listed by --help; hidden flags need a run to tell
		}
		output, err := versionstest.ParseOnly(binary, "--"+flag+"=0")
		rejected := err != nil && versionstest.Rejects(output, flag)
		switch {
		case known && rejected:
			t.Errorf("the table says %s has --%s, the binary does not know it", profile, flag)
		case !known && !rejected:
			t.Errorf("the table says %s has no --%s, the binary accepts it", profile, flag)
		}
	}
}

func checkGates(t *testing.T, table *versions.Table, profile versions.Profile, binary string) {
	var settable []string
	for _, gate := range table.Gates(profile.Component) {
		if !profile.Known(versions.Setting{Name: gate, Gate: true}) {
			output, err := versionstest.ParseOnly(binary, "--feature-gates="+gate+"=true")
			// etcd 3.5 refuses every gate by having no --feature-gates at all.
			rejected := versionstest.RejectsGate(output, gate) || versionstest.Rejects(output, "feature-gates")
			if err == nil || !rejected {
				t.Errorf("the table says %s has no feature gate %s, the binary accepts it", profile, gate)
			}
			continue
		}
		value := true // any value goes for an unlocked gate
		if locked, isLocked := profile.GateLocked(gate); isLocked {
			value = locked
		}
		settable = append(settable, gate+"="+strconv.FormatBool(value))
	}
	if len(settable) == 0 {
		return
	}
	// One run with every gate: the binary stops at the first it refuses, so say which.
	if output, err := versionstest.ParseOnly(binary, "--feature-gates="+strings.Join(settable, ",")); err != nil {
		t.Errorf("%s refuses the feature gates the table says it has (locked ones at their value): %v\n%s",
			profile, err, lastLines(output, 5))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
