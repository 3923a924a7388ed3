//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/hack/metacluster"
)

// This file's name sorts after every other test file on purpose: go test runs files in name
// order, and the test below replaces the cluster with a new one, without the tenant images that
// `make images` loaded.

// TestUpIsIdempotentAndRecovers: `up` on a healthy cluster changes nothing; after a `down` and an
// `up` killed halfway, the next `up` cleans what the killed run left and brings a healthy cluster.
func TestUpIsIdempotentAndRecovers(t *testing.T) {
	if !env.local {
		t.Skip("needs the local meta cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	apiserver := daemonPID(t, "kube-apiserver")
	require.NoError(t, metaclusterCmd(ctx, "up").Run())
	require.Equal(t, apiserver, daemonPID(t, "kube-apiserver"), "up on a healthy cluster restarted the apiserver")

	require.NoError(t, metaclusterCmd(ctx, "down").Run())
	killed := metaclusterCmd(ctx, "up")
	require.NoError(t, killed.Start())
	// Kill it once containerd runs: by then it has made the namespace, mounts, cgroups and daemons.
	waitUntil(ctx, t, "containerd started by the run to kill", func(context.Context) (bool, error) {
		return exec.Command("test", "-S", env.meta.ContainerdSocket()).Run() == nil, nil
	})
	require.NoError(t, killed.Process.Signal(syscall.SIGKILL))
	_ = killed.Wait()

	require.NoError(t, metaclusterCmd(ctx, "up").Run())
	require.NoError(t, metacluster.Healthy(ctx, env.meta))
}

// daemonPID returns the content of a daemon's PID file: its PID and start time.
func daemonPID(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.meta.StateDir, "run", name+".pid"))
	require.NoError(t, err)
	return string(data)
}
