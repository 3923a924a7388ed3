// Package tenants manages tenant masters, the Helm releases of charts/tenant-master, through
// Helm's Go SDK (helm.sh/helm/v3/pkg/action): install, upgrade a minor at a time, roll back,
// list, inspect and uninstall them, one at a time or as a fleet. The taowa post-renderer runs in
// process, so no helm or taowa-postrender binary is needed.
//
// Methods take a context for cancellation; Helm 3 honours it only in install and upgrade (its
// list, status, history, rollback and uninstall actions take none).
package tenants

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/taowa/taowa/versions"
)

// ChartName is the chart every tenant master is a release of; other releases are not tenants.
const ChartName = "tenant-master"

// chartDir is where the chart lives in the repository.
var chartDir = filepath.Join("charts", ChartName)

// valueKubernetesVersion is the chart value that names a tenant's Kubernetes version.
const valueKubernetesVersion = "kubernetesVersion"

// Config configures a Manager.
type Config struct {
	Cluster Cluster
	// ChartPath is the chart directory; empty means FindChart from the working directory, when
	// a change first needs the chart.
	ChartPath string
	// LoadChart, when set, returns the chart instead (e.g. charts.TenantMaster, the embedded one).
	LoadChart func() (*chart.Chart, error)
	// Progress receives one line per step of a change; nil discards them.
	Progress io.Writer
}

// Manager installs, upgrades, rolls back, lists and uninstalls tenant masters.
type Manager struct {
	cluster   Cluster
	chartPath string
	chart     func() (*chart.Chart, error)
	progress  *lineWriter
}

// New returns a Manager.
func New(c Config) (*Manager, error) {
	if c.Cluster == nil {
		return nil, errors.New("tenants: Config.Cluster is nil")
	}
	progress := c.Progress
	if progress == nil {
		progress = io.Discard
	}
	m := &Manager{cluster: c.Cluster, chartPath: c.ChartPath, chart: c.LoadChart, progress: &lineWriter{w: progress}}
	if m.chart == nil {
		m.chart = func() (*chart.Chart, error) { return loadChart(m.chartPath) }
	}
	return m, nil
}

// FindChart returns charts/tenant-master in dir or the nearest parent that has it, so that the
// CLI works from anywhere in a clone of the repository.
func FindChart(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		candidate := filepath.Join(d, chartDir)
		if _, err := os.Stat(filepath.Join(candidate, "Chart.yaml")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("chart %s not found in %s or any parent directory; give its path (--chart)", chartDir, dir)
		}
	}
}

// loadChart loads the chart afresh for every change: reading a directory is cheap, and a
// long-lived Manager then follows edits of the chart.
func (m *Manager) loadChart() (*chart.Chart, error) {
	ch, err := m.chart()
	if err != nil {
		return nil, err
	}
	if ch.Name() != ChartName {
		return nil, fmt.Errorf("chart is %q, not %s", ch.Name(), ChartName)
	}
	return ch, nil
}

// loadChart loads the chart at path, or FindChart's from the working directory when path is
// empty, and refuses any chart but tenant-master.
func loadChart(path string) (*chart.Chart, error) {
	if path == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("find chart: %w", err)
		}
		if path, err = FindChart(wd); err != nil {
			return nil, err
		}
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", path, err)
	}
	if ch.Name() != ChartName {
		return nil, fmt.Errorf("chart %s is %q, not %s", path, ch.Name(), ChartName)
	}
	return ch, nil
}

// Rollout says how a change is applied and what happens when it fails.
type Rollout struct {
	// Wait waits until every Pod, Deployment and StatefulSet of the release is ready.
	Wait bool
	// Timeout bounds each Helm operation (hooks included, and the wait).
	Timeout time.Duration
	// Atomic undoes a failed change: a failed install is uninstalled, a failed upgrade rolled
	// back to the last deployed revision. It implies Wait.
	Atomic bool
}

// KubernetesVersion returns the Kubernetes version a release deploys: its kubernetesVersion
// value, or the chart's default when the release does not set it.
func KubernetesVersion(rel *release.Release) (versions.Version, error) {
	values, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		return versions.Version{}, fmt.Errorf("release %s revision %d: values: %w", rel.Name, rel.Version, err)
	}
	raw, ok := values[valueKubernetesVersion].(string)
	if !ok {
		return versions.Version{}, fmt.Errorf("release %s revision %d: value %s is %v, not a version string",
			rel.Name, rel.Version, valueKubernetesVersion, values[valueKubernetesVersion])
	}
	v, err := versions.Parse(raw)
	if err != nil {
		return versions.Version{}, fmt.Errorf("release %s revision %d: %w", rel.Name, rel.Version, err)
	}
	return v, nil
}

// lineWriter serialises progress lines from concurrent upgrades, so none interleave.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// releaseConfig returns Helm's configuration for one release's namespace. The empty namespace
// means every namespace to Helm's storage, which only listing may use.
func (m *Manager) releaseConfig(namespace string) (*action.Configuration, error) {
	if namespace == "" {
		return nil, errors.New("no namespace given")
	}
	return m.cluster.ActionConfig(namespace)
}
