//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/taowa/taowa/internal/certs"
)

// bareControlPlaneStart is the floor a tenant install is measured against: etcd and kube-apiserver
// of the meta cluster's versions started as plain processes on this machine's loopback, with the
// same kind of PKI, timed from the first process start to /readyz answering ok (TLS verified).
// Both processes are stopped and their files removed before it returns.
func bareControlPlaneStart(tb testing.TB) time.Duration {
	tb.Helper()
	dir := tb.TempDir()
	ca, err := certs.NewCA("floor-ca", time.Hour)
	require.NoError(tb, err)
	serving, err := ca.Issue(certs.Spec{CommonName: "kube-apiserver", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: time.Hour,
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	require.NoError(tb, err)
	saKey, err := certs.NewKey()
	require.NoError(tb, err)
	files := map[string]func() ([]byte, error){
		"ca.crt":      func() ([]byte, error) { return ca.CertPEM(), nil },
		"serving.crt": func() ([]byte, error) { return serving.CertPEM(), nil },
		"serving.key": serving.KeyPEM,
		"sa.key":      func() ([]byte, error) { return certs.KeyPEM(saKey) },
		"sa.pub":      func() ([]byte, error) { return certs.PublicKeyPEM(saKey) },
	}
	for name, data := range files {
		b, err := data()
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	etcdClient, etcdPeer, apiPort := freePort(tb), freePort(tb), freePort(tb)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	procs := []*exec.Cmd{
		exec.Command(env.meta.EtcdBin(), "--name=floor", "--data-dir="+filepath.Join(dir, "etcd"),
			"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
			"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=floor="+peerURL),
		exec.Command(env.meta.K8sBin("kube-apiserver"), "--etcd-servers="+etcdURL, "--bind-address=127.0.0.1",
			// A loopback address cannot be the kubernetes Service's endpoint: no reconciler.
			fmt.Sprintf("--secure-port=%d", apiPort), "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
			"--tls-cert-file="+filepath.Join(dir, "serving.crt"), "--tls-private-key-file="+filepath.Join(dir, "serving.key"),
			"--client-ca-file="+filepath.Join(dir, "ca.crt"), "--authorization-mode=Node,RBAC",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+filepath.Join(dir, "sa.pub"), "--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
			"--service-cluster-ip-range=10.32.0.0/16"),
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()

	start := time.Now()
	for _, p := range procs {
		p.Stdout, p.Stderr = io.Discard, io.Discard
		require.NoError(tb, p.Start())
		defer func() { // by PID, and reaped
			_ = p.Process.Kill()
			_ = p.Wait()
		}()
	}
	readyz := fmt.Sprintf("https://127.0.0.1:%d/readyz", apiPort)
	err = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		resp, err := client.Get(readyz)
		if err != nil {
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && string(body) == "ok", nil
	})
	require.NoError(tb, err, "bare etcd and kube-apiserver: /readyz")
	return time.Since(start)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
