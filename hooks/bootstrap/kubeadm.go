package bootstrap

import (
	"context"
	"fmt"
	"net/url"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hooks/addons"
)

// The ConfigMaps `kubeadm join` reads with its bootstrap token, as kubeadm's upload-config phase
// leaves them on a kubeadm cluster.
const (
	KubeadmConfigMap = "kubeadm-config"
	KubeletConfigMap = "kubelet-config"
)

// kubeadm's paths on a node, which the configuration below names.
const (
	nodeCAFile        = "/etc/kubernetes/pki/ca.crt"
	nodeStaticPodPath = "/etc/kubernetes/manifests"
)

// applyJoinConfig writes what `kubeadm join` of a worker reads besides cluster-info: the cluster's
// configuration, the kubelets' configuration, and the Roles that let a bootstrap token read them
// and look up its Node.
func applyJoinConfig(ctx context.Context, client kubernetes.Interface, c Cluster, opts metav1.ApplyOptions) error {
	data, err := joinConfigMaps(c)
	if err != nil {
		return err
	}
	core, rbac := client.CoreV1(), client.RbacV1()
	readers := []*rbacv1ac.SubjectApplyConfiguration{
		subject(rbacv1.GroupKind, NodeBootstrapGroup, ""), subject(rbacv1.GroupKind, "system:nodes", ""),
	}
	roles := map[string]string{KubeadmConfigMap: "kubeadm:nodes-kubeadm-config", KubeletConfigMap: "kubeadm:kubelet-config"}
	for name, role := range roles {
		if _, err := core.ConfigMaps(metav1.NamespaceSystem).Apply(ctx, corev1ac.ConfigMap(name, metav1.NamespaceSystem).WithData(data[name]), opts); err != nil {
			return fmt.Errorf("apply ConfigMap kube-system/%s: %w", name, err)
		}
		if _, err := rbac.Roles(metav1.NamespaceSystem).Apply(ctx, rbacv1ac.Role(role, metav1.NamespaceSystem).WithRules(
			rbacv1ac.PolicyRule().WithAPIGroups("").WithResources("configmaps").WithResourceNames(name).WithVerbs("get")), opts); err != nil {
			return fmt.Errorf("apply Role kube-system/%s: %w", role, err)
		}
		if _, err := rbac.RoleBindings(metav1.NamespaceSystem).Apply(ctx, rbacv1ac.RoleBinding(role, metav1.NamespaceSystem).
			WithRoleRef(roleRef("Role", role)).WithSubjects(readers...), opts); err != nil {
			return fmt.Errorf("apply RoleBinding kube-system/%s: %w", role, err)
		}
	}
	// kubeadm refuses to join a node whose name a Ready Node already has.
	const getNodes = "kubeadm:get-nodes"
	if _, err := rbac.ClusterRoles().Apply(ctx, rbacv1ac.ClusterRole(getNodes).WithRules(
		rbacv1ac.PolicyRule().WithAPIGroups("").WithResources("nodes").WithVerbs("get")), opts); err != nil {
		return fmt.Errorf("apply ClusterRole %s: %w", getNodes, err)
	}
	if _, err := rbac.ClusterRoleBindings().Apply(ctx, rbacv1ac.ClusterRoleBinding(getNodes).
		WithRoleRef(roleRef("ClusterRole", getNodes)).WithSubjects(readers[0]), opts); err != nil {
		return fmt.Errorf("apply ClusterRoleBinding %s: %w", getNodes, err)
	}
	return nil
}

// joinConfigMaps returns the data of the kubeadm-config and kubelet-config ConfigMaps.
func joinConfigMaps(c Cluster) (map[string]map[string]string, error) {
	endpoint, err := url.Parse(c.Server)
	if err != nil || endpoint.Host == "" {
		return nil, fmt.Errorf("apiserver URL %q: not a URL with a host", c.Server)
	}
	dns, err := addons.DNSServiceIP(c.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	// Written as text with only what differs from the defaults: kubeadm's types are not a
	// published module, and the kubelet's typed configuration marshals every zero field.
	cluster := fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v%s
controlPlaneEndpoint: %q
networking:
  dnsDomain: %q
  podSubnet: %q
  serviceSubnet: %q
`, c.KubernetesVersion, endpoint.Host, c.ClusterDomain, c.PodCIDR, c.ServiceCIDR)
	// As kubeadm configures kubelets (systemd cgroups, the CA and static Pods under
	// /etc/kubernetes), with the tenant's DNS.
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
cgroupDriver: systemd
clusterDNS: [%q]
clusterDomain: %q
healthzBindAddress: 127.0.0.1
healthzPort: 10248
rotateCertificates: true
serverTLSBootstrap: %t
staticPodPath: %q
`, nodeCAFile, dns, c.ClusterDomain, c.ServerTLSBootstrap, nodeStaticPodPath)
	return map[string]map[string]string{
		KubeadmConfigMap: {"ClusterConfiguration": cluster},
		KubeletConfigMap: {"kubelet": kubelet},
	}, nil
}
