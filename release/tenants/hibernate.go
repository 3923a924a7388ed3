package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
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
	rel, err := m.upgradeTenant(ctx, cfg, ch, name, namespace, values, current, r)
	if err != nil {
		return fail(err)
	}
	return HibernateResult{Release: infoOf(rel, false), Changed: true}, nil
}

// upgradeTenant upgrades the release from its deployed revision to values as runUpgrade does,
// except when that wakes a sleeping tenant. Then the chart's ready hook, which itself waits until
// the apiserver serves through its Service, starts with the Pods: Helm's wait (which --atomic
// implies) would hold it back, looking every 2 s, so it comes after the hooks instead, looking 8
// times as often, and a failed wake goes back to sleep as --atomic would.
func (m *Manager) upgradeTenant(ctx context.Context, cfg *action.Configuration, ch *chart.Chart, name, namespace string, values map[string]any, deployed *release.Release, r Rollout) (*release.Release, error) {
	if !hibernated(deployed.Config) || hibernated(values) {
		return runUpgrade(ctx, cfg, ch, name, namespace, values, false, r)
	}
	rel, err := runUpgrade(ctx, cfg, ch, name, namespace, values, false, Rollout{Timeout: r.Timeout})
	if err == nil && (r.Wait || r.Atomic) {
		err = m.waitReady(ctx, cfg, rel, r.Timeout)
	}
	if err != nil && r.Atomic {
		rollback := action.NewRollback(cfg)
		rollback.Version, rollback.Timeout = deployed.Version, r.Timeout
		if rerr := rollback.Run(name); rerr != nil {
			return nil, fmt.Errorf("%w; going back to the sleeping revision %d failed too: %v", err, deployed.Version, rerr)
		}
		return nil, fmt.Errorf("%w; back to the sleeping revision %d", err, deployed.Version)
	}
	return rel, err
}

// waitReady waits until every object of rel is ready by Helm's own checks (those of --wait), or
// timeout passes.
func (m *Manager) waitReady(ctx context.Context, cfg *action.Configuration, rel *release.Release, timeout time.Duration) error {
	objects, err := cfg.KubeClient.Build(strings.NewReader(rel.Manifest), false)
	if err != nil {
		return fmt.Errorf("the objects of revision %d: %w", rel.Version, err)
	}
	meta, err := m.cluster.Clientset()
	if err != nil {
		return err
	}
	checker := kube.NewReadyChecker(meta, nil, kube.PausedAsReady(true))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	notReady := ""
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, o := range objects {
			if ready, err := checker.IsReady(ctx, o); err != nil || !ready {
				notReady = o.ObjectName()
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s not ready after %s", notReady, timeout)
	}
	return nil
}
