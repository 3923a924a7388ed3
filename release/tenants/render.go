package tenants

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/taowa/taowa/versions"
)

// RenderOptions configure Render.
type RenderOptions struct {
	// ChartPath is the chart directory; empty means FindChart from the working directory.
	ChartPath string
	Name      string
	Namespace string
	// KubernetesVersion is the tenant's version; zero means versions.Default().
	KubernetesVersion versions.Version
	// Values are chart values; kubernetesVersion is set through KubernetesVersion alone.
	Values map[string]any
	// KubeVersion is Helm's Capabilities.KubeVersion, the version of the cluster the release
	// goes to (helm template --kube-version); empty means Helm's default.
	KubeVersion string
}

// Render returns what `helm template NAME CHART --namespace NS --post-renderer taowa-postrender`
// prints: the post-rendered manifests in Helm's install order, then the hooks as Helm 3 prints
// them (not post-rendered: Helm 3 post-renders the manifests only). No cluster is contacted, and
// the same options give the same bytes.
func Render(ctx context.Context, opts RenderOptions) ([]byte, error) {
	k := orDefault(opts.KubernetesVersion)
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("render %s for namespace %s (Kubernetes %s): %w", opts.Name, opts.Namespace, k, err)
	}
	if opts.Namespace == "" {
		return fail(errors.New("no namespace given"))
	}
	values, err := newTenantValues(opts.Values, k)
	if err != nil {
		return fail(err)
	}
	ch, err := loadChart(opts.ChartPath)
	if err != nil {
		return fail(err)
	}
	// ClientOnly replaces the configuration's cluster, storage and capabilities with Helm's
	// offline ones, as helm template does. CRDs are included as Argo CD's own Helm rendering
	// includes them (helm template only with --include-crds); the chart has none today.
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ReleaseName, install.Namespace = opts.Name, opts.Namespace
	install.DryRun, install.ClientOnly, install.Replace, install.IncludeCRDs = true, true, true, true
	install.PostRenderer = PostRenderer{}
	if opts.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(opts.KubeVersion)
		if err != nil {
			return fail(fmt.Errorf("kube version %q: %w", opts.KubeVersion, err))
		}
		install.KubeVersion = kv
	}
	rel, err := install.RunWithContext(ctx, ch, values)
	if err != nil {
		return fail(err)
	}
	return templateOutput(rel), nil
}

// templateOutput is helm template's printing of a release: the manifest, then every hook.
func templateOutput(rel *release.Release) []byte {
	var out bytes.Buffer
	fmt.Fprintln(&out, strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return out.Bytes()
}

// IsChart reports whether dir holds the tenant-master chart, by the name in its Chart.yaml; a
// directory without Chart.yaml is not it.
func IsChart(dir string) (bool, error) {
	md, err := chartutil.LoadChartfile(filepath.Join(dir, "Chart.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("chart in %s: %w", dir, err)
	}
	return md.Name == ChartName, nil
}
