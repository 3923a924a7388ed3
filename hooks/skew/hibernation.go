package skew

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/versions"
)

// Asleep reports whether the tenant is hibernated: the chart's hibernated value scales its
// apiserver Deployment (with every other component) to zero.
func Asleep(ctx context.Context, meta kubernetes.Interface, namespace, fullName string) (bool, error) {
	name := fullName + "-apiserver"
	d, err := meta.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read Deployment %s/%s: %w", namespace, name, err)
	}
	return d.Spec.Replicas != nil && *d.Spec.Replicas == 0, nil
}

// CheckHibernation refuses to change the version of a tenant that sleeps, or that the same change
// puts to sleep: an upgrade's gates (the skew of running components and kubelets, the snapshot
// before it) need the tenant awake, and a tenant woken at another version than it slept at would
// skip them. Waking or sleeping at the running version is fine.
func CheckHibernation(target versions.Version, running []Running, asleep, hibernate bool) error {
	if !asleep && !hibernate {
		return nil
	}
	for _, r := range running {
		if r.Version == target {
			continue
		}
		if asleep {
			return &RefusedError{Reason: fmt.Errorf("the tenant is hibernated at Kubernetes %s (read from %s): wake it at that version first "+
				"(hibernated=false), then upgrade to %s", r.Version, r.Source, target)}
		}
		return &RefusedError{Reason: fmt.Errorf("hibernating and changing Kubernetes %s -> %s at once: change the version while the tenant "+
			"is awake, then hibernate it", r.Version, target)}
	}
	return nil
}
