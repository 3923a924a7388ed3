// Package versionstest finds the control-plane binaries taowa builds into its cache, for tests
// that prove the version table against them (go test -tags realbinaries).
package versionstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taowa/taowa/versions"
)

// CacheDir is where hack/build-k8s.sh and hack/build-tools.sh put binaries: $TAOWA_CACHE, by
// default ~/.cache/taowa.
func CacheDir(t testing.TB) string {
	if dir := os.Getenv("TAOWA_CACHE"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("TAOWA_CACHE is unset and there is no home directory: %v", err)
	}
	return filepath.Join(home, ".cache", "taowa")
}

// Binary returns the path of component c's binary for release r, and skips the test, naming
// the command that builds it, when it is not there.
func Binary(t testing.TB, c versions.Component, r versions.Release) string {
	t.Helper()
	what := fmt.Sprintf("%s %s", c, r.Kubernetes)
	path := filepath.Join(CacheDir(t), "k8s", "v"+r.Kubernetes.String(), "bin", string(c))
	build := "hack/build-k8s.sh v" + r.Kubernetes.String()
	if c == versions.Etcd {
		what = fmt.Sprintf("etcd %s (for Kubernetes %s)", r.Etcd, r.Kubernetes)
		path = filepath.Join(CacheDir(t), "tools", "etcd", "v"+r.Etcd.String(), "etcd")
		// build-tools.sh builds the ETCD_VERSION that hack/versions.env sets, whatever the environment says.
		build = "hack/build-tools.sh etcd, with ETCD_VERSION=v" + r.Etcd.String() + " in hack/versions.env"
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is not built (%v); build it with %s", what, err, build)
	}
	return path
}

// ParseOnly runs the binary with args and --version. Every component parses its whole command
// line, feature gates included, before it looks at --version, and then exits without serving:
// a nil error means the binary accepts args.
func ParseOnly(binary string, args ...string) (output string, err error) {
	out, err := exec.Command(binary, append(args, "--version")...).CombinedOutput()
	return string(out), err
}

// Rejects reports whether output of a failed run says the binary does not know the flag
// (pflag in the kube-* components, Go's flag package in etcd).
func Rejects(output, flag string) bool {
	return strings.Contains(output, "unknown flag: --"+flag) ||
		strings.Contains(output, "flag provided but not defined: -"+flag)
}

// RejectsGate reports whether output of a failed run says the binary does not know the gate.
func RejectsGate(output, gate string) bool {
	return strings.Contains(output, "unrecognized feature gate: "+gate)
}

var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-[a-z], )?--([a-z0-9-]+)`)

// HelpFlags returns the flags the binary's --help lists. Deprecated flags the binary still
// accepts are hidden from it; ParseOnly tells about those.
func HelpFlags(t testing.TB, binary string) map[string]bool {
	t.Helper()
	// etcd prints its help and exits 0; so do the kube-* components.
	out, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", binary, err, out)
	}
	flags := map[string]bool{}
	for _, m := range helpFlag.FindAllSubmatch(out, -1) {
		flags[string(bytes.TrimSpace(m[1]))] = true
	}
	return flags
}
