package operator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/release/tenants/tenantstest"
)

// The operator's ClusterRole lets it apply every object a tenant-master release has, with every
// option on (but the helm test Pod: the operator runs no helm test), and create every Role the chart grants (Kubernetes refuses to let a subject create
// a Role that grants more than it holds).
func TestOperatorRBACCoversTheTenantMasterChart(t *testing.T) {
	tenantChart := tenantstest.ChartPath()
	rendered, err := tenants.Render(context.Background(), tenants.RenderOptions{
		ChartPath: tenantChart, Name: "tc", Namespace: "tenants",
		Values: map[string]any{
			"serviceMonitor":        map[string]any{"enabled": true},
			"verticalPodAutoscaler": map[string]any{"enabled": true},
			"network":               map[string]any{"eni": map[string]any{"enabled": true, "vpcID": "vpc-1", "subnetID": "subnet-1"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	granted := operatorRules(t, filepath.Join(filepath.Dir(tenantChart), "taowa-operator"))
	allows := func(group, resource, verb string) bool {
		return slices.ContainsFunc(granted, func(r rbacv1.PolicyRule) bool {
			return len(r.ResourceNames) == 0 && slices.Contains(r.APIGroups, group) &&
				slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
		})
	}
	objects := decode(t, rendered)
	if len(objects) < 20 {
		t.Fatalf("%d objects rendered; the test reads the wrong thing", len(objects))
	}
	for _, obj := range objects {
		gvk := obj.GroupVersionKind()
		resource := plural(gvk.Kind)
		verbs := []string{"get", "list", "watch", "create", "delete", "update", "patch"}
		if obj.GetAnnotations()["helm.sh/hook"] == "test" { // helm test's; the operator runs none
			continue
		}
		for _, verb := range verbs {
			if !allows(gvk.Group, resource, verb) {
				t.Errorf("%s %s: the operator may not %s %s.%s", gvk.Kind, obj.GetName(), verb, resource, gvk.Group)
			}
		}
		if gvk.Kind != "Role" {
			continue
		}
		var role rbacv1.Role
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
			t.Fatal(err)
		}
		for _, rule := range role.Rules {
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					for _, verb := range rule.Verbs {
						if !allows(group, resource, verb) {
							t.Errorf("Role %s grants %s on %s.%s, which the operator lacks", role.Name, verb, resource, group)
						}
					}
				}
			}
		}
	}
}

// operatorRules renders charts/taowa-operator and returns its ClusterRole's rules.
func operatorRules(t *testing.T, chartPath string) []rbacv1.PolicyRule {
	t.Helper()
	ch, err := loader.Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ReleaseName, install.Namespace = "taowa-operator", "taowa-system"
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	rel, err := install.Run(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range decode(t, []byte(rel.Manifest)) {
		if obj.GetKind() == "ClusterRole" {
			var role rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
				t.Fatal(err)
			}
			return role.Rules
		}
	}
	t.Fatal("charts/taowa-operator renders no ClusterRole")
	return nil
}

func decode(t *testing.T, manifests []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if obj.Object != nil {
			out = append(out, obj)
		}
	}
}

// plural is the resource name of a kind the chart renders.
func plural(kind string) string {
	lower := strings.ToLower(kind)
	if strings.HasSuffix(lower, "y") {
		return strings.TrimSuffix(lower, "y") + "ies"
	}
	return lower + "s"
}
