package tenants

import (
	"fmt"
)

// FixedValueError refuses a change of a chart value that is fixed for the life of a release.
type FixedValueError struct {
	Value           string
	Running, Wanted any
	Why             string
}

func (e *FixedValueError) Error() string {
	return fmt.Sprintf("%s is %v on the running tenant and the change asks for %v: %s; keep %s at %v",
		e.Value, e.Running, e.Wanted, e.Why, e.Value, e.Running)
}

// checkFixedValues refuses values that would change what a running tenant cannot change:
// etcd.replicas (the members start as a new cluster: more would form a second, empty one, fewer
// lose the quorum). deployed are the deployed revision's values, next those of the change (a
// value missing from either is the chart's default). The chart's pre-upgrade hook refuses the
// same; this says it before anything runs.
func checkFixedValues(deployed, next map[string]any) error {
	running, wanted := etcdReplicas(deployed), etcdReplicas(next)
	if running != wanted {
		return &FixedValueError{Value: "etcd.replicas", Running: running, Wanted: wanted,
			Why: "the number of etcd members cannot change on a running tenant (new members would form a second, empty cluster; fewer would lose the quorum)"}
	}
	return nil
}

// etcdReplicas is values' etcd.replicas, or the chart's default of 1.
func etcdReplicas(values map[string]any) int {
	etcd, _ := values["etcd"].(map[string]any)
	switch n := etcd["replicas"].(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return 1
}
