package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExecWithTheENIAddress runs the built binary in a network namespace whose eth1 gets its
// address only after the program started, as a Pod's ENI may.
func TestExecWithTheENIAddress(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	bin := filepath.Join(t.TempDir(), "eni-exec")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	netns := "enitest-" + hex.EncodeToString(suffix) + "-exec"
	ip := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	ip("netns", "add", netns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", netns).Run() })
	ip("-n", netns, "link", "add", "eth1", "type", "veth", "peer", "name", "peer1")

	// Installed into another directory, it still works: it copies itself whole.
	dir := t.TempDir()
	out, err = exec.Command(bin, "install", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command("ip", "netns", "exec", netns, filepath.Join(dir, "eni-exec"), "echo", "serving", "--secure-port=6443")
	cmd.Env = append(os.Environ(), "ENI_EXEC_TIMEOUT=10s")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Start())
	ip("-n", netns, "addr", "add", "10.240.1.10/24", "dev", "eth1")
	ip("-n", netns, "link", "set", "eth1", "up")
	require.NoError(t, cmd.Wait())
	require.Equal(t, "serving --secure-port=6443 --advertise-address=10.240.1.10\n", stdout.String())

	// No ENI: a clear error once the wait is over, and the program never starts.
	cmd = exec.Command("ip", "netns", "exec", netns, bin, "echo", "never")
	cmd.Env = append(os.Environ(), "ENI_EXEC_TIMEOUT=1s", "ENI_EXEC_INTERFACE=eth9")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "no address on eth9 after 1s")
	require.NotContains(t, string(out), "never")
}
