package pki

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The roots of one release, written under another's names, are what Ensure keeps: it issues the
// rest from them, and the CAs and keys stay those of the first.
func TestRootsMoveToAnotherRelease(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	from := testConfig()
	from.Release, from.Namespace, from.EncryptionAtRest = "old", "a", true
	_, err := Ensure(ctx, client, from, io.Discard)
	require.NoError(t, err)
	roots, err := ExportRoots(ctx, client, from)
	require.NoError(t, err)
	assert.ElementsMatch(t, RootSecrets, keys(roots))
	data, digest, err := roots.Marshal()
	require.NoError(t, err)
	again, err := ExportRoots(ctx, client, from)
	require.NoError(t, err)
	againData, againDigest, err := again.Marshal()
	require.NoError(t, err)
	assert.Equal(t, digest, againDigest, "the same roots, the same digest")
	assert.Equal(t, data, againData, "the same roots, the same bytes")

	to := from
	to.Release, to.Namespace = "new", "b"
	require.NoError(t, ImportRoots(ctx, client, to, roots))
	_, err = Ensure(ctx, client, to, io.Discard)
	require.NoError(t, err)
	for _, short := range RootSecrets {
		old, err := client.CoreV1().Secrets("a").Get(ctx, from.SecretName(short), metav1.GetOptions{})
		require.NoError(t, err)
		moved, err := client.CoreV1().Secrets("b").Get(ctx, to.SecretName(short), metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, old.Data, moved.Data, "%s kept by Ensure", short)
		assert.Equal(t, "new", moved.Labels[LabelRelease])
	}

	// A release with a PKI of its own is never overwritten, and what the import wrote is taken
	// back.
	other := from
	other.Release = "other"
	_, err = client.CoreV1().Secrets("a").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: other.SecretName(SecretEncryption)}}, metav1.CreateOptions{})
	require.NoError(t, err)
	err = ImportRoots(ctx, client, other, roots)
	assert.ErrorContains(t, err, "Secret a/other-encryption exists; a restore never replaces a tenant's PKI")
	_, err = client.CoreV1().Secrets("a").Get(ctx, other.SecretName(SecretCA), metav1.GetOptions{})
	assert.Error(t, err, "the CA written before the refusal is gone")

	delete(roots, SecretEtcdCA)
	assert.ErrorContains(t, ImportRoots(ctx, client, Config{Release: "x", Namespace: "c"}, roots), "the backup lacks the root Secret etcd-ca")
}

func keys(r Roots) []string {
	var out []string
	for k := range r {
		out = append(out, k)
	}
	return out
}
