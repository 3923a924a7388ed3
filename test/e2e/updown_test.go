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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/hack/metacluster"
)

// TestUpIsIdempotentAndRecovers: `up` on a healthy cluster changes nothing; after a `down` and an
// `up` killed halfway, the next `up` cleans what the killed run left and brings a healthy cluster.
// The images the cluster held (the tenant images `make images` loaded) are exported before and
// imported after, so that the tests running after this one (the parallel ones) find them.
func TestUpIsIdempotentAndRecovers(t *testing.T) {
	if !env.local {
		t.Skip("needs the local meta cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	apiserver := daemonPID(t, "kube-apiserver")
	require.NoError(t, metaclusterCmd(ctx, "up").Run())
	require.Equal(t, apiserver, daemonPID(t, "kube-apiserver"), "up on a healthy cluster restarted the apiserver")

	images := filepath.Join(t.TempDir(), "images.tar")
	refs, err := env.meta.ExportImages(images)
	require.NoError(t, err)
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
	require.NoError(t, env.meta.Import(images))
	after, err := env.meta.Images()
	require.NoError(t, err)
	assert.Subset(t, after, refs, "images the cluster held before down and up")
}

// daemonPID returns the content of a daemon's PID file: its PID and start time.
func daemonPID(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.meta.StateDir, "run", name+".pid"))
	require.NoError(t, err)
	return string(data)
}
