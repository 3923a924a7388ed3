package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

// A tenant master that a Cluster object of the same name owns is changed through that object, so
// that the CLI and the taowa operator never change one release at once: create --operator makes
// one, upgrade patches its spec and follows its status, delete deletes it.

// clusterObjects is the Cluster resource in the release namespace; nil when the meta cluster is
// a test's in-memory one without it.
func (g *globals) clusterObjects() (dynamic.ResourceInterface, error) {
	namespace := g.releaseNamespace()
	if g.cluster != nil {
		if objects, ok := g.cluster.(interface{ ClusterObjects() dynamic.Interface }); ok {
			return objects.ClusterObjects().Resource(v1alpha1.Resource).Namespace(namespace), nil
		}
		return nil, nil
	}
	rc, err := g.settings.RESTClientGetter().ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("meta cluster client configuration: %w", err)
	}
	client, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return client.Resource(v1alpha1.Resource).Namespace(namespace), nil
}

// ownerCluster returns the Cluster object name, or nil when there is none (or no Cluster API).
func (g *globals) ownerCluster(ctx context.Context, name string) (*v1alpha1.Cluster, dynamic.ResourceInterface, error) {
	objects, err := g.clusterObjects()
	if err != nil || objects == nil {
		return nil, nil, err
	}
	u, err := objects.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("Cluster %s/%s: %w", g.releaseNamespace(), name, err)
	}
	c, err := asCluster(u)
	return c, objects, err
}

func asCluster(u *unstructured.Unstructured) (*v1alpha1.Cluster, error) {
	var c v1alpha1.Cluster
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &c); err != nil {
		return nil, fmt.Errorf("Cluster %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return &c, nil
}

// createCluster creates a Cluster object for the operator and, with r.Wait, follows it until Ready.
func createCluster(ctx context.Context, g *globals, name string, k versions.Version, r tenants.Rollout) error {
	objects, err := g.clusterObjects()
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
		return fmt.Errorf("create Cluster %s/%s: %w (is charts/taowa-operator installed?)", g.releaseNamespace(), name, err)
	}
	fmt.Fprintf(g.stderr, "created Cluster %s/%s (Kubernetes %s); the operator installs it\n", g.releaseNamespace(), name, k)
	if !r.Wait {
		return nil
	}
	_, err = followCluster(ctx, g, objects, name, created.GetGeneration(), r.Timeout, nil)
	return err
}

// upgradeCluster sets the Cluster's kubernetesVersion and follows the operator's walk.
func upgradeCluster(ctx context.Context, g *globals, objects dynamic.ResourceInterface, c *v1alpha1.Cluster, to versions.Version, r tenants.Rollout) (tenants.UpgradeResult, error) {
	result := tenants.UpgradeResult{Name: c.Name, Namespace: c.Namespace, To: to}
	from, err := versions.Parse(c.Status.KubernetesVersion)
	if err != nil {
		return result, fmt.Errorf("Cluster %s/%s runs no version yet (status.kubernetesVersion %q)", c.Namespace, c.Name, c.Status.KubernetesVersion)
	}
	result.From = from
	// Refused here as the operator would refuse it, before the spec changes.
	steps, err := tenants.PlanUpgrade(from, to)
	if err != nil {
		return result, fmt.Errorf("upgrade Cluster %s/%s: %w", c.Namespace, c.Name, err)
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"kubernetesVersion": to.String()}})
	patched, err := objects.Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return result, fmt.Errorf("set spec.kubernetesVersion of Cluster %s/%s: %w", c.Namespace, c.Name, err)
	}
	fmt.Fprintf(g.stderr, "Cluster %s/%s: spec.kubernetesVersion %s -> %s; the operator walks it\n", c.Namespace, c.Name, c.Spec.KubernetesVersion, to)
	if !r.Wait {
		return result, nil
	}
	previous := from
	// Each step is a Helm operation bounded by the operator's own timeout; r.Timeout per step
	// bounds the wait here.
	_, err = followCluster(ctx, g, objects, c.Name, patched.GetGeneration(), r.Timeout*time.Duration(max(len(steps), 1)), func(c *v1alpha1.Cluster) {
		if v, err := versions.Parse(c.Status.KubernetesVersion); err == nil && v != previous {
			result.Steps = append(result.Steps, tenants.Step{From: previous, To: v, Revision: c.Status.Revision})
			previous = v
		}
	})
	return result, err
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
	return poll(ctx, r.Timeout, func(ctx context.Context) (bool, error) {
		_, err := objects.Get(ctx, c.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// followCluster polls the Cluster until the operator has acted on generation: done and Ready, or
// Degraded (an error with the operator's message). It prints each new Progressing message, and
// calls seen with every state read.
func followCluster(ctx context.Context, g *globals, objects dynamic.ResourceInterface, name string, generation int64, timeout time.Duration, seen func(*v1alpha1.Cluster)) (*v1alpha1.Cluster, error) {
	var last *v1alpha1.Cluster
	lastMessage := ""
	err := poll(ctx, timeout, func(ctx context.Context) (bool, error) {
		u, err := objects.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if last, err = asCluster(u); err != nil {
			return false, err
		}
		if seen != nil {
			seen(last)
		}
		progressing := currentCondition(last, v1alpha1.ConditionProgressing, generation)
		if progressing != nil && progressing.Message != lastMessage {
			fmt.Fprintf(g.stderr, "%s: %s\n", name, progressing.Message)
			lastMessage = progressing.Message
		}
		if degraded := currentCondition(last, v1alpha1.ConditionDegraded, generation); degraded != nil && degraded.Status == metav1.ConditionTrue {
			return false, fmt.Errorf("Cluster %s/%s: %s: %s", last.Namespace, name, degraded.Reason, degraded.Message)
		}
		ready := currentCondition(last, v1alpha1.ConditionReady, generation)
		return last.Status.ObservedGeneration >= generation && progressing != nil && progressing.Status == metav1.ConditionFalse &&
			ready != nil && ready.Status == metav1.ConditionTrue, nil
	})
	return last, err
}

// currentCondition is the Cluster's condition of that type if it is about generation or later.
func currentCondition(c *v1alpha1.Cluster, kind string, generation int64) *metav1.Condition {
	cond := meta.FindStatusCondition(c.Status.Conditions, kind)
	if cond == nil || cond.ObservedGeneration < generation {
		return nil
	}
	return cond
}

// poll calls cond every two seconds until it is done or fails, or timeout passes (0: no bound
// but ctx).
func poll(ctx context.Context, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return wait.PollUntilContextCancel(ctx, 2*time.Second, true, cond)
}
