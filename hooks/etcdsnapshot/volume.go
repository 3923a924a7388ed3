package etcdsnapshot

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hooks/pki"
)

// Volume is a tenant's snapshot volume: a PersistentVolumeClaim that holds the snapshot files.
// It is the tenant's data, like the PKI Secrets: not part of the release, so `helm uninstall`
// keeps it.
type Volume struct {
	Release   string // the release's full name; the claim is <release>-etcd-snapshots
	Instance  string // the release name (label app.kubernetes.io/instance)
	Namespace string
	Size      resource.Quantity
	// StorageClass is the claim's StorageClass; empty means the meta cluster's default.
	StorageClass string
	// AccessModes of the claim; empty means ReadWriteOnce. The snapshot Jobs mount it one at a
	// time; every etcd member mounts it while it restores, so three members on different nodes
	// restore only from a ReadWriteMany volume.
	AccessModes []corev1.PersistentVolumeAccessMode
}

// VolumeState is what EnsureVolume found or made.
type VolumeState struct {
	// Created is true when EnsureVolume created the claim.
	Created bool
	// AccessModes are the claim's: an existing claim keeps its own (they are immutable), which may
	// differ from the ones asked for.
	AccessModes []corev1.PersistentVolumeAccessMode
}

// ClaimName is the name of the volume's PersistentVolumeClaim.
func (v Volume) ClaimName() string { return v.Release + "-etcd-snapshots" }

// EnsureVolume creates the snapshot volume when it is missing. An existing claim is left as it
// is.
func EnsureVolume(ctx context.Context, client kubernetes.Interface, v Volume) (VolumeState, error) {
	if v.Release == "" || v.Instance == "" || v.Namespace == "" {
		return VolumeState{}, fmt.Errorf("snapshot volume: release, instance and namespace are required")
	}
	modes := v.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: v.ClaimName(), Namespace: v.Namespace, Labels: map[string]string{
			pki.LabelRelease: v.Release, pki.LabelManagedBy: pki.ManagedBy,
			"app.kubernetes.io/instance": v.Instance, "app.kubernetes.io/component": "etcd-snapshots",
		}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: modes,
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: v.Size}},
		},
	}
	if v.StorageClass != "" {
		pvc.Spec.StorageClassName = &v.StorageClass
	}
	claims := client.CoreV1().PersistentVolumeClaims(v.Namespace)
	_, err := claims.Create(ctx, pvc, metav1.CreateOptions{})
	switch {
	case err == nil:
		return VolumeState{Created: true, AccessModes: modes}, nil
	case !apierrors.IsAlreadyExists(err):
		return VolumeState{}, fmt.Errorf("create PersistentVolumeClaim %s/%s: %w", v.Namespace, pvc.Name, err)
	}
	existing, err := claims.Get(ctx, pvc.Name, metav1.GetOptions{})
	if err != nil {
		return VolumeState{}, fmt.Errorf("get PersistentVolumeClaim %s/%s: %w", v.Namespace, pvc.Name, err)
	}
	return VolumeState{AccessModes: existing.Spec.AccessModes}, nil
}
