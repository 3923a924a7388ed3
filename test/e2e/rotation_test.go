//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
)

// TestCertificateRotation installs a tenant with two apiservers and six-minute certificates that
// are renewed when less than four and a half minutes remain, by the rotation CronJob running
// every minute. The renewed certificates are served and used, the components that must reload them
// restart, and a client reading and writing through the Service all along sees no failure.
func TestCertificateRotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	root := repoRoot()
	h := helmFor(t, 3)
	tn := tenant{release: "tenant-r", namespace: testNamespace(ctx, t, "e2e-rotation"), version: "1.37.2", helm: h}
	h.run(ctx, t, "install", tn.release, filepath.Join(root, "charts", "tenant-master"), "-n", tn.namespace,
		"--post-renderer", filepath.Join(root, "bin", "taowa-postrender"), "--wait", "--timeout", "5m",
		"--set", "apiserver.replicas=2", "--set", "certificates.validity=6m", "--set", "certificates.renewBefore=4m30s",
		"--set", "certificates.rotationSchedule=*/1 * * * *")
	client := tenantClient(ctx, t, tn)
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	etcdClientSerial := serialOf(ctx, t, tn, pki.SecretAPIServerEtcdClient)
	generations := map[string]int64{}
	for _, name := range []string{"apiserver", "controller-manager", "scheduler"} {
		d, err := env.client.AppsV1().Deployments(tn.namespace).Get(ctx, tn.release+"-"+name, metav1.GetOptions{})
		require.NoError(t, err)
		generations[name] = d.Generation
	}

	stopProbe := startWriteProbe(ctx, t, client, "probe")

	waitUntil(ctx, t, "the rotation CronJob renewed the etcd client certificate", func(ctx context.Context) (bool, error) {
		return serialOf(ctx, t, tn, pki.SecretAPIServerEtcdClient) != etcdClientSerial, nil
	})
	for _, name := range []string{"apiserver", "controller-manager", "scheduler"} {
		waitUntil(ctx, t, name+" restarted and rolled out", func(ctx context.Context) (bool, error) {
			d, err := env.client.AppsV1().Deployments(tn.namespace).Get(ctx, tn.release+"-"+name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, restarted := d.Spec.Template.Annotations[pki.AnnotationCertificatesIssued]
			return restarted && d.Generation > generations[name] && d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
				d.Status.Replicas == *d.Spec.Replicas && d.Status.ReadyReplicas == *d.Spec.Replicas, nil
		})
	}
	// The apiservers now serve the renewed serving certificate.
	servingSerial := serialOf(ctx, t, tn, pki.SecretAPIServer)
	waitUntil(ctx, t, "the Service presents the renewed serving certificate", func(ctx context.Context) (bool, error) {
		cfg, err := tenantRESTConfig(ctx, tn)
		if err != nil {
			return false, err
		}
		conn, err := tls.Dial("tcp", cfg.Host[len("https://"):], &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reads the certificate
		if err != nil {
			return false, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String() == servingSerial, nil
	})
	time.Sleep(10 * time.Second) // old apiservers finish shutting down under load
	requests, failures := stopProbe()
	t.Logf("%d requests through the rotation, %d failed", requests, failures)
	assert.Zero(t, failures, "no request may fail while certificates rotate")
	assert.Greater(t, requests, int64(100))

	// A run that renewed and died before it restarted anything (the hook run from here without
	// --restart): the next run of the CronJob renews nothing, and restarts what still runs with
	// the old certificates.
	schedulerBefore, err := env.client.AppsV1().Deployments(tn.namespace).Get(ctx, tn.release+"-scheduler", metav1.GetOptions{})
	require.NoError(t, err)
	out, err := exec.CommandContext(ctx, filepath.Join(root, "bin", "taowa-hook"), "pki", "--kubeconfig", env.kubeconfig,
		"--release", tn.release, "--namespace", tn.namespace, "--instance", tn.release, "--tenant-service-cidr", "10.32.0.0/16",
		"--cert-validity", "1h", "--renew-before", "59m").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "renewed secret/"+tn.release+"-scheduler-kubeconfig")
	renewed, err := env.client.CoreV1().Secrets(tn.namespace).Get(ctx, tn.release+"-"+pki.SecretSchedulerKC, metav1.GetOptions{})
	require.NoError(t, err)
	issuedAt := renewed.Annotations[pki.AnnotationIssuedAt]
	waitUntil(ctx, t, "the next run restarted the scheduler for the renewal it did not make", func(ctx context.Context) (bool, error) {
		d, err := env.client.AppsV1().Deployments(tn.namespace).Get(ctx, tn.release+"-scheduler", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Generation > schedulerBefore.Generation && d.Spec.Template.Annotations[pki.AnnotationCertificatesIssued] == issuedAt &&
			d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas && d.Status.ReadyReplicas == *d.Spec.Replicas, nil
	})

	h.run(ctx, t, "uninstall", tn.release, "-n", tn.namespace, "--wait", "--timeout", "3m")
}

// serialOf returns the serial number of the certificate in the tenant's Secret short.
func serialOf(ctx context.Context, t *testing.T, tn tenant, short string) string {
	t.Helper()
	s, err := env.client.CoreV1().Secrets(tn.namespace).Get(ctx, tn.release+"-"+short, metav1.GetOptions{})
	require.NoError(t, err)
	cert, err := certs.ParseCert(s.Data[pki.KeyCert])
	require.NoError(t, err)
	return cert.SerialNumber.String()
}

// startWriteProbe creates a ConfigMap in the tenant's namespace every 200 ms through client until
// the returned function is called, which reports how many requests were made and how many failed.
func startWriteProbe(ctx context.Context, t *testing.T, client kubernetes.Interface, namespace string) func() (requests, failures int64) {
	t.Helper()
	var made, failed atomic.Int64
	probeCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(probeCtx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			n := made.Add(1)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", n)}}
			if _, err := client.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
				failed.Add(1)
				t.Logf("request failed: %v", err)
			}
			return false, nil
		})
	}()
	return func() (int64, int64) {
		stop()
		<-done
		return made.Load(), failed.Load()
	}
}
