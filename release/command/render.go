package command

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

func newRender(g *globals) *cobra.Command {
	var (
		version     string
		kubeVersion string
		valueOpts   valueFlags
	)
	cmd := &cobra.Command{
		Use:   "render NAME",
		Short: "Print a tenant master's manifests as helm template would with the taowa post-renderer",
		Long: `Print the manifests of the release NAME as helm template NAME CHART --namespace NS
--post-renderer taowa-postrender prints them, hooks included, without contacting a cluster. The
same arguments give the same bytes.`,
		Example: "  taowa render tenant-a -n tenant-a --version 1.36.3 --set apiserver.replicas=2",
		Args:    exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := tenants.RenderOptions{ChartPath: g.chart, Name: args[0], Namespace: g.releaseNamespace(), KubeVersion: kubeVersion}
			if version != "" {
				v, err := versions.Parse(version)
				if err != nil {
					return fmt.Errorf("--version: %w", err)
				}
				opts.KubernetesVersion = v
			}
			vals, err := valueOpts.merged()
			if err != nil {
				return err
			}
			opts.Values = vals
			return render(g, cmd, opts)
		},
	}
	cmd.Flags().StringVar(&version, "version", "", fmt.Sprintf("Kubernetes version of the tenant (default %s)", versions.Default()))
	valueOpts.register(cmd, "a chart value, key=value (repeatable; as helm --set)", "a YAML file of chart values (repeatable)")
	cmd.Flags().StringArrayVar(&valueOpts.StringValues, "set-string", nil, "a chart value kept a string, key=value (repeatable)")
	cmd.Flags().StringVar(&kubeVersion, "kube-version", "", "Kubernetes version of the cluster the release goes to (Helm's Capabilities.KubeVersion)")
	return cmd
}

// Argo CD's environment for a plugin's commands (Argo CD prefixes the Application's
// spec.source.plugin.env names with ARGOCD_ENV_).
const (
	envAppName           = "ARGOCD_APP_NAME"
	envAppNamespace      = "ARGOCD_APP_NAMESPACE"
	envKubeVersion       = "KUBE_VERSION"
	envKubernetesVersion = "ARGOCD_ENV_KUBERNETES_VERSION"
	envValues            = "ARGOCD_ENV_VALUES"
)

func newArgoCDGenerate(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "argocd-generate",
		Short: "The Argo CD plugin's generate command: render the chart in the working directory",
		Long: `Render the chart in the working directory (or --chart) as taowa render does, for Argo CD's
config management plugin (release/argocd/plugin.yaml). It reads Argo CD's environment:
  ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE  release name and namespace (required)
  KUBE_VERSION                           the destination cluster's version (optional)
  ARGOCD_ENV_KUBERNETES_VERSION          the tenant's Kubernetes version (optional)
  ARGOCD_ENV_VALUES                      chart values, YAML (optional)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := argoCDRenderOptions(os.Getenv)
			if err != nil {
				return err
			}
			opts.ChartPath = g.chart
			if opts.ChartPath == "" {
				opts.ChartPath = "." // Argo CD runs the command in the Application's source directory
			}
			return render(g, cmd, opts)
		},
	}
}

// argoCDRenderOptions reads the render options from Argo CD's environment.
func argoCDRenderOptions(getenv func(string) string) (tenants.RenderOptions, error) {
	opts := tenants.RenderOptions{Name: getenv(envAppName), Namespace: getenv(envAppNamespace), KubeVersion: getenv(envKubeVersion)}
	if opts.Name == "" || opts.Namespace == "" {
		return opts, fmt.Errorf("%s and %s must be set: argocd-generate is run by Argo CD's config management plugin server", envAppName, envAppNamespace)
	}
	if raw := getenv(envKubernetesVersion); raw != "" {
		v, err := versions.Parse(raw)
		if err != nil {
			return opts, fmt.Errorf("%s: %w", envKubernetesVersion, err)
		}
		opts.KubernetesVersion = v
	}
	if raw := getenv(envValues); raw != "" {
		vals, err := chartutil.ReadValues([]byte(raw))
		if err != nil {
			return opts, fmt.Errorf("%s: %w", envValues, err)
		}
		opts.Values = vals
	}
	return opts, nil
}

func newArgoCDDiscover(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "argocd-discover",
		Short: "The Argo CD plugin's discover command: print Chart.yaml if the working directory is the tenant-master chart",
		Long: `Print "Chart.yaml" when the working directory (or --chart) holds the tenant-master chart, and
nothing otherwise: Argo CD's discover.find.command matches on non-empty output with status 0.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir := g.chart
			if dir == "" {
				dir = "."
			}
			ok, err := tenants.IsChart(dir)
			if err != nil || !ok {
				return err
			}
			_, err = fmt.Fprintln(g.stdout, "Chart.yaml")
			return err
		},
	}
}

// render writes the manifests to stdout in one write, and nothing when rendering fails.
func render(g *globals, cmd *cobra.Command, opts tenants.RenderOptions) error {
	out, err := tenants.Render(cmd.Context(), opts)
	if err != nil {
		return err
	}
	if _, err := g.stdout.Write(out); err != nil {
		return fmt.Errorf("write manifests: %w", err)
	}
	return nil
}
