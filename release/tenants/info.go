package tenants

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
)

// ReleaseInfo is one tenant master at its latest revision. The JSON names are the CLI's
// `-o json` contract.
type ReleaseInfo struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// Status is Helm's: deployed, failed, pending-upgrade, ...
	Status string `json:"status"`
	// KubernetesVersion is the version the revision deploys, or "" when its values are unreadable.
	KubernetesVersion string `json:"kubernetesVersion"`
	// Hibernated: the revision puts the tenant to sleep (the chart's hibernated value).
	Hibernated  bool      `json:"hibernated,omitempty"`
	Chart       string    `json:"chart"`
	Updated     time.Time `json:"updated"`
	Description string    `json:"description"`
	// Notes is the chart's NOTES.txt (how to fetch the admin kubeconfig); Status fills it.
	Notes string `json:"notes,omitempty"`
}

// Revision is one entry of a release's history.
type Revision struct {
	Revision          int       `json:"revision"`
	Status            string    `json:"status"`
	KubernetesVersion string    `json:"kubernetesVersion"`
	Chart             string    `json:"chart"`
	Updated           time.Time `json:"updated"`
	Description       string    `json:"description"`
}

func infoOf(rel *release.Release, withNotes bool) ReleaseInfo {
	info := ReleaseInfo{
		Name:        rel.Name,
		Namespace:   rel.Namespace,
		Revision:    rel.Version,
		Chart:       chartOf(rel),
		Status:      rel.Info.Status.String(),
		Updated:     rel.Info.LastDeployed.Time,
		Description: rel.Info.Description,
	}
	if k, err := KubernetesVersion(rel); err == nil {
		info.KubernetesVersion = k.String()
	}
	info.Hibernated = hibernated(rel.Config)
	if withNotes {
		info.Notes = strings.TrimSpace(rel.Info.Notes)
	}
	return info
}

func chartOf(rel *release.Release) string {
	if rel.Chart == nil || rel.Chart.Metadata == nil {
		return ""
	}
	return rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
}

func isTenant(rel *release.Release) bool {
	return rel.Chart != nil && rel.Chart.Metadata != nil && rel.Chart.Metadata.Name == ChartName
}

// List returns the tenant masters in namespace ("" for every namespace) at their latest
// revision, whatever its status, sorted by namespace and name. Releases of other charts are left out.
func (m *Manager) List(_ context.Context, namespace string) ([]ReleaseInfo, error) {
	cfg, err := m.cluster.ActionConfig(namespace)
	if err != nil {
		return nil, fmt.Errorf("list tenant masters in %s: %w", namespaceOrAll(namespace), err)
	}
	list := action.NewList(cfg)
	list.AllNamespaces = namespace == ""
	list.All = true
	list.SetStateMask()
	rels, err := list.Run()
	if err != nil {
		return nil, fmt.Errorf("list tenant masters in %s: %w", namespaceOrAll(namespace), err)
	}
	var infos []ReleaseInfo
	for _, rel := range rels {
		if isTenant(rel) {
			infos = append(infos, infoOf(rel, false))
		}
	}
	slices.SortFunc(infos, func(a, b ReleaseInfo) int {
		return Ref{Namespace: a.Namespace, Name: a.Name}.compare(Ref{Namespace: b.Namespace, Name: b.Name})
	})
	return infos, nil
}

// Status returns the latest revision of the tenant master name, with the chart's notes.
func (m *Manager) Status(_ context.Context, namespace, name string) (ReleaseInfo, error) {
	rel, err := m.latest(namespace, name)
	if err != nil {
		return ReleaseInfo{}, fmt.Errorf("status of %s in namespace %s: %w", name, namespace, err)
	}
	return infoOf(rel, true), nil
}

// History returns every stored revision of the tenant master name, oldest first.
func (m *Manager) History(_ context.Context, namespace, name string) ([]Revision, error) {
	cfg, err := m.releaseConfig(namespace)
	if err != nil {
		return nil, fmt.Errorf("history of %s in namespace %s: %w", name, namespace, err)
	}
	rels, err := action.NewHistory(cfg).Run(name)
	if err != nil {
		return nil, fmt.Errorf("history of %s in namespace %s: %w", name, namespace, err)
	}
	slices.SortFunc(rels, func(a, b *release.Release) int { return a.Version - b.Version })
	out := make([]Revision, 0, len(rels))
	for _, rel := range rels {
		info := infoOf(rel, false)
		out = append(out, Revision{
			Revision:          info.Revision,
			Status:            info.Status,
			KubernetesVersion: info.KubernetesVersion,
			Chart:             info.Chart,
			Updated:           info.Updated,
			Description:       info.Description,
		})
	}
	return out, nil
}

// latest returns the newest revision of a tenant master, refusing a release of another chart.
func (m *Manager) latest(namespace, name string) (*release.Release, error) {
	cfg, err := m.releaseConfig(namespace)
	if err != nil {
		return nil, err
	}
	rel, err := action.NewStatus(cfg).Run(name)
	if err != nil {
		return nil, err
	}
	if !isTenant(rel) {
		return nil, fmt.Errorf("release %s is of chart %s, not a tenant master", name, chartOf(rel))
	}
	return rel, nil
}

func namespaceOrAll(namespace string) string {
	if namespace == "" {
		return "every namespace"
	}
	return "namespace " + namespace
}
