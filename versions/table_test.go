package versions

import (
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) Version {
	t.Helper()
	v, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBuiltinReleases(t *testing.T) {
	table := Builtin()
	want := map[string]string{ // Kubernetes patch the module proxy serves -> etcd
		"1.31.13": "3.5.24", "1.32.2": "3.5.24", "1.33.13": "3.5.24",
		"1.34.4": "3.6.16", "1.35.4": "3.6.16", "1.36.3": "3.6.16", "1.37.2": "3.6.16",
	}
	var minors []Minor
	for k8s, etcd := range want {
		v := mustParse(t, k8s)
		minors = append(minors, v.MajorMinor())
		r, err := table.ForMinor(v.MajorMinor())
		if err != nil || r.Kubernetes != v || r.Etcd != mustParse(t, etcd) {
			t.Errorf("ForMinor(%v) = %+v, %v; want Kubernetes %s with etcd %s", v.MajorMinor(), r, err, k8s, etcd)
		}
		if got, err := table.EtcdFor(Version{v.Major, v.Minor, 0}); err != nil || got.String() != etcd {
			t.Errorf("EtcdFor(%d.%d.0) = %v, %v; want %s", v.Major, v.Minor, got, err, etcd)
		}
	}
	slices.SortFunc(minors, Minor.Compare)
	if got := table.Supported(); !slices.Equal(got, minors) {
		t.Errorf("Supported() = %v, want %v", got, minors)
	}
	if got := table.Default(); got != mustParse(t, "1.37.2") {
		t.Errorf("Default() = %v, want 1.37.2", got)
	}
	if len(table.Releases()) != len(want) {
		t.Errorf("Releases() has %d rows, want %d", len(table.Releases()), len(want))
	}
}

// The package functions answer from the built-in table.
func TestPackageFunctions(t *testing.T) {
	table := Builtin()
	if !slices.Equal(Supported(), table.Supported()) || Default() != table.Default() {
		t.Errorf("Supported() = %v, Default() = %v; the built-in table says %v, %v", Supported(), Default(), table.Supported(), table.Default())
	}
	if r, err := ForMinor(Minor{1, 34}); err != nil || r.Kubernetes != mustParse(t, "1.34.4") {
		t.Errorf("ForMinor(1.34) = %v, %v", r, err)
	}
	if etcd, err := EtcdFor(mustParse(t, "1.33.1")); err != nil || etcd != mustParse(t, "3.5.24") {
		t.Errorf("EtcdFor(1.33.1) = %v, %v", etcd, err)
	}
	if err := CheckUpgrade(mustParse(t, "1.36.3"), mustParse(t, "1.37.2")); err != nil {
		t.Errorf("CheckUpgrade(1.36.3, 1.37.2) = %v", err)
	}
	if err := CheckRollback(mustParse(t, "1.37.2"), mustParse(t, "1.35.4")); err == nil {
		t.Error("CheckRollback(1.37.2, 1.35.4) = nil, want an error")
	}
}

func TestUnsupportedMinor(t *testing.T) {
	table := Builtin()
	for _, v := range []string{"1.30.14", "1.38.0", "2.0.0"} {
		_, err := table.ForMinor(mustParse(t, v).MajorMinor())
		if err == nil || !strings.Contains(err.Error(), "1.31 to 1.37") {
			t.Errorf("ForMinor(%s) error = %v, want one naming the supported range 1.31 to 1.37", v, err)
		}
		if _, err := table.EtcdFor(mustParse(t, v)); err == nil {
			t.Errorf("EtcdFor(%s) succeeded for an unsupported version", v)
		}
		if table.FlagKnown(KubeAPIServer, "etcd-servers", mustParse(t, v)) {
			t.Errorf("FlagKnown at unsupported %s = true", v)
		}
	}
}

func TestFlagKnown(t *testing.T) {
	table := Builtin()
	for _, tc := range []struct {
		component Component
		flag      string
		known     []int // Kubernetes minors 1.x that know the flag; the rest of 1.31-1.37 must not
	}{
		{KubeAPIServer, "etcd-servers", []int{31, 32, 33, 34, 35, 36, 37}},
		{KubeAPIServer, "cloud-provider", []int{31, 32}},
		{KubeAPIServer, "service-account-signing-endpoint", []int{32, 33, 34, 35, 36, 37}},
		{KubeAPIServer, "coordinated-leadership-lease-duration", []int{34, 35, 36, 37}},
		{KubeAPIServer, "min-compatibility-version", []int{35, 36, 37}},
		{KubeAPIServer, "tls-curve-preferences", []int{36, 37}},
		{KubeAPIServer, "insecure-port", nil},
		{KubeAPIServer, "version", nil},
		{KubeAPIServer, "help", nil},
		{KubeControllerManager, "concurrent-service-syncs", []int{31, 32, 33, 34, 35, 36}},
		{KubeControllerManager, "concurrent-disruption-syncs", []int{37}},
		{KubeScheduler, "requestheader-uid-headers", []int{32, 33, 34, 35, 36, 37}},
		{KubeScheduler, "etcd-servers", nil},
		// etcd flags follow the etcd release each minor runs: 3.5 up to 1.33, 3.6 from 1.34.
		{Etcd, "data-dir", []int{31, 32, 33, 34, 35, 36, 37}},
		{Etcd, "experimental-enable-v2v3", []int{31, 32, 33}},
		{Etcd, "feature-gates", []int{34, 35, 36, 37}},
		{Etcd, "watch-progress-notify-interval", []int{34, 35, 36, 37}},
		{Etcd, "experimental-watch-progress-notify-interval", []int{31, 32, 33, 34, 35, 36, 37}},
		{Etcd, "config-file", nil},
		{"kubelet", "v", nil},
	} {
		for minor := 31; minor <= 37; minor++ {
			want := slices.Contains(tc.known, minor)
			if got := table.FlagKnown(tc.component, tc.flag, Version{1, minor, 0}); got != want {
				t.Errorf("FlagKnown(%s, %s, 1.%d) = %t, want %t", tc.component, tc.flag, minor, got, want)
			}
		}
	}
}

func TestGateKnown(t *testing.T) {
	table := Builtin()
	for _, tc := range []struct {
		component Component
		gate      string
		known     []int // Kubernetes minors 1.x that know the gate
	}{
		{KubeAPIServer, "AllAlpha", []int{31, 32, 33, 34, 35, 36, 37}},
		{KubeAPIServer, "ServerSideApply", []int{31}},
		{KubeScheduler, "SchedulerQueueingHints", []int{31, 32, 33, 34, 35, 36}},
		// 1.31.13 backported it, 1.32.2 predates the backport, 1.37 removed it.
		{KubeAPIServer, "OrderedNamespaceDeletion", []int{31, 33, 34, 35, 36}},
		{KubeControllerManager, "ComponentSLIs", []int{31, 32, 33, 34}},
		{KubeAPIServer, "NativeHistograms", []int{36, 37}},
		{KubeAPIServer, "NoSuchGate", nil},
		// Only kube-apiserver and kube-controller-manager import the controller-manager gates.
		{KubeScheduler, "ControllerManagerReleaseLeaderElectionLockOnExit", nil},
		{KubeControllerManager, "ControllerManagerReleaseLeaderElectionLockOnExit", []int{36, 37}},
		{KubeScheduler, "CloudControllerManagerWebhook", []int{31, 32, 33, 34, 35, 36, 37}}, // the 1.32.2 binary has it too
		{KubeAPIServer, "CloudControllerManagerWebhook", []int{31, 32, 33, 34, 35, 36, 37}},
		{Etcd, "InitialCorruptCheck", []int{34, 35, 36, 37}},
		{Etcd, "AllAlpha", []int{34, 35, 36, 37}},
		{Etcd, "ServerSideApply", nil},
	} {
		for minor := 31; minor <= 37; minor++ {
			want := slices.Contains(tc.known, minor)
			if got := table.GateKnown(tc.component, tc.gate, Version{1, minor, 0}); got != want {
				t.Errorf("GateKnown(%s, %s, 1.%d) = %t, want %t", tc.component, tc.gate, minor, got, want)
			}
		}
	}
}

func TestGateLocked(t *testing.T) {
	table := Builtin()
	for _, tc := range []struct {
		gate          string
		minor         int
		value, locked bool
	}{
		{"DisableCloudProviders", 32, true, true},
		{"AllAlpha", 37, false, false},
		{"AllowServiceLBStatusOnNonLB", 31, false, false},
		{"AllowServiceLBStatusOnNonLB", 32, false, true},
		{"NoSuchGate", 37, false, false},
	} {
		p, err := table.Profile(KubeAPIServer, Version{1, tc.minor, 0})
		if err != nil {
			t.Fatal(err)
		}
		if value, locked := p.GateLocked(tc.gate); value != tc.value || locked != tc.locked {
			t.Errorf("%s: GateLocked(%s) = %t, %t; want %t, %t", p, tc.gate, value, locked, tc.value, tc.locked)
		}
	}
}

func TestProfile(t *testing.T) {
	table := Builtin()
	p, err := table.Profile(Etcd, mustParse(t, "1.33.13"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != mustParse(t, "3.5.24") || p.String() != "etcd 3.5.24 (Kubernetes 1.33.13)" || p.ImageTag() != "3.5.24-0" {
		t.Errorf("etcd profile at 1.33.13 = %v (version %v, image tag %s)", p, p.Version, p.ImageTag())
	}
	p, err = table.Profile(KubeScheduler, mustParse(t, "1.36.1"))
	if err != nil || p.String() != "kube-scheduler 1.36.1" || p.ImageTag() != "v1.36.1" {
		t.Errorf("Profile(kube-scheduler, 1.36.1) = %v, %v; any patch of a supported minor is accepted", p, err)
	}
	if _, err := table.Profile("kubelet", mustParse(t, "1.36.1")); err == nil || !strings.Contains(err.Error(), "kubelet") {
		t.Errorf("Profile(kubelet) error = %v, want one naming kubelet", err)
	}
}

func TestCurrentFollowsRenamesBothWays(t *testing.T) {
	table := Builtin()
	flag := func(name string) Setting { return Setting{Name: name} }
	gate := func(name string) Setting { return Setting{Name: name, Gate: true} }
	for _, tc := range []struct {
		kubernetes string
		in, want   Setting
	}{
		{"1.33.13", flag("watch-progress-notify-interval"), flag("experimental-watch-progress-notify-interval")},
		{"1.33.13", flag("experimental-watch-progress-notify-interval"), flag("experimental-watch-progress-notify-interval")},
		{"1.34.4", flag("experimental-watch-progress-notify-interval"), flag("watch-progress-notify-interval")},
		{"1.34.4", flag("experimental-initial-corrupt-check"), gate("InitialCorruptCheck")},
		{"1.33.13", gate("InitialCorruptCheck"), flag("experimental-initial-corrupt-check")},
		{"1.37.2", flag("data-dir"), flag("data-dir")},
		// A flag and a gate sharing a name are different settings.
		{"1.33.13", flag("InitialCorruptCheck"), flag("InitialCorruptCheck")},
	} {
		p, err := table.Profile(Etcd, mustParse(t, tc.kubernetes))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Current(tc.in); got != tc.want {
			t.Errorf("%s: Current(%v) = %v, want %v", p, tc.in, got, tc.want)
		}
	}
}

func TestRequired(t *testing.T) {
	table := Builtin()
	for kubernetes, want := range map[string][]RequiredSetting{
		"1.33.13": {
			{Setting{Name: "experimental-initial-corrupt-check"}, "true"},
			{Setting{Name: "experimental-watch-progress-notify-interval"}, "5s"},
		},
		"1.34.4": {
			{Setting{Name: "InitialCorruptCheck", Gate: true}, "true"},
			{Setting{Name: "watch-progress-notify-interval"}, "5s"},
		},
	} {
		p, err := table.Profile(Etcd, mustParse(t, kubernetes))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Required(); !slices.Equal(got, want) {
			t.Errorf("%s: Required() = %v, want %v", p, got, want)
		}
	}
	p, err := table.Profile(KubeAPIServer, mustParse(t, "1.37.2"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Required(); len(got) != 0 {
		t.Errorf("%s: Required() = %v, want none", p, got)
	}
}
