package tenants

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/taowa/taowa/hooks/join"
	"github.com/taowa/taowa/hooks/tenant"
)

// DefaultJoinTTL is how long a bootstrap token of `taowa join` is valid unless told otherwise,
// as kubeadm's.
const DefaultJoinTTL = 24 * time.Hour

// JoinOptions configures Manager.Join.
type JoinOptions struct {
	// TTL is how long the bootstrap token is valid; it must be more than 0.
	TTL time.Duration
	// Description is stored with the token; empty means "taowa join <name>".
	Description string
	// Server is an https URL to reach the tenant apiserver at (e.g. the local end of a
	// port-forward) instead of its Service's ClusterIP. The apiserver's certificate is still
	// verified, against the host of the admin kubeconfig.
	Server string
}

// Join creates a bootstrap token in the tenant master name and returns what a node joins it
// with: the apiservers' addresses as the tenant advertises them, the token, the pin of the
// tenant's CA (the admin kubeconfig's) and the token's expiry. It returns once the tenant's
// controller-manager has signed cluster-info for the token, so the parameters work at once. The
// tenant is reached as the hooks reach it: at its apiserver Service's ClusterIP, with the admin
// kubeconfig's credentials.
func (m *Manager) Join(ctx context.Context, namespace, name string, opts JoinOptions) (join.Parameters, error) {
	fail := func(err error) (join.Parameters, error) {
		return join.Parameters{}, fmt.Errorf("join parameters of tenant master %s (namespace %s): %w", name, namespace, err)
	}
	if opts.TTL <= 0 {
		return fail(fmt.Errorf("token time to live %s: want more than 0, e.g. %s", opts.TTL, DefaultJoinTTL))
	}
	if opts.Description == "" {
		opts.Description = "taowa join " + name
	}
	client, config, err := m.adminClient(ctx, namespace, name, opts.Server)
	if err != nil {
		return fail(err)
	}
	if len(config.CAData) == 0 {
		return fail(errors.New("its admin kubeconfig has no certificate-authority-data: no CA to pin"))
	}
	m.progress.printf("creating a bootstrap token in %s (namespace %s) through %s, waiting until its controller-manager has signed kube-public/cluster-info for it",
		name, namespace, config.Host)
	params, err := join.Prepare(ctx, client, config.CAData, opts.TTL, opts.Description)
	if err != nil {
		return fail(fmt.Errorf("through %s: %w", config.Host, err))
	}
	return params, nil
}

// adminClient is a client of the tenant master name with its admin kubeconfig's identity, at its
// apiserver Service's ClusterIP (as the hooks reach it) or at server, an https URL, when given.
func (m *Manager) adminClient(ctx context.Context, namespace, name, server string) (kubernetes.Interface, *rest.Config, error) {
	meta, err := m.cluster.Clientset()
	if err != nil {
		return nil, nil, err
	}
	admin, err := tenant.AdminConfig(ctx, meta, namespace, name, tenant.Admin)
	if errors.Is(err, tenant.ErrNoControlPlane) {
		return nil, nil, fmt.Errorf("%w: is %s installed (taowa status %s -n %s)?", err, name, name, namespace)
	}
	if err != nil {
		return nil, nil, err
	}
	admin.UserAgent = "taowa"
	var config *rest.Config
	if server != "" {
		config, err = viaServer(admin, server)
	} else {
		config, err = tenant.ByClusterIP(ctx, meta, namespace, name, admin)
	}
	if err != nil {
		return nil, nil, err
	}
	client, err := m.tenantClient(config)
	if err != nil {
		return nil, nil, err
	}
	return client, config, nil
}

// viaServer is admin with server as its host; the certificate is verified against admin's host.
func viaServer(admin *rest.Config, server string) (*rest.Config, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q: want an https URL, e.g. https://127.0.0.1:6443", server)
	}
	original, err := url.Parse(admin.Host)
	if err != nil {
		return nil, fmt.Errorf("the admin kubeconfig's server %q: %w", admin.Host, err)
	}
	config := rest.CopyConfig(admin)
	if config.TLSClientConfig.ServerName == "" {
		config.TLSClientConfig.ServerName = original.Hostname()
	}
	config.Host = server
	return config, nil
}

// tenantClient is a client of the tenant apiserver that config names.
func (m *Manager) tenantClient(config *rest.Config) (kubernetes.Interface, error) {
	if tc, ok := m.cluster.(TenantClients); ok {
		return tc.TenantClientset(config)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("client of the tenant apiserver at %s: %w", config.Host, err)
	}
	return client, nil
}
