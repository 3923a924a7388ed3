package operator

import (
	"errors"
	"os"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// The dashboard is one Grafana accepts: Grafana's own dashboard schema (the types its foundation
// SDK generates from it, with every core panel kind registered) decodes it strictly, no field
// unknown or missing, and validates it. Grafana itself is AGPL-licensed, so no test runs it.
func TestDashboardFollowsGrafanasSchema(t *testing.T) {
	data, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	plugins.RegisterDefaultPlugins()
	var d grafana.Dashboard
	if err := schemaErrors(d.UnmarshalJSONStrict(data)); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	if err := schemaErrors(d.Validate()); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	if len(d.Panels) == 0 {
		t.Fatalf("%s: no panels decoded", dashboard)
	}
}

// schemaErrors is err, or nil for the empty cog.BuildErrors the SDK returns when all is well.
func schemaErrors(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}
