package versions

import (
	"strings"
	"testing"
)

func TestCheckUpgrade(t *testing.T) {
	table := Builtin()
	for _, tc := range []struct {
		from, to string
		errWants []string // substrings of the error; nil: the step is allowed
	}{
		{"1.36.3", "1.37.2", nil},
		{"1.31.13", "1.32.2", nil},
		{"1.36.1", "1.36.3", nil},
		{"1.36.3", "1.36.3", nil},
		{"1.33.13", "1.35.4", []string{"1.33.13", "1.35.4", "upgrade to 1.34.4 first"}},
		{"1.31.13", "1.37.2", []string{"1.31.13", "1.37.2", "upgrade to 1.32.2 first"}},
		{"1.37.2", "1.36.3", []string{"1.37.2", "1.36.3", "downgrade", "CheckRollback"}},
		{"1.36.3", "1.36.1", []string{"downgrade"}},
		{"1.37.2", "1.38.0", []string{"unsupported Kubernetes minor 1.38"}},
		{"1.30.14", "1.31.13", []string{"unsupported Kubernetes minor 1.30"}},
	} {
		checkStep(t, "CheckUpgrade", table.CheckUpgrade, tc.from, tc.to, tc.errWants)
	}
}

func TestCheckRollback(t *testing.T) {
	table := Builtin()
	for _, tc := range []struct {
		from, to string
		errWants []string
	}{
		{"1.37.2", "1.36.3", nil},
		{"1.32.2", "1.31.13", nil},
		{"1.36.3", "1.36.1", nil},
		{"1.37.2", "1.35.4", []string{"1.37.2", "1.35.4", "one minor at most, to 1.36.3"}},
		{"1.31.13", "1.30.14", []string{"unsupported Kubernetes minor 1.30"}},
		{"1.36.3", "1.37.2", []string{"1.36.3", "1.37.2", "upgrade, not a rollback", "CheckUpgrade"}},
	} {
		checkStep(t, "CheckRollback", table.CheckRollback, tc.from, tc.to, tc.errWants)
	}
}

func checkStep(t *testing.T, name string, check func(from, to Version) error, from, to string, errWants []string) {
	t.Helper()
	err := check(mustParse(t, from), mustParse(t, to))
	if errWants == nil {
		if err != nil {
			t.Errorf("%s(%s, %s) = %v, want nil", name, from, to, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%s(%s, %s) = nil, want an error", name, from, to)
		return
	}
	for _, want := range errWants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s(%s, %s) = %q, want it to contain %q", name, from, to, err, want)
		}
	}
}

// The edges of the table: the newest minor has no upgrade, the oldest no rollback.
func TestStepsAtTheEdges(t *testing.T) {
	table, err := Load([]byte(minimalTable))
	if err != nil {
		t.Fatal(err)
	}
	err = table.CheckRollback(Version{1, 36, 0}, Version{1, 35, 0})
	if err == nil || !strings.Contains(err.Error(), "unsupported Kubernetes minor 1.35") {
		t.Errorf("rollback below the oldest minor: %v", err)
	}
	if err := table.CheckUpgrade(Version{1, 36, 0}, Version{1, 37, 1}); err != nil {
		t.Errorf("upgrade 1.36.0 -> 1.37.1: %v", err)
	}
}
