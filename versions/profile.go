package versions

import "fmt"

// Setting is one thing a component can be told on its command line: a flag (--name=value) or a
// feature gate (--feature-gates=Name=value).
type Setting struct {
	Name string
	Gate bool
}

func (s Setting) String() string {
	if s.Gate {
		return "feature gate " + s.Name
	}
	return "flag --" + s.Name
}

// RequiredSetting is a setting a version needs that a chart cannot be expected to know, such as
// the form of etcd's corruption check, which changed in etcd 3.6.
type RequiredSetting struct {
	Setting
	Value string
}

// Profile is what one component accepts when the control plane runs one Kubernetes version.
type Profile struct {
	Component  Component
	Kubernetes Version
	// Version is the component's own release: Kubernetes for the kube-* components, the etcd
	// release for etcd.
	Version Version
	spec    *componentSpec
}

// Profile returns what component c accepts at Kubernetes version k. Any patch release of a
// supported minor is accepted: flags and feature gates change per minor.
func (t *Table) Profile(c Component, k Version) (Profile, error) {
	spec, ok := t.components[c]
	if !ok {
		return Profile{}, fmt.Errorf("component %q is not one of %v", c, Components())
	}
	r, err := t.ForMinor(k.MajorMinor())
	if err != nil {
		return Profile{}, err
	}
	p := Profile{Component: c, Kubernetes: k, Version: k, spec: spec}
	if spec.versionedByEtcd {
		p.Version = r.Etcd
	}
	return p, nil
}

func (p Profile) minor() Minor { return p.Version.MajorMinor() }

// Known reports whether this version accepts the flag or feature gate under that name.
func (p Profile) Known(s Setting) bool {
	if s.Gate {
		_, ok := p.gate(s.Name)
		return ok
	}
	for _, sp := range p.spec.flags[s.Name] {
		if sp.contains(p.minor()) {
			return true
		}
	}
	return false
}

// GateLocked reports whether the feature gate is locked to its default in this version, and to
// which value. Setting a locked gate to the other value makes the component exit.
func (p Profile) GateLocked(gate string) (value, locked bool) {
	g, ok := p.gate(gate)
	if !ok || g.lockedFrom == (Minor{}) || p.minor().Compare(g.lockedFrom) < 0 {
		return false, false
	}
	return g.lockedValue, true
}

func (p Profile) gate(name string) (gateSpan, bool) {
	for _, g := range p.spec.gates[name] {
		if g.contains(p.minor()) {
			return g, true
		}
	}
	return gateSpan{}, false
}

// Current returns the form in which this version accepts s, following the table's renames in
// both directions: an older name becomes the newer one from the rename's minor on, and the newer
// name becomes the older one before it. A flag may become a feature gate or the other way round
// (etcd 3.6 replaced --experimental-initial-corrupt-check with the InitialCorruptCheck gate).
func (p Profile) Current(s Setting) Setting {
	for _, r := range p.spec.renames {
		if s != r.from && s != r.to {
			continue
		}
		if p.minor().Compare(r.in) >= 0 {
			return r.to
		}
		return r.from
	}
	return s
}

// Required returns the settings this version needs, in this version's form.
func (p Profile) Required() []RequiredSetting {
	required := make([]RequiredSetting, len(p.spec.required))
	for i, r := range p.spec.required {
		required[i] = RequiredSetting{Setting: p.Current(r.Setting), Value: r.Value}
	}
	return required
}

// ImageTag is the tag of the component's image on registry.k8s.io for this version: "v1.37.2"
// for the kube-* components, "3.6.16-0" for etcd (etcd release, then image revision, which is 0
// for every etcd release taowa runs).
func (p Profile) ImageTag() string {
	if p.spec.versionedByEtcd {
		return p.Version.String() + "-0"
	}
	return "v" + p.Version.String()
}

// String names the component and its release for messages: "kube-apiserver 1.36.3", or
// "etcd 3.6.16 (Kubernetes 1.36.3)".
func (p Profile) String() string {
	if p.Version == p.Kubernetes {
		return fmt.Sprintf("%s %s", p.Component, p.Version)
	}
	return fmt.Sprintf("%s %s (Kubernetes %s)", p.Component, p.Version, p.Kubernetes)
}
