package command

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

func newSnapshots(g *globals) *cobra.Command {
	var (
		valueOpts valueFlags
		verify    bool
	)
	cmd := &cobra.Command{
		Use:   "snapshots NAME",
		Short: "List a tenant master's etcd snapshots on its snapshot volume and in its object store",
		Long: `List the etcd snapshots of tenant master NAME, oldest first, and where each is: on its snapshot
volume (which a Pod of the hooks' image mounts read-only to list it) and in the object store of its
values (etcd.snapshots.objectStore), with the time it was taken, its sizes, its etcd revision and,
for the store, the SHA-256 recorded at upload and whether it is encrypted. --verify checks every
copy: on the volume, etcd's own SHA-256 and the database; in the store, the downloaded bytes against
the recorded SHA-256, then the decrypted snapshot as on the volume.

For a tenant that was uninstalled or deleted, name the store with --set or -f as at install; for
an installed one, values given go on top of its own (for example the store's address as this host
reaches it). The Secrets the values name are read in the namespace. The volume outlives an
uninstall, not the namespace.`,
		Example: `  taowa snapshots tenant-a -n tenant-a --verify
  taowa snapshots tenant-a -n tenant-a --set etcd.snapshots.objectStore.endpoint=10.96.0.40:7070
  taowa snapshots old-tenant -n tenants -f store.yaml -o json`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := tenants.SnapshotsOptions{Verify: verify}
			if valueOpts.given() {
				vals, err := valueOpts.merged()
				if err != nil {
					return err
				}
				opts.Values = vals
			}
			m, err := g.manager()
			if err != nil {
				return err
			}
			list, err := m.Snapshots(cmd.Context(), g.releaseNamespace(), args[0], opts)
			if err != nil {
				return err
			}
			return write(g.stdout, g.output, list, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "NAME\tTAKEN\tVOLUME\tSTORE\tREVISION\tSHA256\tVERIFIED\n")
				for _, s := range list.Snapshots {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, timestamp(s.Taken()), volumeCopy(s), storeCopy(s),
						dash(snapshotRevision(s)), dash(storedSHA256(s)), dash(snapshotVerified(s)))
				}
				fmt.Fprintf(g.stderr, "listed: %s\n", strings.Join(list.Listed, ", "))
				for _, why := range list.NotListed {
					fmt.Fprintf(g.stderr, "not listed: %s\n", why)
				}
			})
		},
	}
	valueOpts.register(cmd, "a chart value naming the store, key=value (repeatable; as helm --set)", "a YAML file of chart values naming the store (repeatable)")
	cmd.Flags().BoolVar(&verify, "verify", false, "check every copy: on the volume, etcd's SHA-256 and the database; in the store, the downloaded bytes too")
	return cmd
}

func newRestore(g *globals) *cobra.Command {
	var (
		opts      tenants.RestoreOptions
		version   string
		valueOpts valueFlags
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
			vals, err := valueOpts.merged()
			if err != nil {
				return err
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
	valueOpts.register(cmd, "a chart value, key=value (repeatable; as helm --set)", "a YAML file of chart values (repeatable)")
	cmd.Flags().BoolVar(&opts.CreateNamespace, "create-namespace", false, "create the namespace if it does not exist")
	rolloutFlags(cmd, &opts.Rollout, "uninstall the release again if the install fails")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// The columns of taowa snapshots: a copy's size ("-" where there is none), the revision either
// copy knows, and the outcome of --verify for each copy.

func volumeCopy(s tenants.Snapshot) string {
	if s.Volume == nil {
		return "-"
	}
	return strconv.FormatInt(s.Volume.Size, 10)
}

func storeCopy(s tenants.Snapshot) string {
	switch {
	case s.Store == nil:
		return "-"
	case s.Store.Encrypted:
		return strconv.FormatInt(s.Store.Size, 10) + " (encrypted)"
	}
	return strconv.FormatInt(s.Store.Size, 10)
}

func snapshotRevision(s tenants.Snapshot) string {
	switch {
	case s.Store != nil:
		return strconv.FormatInt(s.Store.Revision, 10)
	case s.Volume.Revision != 0:
		return strconv.FormatInt(s.Volume.Revision, 10)
	}
	return ""
}

func storedSHA256(s tenants.Snapshot) string {
	if s.Store == nil {
		return ""
	}
	return s.Store.SHA256[:min(12, len(s.Store.SHA256))]
}

// snapshotVerified is "ok" when every copy checked is, else what is wrong with which.
func snapshotVerified(s tenants.Snapshot) string {
	var outcomes []string
	ok := true
	if s.Volume != nil && s.Volume.Verified != "" {
		outcomes = append(outcomes, "volume: "+s.Volume.Verified)
		ok = s.Volume.Verified == "ok"
	}
	if s.Store != nil && s.Store.Verified != "" {
		outcomes = append(outcomes, "store: "+s.Store.Verified)
		ok = ok && s.Store.Verified == "ok"
	}
	if ok && len(outcomes) > 0 {
		return "ok"
	}
	return strings.Join(outcomes, "; ")
}
