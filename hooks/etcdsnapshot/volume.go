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
}

// ClaimName is the name of the volume's PersistentVolumeClaim.
func (v Volume) ClaimName() string { return v.Release + "-etcd-snapshots" }

// EnsureVolume creates the snapshot volume when it is missing; it reports whether it did. An
// existing claim is left as it is.
func EnsureVolume(ctx context.Context, client kubernetes.Interface, v Volume) (bool, error) {
	if v.Release == "" || v.Instance == "" || v.Namespace == "" {
		return false, fmt.Errorf("snapshot volume: release, instance and namespace are required")
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: v.ClaimName(), Namespace: v.Namespace, Labels: map[string]string{
			pki.LabelRelease: v.Release, pki.LabelManagedBy: pki.ManagedBy,
			"app.kubernetes.io/instance": v.Instance, "app.kubernetes.io/component": "etcd-snapshots",
		}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: v.Size}},
		},
	}
	if v.StorageClass != "" {
		pvc.Spec.StorageClassName = &v.StorageClass
	}
	_, err := client.CoreV1().PersistentVolumeClaims(v.Namespace).Create(ctx, pvc, metav1.CreateOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	default:
		return false, fmt.Errorf("create PersistentVolumeClaim %s/%s: %w", v.Namespace, pvc.Name, err)
	}
}
