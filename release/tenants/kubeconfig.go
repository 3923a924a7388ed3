package tenants

import (
	"context"
	"fmt"
	"net/url"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hooks/pki"
)

// Kubeconfig returns the admin kubeconfig of the tenant master name, as the PKI hook wrote it
// into the Secret <name>-admin-kubeconfig. Its server is the apiserver's in-cluster Service URL;
// a non-empty server replaces it (e.g. the local end of a port-forward), and the original host
// becomes the TLS server name so that the apiserver's certificate still verifies.
func (m *Manager) Kubeconfig(ctx context.Context, namespace, name, server string) ([]byte, error) {
	secretName := pki.Config{Release: name}.SecretName(pki.SecretAdminKubeconfig)
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("admin kubeconfig of %s (Secret %s/%s): %w", name, namespace, secretName, err)
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
	if server == "" {
		return data, nil
	}
	config, err := clientcmd.Load(data)
	if err != nil {
		return fail(err)
	}
	for clusterName, cluster := range config.Clusters {
		original, err := url.Parse(cluster.Server)
		if err != nil {
			return fail(fmt.Errorf("cluster %s: server %q: %w", clusterName, cluster.Server, err))
		}
		if cluster.TLSServerName == "" {
			cluster.TLSServerName = original.Hostname()
		}
		cluster.Server = server
	}
	if data, err = clientcmd.Write(*config); err != nil {
		return fail(err)
	}
	return data, nil
}
