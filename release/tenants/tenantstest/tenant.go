package tenantstest

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
)

// The tenant master InstalledTenant makes: tenant-a in namespace tenant-a, its apiserver Service
// at TenantURL in the meta cluster's DNS, dialled at TenantClusterIP.
const (
	TenantURL       = "https://tenant-a-apiserver.tenant-a.svc:6443"
	TenantClusterIP = "https://10.96.0.10:6443"
)

// InstalledTenant gives c what an installed tenant master tenant-a in namespace tenant-a has in
// the meta cluster: its admin kubeconfig Secret (the admins' group), issued by the returned CA,
// and its apiserver Service at TenantClusterIP. It returns the admin kubeconfig too.
func (c *Cluster) InstalledTenant(t testing.TB) (*certs.KeyPair, []byte) {
	t.Helper()
	ca, err := certs.NewCA("tenant-a-ca", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ca.Issue(certs.Spec{CommonName: pki.AdminUser, Organization: []string{pki.ClusterAdminsGroup},
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := certs.Kubeconfig("tenant-a", TenantURL, ca.CertPEM(), pki.AdminUser, admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.clientset.CoreV1().Secrets("tenant-a").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-" + pki.SecretAdminKubeconfig, Namespace: "tenant-a"},
		Data:       map[string][]byte{pki.KeyKubeconfig: kubeconfig},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.clientset.CoreV1().Services("tenant-a").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-apiserver", Namespace: "tenant-a"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Name: "https", Port: 6443}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ca, kubeconfig
}
