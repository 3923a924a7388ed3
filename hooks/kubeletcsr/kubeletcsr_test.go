package kubeletcsr

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func testNode(name, ip string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}}}
}

// request is what a kubelet with serverTLSBootstrap sends, with the changes edit makes.
func request(t *testing.T, name string, edit func(*x509.CertificateRequest, *certificatesv1.CertificateSigningRequestSpec)) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
		DNSNames:    []string{name},
		IPAddresses: []net.IP{net.ParseIP("10.240.1.100")},
	}
	spec := certificatesv1.CertificateSigningRequestSpec{
		SignerName: certificatesv1.KubeletServingSignerName,
		Username:   "system:node:" + name, Groups: []string{"system:nodes", "system:authenticated"},
		Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
	}
	if edit != nil {
		edit(tmpl, &spec)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	spec.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	return &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "csr-" + name}, Spec: spec}
}

func TestJudge(t *testing.T) {
	node := testNode("worker-1", "10.240.1.100")
	for name, tc := range map[string]struct {
		edit func(*x509.CertificateRequest, *certificatesv1.CertificateSigningRequestSpec)
		want string
	}{
		"a node's own serving certificate": {},
		"another node asks": {func(_ *x509.CertificateRequest, s *certificatesv1.CertificateSigningRequestSpec) {
			s.Username = "system:node:worker-2"
		}, "not by node worker-1"},
		"not in system:nodes": {func(_ *x509.CertificateRequest, s *certificatesv1.CertificateSigningRequestSpec) {
			s.Groups = []string{"system:authenticated"}
		}, "not by node worker-1"},
		"an address of another machine": {func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequestSpec) {
			r.IPAddresses = append(r.IPAddresses, net.ParseIP("10.96.0.1"))
		}, "address 10.96.0.1 is not one of Node worker-1's"},
		"a name that is not the node's": {func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequestSpec) {
			r.DNSNames = []string{"kubernetes.default.svc"}
		}, "name kubernetes.default.svc is not one of"},
		"a client certificate": {func(_ *x509.CertificateRequest, s *certificatesv1.CertificateSigningRequestSpec) {
			s.Usages = append(s.Usages, certificatesv1.UsageClientAuth)
		}, `usage "client auth" is not a TLS server's`},
		"another subject": {func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequestSpec) {
			r.Subject.Organization = []string{"system:masters"}
		}, "is not system:node:worker-1 in system:nodes"},
		"another signer": {func(_ *x509.CertificateRequest, s *certificatesv1.CertificateSigningRequestSpec) {
			s.SignerName = certificatesv1.KubeAPIServerClientKubeletSignerName
		}, "is not kubernetes.io/kubelet-serving"},
	} {
		t.Run(name, func(t *testing.T) {
			err := Judge(request(t, "worker-1", tc.edit), node)
			if tc.want == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tc.want)
			}
		})
	}
}

func TestApprovePending(t *testing.T) {
	good := request(t, "worker-1", nil)
	bad := request(t, "worker-2", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequestSpec) {
		r.IPAddresses = []net.IP{net.ParseIP("10.240.1.100")} // worker-1's address
	})
	orphan := request(t, "worker-3", nil)
	client := fake.NewClientset(good, bad, orphan, testNode("worker-1", "10.240.1.100"), testNode("worker-2", "10.240.1.101"))
	ctx := context.Background()
	var out bytes.Buffer
	n, err := ApprovePending(ctx, client, &out)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Contains(t, out.String(), "approved csr-worker-1")
	assert.Contains(t, out.String(), "left csr-worker-2 pending: address 10.240.1.100 is not one of Node worker-2's")
	assert.Contains(t, out.String(), "left csr-worker-3 pending: no Node worker-3")

	approved, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, good.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.True(t, decided(approved))
	assert.Equal(t, Reason, approved.Status.Conditions[0].Reason)
	pending, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, bad.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, decided(pending))

	n, err = ApprovePending(ctx, client, &out)
	require.NoError(t, err)
	assert.Zero(t, n, "a decided request is not approved twice")
}
