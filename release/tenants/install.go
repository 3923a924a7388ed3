package tenants

import (
	"context"
	"fmt"
	"maps"

	"helm.sh/helm/v3/pkg/action"

	"github.com/taowa/taowa/versions"
)

// InstallOptions configure Install.
type InstallOptions struct {
	Namespace string
	// KubernetesVersion is the tenant's version; zero means versions.Default().
	KubernetesVersion versions.Version
	// Values are chart values; kubernetesVersion is set through KubernetesVersion alone.
	Values          map[string]any
	CreateNamespace bool
	Rollout
}

// Install creates the tenant master name: one release of the chart, rendered for its version.
func (m *Manager) Install(ctx context.Context, name string, opts InstallOptions) (ReleaseInfo, error) {
	k := orDefault(opts.KubernetesVersion)
	fail := func(err error) (ReleaseInfo, error) {
		return ReleaseInfo{}, fmt.Errorf("create %s in namespace %s (Kubernetes %s): %w", name, opts.Namespace, k, err)
	}
	values, err := newTenantValues(opts.Values, k)
	if err != nil {
		return fail(err)
	}
	ch, err := m.loadChart()
	if err != nil {
		return fail(err)
	}
	cfg, err := m.releaseConfig(opts.Namespace)
	if err != nil {
		return fail(err)
	}
	install := action.NewInstall(cfg)
	install.ReleaseName = name
	install.Namespace = opts.Namespace
	install.CreateNamespace = opts.CreateNamespace
	install.Wait, install.Timeout, install.Atomic = opts.Wait, opts.Timeout, opts.Atomic
	install.PostRenderer = PostRenderer{}
	m.progress.printf("creating %s in namespace %s (Kubernetes %s)", name, opts.Namespace, k)
	rel, err := install.RunWithContext(ctx, ch, values)
	if err != nil {
		return fail(err)
	}
	return infoOf(rel, true), nil
}

// orDefault returns k, or versions.Default() when k is zero.
func orDefault(k versions.Version) versions.Version {
	if k == (versions.Version{}) {
		return versions.Default()
	}
	return k
}

// newTenantValues returns the values of a new tenant of version k (install, render): refused
// when the version table does not support k's minor.
func newTenantValues(values map[string]any, k versions.Version) (map[string]any, error) {
	if _, err := versions.ForMinor(k.MajorMinor()); err != nil {
		return nil, err
	}
	return withKubernetesVersion(values, k)
}

// withKubernetesVersion returns a copy of values with kubernetesVersion set to k. A version in
// values too is refused rather than silently overridden.
func withKubernetesVersion(values map[string]any, k versions.Version) (map[string]any, error) {
	if v, ok := values[valueKubernetesVersion]; ok {
		return nil, fmt.Errorf("values set %s=%v: give the Kubernetes version as an option instead (taowa create and render --version, upgrade --to; the Argo CD plugin's KUBERNETES_VERSION)", valueKubernetesVersion, v)
	}
	out := maps.Clone(values)
	if out == nil {
		out = map[string]any{}
	}
	out[valueKubernetesVersion] = k.String()
	return out, nil
}

// Uninstall removes the release name. The chart keeps the tenant's data (PKI Secrets, etcd
// volumes, snapshots) so that a reinstall under the same name resumes the same cluster; its
// pre-delete hook takes a final etcd snapshot first, and a failure of that hook stops here.
func (m *Manager) Uninstall(ctx context.Context, namespace, name string, r Rollout) error {
	cfg, err := m.releaseConfig(namespace)
	if err != nil {
		return fmt.Errorf("delete %s in namespace %s: %w", name, namespace, err)
	}
	uninstall := action.NewUninstall(cfg)
	uninstall.Wait, uninstall.Timeout = r.Wait, r.Timeout
	m.progress.printf("deleting %s in namespace %s", name, namespace)
	if _, err := uninstall.Run(name); err != nil {
		return fmt.Errorf("delete %s in namespace %s: %w", name, namespace, err)
	}
	return nil
}
