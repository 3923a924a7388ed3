package tenants

import (
	"fmt"
	"io"
	"os"

	"helm.sh/helm/v3/pkg/action"
	helmcli "helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is the meta cluster the tenant masters live in, as Helm's actions and the Manager see it.
type Cluster interface {
	// ActionConfig returns Helm's configuration for releases in namespace; "" means every
	// namespace, which only listing accepts.
	ActionConfig(namespace string) (*action.Configuration, error)
	// Clientset returns a client of the meta cluster, to read what is not part of a release.
	Clientset() (kubernetes.Interface, error)
}

// TenantClients is implemented by a Cluster that gives the clients of its tenants' apiservers
// itself (tenantstest's in-memory cluster does). For any other Cluster the Manager dials the
// apiserver that the rest.Config names.
type TenantClients interface {
	// TenantClientset returns a client of the tenant apiserver at config.Host.
	TenantClientset(config *rest.Config) (kubernetes.Interface, error)
}

// KubeCluster reaches the meta cluster the way the helm command does: Helm's EnvSettings
// (--kubeconfig, --kube-context, HELM_DRIVER, ...) and its release storage (Secrets by default).
type KubeCluster struct {
	Settings *helmcli.EnvSettings
	// Debug receives Helm's own log lines; nil discards them.
	Debug io.Writer
}

// ActionConfig implements Cluster.
func (c KubeCluster) ActionConfig(namespace string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(c.Settings.RESTClientGetter(), namespace, os.Getenv("HELM_DRIVER"), c.logf); err != nil {
		return nil, fmt.Errorf("helm configuration for namespace %q: %w", namespace, err)
	}
	// Helm's kube client otherwise applies manifests to the kubeconfig's namespace, not the
	// release's: a fleet upgrade touches releases in many namespaces with one kubeconfig.
	if kc, ok := cfg.KubeClient.(*kube.Client); ok && namespace != "" {
		kc.Namespace = namespace
	}
	return cfg, nil
}

// Clientset implements Cluster.
func (c KubeCluster) Clientset() (kubernetes.Interface, error) {
	rc, err := c.Settings.RESTClientGetter().ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("meta cluster client configuration: %w", err)
	}
	return kubernetes.NewForConfig(rc)
}

func (c KubeCluster) logf(format string, v ...any) {
	if c.Debug != nil {
		fmt.Fprintf(c.Debug, format+"\n", v...)
	}
}
