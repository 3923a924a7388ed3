package command

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/cli/values"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

func newSnapshots(g *globals) *cobra.Command {
	var (
		valueOpts values.Options
		verify    bool
	)
	cmd := &cobra.Command{
		Use:   "snapshots NAME",
		Short: "List a tenant master's etcd snapshots in its object store, with times, sizes and checksums",
		Long: `List the snapshots of tenant master NAME in the object store of its values
(etcd.snapshots.objectStore), oldest first: each with its upload time, the stored size and the
SHA-256 recorded at upload, the etcd revision and whether it is encrypted. --verify downloads each
and checks its bytes against the SHA-256, then decrypts it and checks it as an etcd snapshot.

For a tenant that was deleted, name the store with --set or -f as at install; the Secrets those
values name are read in the namespace.`,
		Example: `  taowa snapshots tenant-a -n tenant-a --verify
  taowa snapshots old-tenant -n tenants -f store.yaml -o json`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := tenants.SnapshotsOptions{Verify: verify}
			if len(valueOpts.Values)+len(valueOpts.ValueFiles) > 0 {
				vals, err := valueOpts.MergeValues(nil)
				if err != nil {
					return fmt.Errorf("values: %w", err)
				}
				opts.Values = vals
			}
			m, err := g.manager()
			if err != nil {
				return err
			}
			snapshots, err := m.Snapshots(cmd.Context(), g.releaseNamespace(), args[0], opts)
			if err != nil {
				return err
			}
			if snapshots == nil {
				snapshots = []tenants.StoredSnapshot{}
			}
			return write(g.stdout, g.output, snapshots, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "NAME\tUPLOADED\tSIZE\tREVISION\tENCRYPTED\tSHA256\tVERIFIED\n")
				for _, s := range snapshots {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%t\t%s\t%s\n", s.Name, timestamp(s.Uploaded), s.Size, s.Revision,
						s.Encrypted, s.SHA256[:min(12, len(s.SHA256))], dash(s.Verified))
				}
			})
		},
	}
	cmd.Flags().StringArrayVar(&valueOpts.Values, "set", nil, "a chart value naming the store, key=value (repeatable; as helm --set)")
	cmd.Flags().StringArrayVarP(&valueOpts.ValueFiles, "values", "f", nil, "a YAML file of chart values naming the store (repeatable)")
	cmd.Flags().BoolVar(&verify, "verify", false, "download each snapshot and check it")
	return cmd
}

func newRestore(g *globals) *cobra.Command {
	var (
		opts      tenants.RestoreOptions
		version   string
		valueOpts values.Options
	)
	cmd := &cobra.Command{
		Use:   "restore NAME --from NAMESPACE/TENANT",
		Short: "Create a tenant master whose etcd starts from another tenant's snapshot in the object store",
		Long: `Create tenant master NAME (as taowa create does) with its etcd restored from a snapshot of tenant
--from in the object store that the values name (etcd.snapshots.objectStore, whose Secrets must be
in NAME's namespace): --snapshot, or the newest. --from may be a tenant that no longer exists, or
NAME itself in the same namespace, to bring a deleted tenant back. The snapshot is downloaded and
verified first; a missing or damaged one is refused before anything is installed.

The new tenant gets the PKI roots of --from as they were when the snapshot was taken (the CAs,
the service-account key and the encryption key of Secrets at rest, which the snapshot hooks store
encrypted beside the snapshots): kubeconfigs, node certificates and service-account tokens of the
old tenant work with the new one, and its Secrets are readable. --fresh-pki gives it a PKI of its
own instead.`,
		Example: `  taowa restore tenant-a -n tenant-a --from tenant-a/tenant-a -f store.yaml
  taowa restore tenant-b -n tenants --from tenants/tenant-a --snapshot scheduled-20261202T081700Z-rev2211.db -f store.yaml`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Namespace = g.releaseNamespace()
			if version != "" {
				v, err := versions.Parse(version)
				if err != nil {
					return err
				}
				opts.KubernetesVersion = v
			}
			vals, err := valueOpts.MergeValues(nil)
			if err != nil {
				return fmt.Errorf("values: %w", err)
			}
			opts.Values = vals
			m, err := g.manager()
			if err != nil {
				return err
			}
			info, snap, err := m.Restore(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "etcd restored from %s of %s (revision %d, uploaded %s)\n", snap.Name, opts.From, snap.Revision, snap.Uploaded.UTC().Format(time.RFC3339))
			return writeStatus(g, info)
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "NAMESPACE/TENANT whose snapshot to restore (required)")
	cmd.Flags().BoolVar(&opts.FreshPKI, "fresh-pki", false, "a new PKI instead of the old tenant's: its clients do not work, and its Secrets encrypted at rest cannot be read")
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "", "the snapshot's name (taowa snapshots lists them); default: the newest")
	cmd.Flags().StringVar(&version, "version", "", "Kubernetes version of the new tenant (default: "+versions.Default().String()+"); the snapshot's or the next minor")
	cmd.Flags().StringArrayVar(&valueOpts.Values, "set", nil, "a chart value, key=value (repeatable; as helm --set)")
	cmd.Flags().StringArrayVarP(&valueOpts.ValueFiles, "values", "f", nil, "a YAML file of chart values (repeatable)")
	cmd.Flags().BoolVar(&opts.CreateNamespace, "create-namespace", false, "create the namespace if it does not exist")
	rolloutFlags(cmd, &opts.Rollout, "uninstall the release again if the install fails")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
