// Package bootstrap makes a freshly started tenant control plane usable: what kubeadm's
// bootstrap-token and cluster-info phases do, and the RBAC of the identities the PKI hook issues
// (the admins' group, the metrics client), applied with server-side apply so that every run
// (post-install, post-upgrade, post-rollback, an Argo CD resync) converges to the same objects.
package bootstrap

import (
	"context"
	"fmt"
	"net/netip"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/versions"
)

const fieldManager = "taowa-hook"

// Names of the objects the helm test uses: a namespace and a ServiceAccount that may only manage
// ConfigMaps there, the restricted identity `taowa-hook test` acts as.
const (
	TestNamespace      = "taowa-system"
	TestServiceAccount = "helm-test"
)

// KubeletServingApprover names the ClusterRole (and its binding) that lets the controller-manager's
// identity approve kubelet serving certificates.
const KubeletServingApprover = "taowa:kubelet-serving-approver"

// MetricsReader names the ClusterRole (and its binding) that lets the metrics client certificate
// (pki.MetricsScraperUser) read /metrics and nothing else. The controller-manager and the
// scheduler authorize their /metrics through the apiserver (delegated authorization), so it covers
// them too.
const MetricsReader = "taowa:metrics-reader"

// ClusterAdmins names the ClusterRoleBinding that makes the admin kubeconfig's group
// (pki.ClusterAdminsGroup) cluster-admin, as kubeadm's of the same name: deleting it revokes every
// certificate in that group.
const ClusterAdmins = "kubeadm:cluster-admins"

// NodeBootstrapGroup is kubeadm's extra group of the bootstrap tokens that nodes join with
// (package join creates them), kept so that `kubeadm join` works against a tenant master
// unchanged: the bindings below let it ask for node client certificates.
const NodeBootstrapGroup = "system:bootstrappers:kubeadm:default-node-token"

// Cluster is what joining nodes learn of the tenant.
type Cluster struct {
	// Server is the apiserver URL that joining nodes use, CAPEM its CA.
	Server string
	CAPEM  []byte
	// The rest goes into the kubeadm-config and kubelet-config ConfigMaps that `kubeadm join`
	// reads; see joinConfigMaps.
	KubernetesVersion versions.Version
	PodCIDR           netip.Prefix
	ServiceCIDR       netip.Prefix
	ClusterDomain     string
	// ServerTLSBootstrap: kubelets ask the tenant for their serving certificates, because the
	// apiserver verifies them.
	ServerTLSBootstrap bool
}

// Apply writes the objects.
func Apply(ctx context.Context, client kubernetes.Interface, c Cluster) error {
	info, err := clusterInfo(c.Server, c.CAPEM)
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	core, rbac := client.CoreV1(), client.RbacV1()
	if err := applyJoinConfig(ctx, client, c, opts); err != nil {
		return err
	}

	// cluster-info: the unauthenticated discovery document of `kubeadm join`; the controller
	// manager's bootstrapsigner adds a JWS signature per bootstrap token.
	if _, err := core.ConfigMaps("kube-public").Apply(ctx,
		corev1ac.ConfigMap("cluster-info", "kube-public").WithData(map[string]string{"kubeconfig": string(info)}), opts); err != nil {
		return fmt.Errorf("apply kube-public/cluster-info: %w", err)
	}
	if _, err := rbac.Roles("kube-public").Apply(ctx, rbacv1ac.Role("kubeadm:bootstrap-signer-clusterinfo", "kube-public").
		WithRules(rbacv1ac.PolicyRule().WithAPIGroups("").WithResources("configmaps").WithResourceNames("cluster-info").WithVerbs("get")), opts); err != nil {
		return fmt.Errorf("apply Role kube-public/kubeadm:bootstrap-signer-clusterinfo: %w", err)
	}
	if _, err := rbac.RoleBindings("kube-public").Apply(ctx, rbacv1ac.RoleBinding("kubeadm:bootstrap-signer-clusterinfo", "kube-public").
		WithRoleRef(roleRef("Role", "kubeadm:bootstrap-signer-clusterinfo")).
		WithSubjects(subject(rbacv1.UserKind, "system:anonymous", "")), opts); err != nil {
		return fmt.Errorf("apply RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo: %w", err)
	}

	// Kubelets' serving certificates are approved beside the controller-manager, with its identity
	// (taowa-hook approve-kubelet-serving, package kubeletcsr), so that the apiserver verifies the
	// kubelets it dials.
	if _, err := rbac.ClusterRoles().Apply(ctx, rbacv1ac.ClusterRole(KubeletServingApprover).WithRules(
		rbacv1ac.PolicyRule().WithAPIGroups("certificates.k8s.io").WithResources("certificatesigningrequests").WithVerbs("get", "list", "watch"),
		rbacv1ac.PolicyRule().WithAPIGroups("certificates.k8s.io").WithResources("certificatesigningrequests/approval").WithVerbs("update"),
		rbacv1ac.PolicyRule().WithAPIGroups("certificates.k8s.io").WithResources("signers").
			WithResourceNames("kubernetes.io/kubelet-serving").WithVerbs("approve"),
		rbacv1ac.PolicyRule().WithAPIGroups("").WithResources("nodes").WithVerbs("get"),
	), opts); err != nil {
		return fmt.Errorf("apply ClusterRole %s: %w", KubeletServingApprover, err)
	}
	if _, err := rbac.ClusterRoles().Apply(ctx, rbacv1ac.ClusterRole(MetricsReader).WithRules(
		rbacv1ac.PolicyRule().WithNonResourceURLs("/metrics").WithVerbs("get"),
	), opts); err != nil {
		return fmt.Errorf("apply ClusterRole %s: %w", MetricsReader, err)
	}
	bindings := []struct{ name, clusterRole, kind, subject string }{
		{KubeletServingApprover, KubeletServingApprover, rbacv1.UserKind, "system:kube-controller-manager"},
		// A bootstrap token may ask for a node client certificate, which is approved automatically;
		// nodes may renew their own.
		{"kubeadm:kubelet-bootstrap", "system:node-bootstrapper", rbacv1.GroupKind, NodeBootstrapGroup},
		{"kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", rbacv1.GroupKind, NodeBootstrapGroup},
		{"kubeadm:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", rbacv1.GroupKind, "system:nodes"},
		// Admins by RBAC rather than system:masters, so that they can be revoked: the admin
		// kubeconfig and the apiserver's kubelet client.
		{ClusterAdmins, "cluster-admin", rbacv1.GroupKind, pki.ClusterAdminsGroup},
		{MetricsReader, MetricsReader, rbacv1.UserKind, pki.MetricsScraperUser},
	}
	for _, b := range bindings {
		if _, err := rbac.ClusterRoleBindings().Apply(ctx, rbacv1ac.ClusterRoleBinding(b.name).
			WithRoleRef(roleRef("ClusterRole", b.clusterRole)).WithSubjects(subject(b.kind, b.subject, "")), opts); err != nil {
			return fmt.Errorf("apply ClusterRoleBinding %s: %w", b.name, err)
		}
	}

	if _, err := core.Namespaces().Apply(ctx, corev1ac.Namespace(TestNamespace), opts); err != nil {
		return fmt.Errorf("apply Namespace %s: %w", TestNamespace, err)
	}
	if _, err := core.ServiceAccounts(TestNamespace).Apply(ctx, corev1ac.ServiceAccount(TestServiceAccount, TestNamespace), opts); err != nil {
		return fmt.Errorf("apply ServiceAccount %s/%s: %w", TestNamespace, TestServiceAccount, err)
	}
	if _, err := rbac.Roles(TestNamespace).Apply(ctx, rbacv1ac.Role(TestServiceAccount, TestNamespace).
		WithRules(rbacv1ac.PolicyRule().WithAPIGroups("").WithResources("configmaps").WithVerbs("create", "get", "delete")), opts); err != nil {
		return fmt.Errorf("apply Role %s/%s: %w", TestNamespace, TestServiceAccount, err)
	}
	if _, err := rbac.RoleBindings(TestNamespace).Apply(ctx, rbacv1ac.RoleBinding(TestServiceAccount, TestNamespace).
		WithRoleRef(roleRef("Role", TestServiceAccount)).
		WithSubjects(subject(rbacv1.ServiceAccountKind, TestServiceAccount, TestNamespace)), opts); err != nil {
		return fmt.Errorf("apply RoleBinding %s/%s: %w", TestNamespace, TestServiceAccount, err)
	}
	return nil
}

func roleRef(kind, name string) *rbacv1ac.RoleRefApplyConfiguration {
	return rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind(kind).WithName(name)
}

func subject(kind, name, namespace string) *rbacv1ac.SubjectApplyConfiguration {
	s := rbacv1ac.Subject().WithKind(kind).WithName(name)
	if kind == rbacv1.ServiceAccountKind {
		return s.WithNamespace(namespace)
	}
	return s.WithAPIGroup(rbacv1.GroupName)
}

// clusterInfo is a kubeconfig with the cluster only: no user, no credentials.
func clusterInfo(server string, caPEM []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster-info kubeconfig: %w", err)
	}
	return out, nil
}
