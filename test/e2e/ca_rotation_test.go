//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
)

// TestCARotation rotates a tenant's CAs with short lives (2 h CAs, 1 h certificates) through the
// chart's three phases, one `helm upgrade` each, with two apiservers: after trust, clients of the
// old CA and of the new bundle both work; switch re-issues everything from the new CA with no
// failed request; after finish, a client certificate of the old CA is refused and the tenant's
// kube-root-ca.crt holds the new CA alone. Objects survive, and repeating a phase restarts nothing.
func TestCARotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root := repoRoot()
	chart := filepath.Join(root, "charts", "tenant-master")
	h := helmFor(t, 3)
	tn := tenant{release: "tenant-c", namespace: testNamespace(ctx, t, "e2e-ca-rotation"), version: "1.37.2", helm: h}
	ns, rel := tn.namespace, tn.release
	postRender := []string{"--post-renderer", filepath.Join(root, "bin", "taowa-postrender")}
	h.run(ctx, t, append([]string{"install", rel, chart, "-n", ns, "--wait", "--timeout", "5m",
		"--set", "apiserver.replicas=2", "--set", "certificates.caValidity=2h", "--set", "certificates.validity=1h", "--set", "certificates.renewBefore=10m"}, postRender...)...)
	client := tenantClient(ctx, t, tn)
	_, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-rotation"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	oldConfig, err := tenantRESTConfig(ctx, tn) // the old CA's admin: its client certificate and trust
	require.NoError(t, err)
	oldCA := secretPEM(ctx, t, tn, pki.SecretCA, pki.KeyCert)

	phase := func(p string) {
		t.Helper()
		start := time.Now()
		h.run(ctx, t, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values", "--wait", "--timeout", "10m",
			"--set", "certificates.caRotation.id=r1", "--set", "certificates.caRotation.phase=" + p}, postRender...)...)
		t.Logf("phase %s applied and rolled out after %.1fs", p, time.Since(start).Seconds())
	}

	phase(pki.PhaseTrust)
	newCA := secretPEM(ctx, t, tn, pki.SecretCA, pki.KeyNextCert)
	require.NotEqual(t, oldCA, newCA)
	assert.Len(t, splitPEM(t, secretPEM(ctx, t, tn, pki.SecretCA, pki.KeyCA)), 2, "the bundle trusts the old and the new CA")
	requireWorks(ctx, t, oldConfig, "the old CA's admin after trust")
	waitRootCA(ctx, t, client, 2)
	bundleConfig, err := tenantRESTConfig(ctx, tn) // old client certificate, both CAs trusted
	require.NoError(t, err)
	bundleClient, err := kubernetes.NewForConfig(bundleConfig)
	require.NoError(t, err)
	_, err = bundleClient.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	stopProbe := startWriteProbe(ctx, t, bundleClient, "probe")
	phase(pki.PhaseSwitch)
	requests, failures := stopProbe()
	t.Logf("%d requests through the switch, %d failed", requests, failures)
	assert.Zero(t, failures, "no request may fail while the signer switches")
	assert.Greater(t, requests, int64(50))
	servedBy(ctx, t, tn, newCA)
	_, err = newClient(t, oldConfig).Discovery().ServerVersion()
	require.Error(t, err, "a client trusting only the old CA no longer accepts the serving certificate")
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")
	requireWorks(ctx, t, bundleConfig, "the old client certificate, trusting both CAs, after switch")

	phase(pki.PhaseFinish)
	_, err = newClient(t, bundleConfig).CoreV1().ConfigMaps("default").Get(ctx, "before-rotation", metav1.GetOptions{})
	require.True(t, apierrors.IsUnauthorized(err), "a client certificate of the old CA is refused after finish: %v", err)
	newAdmin, err := tenantRESTConfig(ctx, tn)
	require.NoError(t, err)
	requireWorks(ctx, t, newAdmin, "the new admin kubeconfig after finish")
	assert.Equal(t, [][]byte{newCA}, splitPEM(t, secretPEM(ctx, t, tn, pki.SecretCA, pki.KeyCA)))
	waitRootCA(ctx, t, newClient(t, newAdmin), 1)
	_, err = newClient(t, newAdmin).CoreV1().ConfigMaps("default").Get(ctx, "before-rotation", metav1.GetOptions{})
	require.NoError(t, err, "objects written before the rotation are intact")

	// The finished rotation's values stay in the release: the next upgrade restarts nothing.
	generations := workloadGenerations(ctx, t, tn)
	phase(pki.PhaseFinish)
	assert.Equal(t, generations, workloadGenerations(ctx, t, tn), "a repeated phase restarts nothing")
	assert.Contains(t, h.run(ctx, t, "test", rel, "-n", ns), "Phase:          Succeeded")

	h.run(ctx, t, "uninstall", rel, "-n", ns, "--wait", "--timeout", "3m")
}

func secretPEM(ctx context.Context, t *testing.T, tn tenant, short, key string) []byte {
	t.Helper()
	s, err := env.client.CoreV1().Secrets(tn.namespace).Get(ctx, tn.release+"-"+short, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, s.Data[key], "secret %s key %s", s.Name, key)
	return s.Data[key]
}

func splitPEM(t *testing.T, bundle []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, part := range strings.SplitAfter(string(bundle), "-----END CERTIFICATE-----\n") {
		if strings.TrimSpace(part) != "" {
			out = append(out, []byte(part))
		}
	}
	return out
}

func newClient(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return c
}

func requireWorks(ctx context.Context, t *testing.T, cfg *rest.Config, who string) {
	t.Helper()
	_, err := newClient(t, cfg).CoreV1().ConfigMaps("default").Get(ctx, "before-rotation", metav1.GetOptions{})
	require.NoError(t, err, who)
}

// waitRootCA waits until the tenant's kube-root-ca.crt, which Pods verify the apiserver with,
// holds n CAs: the controller-manager publishes the bundle it was started with.
func waitRootCA(ctx context.Context, t *testing.T, client kubernetes.Interface, n int) {
	t.Helper()
	waitUntil(ctx, t, "kube-root-ca.crt follows the trust bundle", func(ctx context.Context) (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(splitPEM(t, []byte(cm.Data["ca.crt"]))) == n, nil
	})
}

// servedBy checks that the apiserver Service presents a serving certificate issued by caPEM.
func servedBy(ctx context.Context, t *testing.T, tn tenant, caPEM []byte) {
	t.Helper()
	ca, err := certs.ParseCert(caPEM)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cfg, err := tenantRESTConfig(ctx, tn)
	require.NoError(t, err)
	addr := strings.TrimPrefix(cfg.Host, "https://")
	host, _, _ := strings.Cut(addr, ":")
	for i := 0; i < 4; i++ { // new connections reach both apiservers
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: host})
		require.NoError(t, err, "the serving certificate verifies against the new CA")
		require.NoError(t, conn.Close())
	}
}

func workloadGenerations(ctx context.Context, t *testing.T, tn tenant) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, name := range []string{"apiserver", "controller-manager", "scheduler"} {
		d, err := env.client.AppsV1().Deployments(tn.namespace).Get(ctx, tn.release+"-"+name, metav1.GetOptions{})
		require.NoError(t, err)
		out[name] = d.Generation
	}
	s, err := env.client.AppsV1().StatefulSets(tn.namespace).Get(ctx, tn.release+"-etcd", metav1.GetOptions{})
	require.NoError(t, err)
	out["etcd"] = s.Generation
	return out
}
