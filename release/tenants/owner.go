package tenants

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
	"github.com/taowa/taowa/versions"
)

// A tenant master that a taowa.io Cluster object of the same name owns is changed through that
// object, so that the operator and a command never change one release at once: Upgrade (and so
// UpgradeFleet) sets the Cluster's spec.kubernetesVersion and follows the operator's walk.

// followEvery is how often FollowCluster reads the Cluster; tests shorten it.
var followEvery = 2 * time.Second

// ClusterObjects returns the Cluster resource of namespace in the meta cluster; nil when the meta
// cluster offers none (a test's in-memory one without it).
func (m *Manager) ClusterObjects(namespace string) (dynamic.ResourceInterface, error) {
	var client dynamic.Interface
	switch c := m.cluster.(type) {
	case interface{ ClusterObjects() dynamic.Interface }: // tenantstest's
		client = c.ClusterObjects()
	case KubeCluster:
		rc, err := c.Settings.RESTClientGetter().ToRESTConfig()
		if err != nil {
			return nil, fmt.Errorf("meta cluster client configuration: %w", err)
		}
		if client, err = dynamic.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("meta cluster client: %w", err)
		}
	default:
		return nil, nil
	}
	return client.Resource(v1alpha1.Resource).Namespace(namespace), nil
}

// OwnerCluster returns the Cluster object that owns the release name in namespace, and the
// resource it was read from; nil when there is none (or the meta cluster has no Cluster API).
func (m *Manager) OwnerCluster(ctx context.Context, namespace, name string) (*v1alpha1.Cluster, dynamic.ResourceInterface, error) {
	objects, err := m.ClusterObjects(namespace)
	if err != nil || objects == nil {
		return nil, nil, err
	}
	u, err := objects.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("Cluster %s/%s: %w", namespace, name, err)
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

// upgradeCluster is Upgrade of a release that the Cluster c owns: it sets c's
// spec.kubernetesVersion, after refusing what the operator would refuse, and with opts.Wait
// follows the operator's walk, taking the steps from the versions the status shows.
func (m *Manager) upgradeCluster(ctx context.Context, objects dynamic.ResourceInterface, c *v1alpha1.Cluster, opts UpgradeOptions) (UpgradeResult, error) {
	result := UpgradeResult{Name: c.Name, Namespace: c.Namespace, To: opts.To, Cluster: true}
	fail := func(err error) (UpgradeResult, error) {
		return result, fmt.Errorf("upgrade Cluster %s/%s to %s: %w", c.Namespace, c.Name, opts.To, err)
	}
	if len(opts.Values) > 0 {
		return fail(errors.New("the Cluster owns this tenant master: change its spec instead of giving values"))
	}
	if c.DeletionTimestamp != nil {
		return fail(errors.New("the Cluster is being deleted"))
	}
	from, err := versions.Parse(c.Status.KubernetesVersion)
	if err != nil {
		return fail(fmt.Errorf("it runs no version yet (status.kubernetesVersion %q)", c.Status.KubernetesVersion))
	}
	result.From = from
	steps, err := PlanUpgrade(from, opts.To)
	if err != nil {
		return fail(err)
	}
	if asked, err := versions.Parse(c.Spec.KubernetesVersion); err == nil && asked.Compare(opts.To) > 0 {
		// Setting the spec back would end a walk the Cluster's owner asked for.
		return fail(fmt.Errorf("its spec asks for Kubernetes %s already, newer than %s", asked, opts.To))
	}
	if len(steps) == 0 && c.Spec.KubernetesVersion == opts.To.String() {
		return result, nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"kubernetesVersion": opts.To.String()}})
	if err != nil {
		return fail(err)
	}
	patched, err := objects.Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fail(fmt.Errorf("set spec.kubernetesVersion: %w", err))
	}
	m.progress.printf("Cluster %s/%s: spec.kubernetesVersion %s -> %s; the operator walks it", c.Namespace, c.Name, c.Spec.KubernetesVersion, opts.To)
	if !opts.Wait {
		result.Pending = true
		return result, nil
	}
	previous := from
	// Each step is a Helm operation the operator bounds with its own timeout; opts.Timeout per
	// step bounds the wait here.
	_, err = m.FollowCluster(ctx, objects, Ref{Namespace: c.Namespace, Name: c.Name}, patched.GetGeneration(),
		opts.Timeout*time.Duration(max(len(steps), 1)), func(c *v1alpha1.Cluster) {
			if v, err := versions.Parse(c.Status.KubernetesVersion); err == nil && v != previous {
				result.Steps = append(result.Steps, Step{From: previous, To: v, Revision: c.Status.Revision})
				previous = v
			}
		})
	if err != nil {
		return fail(err)
	}
	return result, nil
}

// FollowCluster reads the Cluster ref from objects until the operator has acted on generation:
// done and Ready (or asleep, as a hibernated spec asks), or Degraded (an error with the operator's reason and message). It reports each
// new Progressing message to the progress writer and calls seen, when set, with every state read.
// A timeout of 0 leaves the wait to ctx.
func (m *Manager) FollowCluster(ctx context.Context, objects dynamic.ResourceInterface, ref Ref, generation int64, timeout time.Duration, seen func(*v1alpha1.Cluster)) (*v1alpha1.Cluster, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var last *v1alpha1.Cluster
	lastMessage := ""
	err := wait.PollUntilContextCancel(ctx, followEvery, true, func(ctx context.Context) (bool, error) {
		u, err := objects.Get(ctx, ref.Name, metav1.GetOptions{})
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
			m.progress.printf("%s: %s", ref, progressing.Message)
			lastMessage = progressing.Message
		}
		if degraded := currentCondition(last, v1alpha1.ConditionDegraded, generation); degraded != nil && degraded.Status == metav1.ConditionTrue {
			return false, fmt.Errorf("the operator reports %s: %s", degraded.Reason, degraded.Message)
		}
		ready := currentCondition(last, v1alpha1.ConditionReady, generation)
		settled := ready != nil && (ready.Status == metav1.ConditionTrue || ready.Reason == v1alpha1.ReasonHibernated && last.Spec.Hibernated)
		return last.Status.ObservedGeneration >= generation && progressing != nil && progressing.Status == metav1.ConditionFalse && settled, nil
	})
	if err != nil {
		return last, fmt.Errorf("following generation %d: %w", generation, err)
	}
	return last, nil
}

// currentCondition is the Cluster's condition of that type if it is about generation or later.
func currentCondition(c *v1alpha1.Cluster, kind string, generation int64) *metav1.Condition {
	cond := meta.FindStatusCondition(c.Status.Conditions, kind)
	if cond == nil || cond.ObservedGeneration < generation {
		return nil
	}
	return cond
}
