package versions

import (
	"maps"
	"slices"
)

// Flags returns every flag name the table lists for component c in any minor.
func (t *Table) Flags(c Component) []string { return slices.Sorted(maps.Keys(t.components[c].flags)) }

// Gates returns every feature gate name the table lists for component c in any minor.
func (t *Table) Gates(c Component) []string { return slices.Sorted(maps.Keys(t.components[c].gates)) }
