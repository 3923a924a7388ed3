// Package command is the taowa command line: a thin cobra layer over package tenants. Run
// executes it with any arguments and writers, so tests drive it as a user would.
package command

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	helmcli "helm.sh/helm/v3/pkg/cli"

	"github.com/taowa/taowa/release/tenants"
)

// Run executes the taowa command line args (without the program name). Results go to stdout;
// progress, warnings and errors to stderr, so that -o json output stays parseable.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := NewRoot(stdout, stderr, nil)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// NewRoot returns the taowa command. cluster replaces the meta cluster the flags name when not
// nil (tests give an in-memory one).
func NewRoot(stdout, stderr io.Writer, cluster tenants.Cluster) *cobra.Command {
	g := &globals{settings: helmcli.New(), stdout: stdout, stderr: stderr, cluster: cluster}
	root := &cobra.Command{
		Use:   "taowa",
		Short: "Create, upgrade and inspect tenant Kubernetes control planes (releases of charts/tenant-master)",
		Long: `taowa manages tenant masters: Helm releases of charts/tenant-master in a meta cluster,
rendered with the taowa post-renderer in process. Upgrades go one Kubernetes minor at a time.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if g.namespace != "" {
				g.settings.SetNamespace(g.namespace)
			}
			return validOutput(g.output)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	flags := root.PersistentFlags()
	flags.StringVar(&g.settings.KubeConfig, "kubeconfig", "", "kubeconfig of the meta cluster (default: $KUBECONFIG or ~/.kube/config)")
	flags.StringVar(&g.settings.KubeContext, "kube-context", g.settings.KubeContext, "kubeconfig context to use")
	flags.StringVarP(&g.namespace, "namespace", "n", "", "namespace of the release (default: the kubeconfig context's)")
	flags.StringVar(&g.chart, "chart", "", "path of charts/tenant-master (default: found in the working directory or a parent)")
	flags.StringVarP(&g.output, "output", "o", outputTable, "output of results (list, status, history, events, top, create, upgrade, rollback, join): table, json or yaml")
	flags.BoolVar(&g.debug, "debug", false, "print Helm's log to stderr")

	root.AddCommand(
		newCreate(g), newUpgrade(g), newList(g), newStatus(g), newHistory(g), newEvents(g), newTop(g), newSnapshots(g), newRestore(g),
		newRollback(g), newHibernate(g, true), newHibernate(g, false), newKubeconfig(g), newJoin(g), newDoctor(g), newDelete(g), newRender(g),
		newArgoCDGenerate(g), newArgoCDDiscover(g),
	)
	return root
}

// globals are the flags and writers every subcommand shares.
type globals struct {
	settings       *helmcli.EnvSettings
	stdout, stderr io.Writer
	cluster        tenants.Cluster
	namespace      string
	chart          string
	output         string
	debug          bool
}

func (g *globals) manager() (*tenants.Manager, error) {
	cluster := g.cluster
	if cluster == nil {
		kc := tenants.KubeCluster{Settings: g.settings}
		if g.debug {
			kc.Debug = g.stderr
		}
		cluster = kc
	}
	return tenants.New(tenants.Config{Cluster: cluster, ChartPath: g.chart, Progress: g.stderr})
}

// releaseNamespace is the namespace the command works in: -n, else the kubeconfig context's.
func (g *globals) releaseNamespace() string { return g.settings.Namespace() }

// rolloutFlags adds --wait, --timeout and --atomic to a command that changes a release.
func rolloutFlags(cmd *cobra.Command, r *tenants.Rollout, atomicHelp string) {
	r.Wait, r.Timeout, r.Atomic = true, 10*time.Minute, true
	cmd.Flags().BoolVar(&r.Wait, "wait", r.Wait, "wait until the release's Pods, Deployments and StatefulSets are ready")
	cmd.Flags().DurationVar(&r.Timeout, "timeout", r.Timeout, "time each Helm operation (hooks and wait included) may take")
	cmd.Flags().BoolVar(&r.Atomic, "atomic", r.Atomic, atomicHelp)
}

func exactlyOneName(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s needs one release name, got %d arguments", cmd.CommandPath(), len(args))
	}
	return nil
}
