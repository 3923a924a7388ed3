package versions

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is one release of Kubernetes (1.36.3) or etcd (3.6.16).
type Version struct{ Major, Minor, Patch int }

// Minor is a release line (1.36, or 3.6 for etcd): flags and feature gates come and go per minor.
type Minor struct{ Major, Minor int }

// Parse reads "1.36.3"; a leading "v", as in Kubernetes release tags, is accepted.
func Parse(s string) (Version, error) {
	parts, err := splitNumbers(s, 3)
	if err != nil {
		return Version{}, fmt.Errorf("version %q: %w (want major.minor.patch, e.g. 1.36.3)", s, err)
	}
	return Version{Major: parts[0], Minor: parts[1], Patch: parts[2]}, nil
}

// ParseMinor reads "1.36"; a leading "v" is accepted.
func ParseMinor(s string) (Minor, error) {
	parts, err := splitNumbers(s, 2)
	if err != nil {
		return Minor{}, fmt.Errorf("minor version %q: %w (want major.minor, e.g. 1.36)", s, err)
	}
	return Minor{Major: parts[0], Minor: parts[1]}, nil
}

func splitNumbers(s string, want int) ([]int, error) {
	fields := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(fields) != want {
		return nil, fmt.Errorf("has %d dot-separated numbers, not %d", len(fields), want)
	}
	numbers := make([]int, want)
	for i, f := range fields {
		// Only plain decimal digits: strconv.Atoi would take "+1" or "-0".
		if f == "" || strings.TrimLeft(f, "0123456789") != "" || len(f) > 6 {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		numbers[i], _ = strconv.Atoi(f)
	}
	return numbers, nil
}

// MajorMinor returns the release line of v.
func (v Version) MajorMinor() Minor { return Minor{Major: v.Major, Minor: v.Minor} }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

func (m Minor) String() string { return fmt.Sprintf("%d.%d", m.Major, m.Minor) }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	if c := v.MajorMinor().Compare(o.MajorMinor()); c != 0 {
		return c
	}
	return compareInts(v.Patch, o.Patch)
}

// Compare returns -1, 0 or +1 as m is older than, equal to or newer than o.
func (m Minor) Compare(o Minor) int {
	if c := compareInts(m.Major, o.Major); c != 0 {
		return c
	}
	return compareInts(m.Minor, o.Minor)
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// span is the minors in which a flag or feature gate exists: [addedIn, removedIn).
// A zero bound is open: the thing predates, or outlives, every minor in the table.
type span struct{ addedIn, removedIn Minor }

func (s span) contains(m Minor) bool {
	afterAdded := s.addedIn == (Minor{}) || m.Compare(s.addedIn) >= 0
	beforeRemoved := s.removedIn == (Minor{}) || m.Compare(s.removedIn) < 0
	return afterAdded && beforeRemoved
}

func (s span) overlaps(o span) bool {
	endsBefore := func(a, b span) bool {
		return a.removedIn != (Minor{}) && b.addedIn != (Minor{}) && a.removedIn.Compare(b.addedIn) <= 0
	}
	return !endsBefore(s, o) && !endsBefore(o, s)
}
