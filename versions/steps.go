package versions

import "fmt"

// CheckUpgrade returns nil when a control plane may go from Kubernetes version from to version
// to in one step: a patch change within a minor, or the next minor. Kubernetes' version skew
// policy forbids skipping a minor, even for a single kube-apiserver, because storage migrations
// and API removals are written for one minor at a time.
func (t *Table) CheckUpgrade(from, to Version) error {
	if err := t.checkSupported(from, to); err != nil {
		return err
	}
	if to.Compare(from) < 0 {
		return fmt.Errorf("going from Kubernetes %s to %s is a downgrade, not an upgrade; see CheckRollback", from, to)
	}
	if from.MajorMinor() == to.MajorMinor() {
		return nil
	}
	next, ok := t.next(from.MajorMinor())
	if ok && to.MajorMinor() == next.Kubernetes.MajorMinor() {
		return nil
	}
	if !ok {
		return fmt.Errorf("cannot upgrade Kubernetes %s to %s: %s is the newest supported minor", from, to, from.MajorMinor())
	}
	return fmt.Errorf("cannot upgrade Kubernetes %s to %s: upgrades go one minor at a time; upgrade to %s first",
		from, to, next.Kubernetes)
}

// CheckRollback returns nil when a control plane may go back from Kubernetes version from to
// version to: a patch change within a minor, or back to the previous minor. That is the only
// downgrade a kube-apiserver supports: a minor only starts writing a storage version that the
// previous minor can already read.
func (t *Table) CheckRollback(from, to Version) error {
	if err := t.checkSupported(from, to); err != nil {
		return err
	}
	if to.Compare(from) > 0 {
		return fmt.Errorf("going from Kubernetes %s to %s is an upgrade, not a rollback; see CheckUpgrade", from, to)
	}
	if from.MajorMinor() == to.MajorMinor() {
		return nil
	}
	previous, ok := t.previous(from.MajorMinor())
	if ok && to.MajorMinor() == previous.Kubernetes.MajorMinor() {
		return nil
	}
	if !ok {
		return fmt.Errorf("cannot roll back Kubernetes %s to %s: %s is the oldest supported minor", from, to, from.MajorMinor())
	}
	return fmt.Errorf("cannot roll back Kubernetes %s to %s: a rollback goes back one minor at most, to %s",
		from, to, previous.Kubernetes)
}

func (t *Table) checkSupported(versions ...Version) error {
	for _, v := range versions {
		if _, err := t.ForMinor(v.MajorMinor()); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) next(m Minor) (Release, bool) {
	for i, r := range t.releases[:len(t.releases)-1] {
		if r.Kubernetes.MajorMinor() == m {
			return t.releases[i+1], true
		}
	}
	return Release{}, false
}

func (t *Table) previous(m Minor) (Release, bool) {
	for i, r := range t.releases[1:] {
		if r.Kubernetes.MajorMinor() == m {
			return t.releases[i], true
		}
	}
	return Release{}, false
}
