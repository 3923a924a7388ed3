package tenantstest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/taowa/taowa/internal/certs"
)

// SignClientCertificates plays a tenant kube-controller-manager's kubernetes.io/kube-apiserver-client
// signer with ca: every read of an approved, unsigned request of that signer first signs it, for
// spec.expirationSeconds (a year without), with the subject and key it asks for.
func SignClientCertificates(client *k8sfake.Clientset, ca *certs.KeyPair) {
	tracker := client.Tracker()
	csrs := certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests")
	client.PrependReactor("get", "certificatesigningrequests", func(action k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := tracker.Get(csrs, "", action.(k8stesting.GetAction).GetName())
		if err != nil {
			return false, nil, nil // not there: the default reaction says so
		}
		csr := obj.(*certificatesv1.CertificateSigningRequest).DeepCopy()
		if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName || len(csr.Status.Certificate) > 0 || !approved(csr) {
			return false, nil, nil
		}
		if csr.Status.Certificate, err = signRequest(ca, csr.Spec); err != nil {
			return true, nil, err
		}
		if err := tracker.Update(csrs, csr, ""); err != nil {
			return true, nil, err
		}
		return false, nil, nil // the default reaction reads what was just written
	})
}

func approved(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// signRequest issues the client certificate spec asks for, as the signer does: backdated five
// minutes, and not after the CA.
func signRequest(ca *certs.KeyPair, spec certificatesv1.CertificateSigningRequestSpec) ([]byte, error) {
	block, _ := pem.Decode(spec.Request)
	if block == nil {
		return nil, errors.New("the request is not PEM")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	ttl := 365 * 24 * time.Hour
	if spec.ExpirationSeconds != nil {
		ttl = time.Duration(*spec.ExpirationSeconds) * time.Second
	}
	now := time.Now()
	notAfter := now.Add(ttl)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: req.Subject, NotBefore: now.Add(-5 * time.Minute), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca.Cert, req.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
