package versions

import (
	"strings"
	"testing"
)

// minimalTable is the smallest valid table; TestLoadRejects breaks it one way at a time.
const minimalTable = `
default: 1.37.1
releases:
  - {kubernetes: 1.36.0, etcd: 3.5.24, coredns: 1.14.7}
  - {kubernetes: 1.37.1, etcd: 3.6.16, coredns: 1.14.7}
components:
  kube-apiserver: {versionedBy: kubernetes, featureGates: kube, flags: [{names: [etcd-servers]}]}
  kube-controller-manager: {versionedBy: kubernetes, featureGates: kube, flags: [{names: [kubeconfig]}]}
  kube-scheduler: {versionedBy: kubernetes, featureGates: kube, flags: [{names: [kubeconfig]}]}
  etcd:
    versionedBy: etcd
    featureGates: etcd
    flags:
      - names: [data-dir, experimental-initial-corrupt-check]
      - {names: [feature-gates], addedIn: "3.6"}
    renames:
      - {from: experimental-initial-corrupt-check, toGate: InitialCorruptCheck, in: "3.6"}
    required:
      - {gate: InitialCorruptCheck, value: "true"}
featureGates:
  kube:
    - {names: [A, B], removedIn: "1.38", locked: {from: "1.37", value: true}}
    - {names: [A], addedIn: "1.39"}
    - {names: [OnlyScheduler], components: [kube-scheduler]}
  etcd:
    - {names: [InitialCorruptCheck], addedIn: "3.6"}
`

func TestLoadMinimal(t *testing.T) {
	table, err := Load([]byte(minimalTable))
	if err != nil {
		t.Fatal(err)
	}
	k := Version{1, 37, 1}
	if !table.GateKnown(KubeScheduler, "OnlyScheduler", k) || table.GateKnown(KubeAPIServer, "OnlyScheduler", k) {
		t.Error("a gate row with components: must apply to those components only")
	}
	if !table.GateKnown(KubeAPIServer, "A", Version{1, 36, 0}) {
		t.Error("gate A must be known in 1.36")
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, errWant string
	}{
		{"not YAML", "default: 1.37.1", "default: [", "parse"},
		{"unknown field", "default: 1.37.1", "default: 1.37.1\ndefualt: 1.37.1", "defualt"},
		{"bad default", "default: 1.37.1", "default: 1.37", "default"},
		{"default not a release", "default: 1.37.1", "default: 1.37.0", "default 1.37.0 is not"},
		{"gap between releases", "kubernetes: 1.36.0", "kubernetes: 1.35.0", "does not follow 1.35.0 by one minor"},
		{"bad etcd version", "etcd: 3.5.24", "etcd: 3.5", "etcd"},
		{"no releases", "releases:\n  - {kubernetes: 1.36.0, etcd: 3.5.24, coredns: 1.14.7}\n  - {kubernetes: 1.37.1, etcd: 3.6.16, coredns: 1.14.7}", "releases: []", "releases: none"},
		{"missing component", "  kube-scheduler: {versionedBy: kubernetes, featureGates: kube, flags: [{names: [kubeconfig]}]}\n", "", "component kube-scheduler is missing"},
		{"unknown component", "components:\n", "components:\n  kubelet: {versionedBy: kubernetes, featureGates: kube}\n", `"kubelet" is not one of`},
		{"bad versionedBy", "versionedBy: etcd", "versionedBy: etc", `versionedBy "etc"`},
		{"unknown gate set", "featureGates: etcd\n", "featureGates: etc\n", `no set named "etc"`},
		{"flag row without names", "{names: [feature-gates], addedIn: \"3.6\"}", "{addedIn: \"3.6\"}", "no names"},
		{"flag listed twice", "names: [data-dir, experimental", "names: [data-dir, data-dir, experimental", "flag data-dir: listed twice"},
		{"empty flag name", "names: [data-dir,", "names: ['', data-dir,", "empty name"},
		{"bad addedIn", `addedIn: "3.6"}`, `addedIn: "3.x"}`, "addedIn"},
		{"bad removedIn", `addedIn: "3.6"}`, `removedIn: "3"}`, "removedIn"},
		{"empty span", `addedIn: "3.6"}`, `addedIn: "3.6", removedIn: "3.6"}`, "not before removedIn"},
		{"gate listed twice", "names: [A, B]", "names: [A, B, B]", "feature gate B: listed twice"},
		{"gate row for an unknown component", "components: [kube-scheduler]", "components: [kube-sheduler]", `component "kube-sheduler" is not one of`},
		{"gate spans overlap", `{names: [A], addedIn: "1.39"}`, `{names: [A], addedIn: "1.37"}`, "feature gate A: listed twice"},
		{"gate row without names", "{names: [OnlyScheduler], components: [kube-scheduler]}", "{components: [kube-scheduler]}", "no names"},
		{"bad gate span", `{names: [A], addedIn: "1.39"}`, `{names: [A], addedIn: "1"}`, "addedIn"},
		{"lock outside the gate", `{names: [A], addedIn: "1.39"}`, `{names: [C], addedIn: "1.38", locked: {from: "1.37"}}`, "outside the gate's minors"},
		{"bad lock", `locked: {from: "1.37"`, `locked: {from: "1"`, "locked.from"},
		{"rename to both", "toGate: InitialCorruptCheck,", "toGate: InitialCorruptCheck, to: x,", "exactly one of to and toGate"},
		{"rename without in", `toGate: InitialCorruptCheck, in: "3.6"`, `toGate: InitialCorruptCheck`, "in"},
		{"required gate not boolean", `{gate: InitialCorruptCheck, value: "true"}`, `{gate: InitialCorruptCheck, value: "on"}`, `value "on" is not true or false`},
		{"required both", `{gate: InitialCorruptCheck, value: "true"}`, `{gate: InitialCorruptCheck, flag: x}`, "exactly one of flag and gate"},
		{"required unknown to a release", `{gate: InitialCorruptCheck, value: "true"}`, `{flag: watch-progress-notify-interval, value: 5s}`, "required flag --watch-progress-notify-interval is unknown to etcd 3.5.24 (Kubernetes 1.36.0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(minimalTable, tc.old) {
				t.Fatalf("the minimal table has no %q to replace", tc.old)
			}
			_, err := Load([]byte(strings.Replace(minimalTable, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.errWant) {
				t.Errorf("Load() error = %v, want one containing %q", err, tc.errWant)
			}
		})
	}
}
