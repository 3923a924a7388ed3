package tenants

import (
	"io"
	"testing"

	"github.com/taowa/taowa/release/tenants/tenantstest"
)

func newTestManager(t *testing.T, progress io.Writer) (*Manager, *tenantstest.Cluster) {
	t.Helper()
	cluster := tenantstest.NewCluster()
	m, err := New(Config{Cluster: cluster, ChartPath: tenantstest.ChartPath(), Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	return m, cluster
}
