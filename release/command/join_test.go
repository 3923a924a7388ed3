package command

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/hooks/join"
	"github.com/taowa/taowa/internal/certs"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// installedTenant gives c what an installed tenant master tenant-a in namespace tenant-a has in
// the meta cluster (tenantstest's InstalledTenant) and in
// the tenant (cluster-info, the default/kubernetes EndpointSlice), and returns the tenant's CA.
func installedTenant(t *testing.T, c *tenantstest.Cluster) *certs.KeyPair {
	t.Helper()
	ca, _ := c.InstalledTenant(t)
	bootstrappedTenant(t, c.Tenant(tenantstest.TenantClusterIP), ca.CertPEM())
	return ca
}

// bootstrappedTenant adds what the bootstrap hook and the apiserver write to a tenant.
func bootstrappedTenant(t *testing.T, tenant *fake.Clientset, caPEM []byte) {
	t.Helper()
	info := clientcmdapi.NewConfig()
	info.Clusters[""] = &clientcmdapi.Cluster{Server: "https://10.240.1.10:6443", CertificateAuthorityData: caPEM}
	infoKubeconfig, err := clientcmd.Write(*info)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public"},
			Data: map[string]string{"kubeconfig": string(infoKubeconfig)}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](6443)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.240.1.10"}}},
		},
	} {
		if err := tenant.Tracker().Add(obj); err != nil {
			t.Fatal(err)
		}
	}
}

// tokenSecret returns the bootstrap token Secret of id in tenant.
func tokenSecret(t *testing.T, tenant *fake.Clientset, id string) *corev1.Secret {
	t.Helper()
	s, err := tenant.CoreV1().Secrets("kube-system").Get(context.Background(), "bootstrap-token-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the token's Secret: %v", err)
	}
	return s
}

func TestJoin(t *testing.T) {
	c := tenantstest.NewCluster()
	ca := installedTenant(t, c)
	tenant := c.Tenant(tenantstest.TenantClusterIP)
	pin := join.CACertHash(ca.Cert)

	start := time.Now()
	stdout, stderr := mustTaowa(t, c, "join", "tenant-a", "-n", "tenant-a", "-o", "json")
	var fields map[string]any
	decodeJSON(t, stdout, &fields)
	requireKeys(t, "join -o json", fields, "servers", "token", "caCertHashes", "expires")
	var p join.Parameters
	decodeJSON(t, stdout, &p)
	if strings.Join(p.Servers, ",") != "10.240.1.10:6443" || strings.Join(p.CACertHashes, ",") != pin {
		t.Errorf("join parameters %+v, want server 10.240.1.10:6443 and the CA's pin %s", p, pin)
	}
	if d := p.Expires.Sub(start.Add(24 * time.Hour)); d < -time.Second || d > 5*time.Second {
		t.Errorf("the token expires %s, want 24h from %s", p.Expires, start)
	}
	token, err := join.ParseToken(p.Token)
	if err != nil {
		t.Fatal(err)
	}
	s := tokenSecret(t, tenant, token.ID)
	if got := string(s.Data["description"]); got != "taowa join tenant-a" {
		t.Errorf("description %q, want the default", got)
	}
	if string(s.Data["token-secret"]) != token.Secret {
		t.Errorf("the Secret's token-secret is not the printed token's")
	}
	if !strings.Contains(stderr, tenantstest.TenantClusterIP) {
		t.Errorf("stderr does not say where the tenant was reached:\n%s", stderr)
	}

	stdout, _ = mustTaowa(t, c, "join", "tenant-a", "-n", "tenant-a", "--ttl", "1h", "--description", "rack 7")
	m := regexp.MustCompile(`token:\s+(\S+)  \(expires (\S+)\)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no token line in:\n%s", stdout)
	}
	want := fmt.Sprintf(`servers:       10.240.1.10:6443
token:         %[1]s  (expires %[2]s)
ca-cert-hash:  %[3]s
join a node with kubeadm:
  kubeadm join 10.240.1.10:6443 --token %[1]s --discovery-token-ca-cert-hash %[3]s
`, m[1], m[2], pin)
	if stdout != want {
		t.Errorf("join output:\n%s\nwant:\n%s", stdout, want)
	}
	token, err = join.ParseToken(m[1])
	if err != nil {
		t.Fatal(err)
	}
	s = tokenSecret(t, tenant, token.ID)
	if string(s.Data["description"]) != "rack 7" || string(s.Data["expiration"]) != m[2] {
		t.Errorf("the Secret says %q, expiration %s; want rack 7, %s", s.Data["description"], s.Data["expiration"], m[2])
	}
	if expires, err := time.Parse(time.RFC3339, m[2]); err != nil || expires.Sub(start) > time.Hour+time.Minute {
		t.Errorf("--ttl 1h: expires %s (%v), started %s", m[2], err, start)
	}
}

func TestJoinThroughServer(t *testing.T) {
	c := tenantstest.NewCluster()
	ca := installedTenant(t, c)
	const forwarded = "https://127.0.0.1:16443"
	bootstrappedTenant(t, c.Tenant(forwarded), ca.CertPEM())

	stdout, _ := mustTaowa(t, c, "join", "tenant-a", "-n", "tenant-a", "--server", forwarded, "-o", "json")
	var p join.Parameters
	decodeJSON(t, stdout, &p)
	token, err := join.ParseToken(p.Token)
	if err != nil {
		t.Fatal(err)
	}
	tokenSecret(t, c.Tenant(forwarded), token.ID)
	if config := c.TenantConfig(forwarded); config == nil || config.TLSClientConfig.ServerName != "tenant-a-apiserver.tenant-a.svc" {
		t.Errorf("through --server the certificate is not verified against the admin kubeconfig's host: %+v", config)
	}
	if c.TenantConfig(tenantstest.TenantClusterIP) != nil {
		t.Error("with --server the ClusterIP was dialled too")
	}
}

func TestJoinRefusals(t *testing.T) {
	c := tenantstest.NewCluster()
	installedTenant(t, c)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"join", "tenant-b", "-n", "tenant-a"}, []string{"tenant-b", "namespace tenant-a", "admin kubeconfig"}},
		{[]string{"join", "tenant-a", "-n", "other"}, []string{"tenant-a", "namespace other"}},
		{[]string{"join", "tenant-a", "-n", "tenant-a", "--ttl", "0s"}, []string{"tenant-a", "want more than 0"}},
		{[]string{"join", "tenant-a", "-n", "tenant-a", "--server", "127.0.0.1:16443"}, []string{"tenant-a", "want an https URL"}},
		{[]string{"join", "-n", "tenant-a"}, []string{"one release name"}},
	} {
		_, _, err := taowa(t, c, tc.args...)
		if err == nil {
			t.Errorf("taowa %s: no error", strings.Join(tc.args, " "))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("taowa %s: %v\nwant it to say %q", strings.Join(tc.args, " "), err, w)
			}
		}
	}
	secrets, err := c.Tenant(tenantstest.TenantClusterIP).CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(secrets.Items) != 0 {
		t.Errorf("refusals created tokens: %v %v", secrets, err)
	}
}
