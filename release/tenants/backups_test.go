package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore"
	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore/objectstoretest"
	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/release/tenants/tenantstest"
	"github.com/taowa/taowa/versions"
)

// The object store of these tests, and the Secrets in the tenants' namespace that name its
// credentials and encryption key.
const (
	storeBucket           = objectstoretest.Bucket
	storePrefix           = "meta/east"
	storeAccessKey        = objectstoretest.AccessKey
	storeSecretKey        = objectstoretest.SecretKey
	storeCredentialSecret = "snapshot-store"
	storeKeySecret        = "snapshot-key"
)

var storeEncryptionKey = sha256.Sum256([]byte("the tenants' snapshot key"))

// fakeStore is objectstoretest's S3 (which refuses another access key: a Manager that read the
// wrong credentials fails), and a Store that uploads to it as the tenants' hooks do.
type fakeStore struct {
	*objectstoretest.S3
	uploader *objectstore.Store
}

func newFakeStore(t *testing.T) *fakeStore {
	t.Helper()
	s3 := objectstoretest.NewS3(t)
	uploader, err := objectstore.New(objectstore.Config{Endpoint: s3.Endpoint(), Insecure: true, Bucket: storeBucket, Prefix: storePrefix,
		AccessKey: storeAccessKey, SecretKey: storeSecretKey, EncryptionKey: storeEncryptionKey[:]})
	require.NoError(t, err)
	return &fakeStore{S3: s3, uploader: uploader}
}

// values name the store as a tenant's chart values do; a new map each time.
func (f *fakeStore) values() map[string]any {
	return map[string]any{"etcd": map[string]any{"snapshots": map[string]any{"objectStore": map[string]any{
		"endpoint": f.Endpoint(), "insecure": true, "bucket": storeBucket, "prefix": storePrefix,
		"credentialsSecret": storeCredentialSecret, "encryptionKeySecret": storeKeySecret,
	}}}}
}

// upload stores a snapshot of tenant (namespace/release) a minute after the previous upload,
// named series-<named>-rev<revision>.db, as the snapshot hook does.
func (f *fakeStore) upload(t *testing.T, tenant, series string, named time.Time, revision int64) objectstore.Object {
	t.Helper()
	f.Clock.Advance(time.Minute)
	snap := objectstoretest.WriteSnapshot(t, t.TempDir(), series, named, revision)
	o, err := f.uploader.Upload(context.Background(), tenant, snap)
	require.NoError(t, err)
	require.True(t, o.Encrypted, "uploaded %+v", o)
	require.True(t, o.Uploaded.Equal(f.Clock.Now()), "uploaded %+v at %s", o, f.Clock.Now())
	return o
}

// createSecret creates a Secret in the meta cluster.
func createSecret(t *testing.T, c *tenantstest.Cluster, namespace, name string, data map[string]string) {
	t.Helper()
	client, err := c.Clientset()
	require.NoError(t, err)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	_, err = client.CoreV1().Secrets(namespace).Create(context.Background(), s, metav1.CreateOptions{})
	require.NoError(t, err)
}

// storeSecrets creates the store's Secrets in namespace, as kubectl create secret --from-file
// would: with trailing newlines.
func storeSecrets(t *testing.T, c *tenantstest.Cluster, namespace string) {
	t.Helper()
	createSecret(t, c, namespace, storeCredentialSecret, map[string]string{"access-key": storeAccessKey + "\n", "secret-key": storeSecretKey + "\n"})
	createSecret(t, c, namespace, storeKeySecret, map[string]string{"key": hex.EncodeToString(storeEncryptionKey[:]) + "\n"})
}

func objectNames[T any](objects []T, name func(T) string) []string {
	names := make([]string, len(objects))
	for i, o := range objects {
		names[i] = name(o)
	}
	return names
}

// stored is a listing's copies in the store, requiring each snapshot to have one.
func stored(t *testing.T, list SnapshotList) []StoredSnapshot {
	t.Helper()
	copies := make([]StoredSnapshot, len(list.Snapshots))
	for i, s := range list.Snapshots {
		require.NotNil(t, s.Store, "%s in the store", s.Name)
		require.Nil(t, s.Volume, "%s on a volume: the fake cluster has none", s.Name)
		require.Equal(t, s.Name, s.Store.Name)
		copies[i] = *s.Store
	}
	return copies
}

func storedNames(snapshots []StoredSnapshot) []string {
	return objectNames(snapshots, func(s StoredSnapshot) string { return s.Name })
}

func verified(snapshots []StoredSnapshot) []string {
	return objectNames(snapshots, func(s StoredSnapshot) string { return s.Verified })
}

// requireSameObject checks that got is the snapshot want that Upload returned.
func requireSameObject(t *testing.T, want, got objectstore.Object) {
	t.Helper()
	require.Equal(t, want.Key, got.Key)
	require.Equal(t, want.Name, got.Name)
	require.Equal(t, want.SHA256, got.SHA256)
	require.Equal(t, want.Size, got.Size)
	require.Equal(t, want.SnapshotSize, got.SnapshotSize)
	require.Equal(t, want.Revision, got.Revision)
	require.Equal(t, want.Encrypted, got.Encrypted)
	require.True(t, want.Uploaded.Equal(got.Uploaded), "uploaded %s, want %s", got.Uploaded, want.Uploaded)
}

func requireNothingInstalled(t *testing.T, m *Manager) {
	t.Helper()
	list, err := m.List(context.Background(), "")
	require.NoError(t, err)
	require.Empty(t, list, "installed")
}

var day = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func TestSnapshotsOfAnInstalledRelease(t *testing.T) {
	ctx := context.Background()
	m, cluster := newTestManager(t, nil)
	store := newFakeStore(t)
	storeSecrets(t, cluster, "ns-a")
	install(t, m, "ns-a", "tenant-a", versions.Default().String(), store.values())

	// Names do not sort as the uploads do: the listing goes by upload time.
	uploaded := []objectstore.Object{
		store.upload(t, "ns-a/tenant-a", "scheduled", day.Add(3*time.Hour), 30),
		store.upload(t, "ns-a/tenant-a", "pre-upgrade", day.Add(2*time.Hour), 31),
		store.upload(t, "ns-a/tenant-a", "scheduled", day.Add(1*time.Hour), 32),
	}
	// Other tenants' snapshots in the same store: not listed.
	store.upload(t, "ns-a/tenant-b", "scheduled", day, 5)
	store.upload(t, "ns-b/tenant-a", "scheduled", day, 6)

	list, err := m.Snapshots(ctx, "ns-a", "tenant-a", SnapshotsOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"s3://" + storeBucket + "/" + storePrefix + "/ns-a/tenant-a/"}, list.Listed)
	require.Equal(t, []string{"volume: no PersistentVolumeClaim ns-a/tenant-a-etcd-snapshots (the namespace's volumes were deleted)"}, list.NotListed)
	got := stored(t, list)
	require.Equal(t, objectNames(uploaded, func(o objectstore.Object) string { return o.Name }), storedNames(got))
	for i := range got {
		requireSameObject(t, uploaded[i], got[i].Object)
		require.Empty(t, got[i].Verified, "not verified: %+v", got[i])
	}

	list, err = m.Snapshots(ctx, "ns-a", "tenant-a", SnapshotsOptions{Verify: true})
	require.NoError(t, err)
	got = stored(t, list)
	require.Equal(t, []string{"ok", "ok", "ok"}, verified(got))

	store.Corrupt(t, uploaded[1].Key)
	list, err = m.Snapshots(ctx, "ns-a", "tenant-a", SnapshotsOptions{Verify: true})
	require.NoError(t, err)
	got = stored(t, list)
	require.Equal(t, objectNames(uploaded, func(o objectstore.Object) string { return o.Name }), storedNames(got))
	require.Equal(t, "ok", got[0].Verified)
	require.Contains(t, got[1].Verified, "SHA-256 mismatch")
	require.Contains(t, got[1].Verified, uploaded[1].Key)
	require.Equal(t, "ok", got[2].Verified)

	// Values given go on top of the release's, as with helm --reuse-values --set.
	override := map[string]any{"etcd": map[string]any{"snapshots": map[string]any{"objectStore": map[string]any{"prefix": "elsewhere"}}}}
	list, err = m.Snapshots(ctx, "ns-a", "tenant-a", SnapshotsOptions{Values: override})
	require.NoError(t, err)
	require.Equal(t, []string{"s3://" + storeBucket + "/elsewhere/ns-a/tenant-a/"}, list.Listed, "the release's store, another prefix")
	require.Empty(t, list.Snapshots)
	require.Equal(t, map[string]any{"prefix": "elsewhere"}, override["etcd"].(map[string]any)["snapshots"].(map[string]any)["objectStore"], "the caller's values unchanged")
}

func TestSnapshotsOfADeletedTenant(t *testing.T) {
	ctx := context.Background()
	m, cluster := newTestManager(t, nil)
	store := newFakeStore(t)
	storeSecrets(t, cluster, "ns-a")
	first := store.upload(t, "ns-a/gone", "final", day, 10)
	second := store.upload(t, "ns-a/gone", "final", day.Add(time.Hour), 11)

	_, err := m.Snapshots(ctx, "ns-a", "gone", SnapshotsOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "--set")
	require.Contains(t, err.Error(), "gone")

	list, err := m.Snapshots(ctx, "ns-a", "gone", SnapshotsOptions{Values: store.values(), Verify: true})
	require.NoError(t, err)
	got := stored(t, list)
	require.Equal(t, []string{first.Name, second.Name}, storedNames(got))
	requireSameObject(t, first, got[0].Object)
	requireSameObject(t, second, got[1].Object)
	require.Equal(t, []string{"ok", "ok"}, verified(got))
}

func TestSnapshotsStoreSecrets(t *testing.T) {
	credentials := map[string]string{"access-key": storeAccessKey, "secret-key": storeSecretKey}
	key := map[string]string{"key": hex.EncodeToString(storeEncryptionKey[:])}
	for _, tc := range []struct {
		name string
		// secrets by namespace/name
		secrets map[string]map[string]string
		want    []string
	}{
		{
			name: "no credentials Secret",
			// The right Secret in another namespace: not the tenant's.
			secrets: map[string]map[string]string{"other/" + storeCredentialSecret: credentials, "ns-a/" + storeKeySecret: key},
			want:    []string{"Secret ns-a/" + storeCredentialSecret, "not found"},
		},
		{
			name: "credentials without secret-key",
			secrets: map[string]map[string]string{
				"ns-a/" + storeCredentialSecret: {"access-key": storeAccessKey}, "ns-a/" + storeKeySecret: key},
			want: []string{"Secret ns-a/" + storeCredentialSecret, "no key secret-key"},
		},
		{
			name: "credentials with an empty access-key",
			secrets: map[string]map[string]string{
				"ns-a/" + storeCredentialSecret: {"access-key": "", "secret-key": storeSecretKey}, "ns-a/" + storeKeySecret: key},
			want: []string{"Secret ns-a/" + storeCredentialSecret + ", key access-key is empty"},
		},
		{
			name:    "no encryption key Secret",
			secrets: map[string]map[string]string{"ns-a/" + storeCredentialSecret: credentials},
			want:    []string{"Secret ns-a/" + storeKeySecret, "not found"},
		},
		{
			name: "encryption key Secret without key",
			secrets: map[string]map[string]string{
				"ns-a/" + storeCredentialSecret: credentials, "ns-a/" + storeKeySecret: {"encryption-key": key["key"]}},
			want: []string{"Secret ns-a/" + storeKeySecret, "no key key"},
		},
		{
			name: "encryption key not hex",
			secrets: map[string]map[string]string{
				"ns-a/" + storeCredentialSecret: credentials, "ns-a/" + storeKeySecret: {"key": "not hex at all"}},
			want: []string{"Secret ns-a/" + storeKeySecret, "key key", "64 hex digits"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, cluster := newTestManager(t, nil)
			store := newFakeStore(t)
			for ref, data := range tc.secrets {
				namespace, name, _ := strings.Cut(ref, "/")
				createSecret(t, cluster, namespace, name, data)
			}
			_, err := m.Snapshots(context.Background(), "ns-a", "tenant-a", SnapshotsOptions{Values: store.values()})
			require.Error(t, err)
			for _, want := range tc.want {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestSnapshotsOfAnInstalledReleaseWithoutItsSecret(t *testing.T) {
	m, cluster := newTestManager(t, nil)
	store := newFakeStore(t)
	install(t, m, "ns-a", "tenant-a", versions.Default().String(), store.values())
	createSecret(t, cluster, "ns-a", storeCredentialSecret, map[string]string{"access-key": storeAccessKey})

	_, err := m.Snapshots(context.Background(), "ns-a", "tenant-a", SnapshotsOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "Secret ns-a/"+storeCredentialSecret+" has no key secret-key")
}

// restoreOptions restore tenant-b in ns-b from the deleted tenant ns-a/tenant-a.
func restoreOptions(store *fakeStore, snapshot string) RestoreOptions {
	return RestoreOptions{
		InstallOptions: InstallOptions{Namespace: "ns-b", Values: store.values(), Rollout: waited},
		From:           "ns-a/tenant-a",
		Snapshot:       snapshot,
	}
}

// newRestoreTest is a Manager on an empty cluster whose namespace ns-b has the store's Secrets,
// and a store that holds ns-a/tenant-a's PKI roots (testRoots), stored before any snapshot as
// the install's PKI hook does.
func newRestoreTest(t *testing.T) (*Manager, *tenantstest.Cluster, *fakeStore) {
	t.Helper()
	m, cluster := newTestManager(t, nil)
	store := newFakeStore(t)
	storeSecrets(t, cluster, "ns-b")
	store.putRoots(t, "ns-a/tenant-a", testRoots)
	return m, cluster, store
}

// testRoots stand for a tenant's PKI roots.
var testRoots = pki.Roots{
	pki.SecretCA:             {Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("ca-cert"), "tls.key": []byte("ca-key")}},
	pki.SecretFrontProxyCA:   {Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("fp-cert"), "tls.key": []byte("fp-key")}},
	pki.SecretEtcdCA:         {Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("etcd-cert"), "tls.key": []byte("etcd-key")}},
	pki.SecretServiceAccount: {Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"sa.key": []byte("sa-key")}},
	pki.SecretEncryption:     {Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"encryption-config.yaml": []byte("aescbc")}},
}

// putRoots stores PKI roots of tenant a minute after the previous upload, as the PKI hook does.
func (f *fakeStore) putRoots(t *testing.T, tenant string, roots pki.Roots) {
	t.Helper()
	f.Clock.Advance(time.Minute)
	data, digest, err := roots.Marshal()
	require.NoError(t, err)
	stored, err := f.uploader.PutPKI(context.Background(), tenant, digest, data)
	require.NoError(t, err)
	require.True(t, stored)
}

// requireRoots checks that tenant-b in ns-b has the root Secrets of roots.
func requireRoots(t *testing.T, c *tenantstest.Cluster, roots pki.Roots) {
	t.Helper()
	client, err := c.Clientset()
	require.NoError(t, err)
	for short, want := range roots {
		s, err := client.CoreV1().Secrets("ns-b").Get(context.Background(), "tenant-b-"+short, metav1.GetOptions{})
		require.NoError(t, err, short)
		require.Equal(t, want.Data, s.Data, short)
		require.Equal(t, "tenant-b", s.Labels[pki.LabelRelease], short)
	}
}

// requireRestoredFrom checks the installed release's values and manifest name the snapshot.
func requireRestoredFrom(t *testing.T, c *tenantstest.Cluster, store *fakeStore, snapshot, from string) {
	t.Helper()
	cfg, err := c.ActionConfig("ns-b")
	require.NoError(t, err)
	rel, err := cfg.Releases.Last("tenant-b")
	require.NoError(t, err)
	values := chartutil.Values(rel.Config)
	for path, want := range map[string]any{
		"etcd.restoreFrom":                             snapshot,
		"etcd.restoreFromTenant":                       from,
		"etcd.snapshots.objectStore.endpoint":          store.Endpoint(),
		"etcd.snapshots.objectStore.bucket":            storeBucket,
		"etcd.snapshots.objectStore.prefix":            storePrefix,
		"etcd.snapshots.objectStore.insecure":          true,
		"etcd.snapshots.objectStore.credentialsSecret": storeCredentialSecret,
	} {
		got, err := values.PathValue(path)
		require.NoError(t, err, path)
		require.Equal(t, want, got, path)
	}
	require.Contains(t, rel.Manifest, "--snapshot="+snapshot)
	requireRoots(t, c, testRoots)
}

// The PKI in force when the snapshot was taken comes with it; without one stored by then, the
// restore is refused unless a fresh PKI is asked for.
func TestRestoreTakesThePKIOfTheSnapshotsTime(t *testing.T) {
	ctx := context.Background()
	m, cluster, store := newRestoreTest(t)
	snap := store.upload(t, "ns-a/tenant-a", "scheduled", day, 10)
	rotated := maps.Clone(testRoots)
	rotated[pki.SecretServiceAccount] = pki.RootSecret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"sa.key": []byte("rotated")}}
	store.putRoots(t, "ns-a/tenant-a", rotated)
	_, _, err := m.Restore(ctx, "tenant-b", restoreOptions(store, snap.Name))
	require.NoError(t, err)
	requireRoots(t, cluster, testRoots)

	m, cluster, store = newRestoreTest(t)
	store.upload(t, "ns-a/tenant-other", "scheduled", day, 10)
	// tenant-other's first PKI backup came after its snapshot.
	store.putRoots(t, "ns-a/tenant-other", testRoots)
	opts := restoreOptions(store, "")
	opts.From = "ns-a/tenant-other"
	_, _, err = m.Restore(ctx, "tenant-b", opts)
	require.ErrorContains(t, err, "no PKI stored: none of ns-a/tenant-other at or before")
	var refused *RefusedError
	require.ErrorAs(t, err, &refused, "asking again is refused again")
	require.ErrorContains(t, err, "--fresh-pki")
	requireNothingInstalled(t, m)
	opts.FreshPKI = true
	_, _, err = m.Restore(ctx, "tenant-b", opts)
	require.NoError(t, err)
	client, err := cluster.Clientset()
	require.NoError(t, err)
	_, err = client.CoreV1().Secrets("ns-b").Get(ctx, "tenant-b-ca", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "no roots restored: the install's PKI hook makes a fresh PKI (%v)", err)
}

// A restore never replaces a PKI: a tenant of that name whose roots are there is refused, and
// what was there stays.
func TestRestoreRefusesToReplaceAPKI(t *testing.T) {
	ctx := context.Background()
	m, cluster, store := newRestoreTest(t)
	snap := store.upload(t, "ns-a/tenant-a", "scheduled", day, 10)
	createSecret(t, cluster, "ns-b", "tenant-b-sa", map[string]string{"sa.key": "mine"})
	_, _, err := m.Restore(ctx, "tenant-b", restoreOptions(store, snap.Name))
	require.ErrorContains(t, err, "Secret ns-b/tenant-b-sa exists; a restore never replaces a tenant's PKI")
	requireNothingInstalled(t, m)
	client, err := cluster.Clientset()
	require.NoError(t, err)
	secrets, err := client.CoreV1().Secrets("ns-b").List(ctx, metav1.ListOptions{LabelSelector: pki.LabelRelease + "=tenant-b"})
	require.NoError(t, err)
	require.Empty(t, secrets.Items, "the roots written before the refusal are taken back")
	sa, err := client.CoreV1().Secrets("ns-b").Get(ctx, "tenant-b-sa", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "mine", string(sa.Data["sa.key"]))
}

func TestRestoreWithoutSnapshotsOfFrom(t *testing.T) {
	m, _, store := newRestoreTest(t)
	// Snapshots of others only, the new tenant's own name among them.
	store.upload(t, "ns-a/tenant-other", "final", day, 10)
	store.upload(t, "ns-b/tenant-b", "final", day, 11)
	store.upload(t, "ns-b/tenant-a", "final", day, 12)

	_, _, err := m.Restore(context.Background(), "tenant-b", restoreOptions(store, ""))
	require.Error(t, err)
	require.Contains(t, err.Error(), "holds no snapshot of ns-a/tenant-a")
	requireNothingInstalled(t, m)
}

func TestRestoreOfASnapshotThatDoesNotExist(t *testing.T) {
	m, _, store := newRestoreTest(t)
	first := store.upload(t, "ns-a/tenant-a", "scheduled", day, 10)
	second := store.upload(t, "ns-a/tenant-a", "final", day.Add(time.Hour), 11)
	other := store.upload(t, "ns-a/tenant-other", "final", day.Add(2*time.Hour), 12)

	missing := "scheduled-20991231T000000Z-rev1.db"
	_, _, err := m.Restore(context.Background(), "tenant-b", restoreOptions(store, missing))
	require.Error(t, err)
	require.Contains(t, err.Error(), "no snapshot "+missing)
	require.Contains(t, err.Error(), first.Name+", "+second.Name)
	require.NotContains(t, err.Error(), other.Name)
	requireNothingInstalled(t, m)

	// Another tenant's snapshot is no snapshot of From either.
	_, _, err = m.Restore(context.Background(), "tenant-b", restoreOptions(store, other.Name))
	require.Error(t, err)
	require.Contains(t, err.Error(), "no snapshot "+other.Name)
	requireNothingInstalled(t, m)
}

func TestRestoreRefusesACorruptSnapshot(t *testing.T) {
	ctx := context.Background()
	m, cluster, store := newRestoreTest(t)
	older := store.upload(t, "ns-a/tenant-a", "scheduled", day, 10)
	newest := store.upload(t, "ns-a/tenant-a", "final", day.Add(time.Hour), 11)
	store.Corrupt(t, newest.Key)

	_, _, err := m.Restore(ctx, "tenant-b", restoreOptions(store, ""))
	require.Error(t, err)
	require.Contains(t, err.Error(), "SHA-256 mismatch")
	require.Contains(t, err.Error(), newest.Name)
	require.Contains(t, err.Error(), "--snapshot")
	var refused *RefusedError
	require.ErrorAs(t, err, &refused, "a damaged snapshot is refused: no retry mends it")
	requireNothingInstalled(t, m)

	// Named, the corrupt one is refused too.
	_, _, err = m.Restore(ctx, "tenant-b", restoreOptions(store, newest.Name))
	require.Error(t, err)
	require.Contains(t, err.Error(), "SHA-256 mismatch")
	requireNothingInstalled(t, m)

	info, got, err := m.Restore(ctx, "tenant-b", restoreOptions(store, older.Name))
	require.NoError(t, err)
	requireSameObject(t, older, got)
	require.Equal(t, "tenant-b", info.Name)
	require.Equal(t, "ns-b", info.Namespace)
	require.Equal(t, "deployed", info.Status)
	require.Equal(t, versions.Default().String(), info.KubernetesVersion)
	list, err := m.List(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "ns-b/tenant-b", list[0].Namespace+"/"+list[0].Name)
	requireRestoredFrom(t, cluster, store, older.Name, "ns-a/tenant-a")
}

func TestRestoreTakesTheNewestUpload(t *testing.T) {
	m, cluster, store := newRestoreTest(t)
	// The newest upload has neither the greatest name, nor the latest time in its name, nor the
	// highest revision.
	store.upload(t, "ns-a/tenant-a", "scheduled", day.Add(48*time.Hour), 30)
	newest := store.upload(t, "ns-a/tenant-a", "pre-upgrade", day, 20)
	// Later, but another tenant's.
	store.upload(t, "ns-a/tenant-other", "final", day, 40)

	info, got, err := m.Restore(context.Background(), "tenant-b", restoreOptions(store, ""))
	require.NoError(t, err)
	requireSameObject(t, newest, got)
	require.Equal(t, "deployed", info.Status)
	requireRestoredFrom(t, cluster, store, newest.Name, "ns-a/tenant-a")
}
