package tenants

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// onlyRequest returns the one CertificateSigningRequest in tenant.
func onlyRequest(t *testing.T, tenant *k8sfake.Clientset) certificatesv1.CertificateSigningRequest {
	t.Helper()
	list, err := tenant.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("CertificateSigningRequests: %v, %v; want one", list, err)
	}
	return list.Items[0]
}

// A kubeconfig with --ttl: the admin kubeconfig's cluster, with a client certificate of the asked
// identity that the tenant signed for the TTL, asked for with a key that never left the CLI, and
// requested and approved with the admin's credentials.
func TestShortLivedKubeconfig(t *testing.T) {
	m, c := newTestManager(t, nil)
	ca, adminKubeconfig := c.InstalledTenant(t)
	tenant := c.Tenant(tenantstest.TenantClusterIP)
	tenantstest.SignClientCertificates(tenant, ca)

	start := time.Now()
	data, err := m.Kubeconfig(context.Background(), "tenant-a", "tenant-a", KubeconfigOptions{TTL: time.Hour, User: "alice", Groups: []string{"dev", "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	config, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	cluster := config.Clusters["tenant-a"]
	if cluster == nil || cluster.Server != tenantstest.TenantURL || !bytes.Equal(cluster.CertificateAuthorityData, ca.CertPEM()) {
		t.Errorf("cluster %+v: want the admin kubeconfig's", cluster)
	}
	user := config.AuthInfos["alice"]
	if len(config.AuthInfos) != 1 || user == nil || config.Contexts[config.CurrentContext].AuthInfo != "alice" {
		t.Fatalf("users %v, context %+v: want alice alone, in the current context", config.AuthInfos, config.Contexts[config.CurrentContext])
	}
	if _, err := tls.X509KeyPair(user.ClientCertificateData, user.ClientKeyData); err != nil {
		t.Errorf("the key does not match the certificate: %v", err)
	}
	cert, err := certs.ParseCert(user.ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "alice" || strings.Join(cert.Subject.Organization, ",") != "dev,ops" {
		t.Errorf("subject %s, want alice in dev and ops", cert.Subject)
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("not signed by the tenant's CA: %v", err)
	}
	if d := cert.NotAfter.Sub(start.Add(time.Hour)); d < -time.Second || d > 5*time.Second {
		t.Errorf("expires %s, want an hour after %s", cert.NotAfter, start)
	}

	csr := onlyRequest(t, tenant)
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName || csr.Spec.ExpirationSeconds == nil || *csr.Spec.ExpirationSeconds != 3600 {
		t.Errorf("request %+v: want signer %s for 3600 s", csr.Spec, certificatesv1.KubeAPIServerClientSignerName)
	}
	block, _ := pem.Decode(csr.Spec.Request)
	request, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(request.RawSubjectPublicKeyInfo, cert.RawSubjectPublicKeyInfo) {
		t.Error("the certificate is not for the requested key")
	}
	admin, err := clientcmd.RESTConfigFromKubeConfig(adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if dialled := c.TenantConfig(tenantstest.TenantClusterIP); dialled == nil || !bytes.Equal(dialled.CertData, admin.CertData) {
		t.Error("the request was not made with the admin kubeconfig's certificate")
	}
}

// Without a user, a short-lived kubeconfig has the admin's identity; with --server the tenant is
// reached there, and the server is written with the original host as TLS server name.
func TestShortLivedAdminKubeconfigThroughServer(t *testing.T) {
	m, c := newTestManager(t, nil)
	ca, _ := c.InstalledTenant(t)
	const server = "https://127.0.0.1:16443"
	tenant := c.Tenant(server)
	tenantstest.SignClientCertificates(tenant, ca)

	data, err := m.Kubeconfig(context.Background(), "tenant-a", "tenant-a", KubeconfigOptions{TTL: 30 * time.Minute, Server: server})
	if err != nil {
		t.Fatal(err)
	}
	config, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certs.ParseCert(config.AuthInfos[pki.AdminUser].ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != pki.AdminUser || strings.Join(cert.Subject.Organization, ",") != pki.ClusterAdminsGroup {
		t.Errorf("subject %s, want the admin's", cert.Subject)
	}
	if cluster := config.Clusters["tenant-a"]; cluster.Server != server || cluster.TLSServerName != "tenant-a-apiserver.tenant-a.svc" {
		t.Errorf("cluster %+v: want the server and the original host as TLS server name", cluster)
	}
	if csr := onlyRequest(t, tenant); *csr.Spec.ExpirationSeconds != 1800 {
		t.Errorf("expiration %d s, want 1800", *csr.Spec.ExpirationSeconds)
	}
}

// Requests the tenant would refuse, or that say nothing, are refused before any request is made.
func TestShortLivedKubeconfigRefusals(t *testing.T) {
	m, c := newTestManager(t, nil)
	c.InstalledTenant(t)
	tenant := c.Tenant(tenantstest.TenantClusterIP)
	for _, tc := range []struct {
		opts KubeconfigOptions
		want string
	}{
		{KubeconfigOptions{TTL: 5 * time.Minute}, "the tenant signs for 10m0s at least"},
		{KubeconfigOptions{TTL: -time.Hour}, "want more than 0"},
		{KubeconfigOptions{User: "alice"}, "a user or group needs a time to live"},
		{KubeconfigOptions{TTL: time.Hour, Groups: []string{"dev"}}, "groups [dev] need a user"},
		{KubeconfigOptions{TTL: time.Hour, User: "mallory", Groups: []string{"system:masters"}}, "the break-glass kubeconfig is the Secret tenant-a-super-admin-kubeconfig"},
	} {
		_, err := m.Kubeconfig(context.Background(), "tenant-a", "tenant-a", tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.opts, err, tc.want)
		}
	}
	if actions := tenant.Actions(); len(actions) > 0 {
		t.Errorf("requests made of the tenant: %v", actions)
	}
}

// A request the signer fails says why; one that nobody signs says who should.
func TestShortLivedKubeconfigNotSigned(t *testing.T) {
	m, c := newTestManager(t, nil)
	c.InstalledTenant(t)
	tenant := c.Tenant(tenantstest.TenantClusterIP)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := m.Kubeconfig(ctx, "tenant-a", "tenant-a", KubeconfigOptions{TTL: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "was approved but not signed (it has no certificate)") || !strings.Contains(err.Error(), "kube-controller-manager") {
		t.Errorf("got %v, want an error naming the signer", err)
	}

	tenant.PrependReactor("get", "certificatesigningrequests", func(action k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := tenant.Tracker().Get(certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests"), "", action.(k8stesting.GetAction).GetName())
		if err != nil {
			return true, nil, err
		}
		csr := obj.(*certificatesv1.CertificateSigningRequest).DeepCopy()
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateFailed,
			Status: corev1.ConditionTrue, Reason: "SignerValidationFailure", Message: "invalid usage for client certificate: server auth"})
		return true, csr, nil
	})
	_, err = m.Kubeconfig(context.Background(), "tenant-a", "tenant-a", KubeconfigOptions{TTL: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "Failed (SignerValidationFailure): invalid usage for client certificate") {
		t.Errorf("got %v, want the signer's reason", err)
	}
}
