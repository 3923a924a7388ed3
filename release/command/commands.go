package command

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

func newCreate(g *globals) *cobra.Command {
	var (
		version         string
		valueOpts       valueFlags
		createNamespace bool
		operator        bool
		rollout         tenants.Rollout
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant master: install charts/tenant-master for a Kubernetes version",
		Example: `  taowa create tenant-a -n tenant-a --create-namespace --version 1.36.3 \
    --set apiserver.replicas=2 -f tenant-a.yaml`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := tenants.InstallOptions{Namespace: g.releaseNamespace(), CreateNamespace: createNamespace, Rollout: rollout}
			if version != "" {
				v, err := versions.Parse(version)
				if err != nil {
					return err
				}
				opts.KubernetesVersion = v
			}
			if operator {
				if valueOpts.given() || createNamespace {
					return errors.New("--set, --values and --create-namespace do not go with --operator: a Cluster's spec has fields of its own (kubectl apply a Cluster to set them)")
				}
				k := opts.KubernetesVersion
				if k == (versions.Version{}) {
					k = versions.Default()
				}
				m, err := g.manager()
				if err != nil {
					return err
				}
				return createCluster(cmd.Context(), g, m, args[0], k, rollout)
			}
			vals, err := valueOpts.merged()
			if err != nil {
				return err
			}
			opts.Values = vals
			m, err := g.manager()
			if err != nil {
				return err
			}
			info, err := m.Install(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			return writeStatus(g, info)
		},
	}
	cmd.Flags().StringVar(&version, "version", "", fmt.Sprintf("Kubernetes version of the tenant (default %s; minors %s to %s)",
		versions.Default(), versions.Supported()[0], versions.Supported()[len(versions.Supported())-1]))
	valueOpts.register(cmd, "a chart value, key=value (repeatable; as helm --set)", "a YAML file of chart values (repeatable)")
	cmd.Flags().BoolVar(&createNamespace, "create-namespace", false, "create the namespace if it does not exist")
	cmd.Flags().BoolVar(&operator, "operator", false, "create a Cluster object for the taowa operator instead of installing the release here")
	rolloutFlags(cmd, &rollout, "uninstall the release again if the install fails")
	return cmd
}

func newUpgrade(g *globals) *cobra.Command {
	var (
		to            string
		all           bool
		allNamespaces bool
		maxParallel   int
		canary        int
		valueOpts     valueFlags
		rollout       tenants.Rollout
	)
	cmd := &cobra.Command{
		Use:   "upgrade (NAME | --all) --to VERSION",
		Short: "Upgrade a tenant master, or all of them, to a Kubernetes version, one minor at a time",
		Example: `  taowa upgrade tenant-a -n tenant-a --to 1.37.2
  taowa upgrade --all -A --to 1.37.2 --canary 1 --max-parallel 3 -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := versions.Parse(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if all != (len(args) == 0) {
				return errors.New("give either one release name or --all")
			}
			if !all && (allNamespaces || cmd.Flags().Changed("max-parallel") || cmd.Flags().Changed("canary")) {
				return errors.New("--all-namespaces, --max-parallel and --canary go with --all")
			}
			m, err := g.manager()
			if err != nil {
				return err
			}
			if all {
				if valueOpts.given() {
					return errors.New("--set goes with one release, not --all")
				}
				return upgradeFleet(g, cmd, m, target, allNamespaces, tenants.FleetOptions{MaxParallel: maxParallel, Canary: canary, Rollout: rollout})
			}
			vals, err := valueOpts.merged()
			if err != nil {
				return err
			}
			// A Cluster-owned release is upgraded through its Cluster (tenants.Manager.Upgrade).
			res, err := m.Upgrade(cmd.Context(), args[0], tenants.UpgradeOptions{Namespace: g.releaseNamespace(), To: target, Values: vals, Rollout: rollout})
			if err != nil {
				return err
			}
			return writeUpgrade(g, res)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "target Kubernetes version, e.g. 1.37.2 (required)")
	_ = cmd.MarkFlagRequired("to")
	cmd.Flags().BoolVar(&all, "all", false, "upgrade every tenant master in the namespace (every namespace with -A)")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "with --all: in every namespace")
	cmd.Flags().IntVar(&maxParallel, "max-parallel", 1, "with --all: upgrades at once after the canaries")
	cmd.Flags().IntVar(&canary, "canary", 0, "with --all: releases upgraded first, one at a time; a failure stops the rest")
	valueOpts.register(cmd, "a chart value to change too, key=value (repeatable)", "")
	rolloutFlags(cmd, &rollout, "roll a failed step back to the previous revision")
	return cmd
}

func upgradeFleet(g *globals, cmd *cobra.Command, m *tenants.Manager, to versions.Version, allNamespaces bool, opts tenants.FleetOptions) error {
	namespace := g.releaseNamespace()
	if allNamespaces {
		namespace = ""
	}
	infos, err := m.List(cmd.Context(), namespace)
	if err != nil {
		return err
	}
	refs := make([]tenants.Ref, 0, len(infos))
	for _, info := range infos {
		refs = append(refs, tenants.Ref{Namespace: info.Namespace, Name: info.Name})
	}
	summary := m.UpgradeFleet(cmd.Context(), refs, to, opts)
	if err := write(g.stdout, g.output, summary, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "NAMESPACE\tNAME\tCANARY\tCLUSTER\tOUTCOME\tFROM\tSTEPS\tSECONDS\tERROR")
		for _, r := range summary.Results {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\t%d\t%.0f\t%s\n", r.Release.Namespace, r.Release.Name, r.Canary, r.Cluster, r.Outcome, dash(r.From), r.Steps, r.Seconds, r.Error)
		}
		fmt.Fprintf(tw, "to %s: %d upgraded, %d already at version, %d requested of the operator, %d failed, %d skipped in %.0fs\n", summary.To,
			summary.Count(tenants.Upgraded), summary.Count(tenants.AlreadyAtVersion), summary.Count(tenants.Requested),
			summary.Count(tenants.Failed), summary.Count(tenants.Skipped), summary.Seconds)
	}); err != nil {
		return err
	}
	return summary.Err()
}

// upgradeOutput is `taowa upgrade NAME -o json`.
type upgradeOutput struct {
	Name      string       `json:"name"`
	Namespace string       `json:"namespace"`
	From      string       `json:"from"`
	To        string       `json:"to"`
	Steps     []stepOutput `json:"steps"`
	// Cluster: the release's Cluster was changed and the operator made the steps; Pending: its
	// walk was not awaited.
	Cluster bool `json:"cluster,omitempty"`
	Pending bool `json:"pending,omitempty"`
}

type stepOutput struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Revision int    `json:"revision"`
}

func writeUpgrade(g *globals, res tenants.UpgradeResult) error {
	out := upgradeOutput{Name: res.Name, Namespace: res.Namespace, From: res.From.String(), To: res.To.String(), Steps: []stepOutput{},
		Cluster: res.Cluster, Pending: res.Pending}
	for _, s := range res.Steps {
		out.Steps = append(out.Steps, stepOutput{From: s.From.String(), To: s.To.String(), Revision: s.Revision})
	}
	return write(g.stdout, g.output, out, func(tw *tabwriter.Writer) {
		if out.Pending {
			fmt.Fprintf(tw, "Cluster %s/%s asks for Kubernetes %s; the operator walks it from %s\n", out.Namespace, out.Name, out.To, out.From)
			return
		}
		if len(out.Steps) == 0 {
			fmt.Fprintf(tw, "%s already runs Kubernetes %s; nothing to do\n", out.Name, out.To)
			return
		}
		fmt.Fprintln(tw, "REVISION\tFROM\tTO")
		for _, s := range out.Steps {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Revision, s.From, s.To)
		}
	})
}

func newList(g *globals) *cobra.Command {
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the tenant masters (releases of charts/tenant-master) and their Kubernetes versions",
		Example: "  taowa list -A -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			namespace := g.releaseNamespace()
			if allNamespaces {
				namespace = ""
			}
			infos, err := m.List(cmd.Context(), namespace)
			if err != nil {
				return err
			}
			if infos == nil {
				infos = []tenants.ReleaseInfo{} // [] rather than null in JSON
			}
			return write(g.stdout, g.output, infos, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAMESPACE\tNAME\tREVISION\tSTATUS\tKUBERNETES\tCHART\tUPDATED")
				for _, r := range infos {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Revision, r.Status, dash(r.KubernetesVersion), r.Chart, timestamp(r.Updated))
				}
			})
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list in every namespace")
	return cmd
}

func newStatus(g *globals) *cobra.Command {
	var timeline, health bool
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a tenant master's latest revision, its Kubernetes version and how to reach it",
		Example: "  taowa status tenant-a -n tenant-a\n" +
			"  taowa status tenant-a -n tenant-a --timeline   # where the latest install or upgrade spent its time\n" +
			"  taowa status tenant-a -n tenant-a --health     # what is wrong with its components and when a certificate expires",
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			if health {
				h, err := m.Health(cmd.Context(), g.releaseNamespace(), args[0])
				if err != nil {
					return err
				}
				if err := writeHealth(g, h, time.Now()); err != nil {
					return err
				}
				return unhealthy(h, time.Now())
			}
			if timeline {
				t, err := m.Timeline(cmd.Context(), g.releaseNamespace(), args[0])
				if err != nil {
					return err
				}
				return writeTimeline(g, t)
			}
			info, err := m.Status(cmd.Context(), g.releaseNamespace(), args[0])
			if err != nil {
				return err
			}
			return writeStatus(g, info)
		},
	}
	cmd.Flags().BoolVar(&timeline, "timeline", false, "show where the latest revision's time went: hook Jobs, volumes, and each Pod's way to Ready")
	cmd.Flags().BoolVar(&health, "health", false, "show each component's health and the earliest certificate expiry; exit non-zero when unhealthy")
	cmd.MarkFlagsMutuallyExclusive("timeline", "health")
	return cmd
}

func writeTimeline(g *globals, t tenants.Timeline) error {
	return write(g.stdout, g.output, t, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "%s/%s revision %d (%s), started %s, last span ended after %.1fs\n\n", t.Namespace, t.Name, t.Revision, t.Status,
			timestamp(t.Started), t.End().Sub(t.Started).Seconds())
		fmt.Fprintln(tw, "WHAT\tFROM\tTO\tTOOK\tNOTE")
		for _, s := range t.Spans {
			fmt.Fprintf(tw, "%s\t%+.1fs\t%+.1fs\t%.1fs\t%s\n", s.What, s.Start.Sub(t.Started).Seconds(), s.End.Sub(t.Started).Seconds(), s.Seconds(), s.Note)
		}
	})
}

func writeStatus(g *globals, info tenants.ReleaseInfo) error {
	return write(g.stdout, g.output, info, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "NAME:\t%s\nNAMESPACE:\t%s\nREVISION:\t%d\nSTATUS:\t%s\nKUBERNETES:\t%s\nCHART:\t%s\nUPDATED:\t%s\nDESCRIPTION:\t%s\n",
			info.Name, info.Namespace, info.Revision, info.Status, dash(info.KubernetesVersion), info.Chart, timestamp(info.Updated), info.Description)
		if info.Hibernated {
			fmt.Fprintln(tw, "HIBERNATED:\ttrue (taowa wake wakes it)")
		}
		if info.Notes != "" {
			fmt.Fprintf(tw, "\n%s\n", info.Notes)
		}
	})
}

func newHistory(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "history NAME",
		Short:   "Show a tenant master's revisions with the Kubernetes version of each",
		Example: "  taowa history tenant-a -n tenant-a",
		Args:    exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			history, err := m.History(cmd.Context(), g.releaseNamespace(), args[0])
			if err != nil {
				return err
			}
			return write(g.stdout, g.output, history, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "REVISION\tUPDATED\tSTATUS\tKUBERNETES\tCHART\tDESCRIPTION")
				for _, r := range history {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Revision, timestamp(r.Updated), r.Status, dash(r.KubernetesVersion), r.Chart, r.Description)
				}
			})
		},
	}
}

func newRollback(g *globals) *cobra.Command {
	var rollout tenants.Rollout
	cmd := &cobra.Command{
		Use:   "rollback NAME [REVISION]",
		Short: "Roll a tenant master back to a revision (default: the previous one), one minor back at most",
		Example: `  taowa rollback tenant-a -n tenant-a      # to the previous revision
  taowa rollback tenant-a 3 -n tenant-a`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			revision := 0
			if len(args) == 2 {
				var err error
				if revision, err = strconv.Atoi(args[1]); err != nil || revision < 1 {
					return fmt.Errorf("revision %q: want a positive number", args[1])
				}
			}
			m, err := g.manager()
			if err != nil {
				return err
			}
			if owner, _, err := m.OwnerCluster(cmd.Context(), g.releaseNamespace(), args[0]); err != nil {
				return err
			} else if owner != nil {
				return fmt.Errorf("Cluster %s/%s owns this tenant master and would upgrade it again after a rollback: roll back with helm only after deleting the Cluster with deletionPolicy Retain", owner.Namespace, owner.Name)
			}
			info, err := m.Rollback(cmd.Context(), g.releaseNamespace(), args[0], revision, rollout)
			if err != nil {
				return err
			}
			return writeStatus(g, info)
		},
	}
	rolloutFlags(cmd, &rollout, "delete what a failed rollback created")
	return cmd
}

// newHibernate is taowa sleep (asleep) or taowa wake.
func newHibernate(g *globals, asleep bool) *cobra.Command {
	var rollout tenants.Rollout
	use, short, example := "wake NAME", "Wake a hibernated tenant master: its etcd and masters start again, at the version it slept at",
		"  taowa wake tenant-a -n tenant-a"
	if asleep {
		use, short, example = "sleep NAME", "Hibernate a tenant master: its etcd and masters scale to zero, their data and PKI kept",
			"  taowa sleep tenant-a -n tenant-a"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: example, Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			res, err := m.Hibernate(cmd.Context(), g.releaseNamespace(), args[0], asleep, rollout)
			if err != nil {
				return err
			}
			if !res.Changed {
				fmt.Fprintf(g.stderr, "%s is %s already\n", args[0], map[bool]string{true: "hibernated", false: "awake"}[asleep])
			}
			return writeStatus(g, res.Release)
		},
	}
	rolloutFlags(cmd, &rollout, "roll back when the change fails")
	return cmd
}

func newKubeconfig(g *globals) *cobra.Command {
	var opts tenants.KubeconfigOptions
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Print a tenant master's admin kubeconfig, or a short-lived one (--ttl)",
		Long: `Print the admin kubeconfig the chart's PKI hook wrote for the tenant master: a client certificate
valid for certificates.validity (a year) in the group kubeadm:cluster-admins, cluster-admin through
the tenant's ClusterRoleBinding of that name (release/README.md: revoking it).

With --ttl the kubeconfig gets a client certificate of its own instead, which expires after the
time to live (10m at least; at most the controller-manager's --cluster-signing-duration, 8760h
unless controllerManager.extraArgs changes it, and never after the CA): the tenant signs it through
its CertificateSigningRequest API (signer kubernetes.io/kube-apiserver-client), which this command
creates and approves with the admin kubeconfig; the private key is made here and never leaves this
process. Its identity is the admin's (kubernetes-admin in kubeadm:cluster-admins) unless --user
(with any --group) names another, whose rights are the tenant's RBAC bindings of that user and
groups. The tenant is reached at its Service's ClusterIP, or at --server.

Its server is the apiserver's in-cluster Service URL; --server replaces it (e.g. with a
port-forward's local end) and keeps the certificate verifying by naming the original host as TLS
server name.`,
		Example: `  kubectl -n tenant-a port-forward svc/tenant-a-apiserver 6443 &
  taowa kubeconfig tenant-a -n tenant-a --server https://127.0.0.1:6443 > tenant-a.kubeconfig
  taowa kubeconfig tenant-a -n tenant-a --server https://127.0.0.1:6443 --ttl 1h > admin-for-an-hour.kubeconfig
  taowa kubeconfig tenant-a -n tenant-a --ttl 8h --user alice --group dev > alice.kubeconfig`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			data, err := m.Kubeconfig(cmd.Context(), g.releaseNamespace(), args[0], opts)
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&opts.Server, "server", "", "API server URL to write (and, with --ttl, to reach the tenant at) instead of the in-cluster one")
	cmd.Flags().DurationVar(&opts.TTL, "ttl", 0, "issue a client certificate of its own that expires after this time, signed by the tenant (0: the admin kubeconfig's)")
	cmd.Flags().StringVar(&opts.User, "user", "", "with --ttl: the certificate's user (default: the admin's, kubernetes-admin in kubeadm:cluster-admins)")
	cmd.Flags().StringSliceVar(&opts.Groups, "group", nil, "with --ttl and --user: a group of the certificate (repeatable)")
	return cmd
}

func newDelete(g *globals) *cobra.Command {
	var rollout tenants.Rollout
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Uninstall a tenant master; its certificates, etcd volumes and snapshots are kept",
		Example: "  taowa delete tenant-a -n tenant-a",
		Args:    exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			namespace := g.releaseNamespace()
			owner, objects, err := m.OwnerCluster(cmd.Context(), namespace, args[0])
			if err != nil {
				return err
			}
			if owner != nil {
				return deleteCluster(cmd.Context(), g, objects, owner, rollout)
			}
			if err := m.Uninstall(cmd.Context(), namespace, args[0], rollout); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "deleted %s; kept its data (see charts/tenant-master/README.md). To remove it:\n"+
				"  kubectl -n %s delete secret -l taowa.io/release=%s\n"+
				"  kubectl -n %s delete pvc -l 'app.kubernetes.io/instance=%s,app.kubernetes.io/component in (etcd,etcd-snapshots)'\n",
				args[0], namespace, args[0], namespace, args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&rollout.Wait, "wait", false, "wait until every object of the release is gone")
	cmd.Flags().DurationVar(&rollout.Timeout, "timeout", 0, "time the uninstall may take (0: Helm's default)")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
