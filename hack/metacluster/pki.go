package metacluster

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/taowa/taowa/internal/certs"
)

const certValidity = 365 * 24 * time.Hour

// Client identities of the cluster: file name, user name and groups.
var clientIdentities = []struct {
	file   string
	user   string
	groups []string
}{
	{"admin", "taowa-meta-admin", []string{"system:masters"}},
	{"controller-manager", "system:kube-controller-manager", nil},
	{"scheduler", "system:kube-scheduler", nil},
	{"kubelet", "system:node:" + NodeName, []string{"system:nodes"}},
	{"kube-proxy", "system:kube-proxy", nil},
}

func (c Config) pki(name string) string { return c.path("pki", name) }

// writePKI creates the cluster's CA, serving certificates, service-account key pair and one
// kubeconfig per client identity. The state directory is new on every bring-up, so there is
// nothing to reuse.
func (c Config) writePKI() error {
	ca, err := certs.NewCA("taowa-meta-ca", certValidity)
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.crt": ca.CertPEM()}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	files["ca.key"] = caKey

	serving := []struct {
		name string
		spec certs.Spec
	}{
		{"apiserver", certs.Spec{
			CommonName: "kube-apiserver",
			DNSNames:   []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + DNSDomain, "localhost"},
			IPs:        []net.IP{APIServiceIP, NodeIP, net.IPv4(127, 0, 0, 1)},
			Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{"kubelet-serving", certs.Spec{
			CommonName: NodeName, DNSNames: []string{NodeName}, IPs: []net.IP{NodeIP},
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{"apiserver-kubelet-client", certs.Spec{
			CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"},
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
	}
	for _, s := range serving {
		s.spec.Validity = certValidity
		kp, err := ca.Issue(s.spec)
		if err != nil {
			return err
		}
		key, err := kp.KeyPEM()
		if err != nil {
			return err
		}
		files[s.name+".crt"], files[s.name+".key"] = kp.CertPEM(), key
	}

	sa, err := certs.NewKey()
	if err != nil {
		return err
	}
	if files["sa.key"], err = certs.KeyPEM(sa); err != nil {
		return err
	}
	if files["sa.pub"], err = certs.PublicKeyPEM(sa); err != nil {
		return err
	}

	for _, id := range clientIdentities {
		kp, err := ca.Issue(certs.Spec{
			CommonName: id.user, Organization: id.groups, Validity: certValidity,
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return err
		}
		kc, err := certs.Kubeconfig(ClusterName, APIServerURL(), ca.CertPEM(), id.user, kp)
		if err != nil {
			return err
		}
		files[id.file+".kubeconfig"] = kc
	}

	if err := os.MkdirAll(c.pki(""), 0o700); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(c.pki(name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	// The admin kubeconfig also sits at the documented top-level path.
	return os.WriteFile(c.KubeconfigPath(), files["admin.kubeconfig"], 0o600)
}

func (c Config) kubeconfigFor(identity string) string {
	return filepath.Join(c.pki(""), identity+".kubeconfig")
}
