package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
	"github.com/taowa/taowa/hooks/pki"
)

// runEtcdSnapshot takes a snapshot of the tenant's etcd into --dir. As a hook it may run before
// there is any etcd (Argo CD runs pre-upgrade hooks on a first sync) or while it sleeps: with
// --skip-if-no-etcd it asks the meta cluster whether the StatefulSet runs, and succeeds without.
func runEtcdSnapshot(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("etcd-snapshot", flag.ExitOnError)
	var cfg etcdsnapshot.Config
	fullName := fs.String("release", "", "the release's full name (for --skip-if-no-etcd)")
	namespace := fs.String("namespace", os.Getenv("POD_NAMESPACE"), "namespace of the tenant master")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the meta cluster (default: in-cluster)")
	endpoints := fs.String("endpoints", "", "comma-separated member client URLs, tried in order")
	tlsDir := fs.String("tls-dir", "/etc/etcd/pki/client", "directory with ca.crt, tls.crt and tls.key of an etcd client")
	fs.StringVar(&cfg.Dir, "dir", "/snapshots", "directory that holds the snapshots")
	fs.StringVar(&cfg.Prefix, "prefix", "pre-upgrade", "name of the series: snapshots are <prefix>-<time>-rev<revision>.db")
	fs.IntVar(&cfg.Retain, "retain", 5, "snapshots of the series to keep; 0 keeps all")
	fs.StringVar(&cfg.Keep, "keep", "", "a snapshot file never pruned (the one etcd.restoreFrom names)")
	skipIfNoEtcd := fs.Bool("skip-if-no-etcd", false, "succeed without a snapshot when the release has no etcd StatefulSet yet, or has it scaled to zero (hibernated)")
	var objects storeFlags
	objects.register(fs)
	_ = fs.Parse(args)
	if *endpoints == "" {
		return errors.New("--endpoints is required")
	}
	store, err := objects.store()
	if err != nil {
		return err
	}
	if *skipIfNoEtcd {
		if *fullName == "" || *namespace == "" {
			return errors.New("--skip-if-no-etcd needs --release and --namespace")
		}
		meta, err := metaClient(*kubeconfig)
		if err != nil {
			return err
		}
		sts := *fullName + "-etcd"
		set, err := meta.AppsV1().StatefulSets(*namespace).Get(ctx, sts, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			fmt.Printf("no StatefulSet %s/%s yet: nothing to snapshot\n", *namespace, sts)
			return nil
		case err != nil:
			return fmt.Errorf("read StatefulSet %s/%s: %w", *namespace, sts, err)
		case set.Spec.Replicas != nil && *set.Spec.Replicas == 0:
			// Hibernated: the data is as it was when the tenant went to sleep, which the
			// pre-upgrade snapshot of that change holds.
			fmt.Printf("StatefulSet %s/%s is scaled to zero (the tenant is hibernated): nothing runs to snapshot\n", *namespace, sts)
			return nil
		}
	}
	// A store that cannot take the snapshot fails the run before there is one: a wrong bucket or
	// credential changes nothing.
	if store != nil {
		if err := store.Check(ctx); err != nil {
			return err
		}
	}
	cfg.CAFile = filepath.Join(*tlsDir, pki.KeyCA)
	cfg.CertFile = filepath.Join(*tlsDir, pki.KeyCert)
	cfg.KeyFile = filepath.Join(*tlsDir, pki.KeyKey)

	var errs []error
	for _, endpoint := range strings.Split(*endpoints, ",") {
		cfg.Endpoint = endpoint
		snap, pruned, err := etcdsnapshot.Take(ctx, cfg, time.Now())
		if err != nil {
			fmt.Printf("member %s: %v\n", endpoint, err)
			errs = append(errs, err)
			continue
		}
		for _, p := range pruned {
			fmt.Printf("pruned %s (retain %d)\n", p, cfg.Retain)
		}
		out, _ := json.Marshal(snap)
		fmt.Printf("snapshot verified: %s\n", out)
		if store != nil {
			return objects.upload(ctx, store, snap, cfg.Prefix, cfg.Keep)
		}
		return nil
	}
	return fmt.Errorf("no member gave a verified snapshot: %w", errors.Join(errs...))
}

// runEtcdRestore is the init container of each etcd member when etcd.restoreFrom is set.
func runEtcdRestore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("etcd-restore", flag.ExitOnError)
	var cfg etcdsnapshot.RestoreConfig
	dir := fs.String("dir", "/snapshots", "directory that holds the snapshots")
	name := fs.String("snapshot", "", "file name of the snapshot in --dir")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "the member's --data-dir")
	fs.StringVar(&cfg.Name, "name", "", "the member's --name")
	fs.StringVar(&cfg.PeerURL, "initial-advertise-peer-urls", "", "the member's peer URL")
	fs.StringVar(&cfg.InitialCluster, "initial-cluster", "", "every member as name=peer-URL")
	fs.StringVar(&cfg.ClusterToken, "initial-cluster-token", "", "the cluster token")
	var objects storeFlags
	objects.register(fs)
	_ = fs.Parse(args)
	if *name == "" || strings.Contains(*name, "/") {
		return fmt.Errorf("--snapshot %q: want the file name of a snapshot in %s", *name, *dir)
	}
	store, err := objects.store()
	if err != nil {
		return err
	}
	cfg.Snapshot = filepath.Join(*dir, *name)
	if store != nil {
		// From the object store (--s3-tenant's snapshots, another tenant's possibly): fetched
		// beside the data directory, verified, used once and removed.
		if done, err := etcdsnapshot.RestoredFrom(cfg.DataDir, *name); err != nil || done {
			if err == nil {
				fmt.Printf("member %s already restored from %s\n", cfg.Name, *name)
			}
			return err
		}
		snap, err := store.Download(ctx, objects.tenant, *name, filepath.Dir(filepath.Clean(cfg.DataDir)))
		if err != nil {
			return err
		}
		defer os.Remove(snap.Path)
		cfg.Snapshot = snap.Path
		fmt.Printf("fetched %s of %s from the object store: revision %d, %d keys\n", *name, objects.tenant, snap.Revision, snap.TotalKeys)
	}
	// A member that restored already needs the file no more: Restore checks its marker first.
	restored, err := etcdsnapshot.Restore(cfg, time.Now())
	if errors.Is(err, os.ErrNotExist) {
		names, _ := etcdsnapshot.List(*dir, "")
		return fmt.Errorf("%w; the snapshot volume holds: %s", err, strings.Join(names, ", "))
	}
	if err != nil {
		return err
	}
	if restored {
		fmt.Printf("member %s restored from %s (the previous data is kept beside %s)\n", cfg.Name, *name, cfg.DataDir)
	} else {
		fmt.Printf("member %s already restored from %s\n", cfg.Name, *name)
	}
	return nil
}

// runEtcdSnapshotList prints the snapshots in --dir as a JSON array of etcdsnapshot.File.
func runEtcdSnapshotList(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("etcd-snapshot-list", flag.ExitOnError)
	dir := fs.String("dir", "/snapshots", "directory that holds the snapshots")
	verify := fs.Bool("verify", false, "check each snapshot's SHA-256 and database")
	_ = fs.Parse(args)
	files, err := etcdsnapshot.Describe(*dir, *verify)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(files)
}

// volumeFlags are the flags that describe the snapshot volume, shared by snapshot-volume and ready.
type volumeFlags struct {
	size, storageClass, accessModes string
}

func (v *volumeFlags) register(fs *flag.FlagSet, sizeHelp string) {
	fs.StringVar(&v.size, "snapshot-volume-size", "", sizeHelp)
	fs.StringVar(&v.storageClass, "snapshot-volume-storage-class", "", "StorageClass of the snapshot volume; empty means the default")
	fs.StringVar(&v.accessModes, "snapshot-volume-access-modes", "", "access modes of the snapshot volume, comma-separated; empty means ReadWriteOnce")
}

// ensure creates the snapshot volume when it is missing.
func (v volumeFlags) ensure(ctx context.Context, meta kubernetes.Interface, fullName, instance, namespace string) error {
	size, err := resource.ParseQuantity(v.size)
	if err != nil {
		return fmt.Errorf("--snapshot-volume-size %q: %w", v.size, err)
	}
	vol := etcdsnapshot.Volume{Release: fullName, Instance: instance, Namespace: namespace, Size: size, StorageClass: v.storageClass}
	if v.accessModes != "" {
		for _, m := range strings.Split(v.accessModes, ",") {
			mode := corev1.PersistentVolumeAccessMode(m)
			if mode != corev1.ReadWriteOnce && mode != corev1.ReadWriteMany && mode != corev1.ReadWriteOncePod {
				return fmt.Errorf("--snapshot-volume-access-modes %q: %q is not ReadWriteOnce, ReadWriteMany or ReadWriteOncePod", v.accessModes, m)
			}
			vol.AccessModes = append(vol.AccessModes, mode)
		}
	}
	state, err := etcdsnapshot.EnsureVolume(ctx, meta, vol)
	if err != nil {
		return err
	}
	if state.Created {
		fmt.Printf("created PersistentVolumeClaim %s/%s (%s, %s)\n", namespace, vol.ClaimName(), v.size, modesText(state.AccessModes))
		return nil
	}
	fmt.Printf("PersistentVolumeClaim %s/%s exists (%s)\n", namespace, vol.ClaimName(), modesText(state.AccessModes))
	if len(vol.AccessModes) > 0 && !slices.Equal(vol.AccessModes, state.AccessModes) {
		// A claim's access modes are immutable: say so rather than fail the release over it.
		fmt.Printf("warning: the snapshot volume is %s, not %s as asked; a claim's access modes cannot change (the chart README says how to replace it)\n",
			modesText(state.AccessModes), modesText(vol.AccessModes))
	}
	return nil
}

func modesText(modes []corev1.PersistentVolumeAccessMode) string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = string(m)
	}
	return strings.Join(names, ",")
}

// runSnapshotVolume creates the snapshot volume when it is missing, before the snapshot hooks
// mount it.
func runSnapshotVolume(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("snapshot-volume", flag.ExitOnError)
	fullName := fs.String("release", "", "the release's full name")
	instance := fs.String("instance", "", "the release name (label app.kubernetes.io/instance)")
	namespace := fs.String("namespace", os.Getenv("POD_NAMESPACE"), "namespace of the tenant master")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the meta cluster (default: in-cluster)")
	var volume volumeFlags
	volume.register(fs, "size of the claim")
	_ = fs.Parse(args)
	meta, err := metaClient(*kubeconfig)
	if err != nil {
		return err
	}
	return volume.ensure(ctx, meta, *fullName, *instance, *namespace)
}
