package etcdsnapshot

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEnsureVolume(t *testing.T) {
	ctx := context.Background()
	rwo := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	rwx := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	vol := func(modes []corev1.PersistentVolumeAccessMode) Volume {
		return Volume{Release: "tenant-a", Instance: "tenant-a", Namespace: "ns", Size: resource.MustParse("1Gi"), AccessModes: modes}
	}

	t.Run("ReadWriteOnce unless asked", func(t *testing.T) {
		client := fake.NewClientset()
		state, err := EnsureVolume(ctx, client, vol(nil))
		require.NoError(t, err)
		assert.Equal(t, VolumeState{Created: true, AccessModes: rwo}, state)
		claim, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "tenant-a-etcd-snapshots", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, rwo, claim.Spec.AccessModes)
	})

	t.Run("the modes asked for", func(t *testing.T) {
		client := fake.NewClientset()
		state, err := EnsureVolume(ctx, client, vol(rwx))
		require.NoError(t, err)
		assert.Equal(t, VolumeState{Created: true, AccessModes: rwx}, state)
	})

	t.Run("an existing claim keeps its modes and says which", func(t *testing.T) {
		client := fake.NewClientset()
		_, err := EnsureVolume(ctx, client, vol(nil))
		require.NoError(t, err)
		state, err := EnsureVolume(ctx, client, vol(rwx))
		require.NoError(t, err)
		assert.Equal(t, VolumeState{AccessModes: rwo}, state)
		claim, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "tenant-a-etcd-snapshots", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, rwo, claim.Spec.AccessModes, "unchanged")
	})
}
