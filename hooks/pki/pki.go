// Package pki creates a tenant master's certificates, keys and kubeconfigs as Secrets in the
// tenant's namespace of the meta cluster. It creates only what is missing, so a retried or
// repeated run (a hook Job killed halfway, every `helm upgrade`, an Argo CD sync) never replaces a
// CA or a key: the private keys live only in these Secrets, never in the Helm release. The
// exceptions are renewal and identity: with Config.RenewBefore, a leaf certificate (or kubeconfig)
// that expires within that time is re-issued from the same CA, and so is one whose subject is not
// the one this version issues; Ensure reports which, so that the components that cannot reload
// it are restarted. CAs change only through a CA rotation
// (rotation.go), whose phases Ensure applies and then carries into every leaf: a leaf not signed by
// its CA's current signer is re-issued, a trust bundle that differs from its CA's is rewritten.
package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/internal/certs"
)

// Config describes one tenant master.
type Config struct {
	Release   string // the release's full name, prefix of every Secret and Service
	Namespace string
	// MetaDNSDomain is the meta cluster's DNS domain, for the Services' full names.
	MetaDNSDomain string
	// TenantServiceCIDR is the tenant's Service range: its first address is the tenant's
	// `kubernetes` Service, which Pods of the tenant use to reach the apiserver.
	TenantServiceCIDR string
	TenantDNSDomain   string
	// ExternalAddresses are extra IPs or DNS names the apiserver is reached by.
	ExternalAddresses []string
	// AdvertisedAddresses are the addresses the apiservers advertise in the tenant (its
	// default/kubernetes endpoints): with an ENI, the addresses in the tenant's VPC where its nodes
	// reach them. They are known only once the apiservers run.
	AdvertisedAddresses []net.IP
	APIServerPort       int
	EtcdReplicas        int
	CAValidity          time.Duration
	CertValidity        time.Duration
	// RenewBefore re-issues a leaf certificate or kubeconfig that expires within this time; 0
	// never renews. CAs change only through CARotation.
	RenewBefore time.Duration
	// Now is the clock renewal judges by; nil means time.Now.
	Now func() time.Time
	// CARotation, when its ID is set, advances the CAs to the given phase of that rotation.
	CARotation CARotation
	// EncryptionAtRest writes the apiserver's EncryptionConfiguration (see encryption.go) when it
	// is missing.
	EncryptionAtRest bool
	// Instance is the release name (label app.kubernetes.io/instance). When set, a re-issued
	// serving certificate is loaded at once: the apiserver Pods are annotated with its serial, which
	// makes the kubelet sync their Secret volumes now instead of within its sync period (a minute
	// or more), and the apiserver reloads the files.
	Instance string
}

// Names of the Services the chart creates; the certificates must match them.
func (c Config) apiserverService() string { return c.Release + "-apiserver" }
func (c Config) etcdService() string      { return c.Release + "-etcd" }
func (c Config) etcdClientService() string {
	return c.Release + "-etcd-client"
}

// SecretName is the full name of one of the Secret* names for this release.
func (c Config) SecretName(short string) string { return c.Release + "-" + short }

// APIServerURL is the in-cluster URL of the tenant's apiserver Service, used by the kubeconfigs.
func (c Config) APIServerURL() string {
	return fmt.Sprintf("https://%s.%s.svc.%s:%d", c.apiserverService(), c.Namespace, c.MetaDNSDomain, c.APIServerPort)
}

func (c Config) validate() error {
	switch {
	case c.Release == "" || c.Namespace == "":
		return fmt.Errorf("release name and namespace are required")
	case c.MetaDNSDomain == "" || c.TenantDNSDomain == "":
		return fmt.Errorf("meta and tenant DNS domains are required")
	case c.APIServerPort <= 0 || c.APIServerPort > 65535:
		return fmt.Errorf("apiserver port %d is not a port", c.APIServerPort)
	case c.EtcdReplicas < 1:
		return fmt.Errorf("etcd replicas %d: at least 1 is needed", c.EtcdReplicas)
	case c.CAValidity <= 0 || c.CertValidity <= 0:
		return fmt.Errorf("validity must be positive (CA %s, certificates %s)", c.CAValidity, c.CertValidity)
	case c.RenewBefore < 0 || (c.RenewBefore > 0 && c.RenewBefore >= c.CertValidity):
		return fmt.Errorf("renew-before %s must be 0 (never) or less than the certificate validity %s, or every run would renew",
			c.RenewBefore, c.CertValidity)
	}
	if _, _, err := net.ParseCIDR(c.TenantServiceCIDR); err != nil {
		return fmt.Errorf("tenant service CIDR %q: %w", c.TenantServiceCIDR, err)
	}
	return c.CARotation.validate()
}

// Ensure creates every missing Secret of the tenant's PKI, renews what expires within
// cfg.RenewBefore, and reports each one on out as "created", "kept" or "renewed". It returns the
// short names of the renewed Secrets.
func Ensure(ctx context.Context, client kubernetes.Interface, cfg Config, out io.Writer) ([]string, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &store{client: client, cfg: cfg, out: out}
	return s.renewed, s.ensure(ctx)
}

func (s *store) ensure(ctx context.Context) error {
	cfg := s.cfg
	ca, err := s.ensureCA(ctx, SecretCA, cfg.Release+"-ca")
	if err != nil {
		return err
	}
	frontProxyCA, err := s.ensureCA(ctx, SecretFrontProxyCA, cfg.Release+"-front-proxy-ca")
	if err != nil {
		return err
	}
	etcdCA, err := s.ensureCA(ctx, SecretEtcdCA, cfg.Release+"-etcd-ca")
	if err != nil {
		return err
	}
	clusterIP, err := s.apiserverClusterIP(ctx)
	if err != nil {
		return err
	}
	apiserverSpec, err := cfg.apiserverSpec(clusterIP)
	if err != nil {
		return err
	}
	apiserverSpec.Validity = cfg.CertValidity
	etcdNames := cfg.etcdNames()
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	leaves := []struct {
		secret string
		ca     *authority
		spec   certs.Spec
	}{
		{SecretAPIServer, ca, apiserverSpec},
		{SecretAPIServerKubeletClient, ca, certs.Spec{CommonName: "kube-apiserver-kubelet-client", Organization: []string{ClusterAdminsGroup}, Usages: clientAuth}},
		{SecretFrontProxyClient, frontProxyCA, certs.Spec{CommonName: "front-proxy-client", Usages: clientAuth}},
		{SecretAPIServerEtcdClient, etcdCA, certs.Spec{CommonName: "kube-apiserver-etcd-client", Usages: clientAuth}},
		{SecretEtcdServer, etcdCA, certs.Spec{CommonName: cfg.etcdService(), DNSNames: etcdNames, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}},
		{SecretEtcdPeer, etcdCA, certs.Spec{CommonName: cfg.etcdService() + "-peer", DNSNames: etcdNames, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}},
		{SecretMetricsClient, ca, certs.Spec{CommonName: MetricsScraperUser, Usages: clientAuth}},
	}
	var apiserverSecret *corev1.Secret
	for _, l := range leaves {
		l.spec.Validity = cfg.CertValidity
		build := func() (*corev1.Secret, error) {
			kp, err := l.ca.signer.Issue(l.spec)
			if err != nil {
				return nil, err
			}
			return tlsSecret(kp, l.ca.bundle)
		}
		secret, err := s.getOrCreate(ctx, l.secret, build)
		if err != nil {
			return err
		}
		if secret, err = s.reconcile(ctx, secret, l.secret, KeyCert, l.ca, l.spec, build); err != nil {
			return err
		}
		if l.secret == SecretAPIServer {
			apiserverSecret = secret
		}
	}
	if err := s.ensureServingIPs(ctx, apiserverSecret, ca, apiserverSpec, clusterIP); err != nil {
		return err
	}
	if cfg.EncryptionAtRest {
		if err := s.ensureEncryptionConfig(ctx); err != nil {
			return err
		}
	}
	if err := s.ensureServiceAccountKey(ctx); err != nil {
		return err
	}
	// The super-admin and admin kubeconfigs are kubeadm's super-admin.conf and admin.conf. The
	// super-admin comes first: an admin kubeconfig of an older taowa-hook, in system:masters, is
	// moved to its group only once the hooks have the super-admin to act with (tenant.SuperAdmin).
	kubeconfigs := []struct {
		secret string
		client certs.Spec
	}{
		{SecretSuperAdminKubeconfig, certs.Spec{CommonName: "kubernetes-super-admin", Organization: []string{"system:masters"}}},
		{SecretAdminKubeconfig, certs.Spec{CommonName: AdminUser, Organization: []string{ClusterAdminsGroup}}},
		{SecretControllerManagerKC, certs.Spec{CommonName: "system:kube-controller-manager"}},
		{SecretSchedulerKC, certs.Spec{CommonName: "system:kube-scheduler"}},
	}
	for _, k := range kubeconfigs {
		build := func() (*corev1.Secret, error) { return s.kubeconfigSecret(ca, k.client) }
		secret, err := s.getOrCreate(ctx, k.secret, build)
		if err != nil {
			return err
		}
		if _, err := s.reconcile(ctx, secret, k.secret, KeyKubeconfig, ca, k.client, build); err != nil {
			return err
		}
	}
	return nil
}

// reconcile brings secret (Secret short, as just read) in line with its CA a, its spec and the
// clock, and returns it as stored after: it is re-issued with build when its certificate (under
// key: a PEM certificate, or a kubeconfig whose client certificate counts) is not signed by a's
// signer (a CA rotation switched signers), names another subject than spec (a new taowa-hook
// changed an identity, e.g. the admin's group: an upgrade moves existing tenants over) or expires
// within RenewBefore; otherwise only its trust bundle is rewritten when it differs from a's. The
// update carries the Secret's resourceVersion, so of two concurrent runs one writes and the other
// fails and is retried, finding the Secret up to date.
func (s *store) reconcile(ctx context.Context, secret *corev1.Secret, short, key string, a *authority, spec certs.Spec, build func() (*corev1.Secret, error)) (*corev1.Secret, error) {
	name := s.cfg.SecretName(short)
	secrets := s.client.CoreV1().Secrets(s.cfg.Namespace)
	cert, bundle, err := certificateAndBundle(secret.Data, key)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	var why string
	switch {
	case cert.CheckSignatureFrom(a.signer.Cert) != nil:
		why = "its CA was rotated"
	case cert.Subject.CommonName != spec.CommonName || !slices.Equal(cert.Subject.Organization, spec.Organization):
		why = fmt.Sprintf("its subject %q is not %q", cert.Subject, pkix.Name{CommonName: spec.CommonName, Organization: spec.Organization})
	case s.cfg.RenewBefore > 0 && cert.NotAfter.Sub(s.cfg.Now()) <= s.cfg.RenewBefore:
		why = fmt.Sprintf("expired at %s, within %s", cert.NotAfter.UTC().Format(time.RFC3339), s.cfg.RenewBefore)
	case !bytes.Equal(bundle, a.bundle) && key == KeyKubeconfig:
		why = "its CA's trust bundle changed" // the bundle is inside the kubeconfig: issue it anew
	case !bytes.Equal(bundle, a.bundle):
		secret.Data[KeyCA] = a.bundle
		updated, err := secrets.Update(ctx, secret, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("update secret %s/%s: %w", s.cfg.Namespace, name, err)
		}
		fmt.Fprintf(s.out, "updated secret/%s (trust bundle of its CA)\n", name)
		return updated, nil
	default:
		return secret, nil
	}
	fresh, err := build()
	if err != nil {
		return nil, fmt.Errorf("renew secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	secret.Data = fresh.Data
	secret.Annotations = mergeMaps(secret.Annotations, fresh.Annotations)
	updated, err := secrets.Update(ctx, secret, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	fmt.Fprintf(s.out, "renewed secret/%s (%s)\n", name, why)
	s.renewed = append(s.renewed, short)
	return updated, nil
}

// certificateAndBundle reads a Secret's certificate and the trust bundle it carries: a PEM
// certificate under key with the bundle under ca.crt, or a kubeconfig with its client certificate
// and certificate-authority-data.
func certificateAndBundle(data map[string][]byte, key string) (*x509.Certificate, []byte, error) {
	certPEM, bundle := data[key], data[KeyCA]
	if key == KeyKubeconfig {
		cfg, err := clientcmd.Load(data[key])
		if err != nil {
			return nil, nil, err
		}
		for _, auth := range cfg.AuthInfos {
			certPEM = auth.ClientCertificateData
		}
		for _, cluster := range cfg.Clusters {
			bundle = cluster.CertificateAuthorityData
		}
	}
	cert, err := certs.ParseCert(certPEM)
	if err != nil {
		return nil, nil, err
	}
	return cert, bundle, nil
}

// apiserverSpec lists every name the apiserver is reached by: its Service in the meta cluster
// (names and, once the Service exists, its ClusterIP), the tenant's own `kubernetes` Service
// (name and first Service IP), and external addresses.
func (c Config) apiserverSpec(clusterIP net.IP) (certs.Spec, error) {
	svc := c.apiserverService()
	spec := certs.Spec{
		CommonName: "kube-apiserver",
		DNSNames: []string{
			svc, svc + "." + c.Namespace, svc + "." + c.Namespace + ".svc", svc + "." + c.Namespace + ".svc." + c.MetaDNSDomain,
			"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + c.TenantDNSDomain,
			"localhost",
		},
		IPs:    []net.IP{net.IPv4(127, 0, 0, 1)},
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	first, err := firstIP(c.TenantServiceCIDR)
	if err != nil {
		return certs.Spec{}, err
	}
	spec.IPs = append(spec.IPs, first)
	if clusterIP != nil {
		spec.IPs = append(spec.IPs, clusterIP)
	}
	spec.IPs = append(spec.IPs, c.AdvertisedAddresses...)
	for _, a := range c.ExternalAddresses {
		if ip := net.ParseIP(a); ip != nil {
			spec.IPs = append(spec.IPs, ip)
		} else {
			spec.DNSNames = append(spec.DNSNames, a)
		}
	}
	return spec, nil
}

// etcdNames are the names etcd members and clients use: each member's stable name under the
// headless Service, and the client Service.
func (c Config) etcdNames() []string {
	var names []string
	suffixes := []string{"", "." + c.Namespace, "." + c.Namespace + ".svc", "." + c.Namespace + ".svc." + c.MetaDNSDomain}
	for i := 0; i < c.EtcdReplicas; i++ {
		member := fmt.Sprintf("%s-%d.%s", c.etcdService(), i, c.etcdService())
		for _, s := range suffixes {
			names = append(names, member+s)
		}
	}
	for _, svc := range []string{c.etcdService(), c.etcdClientService()} {
		for _, s := range suffixes {
			names = append(names, svc+s)
		}
	}
	return append(names, "localhost")
}

func firstIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("tenant service CIDR %q: %w", cidr, err)
	}
	ip := n.IP.To4()
	if ip == nil {
		ip = n.IP.To16()
	}
	first := make(net.IP, len(ip))
	copy(first, ip)
	first[len(first)-1]++
	return first, nil
}

// apiserverClusterIP returns the ClusterIP of the apiserver's Service, or nil while the Service
// does not exist: on a first install this runs as a pre-install hook, before Helm creates it (and
// Helm refuses to install over a Service it finds, so the hook cannot create it first).
func (s *store) apiserverClusterIP(ctx context.Context) (net.IP, error) {
	svc, err := s.client.CoreV1().Services(s.cfg.Namespace).Get(ctx, s.cfg.apiserverService(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read service %s/%s: %w", s.cfg.Namespace, s.cfg.apiserverService(), err)
	}
	return net.ParseIP(svc.Spec.ClusterIP), nil
}

// ensureServingIPs re-issues the apiserver's serving certificate (secret, as just read), from the
// same CA and with the same names, when it does not name the Service's ClusterIP or an address the
// apiservers advertise: the Service was recreated with another address, the certificate was
// issued before the Service existed, or an apiserver got another ENI. The apiserver reloads its
// serving certificate from the mounted files, so no restart is needed. Nothing else is ever
// re-issued.
func (s *store) ensureServingIPs(ctx context.Context, secret *corev1.Secret, ca *authority, spec certs.Spec, clusterIP net.IP) error {
	wanted := slices.Clone(s.cfg.AdvertisedAddresses)
	if clusterIP != nil {
		wanted = append(wanted, clusterIP)
	}
	name := s.cfg.SecretName(SecretAPIServer)
	secrets := s.client.CoreV1().Secrets(s.cfg.Namespace)
	cert, err := certs.ParseCert(secret.Data[KeyCert])
	if err != nil {
		return fmt.Errorf("certificate in secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	var missing []string
	for _, ip := range wanted {
		if cert.VerifyHostname(ip.String()) != nil {
			missing = append(missing, ip.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	kp, err := ca.signer.Issue(spec)
	if err != nil {
		return err
	}
	reissued, err := tlsSecret(kp, ca.bundle)
	if err != nil {
		return err
	}
	secret.Data = reissued.Data
	secret.Annotations = mergeMaps(secret.Annotations, reissued.Annotations)
	if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	fmt.Fprintf(s.out, "updated secret/%s (serving certificate now names %s)\n", name, strings.Join(missing, ", "))
	return s.refreshAPIServerMounts(ctx, kp.Cert.SerialNumber.Text(16))
}

// AnnotationServingCertificate on an apiserver Pod names the serial of the serving certificate the
// PKI hook last wrote; changing it makes the kubelet sync the Pod's volumes at once.
const AnnotationServingCertificate = "taowa.io/serving-certificate"

// refreshAPIServerMounts annotates the running apiserver Pods with serial, so that the kubelet
// syncs their Secret volumes now and the apiservers reload the new serving certificate from the
// files. Without Instance it leaves them to the kubelet's periodic sync.
func (s *store) refreshAPIServerMounts(ctx context.Context, serial string) error {
	if s.cfg.Instance == "" {
		return nil
	}
	pods := s.client.CoreV1().Pods(s.cfg.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + s.cfg.Instance + ",app.kubernetes.io/component=kube-apiserver"})
	if err != nil {
		return fmt.Errorf("list apiserver Pods of %s/%s: %w", s.cfg.Namespace, s.cfg.Instance, err)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationServingCertificate, serial)
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if _, err := pods.Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("annotate Pod %s/%s to load the new serving certificate: %w", s.cfg.Namespace, p.Name, err)
		}
		fmt.Fprintf(s.out, "annotated pod/%s: the kubelet syncs the new serving certificate now\n", p.Name)
	}
	return nil
}

func mergeMaps(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// store reads and creates the Secrets.
type store struct {
	client  kubernetes.Interface
	cfg     Config
	out     io.Writer
	renewed []string
}

// getOrCreate returns the existing Secret short, or creates it from build. When a concurrent or
// earlier run created it in between (AlreadyExists), that one wins: it is read and returned, so
// no second CA or key ever exists.
func (s *store) getOrCreate(ctx context.Context, short string, build func() (*corev1.Secret, error)) (*corev1.Secret, error) {
	name := s.cfg.SecretName(short)
	secrets := s.client.CoreV1().Secrets(s.cfg.Namespace)
	existing, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		fmt.Fprintf(s.out, "kept    secret/%s\n", name)
		return existing, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("read secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	secret, err := build()
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	secret.Name, secret.Namespace = name, s.cfg.Namespace
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	secret.Labels[LabelRelease] = s.cfg.Release
	secret.Labels[LabelManagedBy] = ManagedBy
	created, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		fmt.Fprintf(s.out, "kept    secret/%s (created concurrently)\n", name)
		return secrets.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create secret %s/%s: %w", s.cfg.Namespace, name, err)
	}
	fmt.Fprintf(s.out, "created secret/%s\n", name)
	return created, nil
}

// tlsSecret holds kp and, under ca.crt, the trust bundle of its CA (for a CA: itself).
func tlsSecret(kp *certs.KeyPair, bundle []byte) (*corev1.Secret, error) {
	key, err := kp.KeyPEM()
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{KeyCert: kp.CertPEM(), KeyKey: key, KeyCA: bundle}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Annotations: issued(kp)},
		Type:       corev1.SecretTypeTLS,
		Data:       data,
	}, nil
}

// issued are the annotations of a Secret that holds kp, written now.
func issued(kp *certs.KeyPair) map[string]string {
	return map[string]string{
		AnnotationNotAfter: kp.Cert.NotAfter.UTC().Format(time.RFC3339),
		AnnotationIssuedAt: time.Now().UTC().Format(time.RFC3339Nano),
	}
}

// authority is one CA as its Secret holds it: the signer that issues leaves, and the trust bundle
// that every component verifies with (the signer alone, or the old and the new CA during a
// rotation).
type authority struct {
	signer *certs.KeyPair
	bundle []byte
}

// ensureCA returns CA short, creating it when missing and advancing it to the requested phase of a
// CA rotation. A CA Secret written before trust bundles existed gets one (its own certificate).
func (s *store) ensureCA(ctx context.Context, short, commonName string) (*authority, error) {
	secret, err := s.getOrCreate(ctx, short, func() (*corev1.Secret, error) {
		ca, err := certs.NewCA(commonName, s.cfg.CAValidity)
		if err != nil {
			return nil, err
		}
		return tlsSecret(ca, ca.CertPEM())
	})
	if err != nil {
		return nil, err
	}
	if len(secret.Data[KeyCA]) == 0 {
		secret.Data[KeyCA] = secret.Data[KeyCert]
		if secret, err = s.updateCA(ctx, secret, "added its trust bundle"); err != nil {
			return nil, err
		}
	}
	if s.cfg.CARotation.ID != "" {
		if secret, err = s.advanceRotation(ctx, secret); err != nil {
			return nil, err
		}
	}
	kp, err := certs.Parse(secret.Data[KeyCert], secret.Data[KeyKey])
	if err != nil {
		return nil, fmt.Errorf("CA in secret %s/%s: %w", s.cfg.Namespace, secret.Name, err)
	}
	return &authority{signer: kp, bundle: secret.Data[KeyCA]}, nil
}

func (s *store) updateCA(ctx context.Context, secret *corev1.Secret, what string) (*corev1.Secret, error) {
	updated, err := s.client.CoreV1().Secrets(s.cfg.Namespace).Update(ctx, secret, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update secret %s/%s: %w", s.cfg.Namespace, secret.Name, err)
	}
	fmt.Fprintf(s.out, "updated secret/%s (%s)\n", secret.Name, what)
	return updated, nil
}

func (s *store) ensureServiceAccountKey(ctx context.Context) error {
	_, err := s.getOrCreate(ctx, SecretServiceAccount, func() (*corev1.Secret, error) {
		key, err := certs.NewKey()
		if err != nil {
			return nil, err
		}
		priv, err := certs.KeyPEM(key)
		if err != nil {
			return nil, err
		}
		pub, err := certs.PublicKeyPEM(key)
		if err != nil {
			return nil, err
		}
		return &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{KeySAPrivate: priv, KeySAPublic: pub}}, nil
	})
	return err
}

// kubeconfigSecret issues a kubeconfig whose client certificate names client's user (CommonName)
// and groups (Organization).
func (s *store) kubeconfigSecret(ca *authority, client certs.Spec) (*corev1.Secret, error) {
	client.Validity = s.cfg.CertValidity
	client.Usages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	kp, err := ca.signer.Issue(client)
	if err != nil {
		return nil, err
	}
	kc, err := certs.Kubeconfig(s.cfg.Release, s.cfg.APIServerURL(), ca.bundle, client.CommonName, kp)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Annotations: issued(kp)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{KeyKubeconfig: kc},
	}, nil
}
