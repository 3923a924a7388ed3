//go:build e2e

package e2e

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
)

// TestPKIHookKilledHalfway runs `taowa-hook pki` against the meta cluster and SIGKILLs it at
// random moments, as a node failure would kill the hook Job's Pod, then lets a last run finish.
// Once the CA exists it never changes, and the last run leaves every Secret, each certificate
// signed by that CA.
func TestPKIHookKilledHalfway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := testNamespace(ctx, t, "e2e-pki-kill")
	args := []string{"pki", "--kubeconfig", env.kubeconfig, "--release", "killed", "--namespace", ns,
		"--tenant-service-cidr", "10.32.0.0/16", "--cert-validity", "1h", "--renew-before", "0s"}
	hook := filepath.Join(repoRoot(), "bin", "taowa-hook")
	caSerial := ""
	for i := range 12 {
		cmd := exec.Command(hook, args...)
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(rand.IntN(600)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if s, err := env.client.CoreV1().Secrets(ns).Get(ctx, "killed-"+pki.SecretCA, metav1.GetOptions{}); err == nil {
			serial := certSerial(t, s.Data[pki.KeyCert])
			if caSerial == "" {
				caSerial = serial
				t.Logf("the CA exists after kill %d", i+1)
			}
			require.Equal(t, caSerial, serial, "kill %d: the CA changed", i+1)
		}
	}
	out, err := exec.CommandContext(ctx, hook, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)

	secrets, err := env.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: pki.LabelRelease + "=killed"})
	require.NoError(t, err)
	assert.Len(t, secrets.Items, 15)
	caSecret, err := env.client.CoreV1().Secrets(ns).Get(ctx, "killed-"+pki.SecretCA, metav1.GetOptions{})
	require.NoError(t, err)
	if caSerial != "" {
		assert.Equal(t, caSerial, certSerial(t, caSecret.Data[pki.KeyCert]), "the CA survived every kill")
	}
	ca, err := certs.ParseCert(caSecret.Data[pki.KeyCert])
	require.NoError(t, err)
	for _, short := range []string{pki.SecretAPIServer, pki.SecretAPIServerKubeletClient} {
		s, err := env.client.CoreV1().Secrets(ns).Get(ctx, "killed-"+short, metav1.GetOptions{})
		require.NoError(t, err)
		leaf, err := certs.ParseCert(s.Data[pki.KeyCert])
		require.NoError(t, err)
		assert.NoError(t, leaf.CheckSignatureFrom(ca), "%s is signed by the one CA", short)
	}
}

func certSerial(t *testing.T, pem []byte) string {
	t.Helper()
	c, err := certs.ParseCert(pem)
	require.NoError(t, err)
	return c.SerialNumber.String()
}
