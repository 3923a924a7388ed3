package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

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
}

// ErrOperationPending is returned while another Helm operation holds the release.
var ErrOperationPending = errors.New("another Helm operation is in progress on the release")

// Apply takes the tenant master name one step towards opts: it installs it when it does not
// exist, else makes one helm upgrade to the next version PlanUpgrade walks through (the same
// version when only values changed) with exactly opts.Values. A controller calls it until
// Remaining is 0 and the Action ApplyUnchanged, reporting the version reached after each step.
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
		info, err := m.Install(ctx, name, InstallOptions{
			Namespace: opts.Namespace, KubernetesVersion: opts.KubernetesVersion, Values: opts.Values, Rollout: opts.Rollout,
		})
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
	if err != nil {
		return fail(fmt.Errorf("no deployed revision: %w", err))
	}
	result := ApplyResult{Action: ApplyUnchanged, Release: infoOf(deployed, false)}
	if result.From, err = KubernetesVersion(deployed); err != nil {
		return fail(err)
	}
	steps, err := PlanUpgrade(result.From, opts.KubernetesVersion)
	if err != nil {
		return fail(err)
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
	if target == result.From && reflect.DeepEqual(values, asStoredOrNil(deployed.Config)) {
		return result, nil
	}
	if err := checkFixedValues(deployed.Config, values); err != nil {
		return fail(err)
	}
	ch, err := m.loadChart()
	if err != nil {
		return fail(err)
	}
	opts.starting(ApplyUpgraded, result.From, target)
	m.progress.printf("applying %s (namespace %s): Kubernetes %s -> %s", name, opts.Namespace, result.From, target)
	rel, err := runUpgrade(ctx, cfg, ch, name, opts.Namespace, values, false, opts.Rollout)
	if err != nil {
		stepErr := &StepError{Name: name, Namespace: opts.Namespace, Step: 1, Steps: len(steps), From: result.From, To: target, Err: err}
		describeFailure(cfg, stepErr, deployed.Version)
		return result, stepErr
	}
	result.Action, result.Release = ApplyUpgraded, infoOf(rel, false)
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
