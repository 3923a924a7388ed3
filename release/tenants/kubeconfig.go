package tenants

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/internal/certs"
)

// minKubeconfigTTL is the shortest life of a short-lived kubeconfig: the CertificateSigningRequest
// API refuses a shorter spec.expirationSeconds.
const minKubeconfigTTL = 10 * time.Minute

// certificateSignWait is how long Kubeconfig waits for the tenant to sign a short-lived
// kubeconfig's certificate when its context has no deadline.
const certificateSignWait = 30 * time.Second

// KubeconfigOptions configures Manager.Kubeconfig.
type KubeconfigOptions struct {
	// Server replaces the kubeconfig's server (e.g. the local end of a port-forward); the original
	// host becomes the TLS server name, so that the apiserver's certificate still verifies.
	Server string
	// TTL, when set, makes the client certificate a new one of its own that expires after TTL
	// (10 minutes at least), which the tenant signs (issueClientCertificate), instead of the
	// admin kubeconfig's. The tenant is reached as Join reaches it: at its Service's ClusterIP, or
	// at Server.
	TTL time.Duration
	// User and Groups are that certificate's identity; neither: the admin's (pki.AdminUser in
	// pki.ClusterAdminsGroup).
	User   string
	Groups []string
}

func (o KubeconfigOptions) validate(name string) error {
	switch {
	case o.TTL < 0:
		return fmt.Errorf("time to live %s: want more than 0", o.TTL)
	case o.TTL == 0 && (o.User != "" || len(o.Groups) > 0):
		return errors.New("a user or group needs a time to live: the admin kubeconfig's identity is its own")
	case o.TTL > 0 && o.TTL < minKubeconfigTTL:
		return fmt.Errorf("time to live %s: the tenant signs for %s at least", o.TTL, minKubeconfigTTL)
	case o.TTL/time.Second > math.MaxInt32: // spec.expirationSeconds is an int32
		return fmt.Errorf("time to live %s: at most %s", o.TTL, time.Duration(math.MaxInt32)*time.Second)
	case len(o.Groups) > 0 && o.User == "":
		return fmt.Errorf("groups %v need a user", o.Groups)
	case slices.Contains(o.Groups, "system:masters"):
		// The apiserver's admission plugin CertificateSubjectRestriction refuses such requests.
		return fmt.Errorf("no short-lived certificate is signed in system:masters; the break-glass kubeconfig is the Secret %s",
			pki.Config{Release: name}.SecretName(pki.SecretSuperAdminKubeconfig))
	}
	return nil
}

// Kubeconfig returns a kubeconfig of the tenant master name. Without opts.TTL it is the admin
// kubeconfig, as the PKI hook wrote it into the Secret <name>-admin-kubeconfig; with opts.TTL the
// same with a short-lived client certificate of its own. Its server is the apiserver's in-cluster
// Service URL unless opts.Server replaces it.
func (m *Manager) Kubeconfig(ctx context.Context, namespace, name string, opts KubeconfigOptions) ([]byte, error) {
	secretName := pki.Config{Release: name}.SecretName(pki.SecretAdminKubeconfig)
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("admin kubeconfig of %s (Secret %s/%s): %w", name, namespace, secretName, err)
	}
	if err := opts.validate(name); err != nil {
		return nil, fmt.Errorf("kubeconfig of %s: %w", name, err)
	}
	client, err := m.cluster.Clientset()
	if err != nil {
		return fail(err)
	}
	secret, err := client.CoreV1().Secrets(namespace).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		return fail(err)
	}
	data, ok := secret.Data[pki.KeyKubeconfig]
	if !ok {
		return fail(fmt.Errorf("no key %s", pki.KeyKubeconfig))
	}
	if opts.TTL == 0 && opts.Server == "" {
		return data, nil
	}
	config, err := clientcmd.Load(data)
	if err != nil {
		return fail(err)
	}
	if opts.TTL > 0 {
		if err := m.useShortLivedCertificate(ctx, namespace, name, config, opts); err != nil {
			return nil, fmt.Errorf("short-lived kubeconfig of %s (namespace %s): %w", name, namespace, err)
		}
	}
	if opts.Server != "" {
		for clusterName, cluster := range config.Clusters {
			original, err := url.Parse(cluster.Server)
			if err != nil {
				return fail(fmt.Errorf("cluster %s: server %q: %w", clusterName, cluster.Server, err))
			}
			if cluster.TLSServerName == "" {
				cluster.TLSServerName = original.Hostname()
			}
			cluster.Server = opts.Server
		}
	}
	if data, err = clientcmd.Write(*config); err != nil {
		return fail(err)
	}
	return data, nil
}

// useShortLivedCertificate replaces config's credentials by a client certificate of opts'
// identity that the tenant signs for opts.TTL, asked for and approved with the admin kubeconfig.
func (m *Manager) useShortLivedCertificate(ctx context.Context, namespace, name string, config *clientcmdapi.Config, opts KubeconfigOptions) error {
	user, groups := opts.User, opts.Groups
	if user == "" {
		user, groups = pki.AdminUser, []string{pki.ClusterAdminsGroup}
	}
	client, admin, err := m.adminClient(ctx, namespace, name, opts.Server)
	if err != nil {
		return err
	}
	kp, err := issueClientCertificate(ctx, client, user, groups, opts.TTL)
	if err != nil {
		return fmt.Errorf("through %s: %w", admin.Host, err)
	}
	keyPEM, err := kp.KeyPEM()
	if err != nil {
		return err
	}
	config.AuthInfos = map[string]*clientcmdapi.AuthInfo{user: {ClientCertificateData: kp.CertPEM(), ClientKeyData: keyPEM}}
	for _, c := range config.Contexts {
		c.AuthInfo = user
	}
	inGroups := "no groups"
	if len(groups) > 0 {
		inGroups = "groups " + strings.Join(groups, ", ")
	}
	m.progress.printf("client certificate of %s (%s) signed by %s, valid until %s", user, inGroups, name, kp.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// issueClientCertificate has the tenant sign a client certificate for user in groups that expires
// after ttl, through its CertificateSigningRequest API: signer kubernetes.io/kube-apiserver-client,
// which the tenant's kube-controller-manager signs with the tenant's CA for at most its
// --cluster-signing-duration. The private key is made here and never leaves this process, and the
// CA key never leaves the meta cluster. client creates and approves the request, so it needs the
// right to approve for that signer (the admin has it).
func issueClientCertificate(ctx context.Context, client kubernetes.Interface, user string, groups []string, ttl time.Duration) (*certs.KeyPair, error) {
	key, err := certs.NewKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: user, Organization: groups}}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request for %s: %w", user, err)
	}
	csrs := client.CertificatesV1().CertificateSigningRequests()
	csr, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "taowa-kubeconfig-" + utilrand.String(8)},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        certificatesv1.KubeAPIServerClientSignerName,
			ExpirationSeconds: ptr.To(int32(ttl / time.Second)),
			Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create a CertificateSigningRequest for %s: %w", user, err)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: "TaowaKubeconfig", Message: fmt.Sprintf("taowa kubeconfig --ttl %s", ttl),
	})
	if _, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("approve CertificateSigningRequest %s: %w", csr.Name, err)
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, certificateSignWait)
		defer cancel()
	}
	var certPEM []byte
	var refused, lastRead error
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err := csrs.Get(ctx, csr.Name, metav1.GetOptions{})
		if lastRead = err; err != nil {
			return false, nil
		}
		for _, c := range got.Status.Conditions {
			if (c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed) && c.Status == corev1.ConditionTrue {
				refused = fmt.Errorf("CertificateSigningRequest %s: %s (%s): %s", csr.Name, c.Type, c.Reason, c.Message)
				return false, refused
			}
		}
		certPEM = got.Status.Certificate
		return len(certPEM) > 0, nil
	})
	if refused != nil {
		return nil, refused
	}
	if err != nil {
		why := "it has no certificate"
		if lastRead != nil {
			why = "reading it: " + lastRead.Error()
		}
		return nil, fmt.Errorf("CertificateSigningRequest %s was approved but not signed (%s): the tenant's kube-controller-manager signs "+
			"kubernetes.io/kube-apiserver-client requests with the tenant's CA: is it running? (%w)", csr.Name, why, err)
	}
	cert, err := certs.ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate of CertificateSigningRequest %s: %w", csr.Name, err)
	}
	if public, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !public.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("the certificate of CertificateSigningRequest %s is not for the key it was asked for with", csr.Name)
	}
	return &certs.KeyPair{Cert: cert, Key: key}, nil
}
