package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

// A tenant master that a Cluster object of the same name owns is changed through that object, so
// that the CLI and the taowa operator never change one release at once: create --operator makes
// one, upgrade patches its spec and follows its status (tenants.Manager.Upgrade, for one release
// and for --all), delete deletes it.

// createCluster creates a Cluster object for the operator and, with r.Wait, follows it until Ready.
func createCluster(ctx context.Context, g *globals, m *tenants.Manager, name string, k versions.Version, r tenants.Rollout) error {
	namespace := g.releaseNamespace()
	objects, err := m.ClusterObjects(namespace)
	if err != nil {
		return err
	}
	if objects == nil {
		return errors.New("--operator: this meta cluster has no Cluster API")
	}
	c := v1alpha1.Cluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.ClusterSpec{KubernetesVersion: k.String()},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
	if err != nil {
		return err
	}
	created, err := objects.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create Cluster %s/%s: %w (is charts/taowa-operator installed?)", namespace, name, err)
	}
	fmt.Fprintf(g.stderr, "created Cluster %s/%s (Kubernetes %s); the operator installs it\n", namespace, name, k)
	if !r.Wait {
		return nil
	}
	if _, err := m.FollowCluster(ctx, objects, tenants.Ref{Namespace: namespace, Name: name}, created.GetGeneration(), r.Timeout, nil); err != nil {
		return fmt.Errorf("Cluster %s/%s: %w", namespace, name, err)
	}
	return nil
}

// deleteCluster deletes the Cluster object; with r.Wait, until the operator has removed it.
func deleteCluster(ctx context.Context, g *globals, objects dynamic.ResourceInterface, c *v1alpha1.Cluster, r tenants.Rollout) error {
	if err := objects.Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete Cluster %s/%s: %w", c.Namespace, c.Name, err)
	}
	fmt.Fprintf(g.stderr, "deleting Cluster %s/%s: the operator takes a final etcd snapshot, uninstalls it, then by deletionPolicy (%s) its data\n",
		c.Namespace, c.Name, c.Spec.DeletionPolicy.OrDefault())
	if !r.Wait {
		return nil
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := objects.Get(ctx, c.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("waiting for the operator to remove Cluster %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}
