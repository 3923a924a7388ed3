package pki

// Secret names and keys written by `taowa-hook pki`. They are the contract with the chart, which
// mounts them: nothing else writes these Secrets. Every name is prefixed with the release's full
// name ("<release>-ca", ...).
const (
	SecretCA                     = "ca"                       // cluster CA: tls.crt, tls.key, ca.crt (trust bundle)
	SecretFrontProxyCA           = "front-proxy-ca"           // aggregation-layer CA, the same keys
	SecretEtcdCA                 = "etcd-ca"                  // etcd CA, the same keys
	SecretAPIServer              = "apiserver"                // apiserver serving certificate
	SecretAPIServerKubeletClient = "apiserver-kubelet-client" // apiserver -> kubelet client
	SecretAPIServerEtcdClient    = "apiserver-etcd-client"    // apiserver -> etcd client
	SecretFrontProxyClient       = "front-proxy-client"       // apiserver -> aggregated APIs client
	SecretEtcdServer             = "etcd-server"              // etcd client-facing serving certificate
	SecretEtcdPeer               = "etcd-peer"                // etcd member <-> member
	SecretMetricsClient          = "metrics-client"           // Prometheus -> apiserver /metrics (MetricsScraperUser)
	SecretServiceAccount         = "sa"                       // sa.key, sa.pub
	SecretEncryption             = "encryption"               // encryption-config.yaml: the apiserver's EncryptionConfiguration
	SecretAdminKubeconfig        = "admin-kubeconfig"         // kubeconfig (ClusterAdminsGroup: revocable)
	SecretSuperAdminKubeconfig   = "super-admin-kubeconfig"   // kubeconfig (system:masters): break-glass and the hooks
	SecretControllerManagerKC    = "controller-manager-kubeconfig"
	SecretSchedulerKC            = "scheduler-kubeconfig"

	// ClusterAdminsGroup is the admin kubeconfig's group, as kubeadm issues admin.conf since 1.29:
	// cluster-admin only through the ClusterRoleBinding of the same name that the ready hook applies
	// (package bootstrap), so deleting that binding revokes it. The super-admin kubeconfig is in
	// system:masters, which the apiserver authorizes before any RBAC.
	ClusterAdminsGroup = "kubeadm:cluster-admins"
	// AdminUser is the admin kubeconfig's user.
	AdminUser = "kubernetes-admin"
	// MetricsScraperUser is the metrics client certificate's user, which the ready hook allows to
	// read /metrics and nothing else.
	MetricsScraperUser = "taowa:metrics-scraper"

	// Keys of certificate Secrets follow the kubernetes.io/tls convention, plus the issuing CA.
	KeyCert = "tls.crt"
	KeyKey  = "tls.key"
	KeyCA   = "ca.crt"
	// Keys of the service-account Secret and of kubeconfig Secrets.
	KeySAPrivate = "sa.key"
	KeySAPublic  = "sa.pub"
	// KeyEncryptionConfig is the EncryptionConfiguration in the encryption Secret.
	KeyEncryptionConfig = "encryption-config.yaml"
	KeyKubeconfig       = "kubeconfig"

	// LabelRelease selects every Secret of one tenant, e.g. to purge it after uninstall.
	LabelRelease = "taowa.io/release"
	// LabelManagedBy marks the Secrets as written by the hook, not by Helm: they are not part of
	// the release, so `helm uninstall` keeps them (see the chart README).
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "taowa-hook"
	// AnnotationNotAfter records a certificate's expiry, for rotation and for humans.
	AnnotationNotAfter = "taowa.io/not-after"
	// AnnotationCertificatesIssued on a Deployment's Pod template is the AnnotationIssuedAt of
	// the newest Secret its Pods read at start: setting it restarts them, and setting it again
	// to the same value (a retried run) does nothing.
	AnnotationCertificatesIssued = "taowa.io/certificates-issued-at"
	// AnnotationIssuedAt records when a certificate or kubeconfig was written (RFC 3339, the
	// hook's clock): a component Pod that started before it still runs with the one before.
	AnnotationIssuedAt = "taowa.io/issued-at"
)

// restartOnRenewal maps a renewed Secret to the Deployment (by name suffix) that must restart to
// use it. The apiserver reloads its serving certificate and etcd its certificates from the
// mounted files, so those renewals restart nothing; the apiserver's client certificates and the
// components' kubeconfigs are read once at start.
var restartOnRenewal = map[string]string{
	SecretAPIServerKubeletClient: "apiserver",
	SecretAPIServerEtcdClient:    "apiserver",
	SecretFrontProxyClient:       "apiserver",
	SecretControllerManagerKC:    "controller-manager",
	SecretSchedulerKC:            "scheduler",
}
