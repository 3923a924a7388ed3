package tenants

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore"
	"github.com/taowa/taowa/hooks/pki"
)

// The chart's values that say where snapshots go besides the snapshot volume, and what the
// Secrets they name hold (hook-etcd-snapshot.yaml mounts the same keys).
const (
	valueObjectStore       = "objectStore"
	secretKeyAccessKey     = "access-key"
	secretKeySecretKey     = "secret-key"
	secretKeyCA            = "ca.crt"
	secretKeyEncryption    = "key"
	valueRestoreFrom       = "restoreFrom"
	valueRestoreFromTenant = "restoreFromTenant"
)

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
	table, err := all.Table("etcd.snapshots." + valueObjectStore)
	if err != nil {
		return storeValues{}, fmt.Errorf("etcd.snapshots.objectStore: %w", err)
	}
	text := func(key string) string { s, _ := table[key].(string); return s }
	insecure, _ := table["insecure"].(bool)
	v := storeValues{Endpoint: text("endpoint"), Bucket: text("bucket"), Prefix: text("prefix"), Region: text("region"),
		Insecure: insecure, CredentialsSecret: text("credentialsSecret"), EncryptionKeySecret: text("encryptionKeySecret")}
	if v.Endpoint == "" {
		return storeValues{}, errors.New("no object store: etcd.snapshots.objectStore.endpoint is empty")
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
	secretData := func(name string, keys ...string) (map[string][]byte, error) {
		s, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("Secret %s/%s of the object store: %w", namespace, name, err)
		}
		for _, k := range keys {
			if len(s.Data[k]) == 0 {
				return nil, fmt.Errorf("Secret %s/%s of the object store has no key %s", namespace, name, k)
			}
		}
		return s.Data, nil
	}
	if v.CredentialsSecret == "" {
		return nil, errors.New("etcd.snapshots.objectStore.credentialsSecret is empty")
	}
	creds, err := secretData(v.CredentialsSecret, secretKeyAccessKey, secretKeySecretKey)
	if err != nil {
		return nil, err
	}
	cfg := objectstore.Config{Endpoint: v.Endpoint, Bucket: v.Bucket, Prefix: v.Prefix, Region: v.Region, Insecure: v.Insecure,
		AccessKey: strings.TrimSpace(string(creds[secretKeyAccessKey])), SecretKey: strings.TrimSpace(string(creds[secretKeySecretKey])),
		CA: creds[secretKeyCA]}
	if v.EncryptionKeySecret != "" {
		data, err := secretData(v.EncryptionKeySecret, secretKeyEncryption)
		if err != nil {
			return nil, err
		}
		if cfg.EncryptionKey, err = hex.DecodeString(strings.TrimSpace(string(data[secretKeyEncryption]))); err != nil {
			return nil, fmt.Errorf("Secret %s/%s, key %s: want %d hex digits: %w", namespace, v.EncryptionKeySecret, secretKeyEncryption, 2*objectstore.EncryptionKeySize, err)
		}
	}
	return objectstore.New(cfg)
}

// SnapshotsOptions say whose snapshots to list and where the store is.
type SnapshotsOptions struct {
	// Values, when set, name the store (etcd.snapshots.objectStore) instead of the release's
	// own values, e.g. for a tenant that was deleted; its Secrets are read in Namespace.
	Values map[string]any
	// Verify downloads each snapshot and checks it: its bytes against the SHA-256 recorded at
	// upload, then as an etcd snapshot.
	Verify bool
}

// StoredSnapshot is a snapshot in the object store and, when verified, the outcome.
type StoredSnapshot struct {
	objectstore.Object
	// Verified is "ok" or why the snapshot cannot be used; empty when not checked.
	Verified string `json:"verified,omitempty"`
}

// Snapshots lists the snapshots of tenant namespace/name in the object store, oldest first.
func (m *Manager) Snapshots(ctx context.Context, namespace, name string, opts SnapshotsOptions) ([]StoredSnapshot, error) {
	fail := func(err error) ([]StoredSnapshot, error) {
		return nil, fmt.Errorf("snapshots of %s in namespace %s: %w", name, namespace, err)
	}
	store, err := m.storeFor(ctx, namespace, name, opts.Values)
	if err != nil {
		return fail(err)
	}
	objects, err := store.List(ctx, namespace+"/"+name, "")
	if err != nil {
		return fail(err)
	}
	snapshots := make([]StoredSnapshot, len(objects))
	for i, o := range objects {
		snapshots[i].Object = o
		if opts.Verify {
			snapshots[i].Verified = verifyStored(ctx, store, namespace+"/"+name, o.Name)
		}
	}
	return snapshots, nil
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

// verifyStored downloads a snapshot into a directory it then removes, and says whether it is
// whole.
func verifyStored(ctx context.Context, store *objectstore.Store, tenant, name string) string {
	dir, err := os.MkdirTemp("", "taowa-snapshot-")
	if err != nil {
		return err.Error()
	}
	defer os.RemoveAll(dir)
	if _, err := store.Download(ctx, tenant, name, dir); err != nil {
		return err.Error()
	}
	return "ok"
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
	if verified := verifyStored(ctx, store, opts.From, chosen.Name); verified != "ok" {
		return fail(&RefusedError{Err: fmt.Errorf("%s (restore another with --snapshot; taowa snapshots --verify checks them all)", verified)})
	}
	var roots pki.Roots
	if !opts.FreshPKI {
		data, at, err := store.PKIAt(ctx, opts.From, chosen.Uploaded)
		if errors.Is(err, objectstore.ErrNoPKI) {
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
