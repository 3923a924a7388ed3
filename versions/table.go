// Package versions is taowa's single source of truth for the tenant Kubernetes versions it runs:
// the supported minors, the flags and feature gates each control-plane component accepts per
// minor, the etcd release per Kubernetes minor, and which upgrade and rollback steps are allowed.
//
// The knowledge lives in versions.yaml, embedded into the binary; the Go code only reads it.
// Changing what a version accepts means editing that file, not adding an if.
package versions

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Component is a control-plane binary whose command line the table describes.
type Component string

// The components a tenant control plane runs.
const (
	KubeAPIServer         Component = "kube-apiserver"
	KubeControllerManager Component = "kube-controller-manager"
	KubeScheduler         Component = "kube-scheduler"
	Etcd                  Component = "etcd"
)

// Components lists every component the table describes.
func Components() []Component {
	return []Component{KubeAPIServer, KubeControllerManager, KubeScheduler, Etcd}
}

// Release is one supported Kubernetes minor and what runs with it.
type Release struct {
	// Kubernetes is the patch release taowa runs for this minor; the Kubernetes Go module proxy
	// serves it, so hack/build-k8s.sh can build it.
	Kubernetes Version
	// Etcd is the etcd release the control plane of this minor runs.
	Etcd Version
	// CoreDNS is the release of the tenant's DNS add-on.
	CoreDNS Version
}

// Table is the parsed version table. Use Builtin for the one compiled into taowa.
type Table struct {
	defaultVersion Version
	releases       []Release // oldest first, one per minor, no gaps
	components     map[Component]*componentSpec
}

// componentSpec is what the table knows about one component across all versions.
type componentSpec struct {
	versionedByEtcd bool // flag and gate minors are etcd minors, not Kubernetes minors
	flags           map[string][]span
	gates           map[string][]gateSpan
	renames         []rename
	required        []RequiredSetting // in the newest form; Profile.Required translates
}

type gateSpan struct {
	span
	lockedFrom  Minor // zero: never locked to its default while it exists
	lockedValue bool
}

// rename says that from the minor `in` on, `to` replaces `from`.
type rename struct {
	from, to Setting
	in       Minor
}

// The file format of versions.yaml. Minors are strings ("1.33") so YAML cannot read 1.30 as 1.3.
type (
	tableFile struct {
		Default      string                     `yaml:"default"`
		Releases     []releaseRow               `yaml:"releases"`
		Components   map[Component]componentRow `yaml:"components"`
		FeatureGates map[string][]gateRow       `yaml:"featureGates"`
	}
	releaseRow struct {
		Kubernetes string `yaml:"kubernetes"`
		Etcd       string `yaml:"etcd"`
		CoreDNS    string `yaml:"coredns"`
	}
	componentRow struct {
		VersionedBy  string        `yaml:"versionedBy"`
		FeatureGates string        `yaml:"featureGates"`
		Flags        []flagRow     `yaml:"flags"`
		Renames      []renameRow   `yaml:"renames"`
		Required     []requiredRow `yaml:"required"`
	}
	flagRow struct {
		Names     []string `yaml:"names"`
		AddedIn   string   `yaml:"addedIn"`
		RemovedIn string   `yaml:"removedIn"`
	}
	gateRow struct {
		Names      []string    `yaml:"names"`
		AddedIn    string      `yaml:"addedIn"`
		RemovedIn  string      `yaml:"removedIn"`
		Locked     *lockRow    `yaml:"locked"`
		Components []Component `yaml:"components"`
	}
	lockRow struct {
		From  string `yaml:"from"`
		Value bool   `yaml:"value"`
	}
	renameRow struct {
		From   string `yaml:"from"`
		To     string `yaml:"to"`
		ToGate string `yaml:"toGate"`
		In     string `yaml:"in"`
	}
	requiredRow struct {
		Flag  string `yaml:"flag"`
		Gate  string `yaml:"gate"`
		Value string `yaml:"value"`
	}
)

// Load parses and checks a table in the versions.yaml format.
func Load(data []byte) (*Table, error) {
	var file tableFile
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	decoder.KnownFields(true)
	if err := decoder.Decode(&file); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	t := &Table{components: map[Component]*componentSpec{}}
	var err error
	if t.releases, err = loadReleases(file.Releases); err != nil {
		return nil, err
	}
	if t.defaultVersion, err = Parse(file.Default); err != nil {
		return nil, fmt.Errorf("default: %w", err)
	}
	if r, err := t.ForMinor(t.defaultVersion.MajorMinor()); err != nil || r.Kubernetes != t.defaultVersion {
		return nil, fmt.Errorf("default %s is not the Kubernetes version of a release row", t.defaultVersion)
	}
	for _, c := range Components() {
		row, ok := file.Components[c]
		if !ok {
			return nil, fmt.Errorf("component %s is missing", c)
		}
		spec, err := loadComponent(c, row, file.FeatureGates)
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", c, err)
		}
		t.components[c] = spec
	}
	for c := range file.Components {
		if _, ok := t.components[c]; !ok {
			return nil, fmt.Errorf("component %q is not one of %v", c, Components())
		}
	}
	if err := t.checkRequiredSettings(); err != nil {
		return nil, err
	}
	return t, nil
}

func loadReleases(rows []releaseRow) ([]Release, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("releases: none")
	}
	releases := make([]Release, len(rows))
	for i, row := range rows {
		k8s, err := Parse(row.Kubernetes)
		if err != nil {
			return nil, fmt.Errorf("releases[%d]: kubernetes: %w", i, err)
		}
		etcd, err := Parse(row.Etcd)
		if err != nil {
			return nil, fmt.Errorf("releases[%d] (%s): etcd: %w", i, k8s, err)
		}
		coredns, err := Parse(row.CoreDNS)
		if err != nil {
			return nil, fmt.Errorf("releases[%d] (%s): coredns: %w", i, k8s, err)
		}
		// Upgrades go one minor at a time, so a gap would make a supported minor unreachable.
		if i > 0 {
			previous := releases[i-1].Kubernetes
			if k8s.Major != previous.Major || k8s.Minor != previous.Minor+1 {
				return nil, fmt.Errorf("releases[%d]: %s does not follow %s by one minor", i, k8s, previous)
			}
		}
		releases[i] = Release{Kubernetes: k8s, Etcd: etcd, CoreDNS: coredns}
	}
	return releases, nil
}

func loadComponent(c Component, row componentRow, gateSets map[string][]gateRow) (*componentSpec, error) {
	spec := &componentSpec{flags: map[string][]span{}, gates: map[string][]gateSpan{}}
	switch row.VersionedBy {
	case "kubernetes":
	case "etcd":
		spec.versionedByEtcd = true
	default:
		return nil, fmt.Errorf("versionedBy %q: want kubernetes or etcd", row.VersionedBy)
	}
	for i, f := range row.Flags {
		s, err := loadSpan(f.AddedIn, f.RemovedIn)
		if err != nil {
			return nil, fmt.Errorf("flags[%d]: %w", i, err)
		}
		if len(f.Names) == 0 {
			return nil, fmt.Errorf("flags[%d]: no names", i)
		}
		for _, name := range f.Names {
			if err := addSpan(spec.flags, name, s, func(s span) span { return s }); err != nil {
				return nil, fmt.Errorf("flag %s: %w", name, err)
			}
		}
	}
	gateRows, ok := gateSets[row.FeatureGates]
	if !ok {
		return nil, fmt.Errorf("featureGates: no set named %q", row.FeatureGates)
	}
	for i, g := range gateRows {
		for _, only := range g.Components {
			if !slices.Contains(Components(), only) {
				return nil, fmt.Errorf("feature gate set %s[%d]: component %q is not one of %v", row.FeatureGates, i, only, Components())
			}
		}
		if len(g.Components) > 0 && !slices.Contains(g.Components, c) {
			continue
		}
		gs, err := loadGateSpan(g)
		if err != nil {
			return nil, fmt.Errorf("feature gate set %s[%d]: %w", row.FeatureGates, i, err)
		}
		for _, name := range g.Names {
			if err := addSpan(spec.gates, name, gs, func(g gateSpan) span { return g.span }); err != nil {
				return nil, fmt.Errorf("feature gate %s: %w", name, err)
			}
		}
	}
	for i, r := range row.Renames {
		rn, err := loadRename(r)
		if err != nil {
			return nil, fmt.Errorf("renames[%d]: %w", i, err)
		}
		spec.renames = append(spec.renames, rn)
	}
	for i, r := range row.Required {
		if (r.Flag == "") == (r.Gate == "") {
			return nil, fmt.Errorf("required[%d]: want exactly one of flag and gate", i)
		}
		s := RequiredSetting{Setting: Setting{Name: r.Flag}, Value: r.Value}
		if r.Gate != "" {
			s.Setting = Setting{Name: r.Gate, Gate: true}
			if _, err := strconv.ParseBool(r.Value); err != nil {
				return nil, fmt.Errorf("required[%d]: feature gate %s: value %q is not true or false", i, r.Gate, r.Value)
			}
		}
		spec.required = append(spec.required, s)
	}
	return spec, nil
}

// addSpan records that name exists in s. A name may have several spans (a feature gate that a
// patch release backported and a later minor dropped again), but they must not overlap.
func addSpan[S any](into map[string][]S, name string, s S, spanOf func(S) span) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for _, existing := range into[name] {
		if spanOf(existing).overlaps(spanOf(s)) {
			return fmt.Errorf("listed twice for the same minors")
		}
	}
	into[name] = append(into[name], s)
	return nil
}

func loadSpan(addedIn, removedIn string) (span, error) {
	var s span
	var err error
	if addedIn != "" {
		if s.addedIn, err = ParseMinor(addedIn); err != nil {
			return span{}, fmt.Errorf("addedIn: %w", err)
		}
	}
	if removedIn != "" {
		if s.removedIn, err = ParseMinor(removedIn); err != nil {
			return span{}, fmt.Errorf("removedIn: %w", err)
		}
	}
	if addedIn != "" && removedIn != "" && s.addedIn.Compare(s.removedIn) >= 0 {
		return span{}, fmt.Errorf("addedIn %s is not before removedIn %s", s.addedIn, s.removedIn)
	}
	return s, nil
}

func loadGateSpan(g gateRow) (gateSpan, error) {
	if len(g.Names) == 0 {
		return gateSpan{}, fmt.Errorf("no names")
	}
	s, err := loadSpan(g.AddedIn, g.RemovedIn)
	if err != nil {
		return gateSpan{}, err
	}
	gs := gateSpan{span: s}
	if g.Locked != nil {
		if gs.lockedFrom, err = ParseMinor(g.Locked.From); err != nil {
			return gateSpan{}, fmt.Errorf("locked.from: %w", err)
		}
		if !s.contains(gs.lockedFrom) {
			return gateSpan{}, fmt.Errorf("locked.from %s is outside the gate's minors", gs.lockedFrom)
		}
		gs.lockedValue = g.Locked.Value
	}
	return gs, nil
}

func loadRename(r renameRow) (rename, error) {
	if r.From == "" || (r.To == "") == (r.ToGate == "") {
		return rename{}, fmt.Errorf("want from and exactly one of to and toGate")
	}
	in, err := ParseMinor(r.In)
	if err != nil {
		return rename{}, fmt.Errorf("%s: in: %w", r.From, err)
	}
	rn := rename{from: Setting{Name: r.From}, to: Setting{Name: r.To}, in: in}
	if r.ToGate != "" {
		rn.to = Setting{Name: r.ToGate, Gate: true}
	}
	return rn, nil
}

// checkRequiredSettings proves, for every release, that what the table requires is something
// that release accepts, so a bad row fails when the table loads rather than when a Pod starts.
func (t *Table) checkRequiredSettings() error {
	for _, r := range t.releases {
		for _, c := range Components() {
			p, err := t.Profile(c, r.Kubernetes)
			if err != nil {
				return err
			}
			for _, s := range p.Required() {
				if !p.Known(s.Setting) {
					return fmt.Errorf("component %s: required %s is unknown to %s %s (Kubernetes %s)",
						c, s.Setting, c, p.Version, r.Kubernetes)
				}
			}
		}
	}
	return nil
}

// Supported returns the supported Kubernetes minors, oldest first.
func (t *Table) Supported() []Minor {
	minors := make([]Minor, len(t.releases))
	for i, r := range t.releases {
		minors[i] = r.Kubernetes.MajorMinor()
	}
	return minors
}

// Releases returns one release per supported minor, oldest first.
func (t *Table) Releases() []Release { return slices.Clone(t.releases) }

// Default returns the Kubernetes version a new tenant control plane runs.
func (t *Table) Default() Version { return t.defaultVersion }

// ForMinor returns the release taowa runs for a Kubernetes minor.
func (t *Table) ForMinor(m Minor) (Release, error) {
	for _, r := range t.releases {
		if r.Kubernetes.MajorMinor() == m {
			return r, nil
		}
	}
	return Release{}, fmt.Errorf("unsupported Kubernetes minor %s (supported: %s to %s)",
		m, t.releases[0].Kubernetes.MajorMinor(), t.releases[len(t.releases)-1].Kubernetes.MajorMinor())
}

// EtcdFor returns the etcd release a control plane of Kubernetes version k runs.
func (t *Table) EtcdFor(k Version) (Version, error) {
	r, err := t.ForMinor(k.MajorMinor())
	if err != nil {
		return Version{}, err
	}
	return r.Etcd, nil
}

// FlagKnown reports whether component c accepts --flag when the control plane runs Kubernetes
// version k. For etcd, the etcd release that k runs decides.
func (t *Table) FlagKnown(c Component, flag string, k Version) bool {
	p, err := t.Profile(c, k)
	return err == nil && p.Known(Setting{Name: flag})
}

// GateKnown reports whether component c accepts the feature gate when the control plane runs
// Kubernetes version k (whether or not the gate is locked to its default).
func (t *Table) GateKnown(c Component, gate string, k Version) bool {
	p, err := t.Profile(c, k)
	return err == nil && p.Known(Setting{Name: gate, Gate: true})
}
