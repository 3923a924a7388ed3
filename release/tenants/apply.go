package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/taowa/taowa/versions"
)

// ApplyOptions configure Apply.
type ApplyOptions struct {
	Namespace string
	// KubernetesVersion is the version the release should reach.
	KubernetesVersion versions.Version
	// Values are all of the release's values, without kubernetesVersion: they replace the
	// deployed revision's rather than merge with them, so a value taken out is gone.
	Values map[string]any
	Rollout
	// Starting, when set, is called just before Apply changes the release (an install: from is
	// zero), so that a caller can report a change that takes minutes before it is done.
	Starting func(action ApplyAction, from, to versions.Version)
	// Restore, when set, makes the install a restore (Manager.Restore) from another tenant's
	// snapshot; Values name it too (etcd.restoreFrom), so that later upgrades keep it.
	Restore *RestoreSource
}

// RestoreSource is the snapshot an install restores from.
type RestoreSource struct {
	From, Snapshot string
	FreshPKI       bool
}

func (o ApplyOptions) starting(action ApplyAction, from, to versions.Version) {
	if o.Starting != nil {
		o.Starting(action, from, to)
	}
}

// ApplyAction is what Apply did.
type ApplyAction string

const (
	// ApplyUnchanged: the deployed revision has the version and values already.
	ApplyUnchanged ApplyAction = "Unchanged"
	ApplyInstalled ApplyAction = "Installed"
	ApplyUpgraded  ApplyAction = "Upgraded"
	// ApplyChartUpgraded: the version and values were deployed already, with another chart than
	// the Manager's (a new operator's): a helm upgrade at the same version rolled the chart out.
	ApplyChartUpgraded ApplyAction = "ChartUpgraded"
)

// ApplyResult is the outcome of one Apply.
type ApplyResult struct {
	Action ApplyAction
	// From is the version the deployed revision ran before (zero after an install); Release is
	// the revision Apply left.
	From    versions.Version
	Release ReleaseInfo
	// Remaining is how many more Applies (one minor each) reach the requested version.
	Remaining int
	// ChartPending: the deployed revision has another chart than the Manager's, and another
	// tenant's chart-only upgrade is in flight; a later Apply rolls it out (see chartTurn).
	ChartPending bool
}

// ErrOperationPending is returned while another Helm operation holds the release.
var ErrOperationPending = errors.New("another Helm operation is in progress on the release")

// Apply takes the tenant master name one step towards opts: it installs it when it does not
// exist, else makes one helm upgrade to the next version PlanUpgrade walks through (the same
// version when only values changed, or only the chart: ApplyChartUpgraded, one tenant at a time)
// with exactly opts.Values. A controller calls it until Remaining is 0 and the Action
// ApplyUnchanged, reporting the version reached after each step.
func (m *Manager) Apply(ctx context.Context, name string, opts ApplyOptions) (ApplyResult, error) {
	fail := func(err error) (ApplyResult, error) {
		return ApplyResult{}, fmt.Errorf("apply %s in namespace %s (Kubernetes %s): %w", name, opts.Namespace, opts.KubernetesVersion, err)
	}
	cfg, err := m.releaseConfig(opts.Namespace)
	if err != nil {
		return fail(err)
	}
	last, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		opts.starting(ApplyInstalled, versions.Version{}, opts.KubernetesVersion)
		install := InstallOptions{Namespace: opts.Namespace, KubernetesVersion: opts.KubernetesVersion, Values: opts.Values, Rollout: opts.Rollout}
		var info ReleaseInfo
		if r := opts.Restore; r != nil {
			info, _, err = m.Restore(ctx, name, RestoreOptions{InstallOptions: install, From: r.From, Snapshot: r.Snapshot, FreshPKI: r.FreshPKI})
		} else {
			info, err = m.Install(ctx, name, install)
		}
		if err != nil {
			return ApplyResult{}, err
		}
		return ApplyResult{Action: ApplyInstalled, Release: info}, nil
	}
	if err != nil {
		return fail(err)
	}
	if !isTenant(last) {
		return fail(fmt.Errorf("release is of chart %s, not a tenant master", chartOf(last)))
	}
	if last.Info.Status.IsPending() {
		return fail(fmt.Errorf("%w: revision %d is %s since %s", ErrOperationPending, last.Version, last.Info.Status, last.Info.LastDeployed.Time))
	}
	deployed, err := cfg.Releases.Deployed(name)
	if errors.Is(err, driver.ErrNoDeployedReleases) && last.Info.Status == release.StatusFailed {
		return m.reinstall(ctx, name, opts)
	}
	if err != nil {
		return fail(fmt.Errorf("no deployed revision: %w", err))
	}
	result := ApplyResult{Action: ApplyUnchanged, Release: infoOf(deployed, false)}
	if result.From, err = KubernetesVersion(deployed); err != nil {
		return fail(err)
	}
	steps, err := PlanUpgrade(result.From, opts.KubernetesVersion)
	if err != nil {
		return fail(&RefusedError{Err: err})
	}
	target := result.From
	if len(steps) > 0 {
		target, result.Remaining = steps[0], len(steps)-1
	}
	values, err := withKubernetesVersion(opts.Values, target)
	if err != nil {
		return fail(err)
	}
	if values, err = asStored(values); err != nil {
		return fail(err)
	}
	ch, err := m.loadChart()
	if err != nil {
		return fail(err)
	}
	action, change := ApplyUpgraded, fmt.Sprintf("Kubernetes %s -> %s", result.From, target)
	if target == result.From && reflect.DeepEqual(values, asStoredOrNil(deployed.Config)) {
		chartChanged, err := chartChange(deployed.Chart, ch)
		if err != nil {
			return fail(err)
		}
		if chartChanged == "" {
			return result, nil
		}
		done, ok := takeChartTurn()
		if !ok {
			result.ChartPending = true
			return result, nil
		}
		defer done()
		action, change = ApplyChartUpgraded, fmt.Sprintf("chart %s at Kubernetes %s", chartChanged, target)
	}
	if err := checkFixedValues(deployed.Config, values); err != nil {
		return fail(err)
	}
	opts.starting(action, result.From, target)
	m.progress.printf("applying %s (namespace %s): %s", name, opts.Namespace, change)
	rel, err := m.upgradeTenant(ctx, cfg, ch, name, opts.Namespace, values, deployed, opts.Rollout)
	if err != nil {
		stepErr := &StepError{Name: name, Namespace: opts.Namespace, Step: 1, Steps: max(len(steps), 1), From: result.From, To: target, Err: err}
		describeFailure(cfg, stepErr, deployed.Version)
		return result, stepErr
	}
	result.Action, result.Release = action, infoOf(rel, false)
	return result, nil
}

// asStored returns values as Helm stores and returns them (JSON types: float64 numbers, []any),
// so that values built in Go compare equal to a release's.
func asStored(values map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	return out, nil
}

// asStoredOrNil is asStored of a release's own values, which are JSON already; nil when unreadable.
func asStoredOrNil(values map[string]any) map[string]any {
	out, _ := asStored(values)
	return out
}

// RefusedError is a change Apply refuses before it runs anything, because of what was asked: a
// version the table does not support or that upgrades cannot reach from the deployed one. Asking
// again is refused again: the request must change. FixedValueError is the other such refusal.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// reinstall installs the tenant master name again over a failed install (no revision was ever
// deployed: Recover leaves a pending install so). Helm's upgrade takes the failed revision as its
// base, as `helm upgrade --install` does: the objects the failed install made are kept and
// updated, and the chart's pre-upgrade hooks judge what already runs.
func (m *Manager) reinstall(ctx context.Context, name string, opts ApplyOptions) (ApplyResult, error) {
	fail := func(err error) (ApplyResult, error) {
		return ApplyResult{}, fmt.Errorf("install %s in namespace %s (Kubernetes %s) again: %w", name, opts.Namespace, opts.KubernetesVersion, err)
	}
	cfg, err := m.releaseConfig(opts.Namespace)
	if err != nil {
		return fail(err)
	}
	values, err := newTenantValues(opts.Values, opts.KubernetesVersion)
	if err != nil {
		return fail(err)
	}
	if values, err = asStored(values); err != nil {
		return fail(err)
	}
	ch, err := m.loadChart()
	if err != nil {
		return fail(err)
	}
	opts.starting(ApplyInstalled, versions.Version{}, opts.KubernetesVersion)
	m.progress.printf("installing %s again (namespace %s): its install failed, Kubernetes %s", name, opts.Namespace, opts.KubernetesVersion)
	rel, err := runUpgrade(ctx, cfg, ch, name, opts.Namespace, values, false, opts.Rollout)
	if err != nil {
		return fail(err)
	}
	return ApplyResult{Action: ApplyInstalled, Release: infoOf(rel, false)}, nil
}

// Recovered is what Recover did.
type Recovered struct {
	// Revision is the revision that was left pending, now failed, and Status what it was
	// (pending-install, pending-upgrade or pending-rollback); 0 when there was none to recover.
	Revision int
	Status   string
	// RolledBackTo is the deployed revision the release went back to; 0 when none was ever
	// deployed (a pending install): the next Apply installs again.
	RolledBackTo int
}

// Recover ends the operation on the release name that a process left pending when it stopped
// (a crash, a lost lease) before the operation ended, if the operation started before before.
// Helm refuses any other operation on a pending release, so without this the release would stay
// stuck. Recover ends it as Helm's atomic ends an operation that fails: it marks the revision
// failed, then rolls the release back to the last deployed revision (the chart's pre-rollback
// hook gates it). A pending install, with no deployed revision, is only marked failed: that is
// safe (nothing is deleted) and Apply then installs again over it. Only the caller can know that
// no live process still runs the operation (e.g. it holds the leader lease, and the operation
// started before it did).
func (m *Manager) Recover(ctx context.Context, namespace, name string, before time.Time, r Rollout) (Recovered, error) {
	fail := func(err error) (Recovered, error) {
		return Recovered{}, fmt.Errorf("recover %s in namespace %s: %w", name, namespace, err)
	}
	cfg, err := m.releaseConfig(namespace)
	if err != nil {
		return fail(err)
	}
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return fail(err)
	}
	if !last.Info.Status.IsPending() || !last.Info.LastDeployed.Time.Before(before) {
		return Recovered{}, nil
	}
	recovered := Recovered{Revision: last.Version, Status: last.Info.Status.String()}
	last.SetStatus(release.StatusFailed, fmt.Sprintf("%s abandoned: the process running it stopped before it ended", recovered.Status))
	if err := cfg.Releases.Update(last); err != nil {
		return fail(fmt.Errorf("mark revision %d failed: %w", last.Version, err))
	}
	m.progress.printf("%s (namespace %s): revision %d was left %s; marked failed", name, namespace, last.Version, recovered.Status)
	deployed, err := cfg.Releases.Deployed(name)
	if errors.Is(err, driver.ErrNoDeployedReleases) {
		return recovered, nil
	}
	if err != nil {
		return fail(err)
	}
	if _, err := m.Rollback(ctx, namespace, name, deployed.Version, r); err != nil {
		return fail(err)
	}
	recovered.RolledBackTo = deployed.Version
	return recovered, nil
}
