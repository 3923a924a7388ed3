package tenants

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/taowa/taowa/hooks/skew"
	"github.com/taowa/taowa/versions"
)

// PlanUpgrade returns the versions an upgrade from from to to goes through, one helm upgrade
// each: the supported patch release of every minor in between, then to itself. Each step is
// checked with versions.CheckUpgrade before any is taken, so an upgrade the table refuses (a
// downgrade, an unsupported version) changes nothing. None when from is to.
func PlanUpgrade(from, to versions.Version) ([]versions.Version, error) {
	if from == to {
		return nil, nil
	}
	if to.Compare(from) < 0 {
		return nil, fmt.Errorf("Kubernetes %s is older than %s: an upgrade does not go back; roll back to an earlier revision instead", to, from)
	}
	var steps []versions.Version
	for _, m := range versions.Supported() {
		if m.Compare(from.MajorMinor()) > 0 && m.Compare(to.MajorMinor()) < 0 {
			r, err := versions.ForMinor(m)
			if err != nil {
				return nil, err
			}
			steps = append(steps, r.Kubernetes)
		}
	}
	steps = append(steps, to)
	previous := from
	for _, step := range steps {
		if err := versions.CheckUpgrade(previous, step); err != nil {
			return nil, err
		}
		previous = step
	}
	return steps, nil
}

// UpgradeOptions configure Upgrade.
type UpgradeOptions struct {
	Namespace string
	To        versions.Version
	// Values are merged over the release's current values at every step.
	Values map[string]any
	Rollout
}

// Step is one helm upgrade of a walk across minors.
type Step struct {
	From     versions.Version
	To       versions.Version
	Revision int
}

// UpgradeResult is what Upgrade did. No steps: the release already ran the target version (or,
// Pending, the operator has yet to walk it).
type UpgradeResult struct {
	Name      string
	Namespace string
	From      versions.Version
	To        versions.Version
	Steps     []Step
	// Cluster: a Cluster object owns the release, and Upgrade set its spec; the steps are the
	// operator's, as the Cluster's status showed them.
	Cluster bool
	// Pending: Upgrade set the Cluster's spec and did not wait (Rollout.Wait off) for the
	// operator's walk.
	Pending bool
}

// StepError is a failed step of an upgrade; the steps before it stay done, none after it starts.
type StepError struct {
	Name, Namespace string
	// Step is the 1-based number of the failed step, of Steps in all.
	Step, Steps int
	From, To    versions.Version
	// Unchanged says that the step failed before Helm recorded a revision (a render error, a
	// refused value): the release is as the previous step left it.
	Unchanged bool
	// RolledBack says that Atomic rolled the release back: it is deployed again at From, as
	// revision Revision.
	RolledBack bool
	Revision   int
	Err        error
}

func (e *StepError) Error() string {
	state := fmt.Sprintf("revision %d was not rolled back", e.Revision)
	switch {
	case e.Unchanged:
		state = fmt.Sprintf("the release was left unchanged at revision %d (Kubernetes %s)", e.Revision, e.From)
	case e.RolledBack:
		state = fmt.Sprintf("the release was rolled back to Kubernetes %s (revision %d)", e.From, e.Revision)
	}
	return fmt.Sprintf("upgrade %s in namespace %s: step %d/%d (%s -> %s) failed and %s; no later step was started: %v",
		e.Name, e.Namespace, e.Step, e.Steps, e.From, e.To, state, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Upgrade moves the tenant master name to opts.To a minor at a time (see PlanUpgrade), one
// helm upgrade per step that keeps the release's values and changes kubernetesVersion. It
// reports each step to the progress writer and stops at the first failed one (*StepError).
//
// When a Cluster object of the same name owns the release, Upgrade changes no release: it sets
// the Cluster's spec.kubernetesVersion, and with opts.Wait follows the operator's walk until the
// Cluster is Ready at the new generation or Degraded (an error). Values are refused: they are the
// Cluster's spec.
func (m *Manager) Upgrade(ctx context.Context, name string, opts UpgradeOptions) (UpgradeResult, error) {
	result := UpgradeResult{Name: name, Namespace: opts.Namespace, To: opts.To}
	fail := func(err error) (UpgradeResult, error) {
		from := ""
		if result.From != (versions.Version{}) {
			from = " from Kubernetes " + result.From.String()
		}
		return result, fmt.Errorf("upgrade %s in namespace %s%s to %s: %w", name, opts.Namespace, from, opts.To, err)
	}
	cfg, err := m.releaseConfig(opts.Namespace)
	if err != nil {
		return fail(err)
	}
	owner, objects, err := m.OwnerCluster(ctx, opts.Namespace, name)
	if err != nil {
		return fail(err)
	}
	if owner != nil {
		return m.upgradeCluster(ctx, objects, owner, opts)
	}
	// The deployed revision is the one Helm's upgrade starts from and takes the values of.
	current, err := cfg.Releases.Deployed(name)
	if err != nil {
		return fail(fmt.Errorf("no deployed revision: %w", err))
	}
	if !isTenant(current) {
		return fail(fmt.Errorf("release is of chart %s, not a tenant master", chartOf(current)))
	}
	if result.From, err = KubernetesVersion(current); err != nil {
		return fail(err)
	}
	if hibernated(current.Config) {
		return fail(&RefusedError{Err: fmt.Errorf("the tenant is hibernated: wake it first (taowa wake %s -n %s)", name, opts.Namespace)})
	}
	steps, err := PlanUpgrade(result.From, opts.To)
	if err != nil {
		return fail(err)
	}
	// Helm's --reuse-values: the change's values over the deployed revision's (asStored copies
	// them: CoalesceTables merges into its first argument).
	next, err := asStored(opts.Values)
	if err != nil {
		return fail(err)
	}
	if err := checkFixedValues(current.Config, chartutil.CoalesceTables(next, asStoredOrNil(current.Config))); err != nil {
		return fail(err)
	}
	// Each step's pre-upgrade skew check reads the version the tenant runs: the step before must
	// have rolled out, or the check judges a half-upgraded control plane.
	if len(steps) > 1 && !opts.Wait && !opts.Atomic {
		return fail(fmt.Errorf("%d steps (one per minor) need waiting for each to roll out; enable wait", len(steps)))
	}
	ch, err := m.loadChart()
	if err != nil {
		return fail(err)
	}
	previous, previousRevision := result.From, current.Version
	for i, target := range steps {
		m.progress.printf("step %d/%d: upgrading %s %s -> %s (namespace %s)", i+1, len(steps), name, previous, target, opts.Namespace)
		values, err := withKubernetesVersion(opts.Values, target)
		if err != nil {
			return fail(err) // only at the first step: nothing changed yet
		}
		rel, err := runUpgrade(ctx, cfg, ch, name, opts.Namespace, values, true, opts.Rollout)
		if err != nil {
			stepErr := &StepError{Name: name, Namespace: opts.Namespace, Step: i + 1, Steps: len(steps), From: previous, To: target, Err: err}
			describeFailure(cfg, stepErr, previousRevision)
			return result, stepErr
		}
		result.Steps = append(result.Steps, Step{From: previous, To: target, Revision: rel.Version})
		previous, previousRevision = target, rel.Version
	}
	return result, nil
}

// runUpgrade is one helm upgrade of the release name to ch with values, rendered by the taowa
// post-renderer. reuse merges values over the deployed revision's; otherwise they replace them.
func runUpgrade(ctx context.Context, cfg *action.Configuration, ch *chart.Chart, name, namespace string, values map[string]any, reuse bool, r Rollout) (*release.Release, error) {
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = namespace
	upgrade.ReuseValues, upgrade.ResetValues = reuse, !reuse
	upgrade.Wait, upgrade.Timeout, upgrade.Atomic = r.Wait, r.Timeout, r.Atomic
	upgrade.PostRenderer = PostRenderer{}
	return upgrade.RunWithContext(ctx, name, ch, values)
}

// describeFailure reads from the release's history what a failed step left behind.
func describeFailure(cfg *action.Configuration, e *StepError, previousRevision int) {
	last, err := cfg.Releases.Last(e.Name)
	if err != nil {
		return
	}
	e.Revision = last.Version
	if last.Version == previousRevision {
		e.Unchanged = true
		return
	}
	// Atomic's rollback is a new deployed revision with the previous version.
	if k, err := KubernetesVersion(last); err == nil && k == e.From && last.Info.Status == release.StatusDeployed {
		e.RolledBack = true
	}
}

// Rollback returns the tenant master name to revision (0: the one before the latest), after
// checking with the skew gate the chart's pre-rollback hook runs that the control plane may go
// from its deployed version to the revision's in one step.
func (m *Manager) Rollback(_ context.Context, namespace, name string, revision int, r Rollout) (ReleaseInfo, error) {
	fail := func(err error) (ReleaseInfo, error) {
		return ReleaseInfo{}, fmt.Errorf("roll back %s in namespace %s to revision %d: %w", name, namespace, revision, err)
	}
	cfg, err := m.releaseConfig(namespace)
	if err != nil {
		return fail(err)
	}
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return fail(err)
	}
	if revision == 0 {
		revision = last.Version - 1 // as helm rollback without a revision
	}
	target, err := cfg.Releases.Get(name, revision)
	if err != nil {
		return fail(err)
	}
	from, to, err := rollbackVersions(cfg, name, last, target)
	if err != nil {
		return fail(err)
	}
	if err := skew.Check(versions.Builtin(), to, []skew.Running{{Source: fmt.Sprintf("release %s revision %d", name, last.Version), Version: from}}); err != nil {
		return fail(err)
	}
	rollback := action.NewRollback(cfg)
	rollback.Version = revision
	rollback.Wait, rollback.Timeout = r.Wait || r.Atomic, r.Timeout
	rollback.CleanupOnFail = r.Atomic
	m.progress.printf("rolling back %s (namespace %s) to revision %d: Kubernetes %s -> %s", name, namespace, revision, from, to)
	if err := rollback.Run(name); err != nil {
		return fail(err)
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return fail(err)
	}
	return infoOf(rel, false), nil
}

// rollbackVersions returns the version the control plane runs (that of the deployed revision, or
// of the latest when none is deployed) and the one revision target deploys.
func rollbackVersions(cfg *action.Configuration, name string, last, target *release.Release) (from, to versions.Version, err error) {
	running := last
	if deployed, derr := cfg.Releases.Deployed(name); derr == nil {
		running = deployed
	} else if !errors.Is(derr, driver.ErrNoDeployedReleases) {
		return from, to, derr
	}
	if from, err = KubernetesVersion(running); err != nil {
		return from, to, err
	}
	to, err = KubernetesVersion(target)
	return from, to, err
}
