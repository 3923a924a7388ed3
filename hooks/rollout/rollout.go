// Package rollout restarts a tenant's Deployments and StatefulSets the way `kubectl rollout
// restart` does, and waits until a rollout has finished.
package rollout

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// Kinds of workload this package handles.
const (
	Deployment  = "deployment"
	StatefulSet = "statefulset"
)

// Workload names one Deployment or StatefulSet.
type Workload struct {
	Kind, Namespace, Name string
}

func (w Workload) String() string { return w.Kind + "/" + w.Name }

// Restart sets Pod template annotation key to value, which rolls the workload's Pods when the
// value is new and does nothing when it is already set: a deterministic value makes a restart
// idempotent. It reports whether the Pods roll. Rolling updates (maxUnavailable 0 for the
// apiserver) keep the workload serving.
func Restart(ctx context.Context, client kubernetes.Interface, w Workload, key, value string) (bool, error) {
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, key, value)
	opts := metav1.PatchOptions{FieldManager: "taowa-hook"}
	var before, after metav1.Object
	var err error
	switch w.Kind {
	case Deployment:
		deployments := client.AppsV1().Deployments(w.Namespace)
		if before, err = deployments.Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
			after, err = deployments.Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		}
	case StatefulSet:
		statefulSets := client.AppsV1().StatefulSets(w.Namespace)
		if before, err = statefulSets.Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
			after, err = statefulSets.Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		}
	default:
		err = fmt.Errorf("unknown kind %q", w.Kind)
	}
	if err != nil {
		return false, fmt.Errorf("restart %s in namespace %s: %w", w, w.Namespace, err)
	}
	return after.GetGeneration() != before.GetGeneration(), nil
}

// Wait polls until every workload has rolled out: its controller saw the latest spec, and every
// replica runs the latest Pod template and is ready.
func Wait(ctx context.Context, client kubernetes.Interface, workloads ...Workload) error {
	for _, w := range workloads {
		var status string
		err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			done, s, err := rolledOut(ctx, client, w)
			status = s
			return done, err
		})
		if err != nil {
			return fmt.Errorf("wait for the rollout of %s in namespace %s (%s): %w", w, w.Namespace, status, err)
		}
	}
	return nil
}

func rolledOut(ctx context.Context, client kubernetes.Interface, w Workload) (bool, string, error) {
	switch w.Kind {
	case Deployment:
		d, err := client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return deploymentDone(d), fmt.Sprintf("%d of %d replicas updated, %d available, %d in all",
			d.Status.UpdatedReplicas, replicas(d.Spec.Replicas), d.Status.AvailableReplicas, d.Status.Replicas), nil
	case StatefulSet:
		s, err := client.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return statefulSetDone(s), fmt.Sprintf("%d of %d replicas updated, %d ready",
			s.Status.UpdatedReplicas, replicas(s.Spec.Replicas), s.Status.ReadyReplicas), nil
	}
	return false, "", fmt.Errorf("unknown kind %q", w.Kind)
}

func deploymentDone(d *appsv1.Deployment) bool {
	want := replicas(d.Spec.Replicas)
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.Replicas == want && d.Status.AvailableReplicas == want
}

func statefulSetDone(s *appsv1.StatefulSet) bool {
	want := replicas(s.Spec.Replicas)
	return s.Status.ObservedGeneration >= s.Generation && s.Status.UpdateRevision == s.Status.CurrentRevision &&
		s.Status.UpdatedReplicas == want && s.Status.ReadyReplicas == want
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
