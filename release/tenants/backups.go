package tenants

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hooks/etcdsnapshot"
	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore"
	"github.com/taowa/taowa/hooks/pki"
)

// The chart's values that name a snapshot to restore from.
const (
	valueRestoreFrom       = "restoreFrom"
	valueRestoreFromTenant = "restoreFromTenant"
)

// errNoObjectStore: the values name no object store.
var errNoObjectStore = errors.New("no object store in the values: etcd.snapshots.objectStore.endpoint is empty")

// storeValues are etcd.snapshots.objectStore of a release's values, coalesced with the chart's.
type storeValues struct {
	Endpoint, Bucket, Prefix, Region       string
	Insecure                               bool
	CredentialsSecret, EncryptionKeySecret string
}

func objectStoreValues(ch *chart.Chart, values map[string]any) (storeValues, error) {
	all, err := chartutil.CoalesceValues(ch, values)
	if err != nil {
		return storeValues{}, err
	}
	table, err := all.Table("etcd.snapshots.objectStore")
	if err != nil {
		return storeValues{}, fmt.Errorf("etcd.snapshots.objectStore: %w", err)
	}
	text := func(key string) string { s, _ := table[key].(string); return s }
	insecure, _ := table["insecure"].(bool)
	v := storeValues{Endpoint: text("endpoint"), Bucket: text("bucket"), Prefix: text("prefix"), Region: text("region"),
		Insecure: insecure, CredentialsSecret: text("credentialsSecret"), EncryptionKeySecret: text("encryptionKeySecret")}
	if v.Endpoint == "" {
		return storeValues{}, errNoObjectStore
	}
	return v, nil
}

// openStore opens the store the values name with the credentials and key of their Secrets in
// namespace, as the tenant's hooks do.
func (m *Manager) openStore(ctx context.Context, namespace string, v storeValues) (*objectstore.Store, error) {
	client, err := m.cluster.Clientset()
	if err != nil {
		return nil, err
	}
	if v.CredentialsSecret == "" {
		return nil, errors.New("etcd.snapshots.objectStore.credentialsSecret is empty")
	}
	cfg := objectstore.Config{Endpoint: v.Endpoint, Bucket: v.Bucket, Prefix: v.Prefix, Region: v.Region, Insecure: v.Insecure}
	read := objectstore.SecretsReader(ctx, client, namespace, v.CredentialsSecret, v.EncryptionKeySecret)
	return objectstore.Open(cfg, read, v.EncryptionKeySecret != "")
}

// SnapshotsOptions say whose snapshots to list and where the store is.
type SnapshotsOptions struct {
	// Values name the store (etcd.snapshots.objectStore) of a tenant that was uninstalled or
	// deleted, or override the release's values, e.g. with the store's address as this host
	// reaches it; the Secrets they name are read in the tenant's namespace.
	Values map[string]any
	// Verify checks each snapshot: on the volume, its SHA-256 and database; in the store, its
	// bytes downloaded against the SHA-256 recorded at upload, then as an etcd snapshot.
	Verify bool
}

// SnapshotList is what exists where: a tenant's snapshots on its snapshot volume and in its
// object store, oldest first, each once with its copies.
type SnapshotList struct {
	Snapshots []Snapshot `json:"snapshots"`
	// Listed names the places listed: the volume's PersistentVolumeClaim, the store's URL.
	Listed []string `json:"listed"`
	// NotListed says why a place was not: no volume, no object store in the values.
	NotListed []string `json:"notListed,omitempty"`
}

// Snapshot is one snapshot and its copies: on the volume, in the store, or both.
type Snapshot struct {
	Name   string             `json:"name"`
	Volume *etcdsnapshot.File `json:"volume,omitempty"`
	Store  *StoredSnapshot    `json:"store,omitempty"`
}

// Taken is when the snapshot's first copy was written.
func (s Snapshot) Taken() time.Time {
	switch {
	case s.Volume == nil:
		return s.Store.Uploaded
	case s.Store == nil || s.Volume.Modified.Before(s.Store.Uploaded):
		return s.Volume.Modified
	}
	return s.Store.Uploaded
}

// StoredSnapshot is a snapshot in the object store and, when verified, the outcome.
type StoredSnapshot struct {
	objectstore.Object
	// Verified is "ok" or why the snapshot cannot be used; empty when not checked.
	Verified string `json:"verified,omitempty"`
}

// Snapshots lists the snapshots of tenant namespace/name on its snapshot volume (which outlives
// the release) and in the object store its values, or opts.Values, name.
func (m *Manager) Snapshots(ctx context.Context, namespace, name string, opts SnapshotsOptions) (SnapshotList, error) {
	fail := func(err error) (SnapshotList, error) {
		return SnapshotList{}, fmt.Errorf("snapshots of %s in namespace %s: %w", name, namespace, err)
	}
	ch, err := m.loadChart()
	if err != nil {
		return fail(err)
	}
	client, err := m.cluster.Clientset()
	if err != nil {
		return fail(err)
	}
	var list SnapshotList
	values := opts.Values
	rel, err := m.latest(namespace, name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		// Uninstalled: its volume is kept; its store is for the caller to name.
		if values == nil {
			list.NotListed = append(list.NotListed, "object store: no release "+name+" whose values name one (name it with --set or -f etcd.snapshots.objectStore...)")
		}
	case err != nil:
		return fail(err)
	default:
		// The release's values with those given on top, as helm upgrade --reuse-values --set
		// does: e.g. the store's address as this host reaches it.
		given := map[string]any{}
		if err := remarshal(opts.Values, &given); err != nil {
			return fail(err)
		}
		values = chartutil.CoalesceTables(given, rel.Config)
	}
	all, err := chartutil.CoalesceValues(ch, values)
	if err != nil {
		return fail(err)
	}
	byName := map[string]*Snapshot{}
	entry := func(name string) *Snapshot {
		if byName[name] == nil {
			byName[name] = &Snapshot{Name: name}
		}
		return byName[name]
	}

	claim := objectName(name, "etcd-snapshots")
	files, found, err := volumeSnapshots(ctx, client, namespace, name, all, ch.Metadata.Version, opts.Verify)
	if err != nil {
		return fail(err)
	}
	if found {
		list.Listed = append(list.Listed, "volume "+namespace+"/"+claim)
		for _, f := range files {
			entry(f.Name).Volume = &f
		}
	} else {
		list.NotListed = append(list.NotListed, "volume: no PersistentVolumeClaim "+namespace+"/"+claim+" (the namespace's volumes were deleted)")
	}

	if values != nil {
		v, err := objectStoreValues(ch, values)
		switch {
		case errors.Is(err, errNoObjectStore):
			list.NotListed = append(list.NotListed, err.Error())
		case err != nil:
			return fail(err)
		default:
			store, err := m.openStore(ctx, namespace, v)
			if err != nil {
				return fail(err)
			}
			tenant := namespace + "/" + name
			objects, err := store.List(ctx, tenant, "")
			if err != nil {
				return fail(err)
			}
			list.Listed = append(list.Listed, store.Where(tenant))
			for _, o := range objects {
				s := &StoredSnapshot{Object: o}
				if opts.Verify {
					s.Verified = "ok"
					if err := verifyStored(ctx, store, tenant, o.Name); err != nil {
						s.Verified = err.Error()
					}
				}
				entry(o.Name).Store = s
			}
		}
	}
	if len(list.Listed) == 0 {
		return fail(fmt.Errorf("nowhere to list: %s", strings.Join(list.NotListed, "; ")))
	}
	list.Snapshots = make([]Snapshot, 0, len(byName))
	for _, s := range byName {
		list.Snapshots = append(list.Snapshots, *s)
	}
	slices.SortFunc(list.Snapshots, func(a, b Snapshot) int {
		return cmp.Or(a.Taken().Compare(b.Taken()), strings.Compare(a.Name, b.Name))
	})
	return list, nil
}

// storeFor opens the store that values name, or without values the one the release's do.
func (m *Manager) storeFor(ctx context.Context, namespace, name string, values map[string]any) (*objectstore.Store, error) {
	ch, err := m.loadChart()
	if err != nil {
		return nil, err
	}
	if values == nil {
		rel, err := m.latest(namespace, name)
		if err != nil {
			return nil, fmt.Errorf("%w (for a deleted tenant, name the store with --set etcd.snapshots.objectStore...)", err)
		}
		values = rel.Config
	}
	v, err := objectStoreValues(ch, values)
	if err != nil {
		return nil, err
	}
	return m.openStore(ctx, namespace, v)
}

// verifyStored downloads a snapshot into a directory it then removes: nil when it is whole.
func verifyStored(ctx context.Context, store *objectstore.Store, tenant, name string) error {
	dir, err := os.MkdirTemp("", "taowa-snapshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_, err = store.Download(ctx, tenant, name, dir)
	return err
}

// RestoreOptions say where the new tenant's etcd comes from.
type RestoreOptions struct {
	InstallOptions
	// From is the tenant NAMESPACE/RELEASE whose snapshots, in the object store
	// InstallOptions.Values name, hold the data.
	From string
	// Snapshot names one of From's snapshots; empty takes the newest.
	Snapshot string
	// FreshPKI gives the new tenant a PKI of its own instead of From's (as it was when the
	// snapshot was taken): clients of From do not work with it, and Secrets From encrypted at
	// rest cannot be read.
	FreshPKI bool
}

// Restore creates tenant master name, whose etcd starts from a snapshot of another tenant (a
// deleted one, typically) in the object store. The snapshot is downloaded and verified first: a
// missing or damaged one, or a missing PKI, is refused (a RefusedError) before anything is
// installed.
func (m *Manager) Restore(ctx context.Context, name string, opts RestoreOptions) (ReleaseInfo, objectstore.Object, error) {
	fail := func(err error) (ReleaseInfo, objectstore.Object, error) {
		return ReleaseInfo{}, objectstore.Object{}, fmt.Errorf("restore %s in namespace %s from %s: %w", name, opts.Namespace, opts.From, err)
	}
	if opts.Values == nil {
		opts.Values = map[string]any{}
	}
	store, err := m.storeFor(ctx, opts.Namespace, name, opts.Values)
	if err != nil {
		return fail(err)
	}
	objects, err := store.List(ctx, opts.From, "")
	if err != nil {
		return fail(err)
	}
	if len(objects) == 0 {
		return fail(&RefusedError{Err: fmt.Errorf("the object store holds no snapshot of %s", opts.From)})
	}
	chosen := objects[len(objects)-1] // the newest: List orders all series by upload time
	if opts.Snapshot != "" {
		i := indexOfSnapshot(objects, opts.Snapshot)
		if i < 0 {
			names := make([]string, len(objects))
			for i, o := range objects {
				names[i] = o.Name
			}
			return fail(&RefusedError{Err: fmt.Errorf("no snapshot %s; the object store holds: %s", opts.Snapshot, strings.Join(names, ", "))})
		}
		chosen = objects[i]
	}
	if err := verifyStored(ctx, store, opts.From, chosen.Name); err != nil {
		// A damaged snapshot stays damaged; a store that did not answer may the next time.
		var unusable *objectstore.UnusableError
		if errors.As(err, &unusable) {
			return fail(&RefusedError{Err: fmt.Errorf("%w (restore another with --snapshot; taowa snapshots --verify checks them all)", err)})
		}
		return fail(err)
	}
	var roots pki.Roots
	if !opts.FreshPKI {
		data, at, err := store.PKIAt(ctx, opts.From, chosen.Uploaded)
		var unusable *objectstore.UnusableError
		if errors.Is(err, objectstore.ErrNoPKI) || errors.As(err, &unusable) {
			return fail(&RefusedError{Err: fmt.Errorf("%w (--fresh-pki restores without it: a new identity, and Secrets encrypted at rest unreadable)", err)})
		}
		if err != nil {
			return fail(err)
		}
		if err := json.Unmarshal(data, &roots); err != nil {
			return fail(fmt.Errorf("the PKI stored at %s: %w", at.UTC().Format(time.RFC3339), err))
		}
	}
	// On copies: the caller's values stay as they were.
	opts.Values = maps.Clone(opts.Values)
	etcd := map[string]any{}
	switch given := opts.Values["etcd"].(type) {
	case map[string]any:
		etcd = maps.Clone(given)
	case chartutil.Values:
		etcd = maps.Clone(given)
	}
	etcd[valueRestoreFrom], etcd[valueRestoreFromTenant] = chosen.Name, opts.From
	opts.Values["etcd"] = etcd
	if roots != nil {
		// The PKI's roots first, so that the install's PKI hook issues everything else from them.
		if err := m.importRoots(ctx, name, opts.InstallOptions, roots); err != nil {
			return fail(err)
		}
	}
	info, err := m.Install(ctx, name, opts.InstallOptions)
	if err != nil {
		if roots != nil {
			err = errors.Join(err, m.removeRoots(ctx, name, opts.Namespace))
		}
		return ReleaseInfo{}, chosen, err
	}
	return info, chosen, nil
}

// importRoots writes the restored PKI roots as release name's, creating its namespace first when
// the install is asked to.
func (m *Manager) importRoots(ctx context.Context, name string, opts InstallOptions, roots pki.Roots) error {
	client, err := m.cluster.Clientset()
	if err != nil {
		return err
	}
	if opts.CreateNamespace {
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Namespace}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", opts.Namespace, err)
		}
	}
	return pki.ImportRoots(ctx, client, pki.Config{Release: name, Namespace: opts.Namespace}, roots)
}

// removeRoots takes back the PKI of release name after an install that failed: the roots
// importRoots wrote and what the install's PKI hook issued from them.
func (m *Manager) removeRoots(ctx context.Context, name, namespace string) error {
	client, err := m.cluster.Clientset()
	if err != nil {
		return err
	}
	err = client.CoreV1().Secrets(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: pki.LabelRelease + "=" + name})
	if err != nil {
		return fmt.Errorf("remove the restored PKI of %s: %w", name, err)
	}
	return nil
}

func indexOfSnapshot(objects []objectstore.Object, name string) int {
	for i, o := range objects {
		if o.Name == name {
			return i
		}
	}
	return -1
}
