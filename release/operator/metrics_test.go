package operator

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/taowa/taowa/release/tenants"
)

// dashboard is the Grafana dashboard the operator's chart ships.
const dashboard = "../../charts/taowa-operator/dashboards/taowa-tenants.json"

// Every taowa series the dashboard queries is one the operator serves: a renamed metric breaks
// this test, not the dashboard of a user who upgrades.
func TestDashboardQueriesTheOperatorsMetrics(t *testing.T) {
	data, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}

	reg := prometheus.NewRegistry()
	NewMetrics(reg).observe(time.Now(), nil)
	tenant := NewTenantMetrics(reg)
	tenant.observe("ns", "c", true, false, healthyWithEtcd())
	served := map[string]dto.MetricType{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		served[f.GetName()] = f.GetType()
	}

	seriesName := regexp.MustCompile(`taowa_[a-z_]+`)
	used := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			for _, name := range seriesName.FindAllString(target.Expr, -1) {
				family := name
				if base, ok := strings.CutSuffix(name, "_bucket"); ok && served[base] == dto.MetricType_HISTOGRAM {
					family = base
				}
				if _, ok := served[family]; !ok {
					t.Errorf("panel %q queries %s, which the operator does not serve", p.Title, name)
				}
				used[family] = true
			}
		}
	}
	for name := range served {
		if strings.HasPrefix(name, "taowa_cluster_") && !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// healthyWithEtcd is a tenant whose every series has a value.
func healthyWithEtcd() tenants.Health {
	return tenants.Health{
		Components:   []tenants.ComponentHealth{{Component: "etcd", Healthy: true, Desired: 1, Ready: 1}},
		Etcd:         []tenants.EtcdMember{{Pod: "c-etcd-0", DBSize: 20 << 20, Quota: 2 << 30}},
		Certificates: &tenants.CertificateHealth{NotAfter: time.Now().Add(time.Hour), Count: 1},
	}
}
