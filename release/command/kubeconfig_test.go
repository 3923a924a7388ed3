package command

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/internal/certs"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// kubeconfig --ttl --user --group prints a kubeconfig with a certificate of that identity, which
// the tenant signed, and says on stderr until when it is valid.
func TestKubeconfigTTL(t *testing.T) {
	c := tenantstest.NewCluster()
	ca := installedTenant(t, c)
	tenantstest.SignClientCertificates(c.Tenant(tenantstest.TenantClusterIP), ca)

	stdout, stderr := mustTaowa(t, c, "kubeconfig", "tenant-a", "-n", "tenant-a", "--ttl", "1h", "--user", "alice", "--group", "dev", "--group", "ops")
	config, err := clientcmd.Load([]byte(stdout))
	if err != nil {
		t.Fatalf("stdout is no kubeconfig: %v\n%s", err, stdout)
	}
	alice := config.AuthInfos["alice"]
	if alice == nil {
		t.Fatalf("users %v: want alice", config.AuthInfos)
	}
	cert, err := certs.ParseCert(alice.ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "alice" || strings.Join(cert.Subject.Organization, ",") != "dev,ops" || cert.CheckSignatureFrom(ca.Cert) != nil {
		t.Errorf("certificate %s: want alice in dev and ops, signed by the tenant's CA", cert.Subject)
	}
	if !strings.Contains(stderr, "client certificate of alice (groups dev, ops) signed by tenant-a, valid until") {
		t.Errorf("stderr does not say until when it is valid:\n%s", stderr)
	}

	if _, _, err := taowa(t, c, "kubeconfig", "tenant-a", "-n", "tenant-a", "--user", "alice"); err == nil || !strings.Contains(err.Error(), "needs a time to live") {
		t.Errorf("--user without --ttl: %v, want a refusal", err)
	}
}
