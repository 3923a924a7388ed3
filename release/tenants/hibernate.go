package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// valueHibernated is the chart's value that scales a tenant's etcd and masters to zero.
const valueHibernated = "hibernated"

// hibernated reports whether a revision's values put the tenant to sleep.
func hibernated(values map[string]any) bool {
	asleep, _ := values[valueHibernated].(bool)
	return asleep
}

// HibernateResult is what Hibernate did.
type HibernateResult struct {
	Release ReleaseInfo
	// Changed: the tenant was not in the state asked for.
	Changed bool
	// Cluster: a Cluster object owns the tenant; its spec.hibernated was set and the operator
	// made the change.
	Cluster bool
}

// Hibernate puts the tenant master name to sleep (asleep true: its etcd and masters scale to
// zero, their volumes and PKI kept) or wakes it, at the version it runs: one helm upgrade of the
// deployed revision's values with the chart's hibernated value changed, its hooks included
// (going to sleep takes a pre-upgrade snapshot; waking waits until the tenant serves again). A
// tenant a Cluster owns is changed through the Cluster's spec, as Upgrade does it.
func (m *Manager) Hibernate(ctx context.Context, namespace, name string, asleep bool, r Rollout) (HibernateResult, error) {
	verb := map[bool]string{true: "hibernate", false: "wake"}[asleep]
	fail := func(err error) (HibernateResult, error) {
		return HibernateResult{}, fmt.Errorf("%s %s in namespace %s: %w", verb, name, namespace, err)
	}
	owner, objects, err := m.OwnerCluster(ctx, namespace, name)
	if err != nil {
		return fail(err)
	}
	if owner != nil {
		result := HibernateResult{Cluster: true, Changed: owner.Spec.Hibernated != asleep}
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{valueHibernated: asleep}})
		if err != nil {
			return fail(err)
		}
		patched, err := objects.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fail(fmt.Errorf("set the Cluster's spec.hibernated: %w", err))
		}
		m.progress.printf("Cluster %s/%s: spec.hibernated %t; the operator applies it", namespace, name, asleep)
		if r.Wait {
			if _, err := m.FollowCluster(ctx, objects, Ref{Namespace: namespace, Name: name}, patched.GetGeneration(), r.Timeout, nil); err != nil {
				return fail(err)
			}
		}
		if result.Release, err = m.Status(ctx, namespace, name); err != nil {
			return fail(err)
		}
		return result, nil
	}

	cfg, err := m.releaseConfig(namespace)
	if err != nil {
		return fail(err)
	}
	current, err := cfg.Releases.Deployed(name)
	if err != nil {
		return fail(fmt.Errorf("no deployed revision: %w", err))
	}
	if !isTenant(current) {
		return fail(fmt.Errorf("release is of chart %s, not a tenant master", chartOf(current)))
	}
	if hibernated(current.Config) == asleep {
		return HibernateResult{Release: infoOf(current, false)}, nil
	}
	values := maps.Clone(current.Config)
	if values == nil {
		values = map[string]any{}
	}
	values[valueHibernated] = asleep
	ch, err := m.loadChart()
	if err != nil {
		return fail(err)
	}
	m.progress.printf("%s: %s %s (namespace %s)", verb, name, map[bool]string{true: "scales to zero", false: "starts again"}[asleep], namespace)
	rel, err := runUpgrade(ctx, cfg, ch, name, namespace, values, false, r)
	if err != nil {
		return fail(err)
	}
	return HibernateResult{Release: infoOf(rel, false), Changed: true}, nil
}
