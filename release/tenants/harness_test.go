package tenants

import (
	"io"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// repoChart is charts/tenant-master of this repository.
func repoChart(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path, err := FindChart(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func newTestManager(t *testing.T, progress io.Writer) (*Manager, *tenantstest.Cluster) {
	t.Helper()
	cluster := tenantstest.NewCluster()
	m, err := New(Config{Cluster: cluster, ChartPath: repoChart(t), Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	return m, cluster
}
