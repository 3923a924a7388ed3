//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/taowa/taowa/hack/metacluster"
	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore"
)

// The meta cluster's object store (VersityGW, hack/build-tools.sh versitygw), brought up once by
// the first test that needs it; it goes with the cluster.
var sharedObjectStore struct {
	once  sync.Once
	store metacluster.ObjectStore
	err   error
}

// Names of the Secrets objectStoreFor writes into a tenant's namespace.
const (
	objectStoreSecret = "object-store"
	snapshotKeySecret = "snapshot-key"
)

// objectStoreFor brings the object store up and gives namespace ns its credentials (Secret
// object-store) and a snapshot encryption key (Secret snapshot-key, returned): what a platform
// team hands a tenant's owner.
func objectStoreFor(ctx context.Context, t *testing.T, ns string) (metacluster.ObjectStore, []byte) {
	t.Helper()
	sharedObjectStore.once.Do(func() {
		sharedObjectStore.store, sharedObjectStore.err = metacluster.ObjectStoreUp(ctx, env.meta, io.Discard)
	})
	require.NoError(t, sharedObjectStore.err, "the meta cluster's object store")
	store := sharedObjectStore.store
	key := make([]byte, objectstore.EncryptionKeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	writeStoreSecrets(ctx, t, ns, store, key)
	return store, key
}

// writeStoreSecrets writes the Secrets objectStoreValues name into namespace ns.
func writeStoreSecrets(ctx context.Context, t *testing.T, ns string, store metacluster.ObjectStore, key []byte) {
	t.Helper()
	for name, data := range map[string]map[string]string{
		objectStoreSecret: {"access-key": store.AccessKey, "secret-key": store.SecretKey},
		snapshotKeySecret: {"key": hex.EncodeToString(key)},
	} {
		_, err := env.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}, metav1.CreateOptions{})
		require.NoError(t, err, "Secret %s/%s", ns, name)
	}
}

// setStoreSecretKey writes key as the secret key of ns's object store Secret: a wrong one makes
// the store refuse the tenant's hooks.
func setStoreSecretKey(ctx context.Context, t *testing.T, ns, key string) {
	t.Helper()
	patch := fmt.Sprintf(`{"stringData":{"secret-key":%q}}`, key)
	_, err := env.client.CoreV1().Secrets(ns).Patch(ctx, objectStoreSecret, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}

// corruptStored changes one byte of a stored object in place, keeping what was recorded with it:
// what a failing disk or a careless hand does to a backup.
func corruptStored(ctx context.Context, t *testing.T, store metacluster.ObjectStore, key string) {
	t.Helper()
	client, err := minio.New(store.HostEndpoint, &minio.Options{Creds: credentials.NewStaticV4(store.AccessKey, store.SecretKey, ""), Region: store.Region})
	require.NoError(t, err)
	obj, err := client.GetObject(ctx, store.Bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	data, err := io.ReadAll(obj)
	require.NoError(t, err)
	info, err := obj.Stat()
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	_, err = client.PutObject(ctx, store.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{UserMetadata: info.UserMetadata})
	require.NoError(t, err)
}

// setObjectStoreReplicas takes the meta cluster's object store away (0) or brings it back (1),
// waiting until it is gone or serves.
func setObjectStoreReplicas(t *testing.T, replicas int) {
	t.Helper()
	kubectl(t, "-n", metacluster.ObjectStoreNamespace, "scale", "deployment", metacluster.ObjectStoreName, fmt.Sprintf("--replicas=%d", replicas))
	if replicas == 0 {
		kubectl(t, "-n", metacluster.ObjectStoreNamespace, "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name="+metacluster.ObjectStoreName, "--timeout=60s")
		return
	}
	kubectl(t, "-n", metacluster.ObjectStoreNamespace, "rollout", "status", "deployment", metacluster.ObjectStoreName, "--timeout=60s")
}

// objectStoreValues are the chart values that send a tenant's snapshots to the store, encrypted.
func objectStoreValues(store metacluster.ObjectStore, prefix string) []string {
	return []string{
		"--set", "etcd.snapshots.objectStore.endpoint=" + store.Endpoint,
		"--set", "etcd.snapshots.objectStore.bucket=" + store.Bucket,
		"--set", "etcd.snapshots.objectStore.prefix=" + prefix,
		"--set", "etcd.snapshots.objectStore.region=" + store.Region,
		"--set", "etcd.snapshots.objectStore.insecure=true",
		"--set", "etcd.snapshots.objectStore.credentialsSecret=" + objectStoreSecret,
		"--set", "etcd.snapshots.objectStore.encryptionKeySecret=" + snapshotKeySecret,
	}
}

// storeClient reaches the object store from the host, as the tenant's hooks reach it from Pods.
func storeClient(t *testing.T, store metacluster.ObjectStore, prefix string, key []byte) *objectstore.Store {
	t.Helper()
	s, err := objectstore.New(objectstore.Config{Endpoint: store.HostEndpoint, Bucket: store.Bucket, Prefix: prefix, Region: store.Region,
		AccessKey: store.AccessKey, SecretKey: store.SecretKey, Insecure: true, EncryptionKey: key})
	require.NoError(t, err)
	return s
}

// storedSnapshots lists tn's snapshots in the store, by name, each downloaded and verified: its
// bytes against the SHA-256 recorded at upload, then decrypted and checked as an etcd snapshot.
func storedSnapshots(ctx context.Context, t *testing.T, s *objectstore.Store, tn tenant) []string {
	t.Helper()
	objects, err := s.List(ctx, tn.namespace+"/"+tn.release, "")
	require.NoError(t, err)
	var names []string
	for _, o := range objects {
		require.True(t, o.Encrypted, "%s is stored encrypted", o.Key)
		require.Len(t, o.SHA256, 64, "%s has its SHA-256 recorded", o.Key)
		snap, err := s.Download(ctx, tn.namespace+"/"+tn.release, o.Name, t.TempDir())
		require.NoError(t, err, "%s downloads and verifies", o.Key)
		require.Equal(t, o.Revision, snap.Revision, "%s: the revision recorded is the snapshot's", o.Key)
		names = append(names, o.Name)
	}
	return names
}

// TestSnapshotStoreRefusesBadInput runs taowa-hook's snapshot against the real object store with
// a bucket that does not exist and with a wrong secret key: each is refused (exit code 3, which
// the chart's Jobs do not retry) with an error that says what is wrong, before any snapshot is
// taken.
func TestSnapshotStoreRefusesBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, _ := objectStoreFor(ctx, t, testNamespace(ctx, t, "e2e-snapshot-store"))
	for _, bad := range []struct {
		name, bucket, secretKey, want string
	}{
		{"unknown bucket", "no-such-bucket", store.SecretKey, "bucket no-such-bucket does not exist at http://" + store.HostEndpoint},
		{"wrong secret key", store.Bucket, store.SecretKey + "x", "access denied to bucket " + store.Bucket + " at http://" + store.HostEndpoint + ": check the access key and secret"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			credentials, snapshots := t.TempDir(), t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(credentials, "access-key"), []byte(store.AccessKey), 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(credentials, "secret-key"), []byte(bad.secretKey), 0o600))
			cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "bin", "taowa-hook"), "etcd-snapshot",
				"--endpoints=https://127.0.0.1:2379", "--dir="+snapshots, "--prefix=scheduled",
				"--s3-endpoint="+store.HostEndpoint, "--s3-bucket="+bad.bucket, "--s3-region="+store.Region, "--s3-insecure",
				"--s3-tenant=e2e/bad-input", "--s3-credentials-dir="+credentials)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "%s", out)
			assert.Equal(t, 3, exit.ExitCode(), "a refusal, not retried:\n%s", out)
			assert.Contains(t, string(out), bad.want)
			left, err := os.ReadDir(snapshots)
			require.NoError(t, err)
			assert.Empty(t, left, "nothing written to the snapshot directory")
		})
	}
}
